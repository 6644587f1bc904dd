import KefuTestSupport
import KefuCore
import KefuStore
import Testing

/// The window every test asks for: conversations closed at or after this instant count.
private let since = at(10_000)

/// Closed conversations of several customers, inside and outside the window, with the expected answer.
///
/// Conversation ids are chosen so that a later close sometimes has a smaller id: the answer must follow the
/// closing time, not the id.
private func returningBuyerFixture() -> (records: [Record], expected: [CustomerID: ReturningBuyer]) {
    func closed(_ id: Int64, _ customer: CustomerID, _ agent: AgentID?, _ closedAt: Int64) -> Record {
        .conversation(conversation(id, customer: customer, state: .closed, agent: agent, closedAt: at(closedAt)))
    }
    let records: [Record] = [
        // buyer-a: three closes; the latest (bob) wins, the one before the window is irrelevant.
        closed(1, "buyer-a", "old-timer", 5_000),
        closed(3, "buyer-a", "bob", 15_000),
        closed(2, "buyer-a", "alice", 12_000),
        // buyer-b: the latest close was back in the queue (agent NULL); its last holder was dave.
        closed(4, "buyer-b", nil, 20_000),
        .assignment(assignment(4, "carol", 100)),
        .assignment(assignment(4, "dave", 200, .firstResponse)),
        .assignment(assignment(4, nil, 300, .firstResponse)),
        closed(5, "buyer-b", "erin", 11_000),
        // buyer-c: closed just before the window only.
        closed(6, "buyer-c", "frank", 9_999),
        // buyer-d: closed exactly at the window's start, which counts.
        closed(7, "buyer-d", "gina", 10_000),
        // buyer-e: a newer conversation is still open (not closed, so not returning from it).
        .conversation(conversation(8, customer: "buyer-e", state: .assigned, agent: "henry")),
        closed(9, "buyer-e", "ivan", 13_000),
        // buyer-f: the latest close was never held by anyone; the one before it was.
        closed(10, "buyer-f", nil, 30_000),
        closed(11, "buyer-f", "judy", 25_000),
        // buyer-g: never held by anyone.
        closed(12, "buyer-g", nil, 14_000),
        // buyer-h: two closes at the same instant; the later conversation (larger id) wins.
        closed(14, "buyer-h", "lee", 16_000),
        closed(13, "buyer-h", "kim", 16_000),
        // buyer-i: the agent column at close wins over the assignment history.
        closed(15, "buyer-i", "mia", 17_000),
        .assignment(assignment(15, "mia", 1)),
        .assignment(assignment(15, "nina", 2)),
    ]
    let expected: [CustomerID: ReturningBuyer] = [
        "buyer-a": ReturningBuyer(agent: "bob", closedAt: at(15_000)),
        "buyer-b": ReturningBuyer(agent: "dave", closedAt: at(20_000)),
        "buyer-d": ReturningBuyer(agent: "gina", closedAt: at(10_000)),
        "buyer-e": ReturningBuyer(agent: "ivan", closedAt: at(13_000)),
        "buyer-f": ReturningBuyer(agent: "judy", closedAt: at(25_000)),
        "buyer-h": ReturningBuyer(agent: "lee", closedAt: at(16_000)),
        "buyer-i": ReturningBuyer(agent: "mia", closedAt: at(17_000)),
    ]
    return (records, expected)
}

@Suite struct ReturningBuyerTests {
    @Test func eachCustomerMapsToTheHolderOfTheirLatestCloseInTheWindow() async throws {
        try await withTemporaryDirectory { directory in
            let store = try openStore(directory)
            let (records, expected) = returningBuyerFixture()
            try await store.commit(records)
            #expect(try await store.read { try $0.lastAgents(closedSince: since) } == expected)
            await store.shutdown()
        }
    }

    @Test func theWindowBoundsTheAnswer() async throws {
        try await withTemporaryDirectory { directory in
            let store = try openStore(directory)
            try await store.commit(returningBuyerFixture().records)
            #expect(try await store.read { try $0.lastAgents(closedSince: at(30_001)) }.isEmpty)
            #expect(
                try await store.read { try $0.lastAgents(closedSince: at(25_000)) }
                    == ["buyer-f": ReturningBuyer(agent: "judy", closedAt: at(25_000))]
            )
            // From the beginning of time, buyer-c is back too.
            let everyone = try await store.read { try $0.lastAgents(closedSince: at(0)) }
            #expect(everyone["buyer-c"] == ReturningBuyer(agent: "frank", closedAt: at(9_999)))
            #expect(everyone.count == 8)
            await store.shutdown()
        }
    }

    @Test func anEmptyStoreHasNoReturningBuyers() async throws {
        try await withTemporaryDirectory { directory in
            let store = try openStore(directory)
            #expect(try await store.read { try $0.lastAgents(closedSince: at(0)) }.isEmpty)
            await store.shutdown()
        }
    }
}

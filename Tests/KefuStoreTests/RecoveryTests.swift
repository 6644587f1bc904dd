import KefuTestSupport
import KefuCore
import KefuStore
import Testing

@Suite struct RecoveryTests {
    @Test func emptyStoreRecoversNothing() async throws {
        try await withTemporaryDirectory { directory in
            let store = try openStore(directory)
            let state = try store.recover()
            #expect(state.openConversations.isEmpty)
            #expect(state.nextConversationID == ConversationID(1))
            #expect(state.lastAssignedAt.isEmpty)
            #expect(state.notes.isEmpty)
            #expect(state.returningBuyers.isEmpty)
            #expect(try store.recover(returningBuyersSince: at(0)) == state)
            await store.shutdown()
        }
    }

    @Test func recoverReturnsOpenConversationsIntactAfterReopen() async throws {
        try await withTemporaryDirectory { directory in
            let queued = conversation(2, firstMessage: "多行\n文本 ✓\n")
            let assigned = conversation(
                5, state: .assigned, agent: "bob", priority: .vip,
                firstRespondedAt: at(1_700_000_001_000), breachedAt: at(1_700_000_002_000), messageCount: 3,
                firstMessage: "où est ma commande ?\n\tmerci 🙏"
            )
            let closed = conversation(9, state: .closed, closedAt: at(1_700_000_003_000))
            do {
                let store = try openStore(directory)
                try await store.commit([.conversation(assigned), .conversation(closed), .conversation(queued)])
                try await store.commit([
                    .assignment(assignment(5, "alice", 1_000)),
                    .assignment(assignment(5, nil, 2_000, .firstResponse)),
                    .assignment(assignment(5, "bob", 3_000, .firstResponse)),
                    .assignment(assignment(9, "alice", 2_500)),
                    .assignment(assignment(9, nil, 4_000, .offline)),
                ])
                store.close()
            }
            let store = try openStore(directory)
            let state = try store.recover()
            #expect(state.openConversations == [queued, assigned])
            #expect(state.nextConversationID == ConversationID(10))
            #expect(state.lastAssignedAt == ["alice": at(2_500), "bob": at(3_000)])
            #expect(try await store.read { try $0.recoveredState() } == state)
            await store.shutdown()
        }
    }

    @Test func nextConversationIDCountsClosedConversations() async throws {
        try await withTemporaryDirectory { directory in
            let store = try openStore(directory)
            try await store.commit([.conversation(conversation(41, state: .closed, closedAt: at(1)))])
            let state = try store.recover()
            #expect(state.openConversations.isEmpty)
            #expect(state.nextConversationID == ConversationID(42))
            await store.shutdown()
        }
    }

    @Test func recoverBringsBackOpenConversationsNotesAndReturningBuyers() async throws {
        try await withTemporaryDirectory { directory in
            let queued = conversation(1, store: "tmall", language: "zh-CN")
            let assigned = conversation(2, customer: "buyer-x", state: .assigned, agent: "alice", priority: .vip)
            let closedBefore = conversation(3, customer: "buyer-x", state: .closed, agent: "bob", closedAt: at(8_000))
            let closedAgain = conversation(4, customer: "buyer-y", state: .closed, closedAt: at(9_000))
            do {
                let store = try openStore(directory)
                try await store.commit([
                    .conversation(queued), .conversation(assigned), .conversation(closedBefore),
                    .conversation(closedAgain),
                    .assignment(
                        assignment(
                            2, "alice", 1_000,
                            decision: decision(
                                2, "alice", 1_000, rule: .onlyEligibleAgent,
                                [Candidate(agent: "alice", verdict: .chosen)]))),
                    .assignment(assignment(3, "bob", 500)),
                    .assignment(assignment(4, "carol", 600)),
                    .assignment(assignment(4, nil, 700, .firstResponse)),
                ])
                // Notes arrive out of order and on closed conversations too.
                try await store.commit([
                    .note(note(2, 2, "asked for a refund")), .note(note(1, 1, "repeat buyer")),
                    .note(note(3, 1, "closed: not recovered")), .note(note(2, 1, "VIP")),
                ])
                await store.shutdown()
            }
            let store = try openStore(directory)
            let state = try store.recover(returningBuyersSince: at(8_500))
            #expect(state.openConversations == [queued, assigned])
            #expect(state.nextConversationID == ConversationID(5))
            #expect(state.lastAssignedAt == ["alice": at(1_000), "bob": at(500), "carol": at(600)])
            #expect(
                state.notes == [
                    ConversationID(1): [note(1, 1, "repeat buyer")],
                    ConversationID(2): [note(2, 1, "VIP"), note(2, 2, "asked for a refund")],
                ]
            )
            // buyer-x's close at 8_000 is before the window; buyer-y's last holder came from its assignments.
            #expect(state.returningBuyers == ["buyer-y": ReturningBuyer(agent: "carol", closedAt: at(9_000))])
            #expect(try await store.read { try $0.recoveredState(returningBuyersSince: at(8_500)) } == state)

            let wider = try store.recover(returningBuyersSince: at(0))
            #expect(wider.returningBuyers["buyer-x"] == ReturningBuyer(agent: "bob", closedAt: at(8_000)))
            // Without a window everything else is the same and no returning buyers are read.
            var withoutBuyers = state
            withoutBuyers.returningBuyers = [:]
            #expect(try store.recover() == withoutBuyers)
            #expect(try store.recover(returningBuyersSince: nil) == withoutBuyers)
            await store.shutdown()
        }
    }

    @Test func anOpenConversationKeepsTheEscalationLevelItsCurrentRoundReached() async throws {
        try await withTemporaryDirectory { directory in
            // Round 2 of conversation 3 breached and climbed two rungs of the ladder; its round 1 climbed one.
            var climbed = conversation(3, state: .assigned, agent: "alice", firstRespondedAt: at(20), messageCount: 3)
            climbed.round = 2
            climbed.roundStartedAt = at(30)
            climbed.roundDueAt = at(210)
            climbed.roundBreachedAt = at(211)
            var first = RoundRecord(
                conversation: ConversationID(3), round: 1, startedAt: at(0), dueAt: at(10), answeredAt: at(20),
                breachedAt: at(11), agent: "alice", skill: "presales", store: nil)
            first.escalationLevel = 1
            var second = RoundRecord(
                conversation: ConversationID(3), round: 2, startedAt: at(30), dueAt: at(210), breachedAt: at(211),
                agent: "alice", skill: "presales", store: nil)
            second.escalationLevel = 2
            let untouched = conversation(4)
            do {
                let store = try openStore(directory)
                try await store.commit([
                    .conversation(climbed), .round(first), .round(second), .conversation(untouched),
                ])
                store.close()
            }
            let store = try openStore(directory)
            var expected = climbed
            expected.roundEscalationLevel = 2
            // Without it, every restart would climb the ladder again from the first rung (a record, a reassignment).
            #expect(try store.recover().openConversations == [expected, untouched])
            await store.shutdown()
        }
    }
}

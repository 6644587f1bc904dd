import KefuCore
import KefuStore
import Testing

@Suite struct RoundTripTests {
    @Test func everyRecordTypeRoundTrips() async throws {
        try await withTemporaryDirectory { directory in
            let store = try openStore(directory)
            let row = conversation(
                7, state: .assigned, agent: "alice", priority: .vip,
                firstRespondedAt: at(5), breachedAt: at(6), messageCount: 2
            )
            try await store.commit([
                .conversation(row),
                .message(message(7, 1, "我想退货")),
                .message(message(7, 2, "好的", sender: .agent)),
                .assignment(assignment(7, "alice", 100)),
                .assignment(assignment(7, nil, 200, "capacity")),
                .assignment(assignment(7, "bob", 300, "first-response")),
                .assignment(assignment(7, "alice", 400)),
            ])
            let id = ConversationID(7)
            let stored = try await store.read { try $0.conversation(id) }
            let history = try await store.read { try $0.history(of: id) }
            let assignments = try await store.read { try $0.assignments(of: id) }
            let agents = try await store.read { try $0.agentsWhoHeld(id) }
            #expect(stored == row)
            #expect(history == [message(7, 1, "我想退货"), message(7, 2, "好的", sender: .agent)])
            #expect(
                assignments == [
                    assignment(7, "alice", 100), assignment(7, nil, 200, "capacity"),
                    assignment(7, "bob", 300, "first-response"), assignment(7, "alice", 400),
                ]
            )
            #expect(agents == ["alice", "bob"])

            let unknown = ConversationID(8)
            #expect(try await store.read { try $0.conversation(unknown) } == nil)
            #expect(try await store.read { try $0.history(of: unknown) }.isEmpty)
            #expect(try await store.read { try $0.agentsWhoHeld(unknown) }.isEmpty)
            await store.shutdown()
        }
    }

    @Test func conversationUpsertReplacesEveryColumn() async throws {
        try await withTemporaryDirectory { directory in
            let store = try openStore(directory)
            let opened = conversation(1, state: .assigned, agent: "alice", firstRespondedAt: at(9), breachedAt: at(8))
            var closed = conversation(1, state: .closed, closedAt: at(50), messageCount: 4, firstMessage: "changed")
            closed.customer = "someone-else"
            closed.skill = "refund"
            closed.priority = .vip
            closed.openedAt = at(11)
            closed.firstResponseDueAt = at(12)
            try await store.commit([.conversation(opened)])
            try await store.commit([.conversation(closed)])
            #expect(try await store.read { try $0.conversation(ConversationID(1)) } == closed)
            await store.shutdown()
        }
    }

    @Test func duplicateMessageIsIdempotent() async throws {
        try await withTemporaryDirectory { directory in
            let store = try openStore(directory)
            try await store.commit([.conversation(conversation(1)), .message(message(1, 1, "first"))])
            try await store.commit([.message(message(1, 1, "first"))])
            try await store.commit([.message(message(1, 2, "second")), .message(message(1, 2, "second"))])
            let history = try await store.read { try $0.history(of: ConversationID(1)) }
            #expect(history == [message(1, 1, "first"), message(1, 2, "second")])
            await store.shutdown()
        }
    }

    @Test func childrenListedBeforeTheirConversationInOneBatchAreAccepted() async throws {
        try await withTemporaryDirectory { directory in
            let store = try openStore(directory)
            try await store.commit([
                .message(message(3, 1)), .assignment(assignment(3, "alice", 10)), .conversation(conversation(3)),
            ])
            #expect(try await store.read { try $0.history(of: ConversationID(3)) }.count == 1)
            #expect(try await store.read { try $0.agentsWhoHeld(ConversationID(3)) } == ["alice"])
            await store.shutdown()
        }
    }

    @Test func awkwardTextSurvives() async throws {
        try await withTemporaryDirectory { directory in
            let store = try openStore(directory)
            let texts = ["", "line one\nline two\r\nline three", "emoji 👩‍💻 and 中文", "nul\u{0}inside", "' \"; --"]
            var records: [Record] = [.conversation(conversation(1, messageCount: texts.count, firstMessage: ""))]
            for (index, text) in texts.enumerated() {
                records.append(.message(message(1, index + 1, text)))
            }
            try await store.commit(records)
            let history = try await store.read { try $0.history(of: ConversationID(1)) }
            #expect(history.map(\.text) == texts)
            #expect(try await store.read { try $0.conversation(ConversationID(1)) }?.firstMessage == "")
            await store.shutdown()
        }
    }

    @Test func readErrorsComeBackAsStoreErrors() async throws {
        struct Boom: Error {}
        try await withTemporaryDirectory { directory in
            let store = try openStore(directory)
            let error = await #expect(throws: StoreError.self) {
                try await store.read { _ in throw Boom() }
            }
            #expect(error?.operation == .read)
            #expect(error?.underlying is Boom)
            // The store still works afterwards.
            try await store.commit([.conversation(conversation(1))])
            await store.shutdown()
        }
    }
}

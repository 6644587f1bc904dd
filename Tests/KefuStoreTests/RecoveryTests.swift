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
                    .assignment(assignment(5, nil, 2_000, "first-response")),
                    .assignment(assignment(5, "bob", 3_000, "first-response")),
                    .assignment(assignment(9, "alice", 2_500)),
                    .assignment(assignment(9, nil, 4_000, "closed")),
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
}

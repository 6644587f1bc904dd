import KefuTestSupport
import KefuCore
import KefuStore
import Testing

@Suite struct HistoryPagingTests {
    /// A page is the messages after a seq, up to the last one asked about, at most a limit; a buyer does not see the
    /// daemon's internal lines, which do not count towards its page either.
    @Test func pagesRunAfterASeqUpToASnapshotWithinALimit() async throws {
        try await withTemporaryDirectory { directory in
            let store = try openStore(directory)
            var records: [Record] = [.conversation(conversation(1, messageCount: 8))]
            for seq in 1...8 { records.append(.message(message(1, seq, "m\(seq)"))) }
            var systemLine = message(1, 4, "transferred by alice to bob: 换人", sender: .system)
            systemLine.author = "system"
            records[4] = .message(systemLine)
            try await store.commit(records)
            try await store.commit([.message(message(1, 9, "after the snapshot"))])

            let (last, page, tail, buyers) = try await store.read { reader in
                (
                    try reader.lastSeq(of: ConversationID(1)),
                    try reader.history(of: ConversationID(1), after: 2, upTo: 8, limit: 3, includeInternal: true),
                    try reader.history(of: ConversationID(1), after: 6, upTo: 8, limit: 10, includeInternal: true),
                    try reader.history(of: ConversationID(1), after: 2, upTo: 8, limit: 3, includeInternal: false)
                )
            }
            #expect(last == 9)
            #expect(page.map(\.seq) == [3, 4, 5])
            #expect(tail.map(\.seq) == [7, 8])
            #expect(buyers.map(\.seq) == [3, 5, 6])
            #expect(try await store.read { try $0.lastSeq(of: ConversationID(7)) } == 0)
            await store.shutdown()
        }
    }

    /// A conversation's row is written only when more changed than its messages tell: recovery catches the count up
    /// with the last message, and a silent buyer's clock with the agent's latest human answer.
    @Test func recoveryCatchesAStaleRowUpWithItsMessages() async throws {
        try await withTemporaryDirectory { directory in
            var row = conversation(3, state: .assigned, agent: "alice", messageCount: 2)
            row.buyerIdleSince = at(1_700_000_000_002)
            do {
                let store = try openStore(directory)
                var answer = message(3, 4, "还在吗", sender: .agent)
                answer.at = at(1_700_000_009_000)
                var canned = message(3, 5, "[快捷回复]", sender: .agent)
                canned.automatic = true
                canned.at = at(1_700_000_010_000)
                try await store.commit([
                    .conversation(row), .message(message(3, 1)), .message(message(3, 2, sender: .agent)),
                    .message(message(3, 3, sender: .agent)), .message(answer), .message(canned),
                ])
                // Another conversation whose buyer spoke last: its silent-buyer clock is not moved.
                var spoke = conversation(4, state: .assigned, agent: "alice", messageCount: 1)
                spoke.buyerIdleSince = nil
                try await store.commit([
                    .conversation(spoke), .message(message(4, 1)), .message(message(4, 2, sender: .agent)),
                    .message(message(4, 3)),
                ])
                store.close()
            }
            let store = try openStore(directory)
            let open = try store.recover().openConversations
            #expect(open.first { $0.id == ConversationID(3) }?.messageCount == 5)
            #expect(open.first { $0.id == ConversationID(3) }?.buyerIdleSince == at(1_700_000_009_000))
            #expect(open.first { $0.id == ConversationID(4) }?.messageCount == 3)
            #expect(open.first { $0.id == ConversationID(4) }?.buyerIdleSince == nil)
            await store.shutdown()
        }
    }
}

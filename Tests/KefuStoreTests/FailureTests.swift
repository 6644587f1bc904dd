import KefuTestSupport
import KefuCore
import Testing
@testable import KefuStore

@Suite struct FailureTests {
    @Test func aBadBatchFailsAloneAndItsNeighboursCommit() async throws {
        try await withTemporaryDirectory { directory in
            let store = try openStore(directory)
            let gate = await store.holdWriter()
            let outcomes = Outcomes()
            store.enqueue([.conversation(conversation(1))], onCommit: outcomes.callback(1))
            // No conversation 99: the foreign key rejects this batch, including its valid first record.
            store.enqueue(
                [.conversation(conversation(2)), .message(message(99, 1))],
                onCommit: outcomes.callback(2)
            )
            store.enqueue([.conversation(conversation(3))], onCommit: outcomes.callback(3))
            gate.signal()
            try await store.drain()

            #expect(outcomes.firingOrder == [1, 2, 3])
            #expect(outcomes.succeeded(1))
            #expect(outcomes.error(2)?.operation == .write)
            #expect(outcomes.error(2)?.message.contains("FOREIGN KEY") == true)
            #expect(outcomes.succeeded(3))
            #expect(try await store.read { try $0.conversation(ConversationID(2)) } == nil)
            #expect(try await store.read { try $0.conversation(ConversationID(3)) } != nil)
            #expect(store.statistics == StoreStatistics(transactions: 1, batches: 2, records: 2, failedBatches: 1))
            await store.shutdown()
        }
    }

    @Test func aFullDiskFailsTheBatchAndLaterBatchesCommit() async throws {
        try await withTemporaryDirectory { directory in
            let store = try openStore(directory)
            try await store.commit([.conversation(conversation(1))])
            // Cap the file at its current size: any write needing a new page now fails with SQLITE_FULL.
            try await store.read { reader in
                try reader.executeForTesting("PRAGMA max_page_count = 1")
            }
            let huge = String(repeating: "x", count: 256 * 1024)
            let failed = await store.outcome(of: [.message(message(1, 1, "fits")), .message(message(1, 2, huge))])
            let error = try #require(failed.failureValue)
            #expect(error.operation == .write)
            #expect(error.message.contains("full"))
            #expect(try await store.read { try $0.history(of: ConversationID(1)) }.isEmpty)

            try await store.read { reader in
                try reader.executeForTesting("PRAGMA max_page_count = 1073741823")
            }
            try await store.commit([.message(message(1, 1, "fits")), .message(message(1, 2, huge))])
            #expect(try await store.read { try $0.history(of: ConversationID(1)) }.map(\.text) == ["fits", huge])
            await store.shutdown()
        }
    }

    @Test func aFullDiskInASharedTransactionFailsOnlyWhatItMust() async throws {
        try await withTemporaryDirectory { directory in
            let store = try openStore(directory)
            try await store.commit([.conversation(conversation(1))])
            try await store.read { try $0.executeForTesting("PRAGMA max_page_count = 1") }
            let gate = await store.holdWriter()
            let outcomes = Outcomes()
            let huge = String(repeating: "y", count: 256 * 1024)
            store.enqueue([.message(message(1, 1, "small"))], onCommit: outcomes.callback(1))
            store.enqueue([.message(message(1, 2, huge))], onCommit: outcomes.callback(2))
            store.enqueue([.message(message(1, 3, "small"))], onCommit: outcomes.callback(3))
            gate.signal()
            try await store.drain()

            #expect(outcomes.firingOrder == [1, 2, 3])
            #expect(outcomes.error(2)?.message.contains("full") == true)
            // Whatever SQLite chose to roll back, what the callbacks say matches what is on disk.
            let stored = Set(try await store.read { try $0.history(of: ConversationID(1)) }.map(\.seq))
            #expect(stored == Set([1, 3].filter(outcomes.succeeded)))
            await store.shutdown()
        }
    }

    @Test func blockingCallsFromTheWriterThreadDoNotDeadlock() async throws {
        try await withTemporaryDirectory { directory in
            let store = try openStore(directory)
            let recovered = await withCheckedContinuation { continuation in
                store.enqueue([.conversation(conversation(1))]) { _ in
                    continuation.resume(returning: Result { try store.recover() })
                }
            }
            #expect(recovered.failureValue != nil)
            let outcomes = Outcomes()
            let gate = await store.holdWriter()
            store.enqueue([]) { _ in store.close() }
            store.enqueue([.conversation(conversation(2))], onCommit: outcomes.callback(2))
            gate.signal()
            await store.shutdown()
            // Queued before the close took effect, so it still committed.
            #expect(outcomes.succeeded(2))
        }
    }

    @Test func aSchemaFromANewerBuildIsRefused() async throws {
        try await withTemporaryDirectory { directory in
            let store = try openStore(directory)
            try await store.read { try $0.executeForTesting("PRAGMA user_version = 99") }
            await store.shutdown()
            let error = #expect(throws: StoreError.self) {
                _ = try openStore(directory)
            }
            #expect(error?.operation == .migrate)
            #expect(error?.message.contains("99") == true)
        }
    }
}

extension Result {
    var failureValue: Failure? {
        if case .failure(let error) = self { error } else { nil }
    }
}

import KefuTestSupport
import KefuCore
import KefuStore
import Synchronization
import Testing

@Suite struct OrderingTests {
    @Test func callbacksFireInEnqueueOrderAndReadsSeePriorWrites() async throws {
        try await withTemporaryDirectory { directory in
            let store = try openStore(directory)
            try await store.commit([.conversation(conversation(1, messageCount: 0))])
            let outcomes = Outcomes()
            let count = 300
            for seq in 1...count {
                store.enqueue([.message(message(1, seq))], onCommit: outcomes.callback(seq))
            }
            // Enqueued after the writes: must see all of them, and run after all of their callbacks.
            let (seen, firedBeforeRead) = try await store.read { reader in
                (try reader.history(of: ConversationID(1)).map(\.seq), outcomes.firingOrder.count)
            }
            #expect(seen == Array(1...count))
            #expect(firedBeforeRead == count)
            #expect(outcomes.firingOrder == Array(1...count))
            #expect((1...count).allSatisfy(outcomes.succeeded))
            await store.shutdown()
        }
    }

    @Test func readDoesNotSeeWritesEnqueuedAfterIt() async throws {
        try await withTemporaryDirectory { directory in
            let store = try openStore(directory)
            try await store.commit([.conversation(conversation(1))])
            let gate = await store.holdWriter()
            // Both land in the same drained group; the read must still run before the later write.
            let seenByRead = Mutex<Int?>(nil)
            store.enqueueRead({ try $0.history(of: ConversationID(1)).count }) { result in
                seenByRead.withLock { $0 = try? result.get() }
            }
            store.enqueue([.message(message(1, 1))]) { _ in }
            gate.signal()
            let seenAfter = try await store.read { try $0.history(of: ConversationID(1)).count }
            #expect(seenByRead.withLock { $0 } == 0)
            #expect(seenAfter == 1)
            await store.shutdown()
        }
    }

    @Test func writesQueuedTogetherShareOneTransaction() async throws {
        try await withTemporaryDirectory { directory in
            let store = try openStore(directory)
            let gate = await store.holdWriter()
            let outcomes = Outcomes()
            for id in 1...5 {
                store.enqueue([.conversation(conversation(Int64(id)))], onCommit: outcomes.callback(id))
            }
            gate.signal()
            try await store.drain()
            #expect(outcomes.firingOrder == [1, 2, 3, 4, 5])
            #expect((1...5).allSatisfy(outcomes.succeeded))
            #expect(store.statistics == StoreStatistics(transactions: 1, batches: 5, records: 5, failedBatches: 0))
            await store.shutdown()
        }
    }

    @Test func concurrentEnqueuesAllCommitInFewerTransactions() async throws {
        try await withTemporaryDirectory { directory in
            let store = try openStore(directory)
            let tasks = 20
            let perTask = 200
            try await store.commit((1...tasks).map { .conversation(conversation(Int64($0), messageCount: 0)) })
            let before = store.statistics
            try await withThrowingTaskGroup(of: Void.self) { group in
                for task in 1...tasks {
                    group.addTask {
                        for seq in 1...perTask {
                            try await store.commit([.message(message(Int64(task), seq, "m\(seq)"))])
                        }
                    }
                }
                try await group.waitForAll()
            }
            let after = store.statistics
            #expect(after.batches - before.batches == tasks * perTask)
            #expect(after.records - before.records == tasks * perTask)
            #expect(after.transactions - before.transactions < tasks * perTask)
            #expect(after.failedBatches == 0)
            for task in 1...tasks {
                let seqs = try await store.read { try $0.history(of: ConversationID(Int64(task))).map(\.seq) }
                #expect(seqs == Array(1...perTask))
            }
            await store.shutdown()
        }
    }
}

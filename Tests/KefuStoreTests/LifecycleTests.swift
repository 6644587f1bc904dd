import KefuTestSupport
import Foundation
import KefuCore
import KefuStore
import Testing

@Suite struct LifecycleTests {
    @Test func dataSurvivesCloseAndReopen() async throws {
        try await withTemporaryDirectory { directory in
            do {
                let store = try openStore(directory)
                try await store.commit([.conversation(conversation(1)), .message(message(1, 1, "persisted"))])
                await store.shutdown()
            }
            let store = try openStore(directory)
            #expect(try await store.read { try $0.history(of: ConversationID(1)) } == [message(1, 1, "persisted")])
            #expect(try await store.read { try $0.conversation(ConversationID(1)) } == conversation(1))
            await store.shutdown()
        }
    }

    @Test func closeCommitsEverythingQueued() async throws {
        try await withTemporaryDirectory { directory in
            let outcomes = Outcomes()
            do {
                let store = try openStore(directory)
                store.enqueue([.conversation(conversation(1, messageCount: 0))], onCommit: outcomes.callback(0))
                for seq in 1...100 {
                    store.enqueue([.message(message(1, seq))], onCommit: outcomes.callback(seq))
                }
                store.close()
                // close() returned: every callback has run.
                #expect(outcomes.firingOrder == Array(0...100))
                #expect((0...100).allSatisfy(outcomes.succeeded))
            }
            let store = try openStore(directory)
            #expect(try await store.read { try $0.history(of: ConversationID(1)) }.count == 100)
            await store.shutdown()
        }
    }

    @Test func enqueueAfterCloseFailsCleanly() async throws {
        try await withTemporaryDirectory { directory in
            let store = try openStore(directory)
            store.close()
            store.close()
            await store.shutdown()

            let outcomes = Outcomes()
            store.enqueue([.conversation(conversation(1))], onCommit: outcomes.callback(1))
            #expect(outcomes.error(1)?.operation == .closed)
            let commitError = await #expect(throws: StoreError.self) {
                try await store.commit([.conversation(conversation(1))])
            }
            #expect(commitError?.operation == .closed)
            #expect(commitError?.description.contains(store.path) == true)
            await #expect(throws: StoreError.self) {
                try await store.read { try $0.conversation(ConversationID(1)) }
            }
            #expect(throws: StoreError.self) {
                try store.recover()
            }
        }
    }

    @Test func nonDatabaseFileIsReportedWithItsPath() async throws {
        try await withTemporaryDirectory { directory in
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            let path = directory + "/kefu.sqlite"
            let garbage = String(repeating: "this is not a SQLite database\n", count: 200)
            try garbage.write(toFile: path, atomically: false, encoding: .utf8)
            let error = #expect(throws: StoreError.self) {
                _ = try openStore(directory)
            }
            #expect(error?.operation == .open)
            #expect(error?.description.contains(path) == true)
            #expect(error?.sqliteCode != nil)
        }
    }

    @Test func uncreatableDirectoryIsReported() async throws {
        try await withTemporaryDirectory { directory in
            // A regular file where the directory should be.
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            let blocker = directory + "/file"
            try "x".write(toFile: blocker, atomically: false, encoding: .utf8)
            let error = #expect(throws: StoreError.self) {
                _ = try openStore(blocker + "/store")
            }
            #expect(error?.operation == .open)
            #expect(error?.description.contains(blocker) == true)
        }
    }

    @Test func storeCreatesNestedDirectories() async throws {
        try await withTemporaryDirectory { directory in
            let store = try openStore(directory + "/a/b")
            #expect(store.path == directory + "/a/b/kefu.sqlite")
            #expect(FileManager.default.fileExists(atPath: store.path))
            await store.shutdown()
        }
    }
}

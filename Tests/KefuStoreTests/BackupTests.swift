import Foundation
import KefuCore
import KefuTestSupport
import Synchronization
import Testing

@testable import KefuStore

/// `kefuctl backup`: a consistent copy of a store that keeps committing, which opens as a store with everything
/// committed before the copy began.
@Suite("Backups")
struct BackupTests {
    @Test func aBackupTakenWhileTheStoreCommitsHoldsEveryCommitBeforeItAndOpensAsAStore() async throws {
        try await withTemporaryDirectory { directory in
            let store = try openStore(directory)
            try await store.commit([.conversation(conversation(1, state: .assigned, agent: "alice"))])
            let acknowledged = Atomic(0)
            let busy = Atomic(true)
            let writes = Task {
                var seq = 0
                while busy.load(ordering: .relaxed) {
                    seq += 1
                    try await store.commit([.message(message(1, seq, "消息 \(seq)"))])
                    acknowledged.store(seq, ordering: .releasing)
                }
            }
            while acknowledged.load(ordering: .acquiring) < 200 { try await Task.sleep(for: .milliseconds(5)) }
            let before = acknowledged.load(ordering: .acquiring)
            let target = directory + "-backup.sqlite"
            defer { try? FileManager.default.removeItem(atPath: target) }
            let summary = try await onOwnThread {
                Result { () throws(StoreError) in try StoreBackup.write(directory: directory, to: target) }
            }.get()
            // The store went on committing meanwhile.
            let during = acknowledged.load(ordering: .acquiring)
            try await Task.sleep(for: .milliseconds(50))
            busy.store(false, ordering: .relaxed)
            try await writes.value
            let after = acknowledged.load(ordering: .acquiring)
            #expect(after > during)
            await store.shutdown()

            #expect(summary.schemaVersion == Schema.currentVersion)
            #expect(summary.conversations == 1)
            #expect(summary.messages >= before)
            #expect(summary.messages <= after)
            #expect(summary.lastMessage?.conversation == 1)
            #expect(summary.lastMessage?.seq == Int64(summary.messages))
            #expect(summary.bytes > 0)
            // Restored: the file alone, as kefu.sqlite of a fresh state directory.
            let restored = directory + "-restored"
            defer { try? FileManager.default.removeItem(atPath: restored) }
            try FileManager.default.createDirectory(atPath: restored, withIntermediateDirectories: true)
            try FileManager.default.copyItem(atPath: target, toPath: restored + "/kefu.sqlite")
            let reopened = try openStore(restored)
            let state = try reopened.recover()
            #expect(state.openConversations.map(\.id) == [ConversationID(1)])
            let history = try await reopened.read { try $0.history(of: ConversationID(1)) }
            // Every message acknowledged before the backup began, and the ones after it up to one commit, no hole.
            #expect(history.map(\.seq) == Array(1...summary.messages))
            #expect(history.map(\.text) == (1...summary.messages).map { "消息 \($0)" })
            #expect(history.count >= before)
            await reopened.shutdown()
        }
    }

    @Test func aBackupNeverOverwritesAFile() async throws {
        try await withTemporaryDirectory { directory in
            let store = try openStore(directory)
            try await store.commit([.conversation(conversation(1)), .message(message(1, 1))])
            let target = directory + "-existing.sqlite"
            defer { try? FileManager.default.removeItem(atPath: target) }
            try Data("precious".utf8).write(to: URL(fileURLWithPath: target))
            #expect(throws: StoreError.self) { try StoreBackup.write(directory: directory, to: target) }
            #expect(try Data(contentsOf: URL(fileURLWithPath: target)) == Data("precious".utf8))
            // Nothing left beside it either.
            let siblings = try FileManager.default.contentsOfDirectory(
                atPath: URL(fileURLWithPath: target).deletingLastPathComponent().path)
            #expect(!siblings.contains { $0.hasPrefix(URL(fileURLWithPath: target).lastPathComponent + ".partial") })
            await store.shutdown()
        }
    }

    @Test func aBackupOfADirectoryWithoutAStoreFailsAndWritesNothing() async throws {
        try await withTemporaryDirectory { directory in
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            let target = directory + "/backup.sqlite"
            #expect(throws: StoreError.self) { try StoreBackup.write(directory: directory + "/nothing", to: target) }
            #expect(!FileManager.default.fileExists(atPath: target))
            #expect(try FileManager.default.contentsOfDirectory(atPath: directory).isEmpty)
        }
    }
}

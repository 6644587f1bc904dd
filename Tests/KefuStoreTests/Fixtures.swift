import KefuTestSupport
import Foundation
import KefuCore
import Logging
@testable import KefuStore

/// Runs `body` with a fresh directory path (not yet created) and removes it afterwards.
func withTemporaryDirectory<T>(_ body: (String) async throws -> T) async throws -> T {
    let directory = FileManager.default.temporaryDirectory
        .appendingPathComponent("kefu-store-tests-\(UUID().uuidString)")
        .path
    defer { try? FileManager.default.removeItem(atPath: directory) }
    return try await body(directory)
}

/// Several tests take failure paths on purpose; keep the output readable.
let quietLogger = Logger(label: "kefu.store.tests") { _ in SwiftLogNoOpLogHandler() }

func openStore(_ directory: String) throws -> ConversationStore {
    try ConversationStore(directory: directory, logger: quietLogger)
}

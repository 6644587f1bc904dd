import Foundation

/// The package's root directory, derived from this file's location (`Tests/KefuTestSupport/<file>`).
public let packageRoot: URL = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent()  // KefuTestSupport
    .deletingLastPathComponent()  // Tests
    .deletingLastPathComponent()  // package root

/// Finds a built product such as `kefud` for end-to-end tests.
///
/// Looks in `$KEFU_BUILD_DIR` first (`make test` sets it to `swift build --show-bin-path`), then in
/// `<package root>/.build/debug`.
///
/// - Returns: the executable's path, or `nil` when neither place has it.
public func findExecutable(named name: String) -> String? {
    var directories: [URL] = []
    if let buildDirectory = ProcessInfo.processInfo.environment["KEFU_BUILD_DIR"], !buildDirectory.isEmpty {
        directories.append(URL(fileURLWithPath: buildDirectory, isDirectory: true))
    }
    directories.append(packageRoot.appendingPathComponent(".build/debug", isDirectory: true))
    for directory in directories {
        let candidate = directory.appendingPathComponent(name).path
        if FileManager.default.isExecutableFile(atPath: candidate) {
            return candidate
        }
    }
    return nil
}

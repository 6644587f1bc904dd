import Foundation

/// What a finished command printed.
public struct CommandResult: Sendable {
    /// The exit status.
    public var status: Int32
    /// Everything written to stdout.
    public var output: String
    /// Everything written to stderr: journalctl's diagnostics.
    public var errorOutput: String
}

/// Runs a program to completion with no stdin, for tests that drive command-line tools such as `journalctl`.
///
/// The wait happens on a thread of its own (``onOwnThread(_:)``): a test blocking a cooperative thread while a
/// child runs would stall the daemons and clients of every other test on a 2-core machine.
public func runCommand(_ executable: String, _ arguments: [String]) async throws -> CommandResult {
    try await onOwnThread { Result { try runCommandBlocking(executable, arguments) } }.get()
}

/// stdout through a pipe, stderr through a file, so that neither can fill up and block the other.
public func runCommandBlocking(_ executable: String, _ arguments: [String]) throws -> CommandResult {
    let errorFile = FileManager.default.temporaryDirectory
        .appendingPathComponent("kefu-command-\(UUID().uuidString.prefix(8)).err")
    _ = FileManager.default.createFile(atPath: errorFile.path, contents: nil)
    defer { try? FileManager.default.removeItem(at: errorFile) }
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    let pipe = Pipe()
    process.standardInput = FileHandle.nullDevice
    process.standardOutput = pipe
    let errorHandle = try FileHandle(forWritingTo: errorFile)
    defer { try? errorHandle.close() }
    process.standardError = errorHandle
    try process.run()
    // Read to EOF before waiting, or a large output would fill the pipe and deadlock.
    let output = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    let errorOutput = (try? Data(contentsOf: errorFile)) ?? Data()
    return CommandResult(
        status: process.terminationStatus,
        output: String(decoding: output, as: UTF8.self),
        errorOutput: String(decoding: errorOutput, as: UTF8.self))
}

import Foundation
import KefuTestSupport

/// The real `kefud` binary as a child process, with its own notify socket, as systemd would run it.
final class KefudProcess: @unchecked Sendable {  // used from one test task at a time
    struct NotBuilt: Error, CustomStringConvertible {
        var description: String { "kefud is not built: run `swift build` (make test does) before the tests" }
    }

    struct NotReady: Error, CustomStringConvertible {
        let output: String
        var description: String { "kefud did not send READY=1; its output:\n\(output)" }
    }

    let process = Process()
    let notify: NotifySocketListener
    let outputPath: String
    private(set) var port = 0
    private(set) var notifications: [String] = []

    /// Starts `kefud` with these arguments. Its environment is explicit: the test process's own notify or
    /// watchdog variables must never leak into the child.
    init(arguments: [String], workingDirectory: String, extraEnvironment: [String: String] = [:]) throws {
        guard let binary = findExecutable(named: "kefud") else { throw NotBuilt() }
        notify = try NotifySocketListener()
        outputPath = workingDirectory + "/kefud-\(UUID().uuidString.prefix(8)).log"
        _ = FileManager.default.createFile(atPath: outputPath, contents: nil)
        var environment = ProcessInfo.processInfo.environment
        for name in ["NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "JOURNAL_STREAM", "LISTEN_FDS", "LISTEN_PID"] {
            environment[name] = nil
        }
        environment["NOTIFY_SOCKET"] = notify.path
        environment.merge(extraEnvironment) { _, new in new }
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = arguments + ["--log-target", "stderr"]
        process.environment = environment
        process.currentDirectoryURL = URL(fileURLWithPath: workingDirectory)
        let output = FileHandle(forWritingAtPath: outputPath)
        process.standardOutput = output
        process.standardError = output
        process.standardInput = FileHandle.nullDevice
        try process.run()
    }

    /// Waits for READY=1 and learns the port from the status line that comes with it.
    func waitUntilReady(timeout: Duration = .seconds(30)) async throws {
        let notify = self.notify
        guard let received = await onOwnThread({ notify.waitFor("READY=1", timeout: timeout) }) else {
            throw NotReady(output: output)
        }
        notifications += received
        let ready = received.last ?? ""
        // STATUS=listening on 127.0.0.1:PORT; ...
        if let range = ready.range(of: "listening on 127.0.0.1:"),
            let port = Int(ready[range.upperBound...].prefix { $0.isNumber })
        {
            self.port = port
        }
    }

    /// Waits for a notify assignment such as STOPPING=1.
    func waitForNotification(_ assignment: String, timeout: Duration = .seconds(10)) async -> Bool {
        let notify = self.notify
        guard let received = await onOwnThread({ notify.waitFor(assignment, timeout: timeout) }) else { return false }
        notifications += received
        return true
    }

    func signal(_ signal: Int32) { kill(process.processIdentifier, signal) }

    /// The exit status once the process has ended, nil if it is still running after `timeout`.
    func waitForExit(timeout: Duration = .seconds(15)) async -> Int32? {
        let deadline = ContinuousClock.now + timeout
        while process.isRunning {
            if ContinuousClock.now >= deadline { return nil }
            try? await Task.sleep(for: .milliseconds(50))
        }
        return process.terminationStatus
    }

    var output: String { (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? "" }

    deinit {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
    }
}

/// Writes a config file into `directory` and returns its path.
func writeConfiguration(_ text: String, in directory: TemporaryDirectory, name: String = "kefud.toml") throws -> String
{
    let path = directory.url(for: name).path
    try text.write(toFile: path, atomically: true, encoding: .utf8)
    return path
}

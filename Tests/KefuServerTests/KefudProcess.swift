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

    let process: SpawnedProcess
    let notify: NotifySocketListener
    private let reader: NotificationReader
    let outputPath: String
    private(set) var port = 0
    private(set) var notifications: [String] = []

    /// Starts `kefud` with these arguments. Its environment is explicit: the test process's own notify or
    /// watchdog variables must never leak into the child.
    /// `launcher`: a program that starts kefud itself (`systemd-socket-activate ...`), kefud's path appended.
    init(
        arguments: [String], workingDirectory: String, extraEnvironment: [String: String] = [:],
        launcher: [String] = []
    ) throws {
        guard let binary = findExecutable(named: "kefud") else { throw NotBuilt() }
        notify = try NotifySocketListener()
        reader = NotificationReader(notify)
        outputPath = workingDirectory + "/kefud-\(UUID().uuidString.prefix(8)).log"
        _ = FileManager.default.createFile(atPath: outputPath, contents: nil)
        var environment = ProcessInfo.processInfo.environment
        for name in ["NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "JOURNAL_STREAM", "LISTEN_FDS", "LISTEN_PID"] {
            environment[name] = nil
        }
        environment["NOTIFY_SOCKET"] = notify.path
        environment.merge(extraEnvironment) { _, new in new }
        process = try SpawnedProcess(
            executable: launcher.first ?? binary,
            arguments: Array(launcher.dropFirst()) + (launcher.isEmpty ? [] : [binary]) + arguments
                + ["--log-target", "stderr"],
            environment: environment, workingDirectory: workingDirectory, outputPath: outputPath)
    }

    /// Waits for READY=1 and learns the port from the status line that comes with it.
    func waitUntilReady(timeout: Duration = .seconds(30)) async throws {
        let reader = self.reader
        guard let received = await onOwnThread({ reader.waitFor("READY=1", timeout: timeout) }) else {
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
        let reader = self.reader
        guard let received = await onOwnThread({ reader.waitFor(assignment, timeout: timeout) }) else { return false }
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

    /// The TLS listener's port as the log says (`listening for TLS` with the address), once ready.
    var tlsPort: Int? {
        guard let line = output.split(separator: "\n").first(where: { $0.contains("listening for TLS") }),
            let range = line.range(of: "127.0.0.1:")
        else { return nil }
        return Int(line[range.upperBound...].prefix { $0.isNumber })
    }

    /// The HTTP listener's port as its log line says (`http listening` with the address), once ready.
    var httpPort: Int? {
        guard let line = output.split(separator: "\n").first(where: { $0.contains("http listening") }),
            let range = line.range(of: "127.0.0.1:")
        else { return nil }
        return Int(line[range.upperBound...].prefix { $0.isNumber })
    }

    deinit {
        reader.stop()  // the process is killed and reaped by its own deinit
    }
}

/// Reads kefud's notifications as they arrive, on a thread of its own, as systemd does. Left unread, the socket's
/// queue (net.unix.max_dgram_qlen, 10 datagrams) fills within seconds of STATUS= and WATCHDOG=1, and then sd_notify
/// blocks kefud's routing loop: a test stalled for a moment would see kefud stop answering for good.
final class NotificationReader: @unchecked Sendable {  // the state below is guarded by `condition`
    private let condition = NSCondition()
    private var received: [String] = []
    /// Datagrams already returned by (or passed over by a timed-out) ``waitFor(_:timeout:)``.
    private var consumed = 0
    private var stopped = false

    init(_ listener: NotifySocketListener) {
        // The thread keeps the listener (and this reader) alive until ``stop()``.
        Thread { [self] in
            while !isStopped {
                guard let message = listener.receive(timeout: .milliseconds(100)) else { continue }
                condition.lock()
                received.append(message)
                condition.broadcast()
                condition.unlock()
            }
        }.start()
    }

    private var isStopped: Bool {
        condition.lock()
        defer { condition.unlock() }
        return stopped
    }

    func stop() {
        condition.lock()
        stopped = true
        condition.unlock()
    }

    /// Like ``NotifySocketListener/waitFor(_:timeout:)``: the datagrams not yet consumed up to the first with
    /// `assignment` as one of its lines, or nil when none comes within `timeout`. Blocks: call it on its own thread.
    func waitFor(_ assignment: String, timeout: Duration) -> [String]? {
        let (seconds, attoseconds) = timeout.components
        let deadline = Date(timeIntervalSinceNow: Double(seconds) + Double(attoseconds) / 1e18)
        condition.lock()
        defer { condition.unlock() }
        var timedOut = false
        while true {
            if let match = received[consumed...].firstIndex(where: {
                $0.split(separator: "\n").contains { $0 == assignment }
            }) {
                defer { consumed = match + 1 }
                return Array(received[consumed...match])
            }
            if timedOut {
                consumed = received.count
                return nil
            }
            timedOut = !condition.wait(until: deadline)
        }
    }
}

/// Writes a config file into `directory` and returns its path.
func writeConfiguration(_ text: String, in directory: TemporaryDirectory, name: String = "kefud.toml") throws -> String
{
    let path = directory.url(for: name).path
    // Not `atomically`: on Linux, Foundation's atomic write leaves a `TemporaryDirectory.*` folder in /tmp each time
    // (the tests write files into their own temporary directories, where nothing reads them half-written).
    try text.write(toFile: path, atomically: false, encoding: .utf8)
    return path
}

/// The ids of the sessions a restart handed over, from the records it left in the state directory.
func handedOverSessionIDs(in stateDirectory: String) throws -> [String] {
    let records =
        try JSONSerialization.jsonObject(
            with: Data(contentsOf: URL(fileURLWithPath: stateDirectory + "/handover.json"))) as? [String: Any]
    let connections = records?["connections"] as? [[String: Any]] ?? []
    return connections.compactMap { ($0["session"] as? [String: Any])?["id"] as? String }
}

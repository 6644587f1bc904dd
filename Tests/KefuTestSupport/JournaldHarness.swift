import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// Whether a journald is there to receive test entries.
public enum JournaldAvailability: Sendable, Equatable {
    /// journald is listening on its native socket.
    case running
    /// It is not, and could not be started; `reason` says why.
    case unavailable(reason: String)
}

/// Gives tests a real journald, even in a container without systemd as PID 1, and reads entries back.
///
/// ```swift
/// guard JournaldHarness.ensureRunning() == .running else { ... }
/// // ... log something with KEFU_TEST_ID=<unique> ...
/// let entries = JournaldHarness.query(["KEFU_TEST_ID=\(id)"], timeout: .seconds(5))
/// ```
public enum JournaldHarness {
    /// journald's native-protocol socket.
    public static let socketPath = "/run/systemd/journal/socket"
    /// Where Debian installs the journald binary.
    public static let journaldPath = "/lib/systemd/systemd-journald"
    /// Where a journald the harness started writes its own stdout/stderr.
    public static let journaldLogPath = "/tmp/kefu-test-journald.log"

    /// Makes sure journald is listening, starting `/lib/systemd/systemd-journald` in the background when
    /// it is not (root only), and that entries sent to it can be read back with `journalctl` (a user
    /// outside the `systemd-journal` group may not read the system journal). A journald started here is
    /// left running for later tests and runs.
    ///
    /// Safe to call from concurrent tests: at most one journald is started per process.
    public static func ensureRunning() -> JournaldAvailability {
        if !isListening() {
            let started = startOnce
            guard started == .running else { return started }
        }
        return readBackOnce
    }

    /// Runs `journalctl -o json --no-pager --all <matches...>` until it returns at least one entry or
    /// `timeout` passes. Each match is `FIELD=value`; several are ANDed (same field: ORed).
    ///
    /// Values come back as strings; binary fields (JSON byte arrays) are decoded as UTF-8 and a field
    /// that occurs several times has its values joined with newlines.
    ///
    /// - Returns: the entries, oldest first; empty on timeout.
    public static func query(_ matches: [String], timeout: Duration = .seconds(5)) -> [[String: String]] {
        let deadline = ContinuousClock.now + timeout
        while true {
            let entries = queryOnce(matches)
            if !entries.isEmpty || ContinuousClock.now >= deadline {
                return entries
            }
            usleep(100_000)
        }
    }

    /// ``query(_:timeout:)`` for async tests: sleeps between polls instead of blocking a thread, and runs
    /// journalctl on a thread of its own (``onOwnThread(_:)``), since tests polling at once would otherwise hold
    /// both cooperative threads of a 2-core machine and stall every in-process daemon.
    public static func query(_ matches: [String], timeout: Duration = .seconds(5)) async -> [[String: String]] {
        let deadline = ContinuousClock.now + timeout
        while true {
            let entries = await onOwnThread { queryOnce(matches) }
            if !entries.isEmpty || ContinuousClock.now >= deadline {
                return entries
            }
            try? await Task.sleep(for: .milliseconds(100))
        }
    }

    /// One `journalctl --sync` then one query, no waiting.
    public static func queryOnce(_ matches: [String]) -> [[String: String]] {
        guard let journalctl = journalctlPath else { return [] }
        // --sync makes journald process every datagram queued so far; it needs root (varlink socket
        // io.systemd.journal is 0600), so failure is ignored and the polling covers the gap.
        _ = run(journalctl, ["--sync"])
        let output = run(journalctl, ["-o", "json", "--no-pager", "--all"] + matches)?.output ?? Data()
        return output.split(separator: UInt8(ascii: "\n")).compactMap { parseEntry(Data($0)) }
    }

    /// Turns one line of `journalctl -o json` into string fields.
    public static func parseEntry(_ line: Data) -> [String: String]? {
        guard let object = try? JSONSerialization.jsonObject(with: line) as? [String: Any] else {
            return nil
        }
        var entry: [String: String] = [:]
        for (name, value) in object {
            if let text = stringValue(value) {
                entry[name] = text
            }
        }
        return entry
    }

    // MARK: - Starting journald

    /// Evaluated once per process (Swift runs static initializers exactly once, thread-safely).
    private static let startOnce: JournaldAvailability = start()

    private static func start() -> JournaldAvailability {
        if isListening() {
            return .running
        }
        guard getuid() == 0 else {
            return .unavailable(reason: "not root (uid \(getuid())) and \(socketPath) is not listening")
        }
        guard FileManager.default.isExecutableFile(atPath: journaldPath) else {
            return .unavailable(reason: "\(journaldPath) is missing (apt-get install systemd)")
        }
        do {
            try FileManager.default.createDirectory(
                atPath: "/run/systemd/journal", withIntermediateDirectories: true
            )
        } catch {
            return .unavailable(reason: "cannot create /run/systemd/journal: \(error)")
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: journaldPath)
        // Never inherit the test's stdout/stderr: a long-lived child holding a CI pipe open would keep
        // whoever reads that pipe waiting for EOF after the tests are done.
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = FileHandle.nullDevice
        _ = FileManager.default.createFile(atPath: journaldLogPath, contents: nil)
        process.standardError = FileHandle(forWritingAtPath: journaldLogPath) ?? FileHandle.nullDevice
        do {
            try process.run()
        } catch {
            return .unavailable(reason: "cannot start \(journaldPath): \(error)")
        }
        let deadline = ContinuousClock.now + .seconds(5)
        while ContinuousClock.now < deadline {
            if isListening() {
                return .running
            }
            if !process.isRunning {
                return .unavailable(
                    reason: "\(journaldPath) exited with status \(process.terminationStatus): \(journaldLog())"
                )
            }
            usleep(50_000)
        }
        return .unavailable(reason: "\(socketPath) not listening 5 s after starting journald: \(journaldLog())")
    }

    /// Evaluated once per process: sends one probe entry and waits for journalctl to show it.
    private static let readBackOnce: JournaldAvailability = probeReadBack()

    private static func probeReadBack() -> JournaldAvailability {
        guard journalctlPath != nil else {
            return .unavailable(reason: "journalctl is missing (apt-get install systemd)")
        }
        let probe = UUID().uuidString
        let datagram = "MESSAGE=kefu test harness probe\nSYSLOG_IDENTIFIER=kefu-test\nKEFU_HARNESS_PROBE=\(probe)\n"
        guard sendDatagram(Array(datagram.utf8)) else {
            return .unavailable(reason: "cannot send to \(socketPath): \(String(cString: strerror(errno)))")
        }
        if query(["KEFU_HARNESS_PROBE=\(probe)"], timeout: .seconds(5)).isEmpty {
            return .unavailable(
                reason: "journald runs but uid \(getuid()) cannot read entries back with journalctl "
                    + "(needs root or the systemd-journal group)"
            )
        }
        return .running
    }

    /// Whether something accepts datagrams on ``socketPath``: a dead journald leaves its socket file
    /// behind, and connecting to that fails with ECONNREFUSED.
    public static func isListening() -> Bool {
        withConnectedSocket { _ in true } ?? false
    }

    /// Sends one native-protocol datagram ("NAME=value\n" lines) to journald.
    private static func sendDatagram(_ bytes: [UInt8]) -> Bool {
        withConnectedSocket { descriptor in
            send(descriptor, bytes, bytes.count, Int32(MSG_NOSIGNAL)) == bytes.count
        } ?? false
    }

    /// Runs `body` with a datagram socket connected to ``socketPath``; `nil` when connecting fails.
    private static func withConnectedSocket<T>(_ body: (Int32) -> T) -> T? {
        let descriptor = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard descriptor >= 0 else { return nil }
        defer { close(descriptor) }
        let connected = withUnixSocketAddress(socketPath) { connect(descriptor, $0, $1) }
        return connected == 0 ? body(descriptor) : nil
    }

    private static func journaldLog() -> String {
        let text = (try? String(contentsOfFile: journaldLogPath, encoding: .utf8)) ?? ""
        return text.isEmpty ? "(no output)" : String(text.suffix(500))
    }

    // MARK: - Running journalctl

    /// `journalctl`, where Debian puts it; `nil` when systemd is not installed.
    public static let journalctlPath: String? = ["/usr/bin/journalctl", "/bin/journalctl"]
        .first { FileManager.default.isExecutableFile(atPath: $0) }

    private static func run(_ executable: String, _ arguments: [String]) -> (status: Int32, output: Data)? {
        // The one way the test support runs a program (stdout piped, stderr to a file: neither can block the other).
        guard let result = try? runCommandBlocking(executable, arguments) else { return nil }
        return (result.status, Data(result.output.utf8))
    }

    private static func stringValue(_ value: Any) -> String? {
        switch value {
        case let text as String:
            return text
        case let number as Int:
            return String(number)
        case let number as NSNumber:
            return number.stringValue
        case let items as [Any]:
            // Either one binary value as a byte array, or several values of a repeated field.
            let bytes = items.compactMap(byteValue)
            if bytes.count == items.count {
                return String(decoding: bytes, as: UTF8.self)
            }
            let texts = items.compactMap(stringValue)
            return texts.isEmpty ? nil : texts.joined(separator: "\n")
        default:
            return nil
        }
    }

    private static func byteValue(_ value: Any) -> UInt8? {
        switch value {
        case let number as Int:
            return UInt8(exactly: number)
        case let number as NSNumber:
            return UInt8(exactly: number.intValue)
        default:
            return nil
        }
    }
}

extension JournaldHarness {
    /// What a test that needs journald should do here: run, fail (root or CI, where journald must be had), or
    /// skip loudly (an unprivileged developer machine).
    public enum Requirement: Sendable, Equatable {
        case run
        case fail(String)
        case skip(String)
    }

    /// Ensures journald runs (on a thread of its own: starting it blocks) and decides what the test does.
    public static func requirement() async -> Requirement {
        switch await onOwnThread({ ensureRunning() }) {
        case .running:
            return .run
        case .unavailable(let reason):
            if ProcessInfo.processInfo.environment["CI"] != nil || getuid() == 0 {
                return .fail("journald unavailable (required as root and in CI): \(reason)")
            }
            return .skip("SKIPPED (journald unavailable, not root): \(reason)")
        }
    }
}

extension JournaldHarness {
    /// For a test that needs journald: true when it may go on. Where journald must be had (root, CI) a missing one
    /// is recorded as a failure of the calling test; elsewhere the test is skipped, loudly.
    public static func isRunningForTest(sourceLocation: SourceLocation = #_sourceLocation) async -> Bool {
        switch await requirement() {
        case .run: return true
        case .fail(let reason): Issue.record("\(reason)", sourceLocation: sourceLocation)
        case .skip(let message): print(message)
        }
        return false
    }
}

extension JournaldHarness {
    /// For a test that runs `journalctl` but needs no journald (catalog tools): its path when it may go on. Where
    /// systemd must be had (root, CI) a missing journalctl fails the calling test; elsewhere it is skipped, loudly.
    public static func journalctlForTest(sourceLocation: SourceLocation = #_sourceLocation) -> String? {
        if let journalctlPath {
            return journalctlPath
        }
        let reason = "journalctl is missing (apt-get install systemd)"
        if ProcessInfo.processInfo.environment["CI"] != nil || getuid() == 0 {
            Issue.record("\(reason); required as root and in CI", sourceLocation: sourceLocation)
        } else {
            print("SKIPPED: \(reason)")
        }
        return nil
    }

    /// For a test that must change the host's systemd files (the system catalog): true when running as root.
    /// In CI not being root fails the calling test; elsewhere it is skipped, loudly.
    public static func isRootForTest(
        _ purpose: String, sourceLocation: SourceLocation = #_sourceLocation
    ) -> Bool {
        if getuid() == 0 {
            return true
        }
        let reason = "\(purpose) needs root (uid \(getuid()))"
        if ProcessInfo.processInfo.environment["CI"] != nil {
            Issue.record("\(reason); CI runs the tests as root", sourceLocation: sourceLocation)
        } else {
            print("SKIPPED: \(reason)")
        }
        return false
    }
}

import Foundation
import KefuSystemd
import KefuTestSupport
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Runs `body` with environment variables set (or unset, for `nil`) and restores them afterwards.
///
/// The environment is process-global, so only tests in the serialized suite below may use this.
private func withEnvironment<T>(_ variables: [String: String?], _ body: () throws -> T) rethrows -> T {
    var saved: [String: String?] = [:]
    for (name, value) in variables {
        saved[name] = getenv(name).map { String(cString: $0) }
        if let value {
            setenv(name, value, 1)
        } else {
            unsetenv(name)
        }
    }
    defer {
        for (name, value) in saved {
            if let value {
                setenv(name, value, 1)
            } else {
                unsetenv(name)
            }
        }
    }
    return try body()
}

/// Every test that touches the environment (NOTIFY_SOCKET, WATCHDOG_*, KEFU_BUILD_DIR) lives here: setenv
/// is process-global and Swift Testing runs suites in parallel.
@Suite(.serialized)
struct NotifyTests {
    let notifier = SystemdNotifier()

    /// Binds a listener, points NOTIFY_SOCKET at it for the duration of `body`.
    private func withListener(_ body: (NotifySocketListener) throws -> Void) throws {
        let listener = try NotifySocketListener()
        try withEnvironment(["NOTIFY_SOCKET": listener.path]) {
            try body(listener)
        }
    }

    @Test func readyCarriesStatus() throws {
        try withListener { listener in
            #expect(notifier.isEnabled)
            #expect(notifier.ready(status: "routing 3 queues"))
            #expect(listener.receive(timeout: .seconds(2)) == "READY=1\nSTATUS=routing 3 queues")
            #expect(notifier.ready())
            #expect(listener.receive(timeout: .seconds(2)) == "READY=1")
        }
    }

    @Test func lifecycleMessages() throws {
        try withListener { listener in
            #expect(notifier.stopping())
            #expect(listener.receive(timeout: .seconds(2)) == "STOPPING=1")
            #expect(notifier.watchdogPing())
            #expect(listener.receive(timeout: .seconds(2)) == "WATCHDOG=1")
            #expect(notifier.watchdogTrigger())
            #expect(listener.receive(timeout: .seconds(2)) == "WATCHDOG=trigger")
            #expect(notifier.extendTimeout(microseconds: 5_000_000))
            #expect(listener.receive(timeout: .seconds(2)) == "EXTEND_TIMEOUT_USEC=5000000")
            #expect(notifier.reloading(monotonicMicroseconds: 123_456_789))
            #expect(listener.receive(timeout: .seconds(2)) == "RELOADING=1\nMONOTONIC_USEC=123456789")
            #expect(notifier.send(["STATUS=a", "ERRNO=5"]))
            #expect(listener.receive(timeout: .seconds(2)) == "STATUS=a\nERRNO=5")
            #expect(listener.receive(timeout: .milliseconds(50)) == nil)
        }
    }

    @Test func reloadingDefaultsToMonotonicNow() throws {
        try withListener { listener in
            let before = SystemdNotifier.monotonicMicroseconds()
            #expect(notifier.reloading())
            let after = SystemdNotifier.monotonicMicroseconds()
            let message = try #require(listener.receive(timeout: .seconds(2)))
            let lines = message.split(separator: "\n")
            #expect(lines.first == "RELOADING=1")
            let stamp = try #require(lines.last.flatMap { UInt64($0.dropFirst("MONOTONIC_USEC=".count)) })
            #expect(lines.last?.hasPrefix("MONOTONIC_USEC=") == true)
            #expect((before...after).contains(stamp))
        }
    }

    @Test func statusIsFlattenedToOneLine() throws {
        try withListener { listener in
            #expect(notifier.status("3 queues\n12 agents\r\nok"))
            #expect(listener.receive(timeout: .seconds(2)) == "STATUS=3 queues 12 agents ok")
            // An embedded assignment must not become a line of its own.
            #expect(notifier.ready(status: "booting\nREADY=1\n"))
            #expect(listener.receive(timeout: .seconds(2)) == "READY=1\nSTATUS=booting READY=1")
        }
    }

    @Test func disabledWithoutNotifySocket() {
        withEnvironment(["NOTIFY_SOCKET": nil]) {
            #expect(!notifier.isEnabled)
            #expect(!notifier.ready(status: "x"))
            #expect(!notifier.watchdogPing())
        }
    }

    @Test func watchdogIntervalIsHalfOfWatchdogUsec() {
        withEnvironment(["WATCHDOG_USEC": "2000000", "WATCHDOG_PID": nil]) {
            #expect(SystemdNotifier.watchdogInterval() == .seconds(1))
        }
        withEnvironment(["WATCHDOG_USEC": "2000000", "WATCHDOG_PID": String(getpid())]) {
            #expect(SystemdNotifier.watchdogInterval() == .seconds(1))
        }
        // WATCHDOG_PID naming another process means the watchdog is not ours to ping.
        withEnvironment(["WATCHDOG_USEC": "2000000", "WATCHDOG_PID": String(getpid() + 1)]) {
            #expect(SystemdNotifier.watchdogInterval() == nil)
        }
        withEnvironment(["WATCHDOG_USEC": nil, "WATCHDOG_PID": nil]) {
            #expect(SystemdNotifier.watchdogInterval() == nil)
        }
    }

    /// Not about notify, but it sets KEFU_BUILD_DIR, so it must run in this serialized suite.
    @Test func findExecutablePrefersKefuBuildDir() throws {
        let directory = try TemporaryDirectory()
        let tool = directory.url(for: "kefu-fake-tool")
        #expect(FileManager.default.createFile(atPath: tool.path, contents: Data("#!/bin/sh\n".utf8)))
        withEnvironment(["KEFU_BUILD_DIR": directory.path]) {
            #expect(findExecutable(named: "kefu-fake-tool") == nil, "not executable yet")
        }
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: tool.path)
        withEnvironment(["KEFU_BUILD_DIR": directory.path]) {
            #expect(findExecutable(named: "kefu-fake-tool") == tool.path)
        }
        withEnvironment(["KEFU_BUILD_DIR": nil]) {
            #expect(findExecutable(named: "kefu-fake-tool") == nil)
        }
    }
}

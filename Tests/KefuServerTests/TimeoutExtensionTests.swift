import KefuServer
import KefuTestSupport
import Synchronization
import Testing

/// Sleeps that end when the test says so: the extension's intervals, without waiting on a clock.
final class Gate: Sendable {
    private let waiting = Mutex<[CheckedContinuation<Void, any Error>]>([])

    func sleep() async throws {
        try await withCheckedThrowingContinuation { continuation in waiting.withLock { $0.append(continuation) } }
    }

    var sleepers: Int { waiting.withLock { $0.count } }

    /// Ends every sleep under way.
    func open() {
        let sleepers = waiting.withLock { waiting in
            defer { waiting = [] }
            return waiting
        }
        sleepers.forEach { $0.resume() }
    }

    /// Waits (yielding, bounded) until someone sleeps here.
    func awaitSleeper() async {
        for _ in 0..<100_000 where sleepers == 0 { await Task.yield() }
    }
}

@Suite("EXTEND_TIMEOUT_USEC while recovering or flushing")
struct TimeoutExtensionTests {
    static func extensions(_ notifier: RecordingNotifier) -> [String] {
        notifier.messages.filter { $0.hasPrefix("EXTEND") }
    }

    @Test func longWorkAsksForThreeIntervalsEveryIntervalAndNothingOnceDone() async throws {
        let notifier = RecordingNotifier()
        let interval = Gate()
        let work = Gate()
        let extending = TimeoutExtension(interval: .seconds(5), sleep: { _ in try await interval.sleep() })
        let running = Task {
            try await extending.during(notifier) {
                try await work.sleep()
                return 42
            }
        }

        for expected in 1...2 {
            await interval.awaitSleeper()
            interval.open()  // an interval passes with the work still under way
            for _ in 0..<100_000 where Self.extensions(notifier).count < expected { await Task.yield() }
            #expect(Self.extensions(notifier) == Array(repeating: "EXTEND 15.0 seconds", count: expected))
        }
        await work.awaitSleeper()
        work.open()
        #expect(try await running.value == 42)
        // The extender may still be asleep: when its interval ends, it says nothing more.
        await interval.awaitSleeper()
        interval.open()
        for _ in 0..<1000 { await Task.yield() }
        #expect(Self.extensions(notifier).count == 2)
    }

    @Test func extensionsStopAtTheLimitSoThatAStuckRecoveryStillTimesOut() async throws {
        let notifier = RecordingNotifier()
        let interval = Gate()
        let work = Gate()
        let extending = TimeoutExtension(
            interval: .seconds(5), limit: .seconds(10), sleep: { _ in try await interval.sleep() })
        let running = Task { try await extending.during(notifier) { try await work.sleep() } }
        for _ in 1...2 {
            await interval.awaitSleeper()
            interval.open()
        }
        for _ in 0..<100_000 where Self.extensions(notifier).count < 2 { await Task.yield() }
        for _ in 0..<1000 { await Task.yield() }
        #expect(interval.sleepers == 0)  // done extending, though the work goes on
        #expect(Self.extensions(notifier).count == 2)
        await work.awaitSleeper()
        work.open()
        try await running.value
    }

    /// The daemon asks for more time while it recovers its store (a store of 1,000 open conversations). The
    /// intervals pass at once, not on a clock: a recovery made fast enough to end within a real millisecond's
    /// timer would otherwise send nothing, and the test would measure speed instead of the wiring. The limit of
    /// three intervals keeps the at-once extender from sending more than three.
    @Test func kefudExtendsTheStartTimeoutWhileRecoveringItsStore() async throws {
        let directory = try TemporaryDirectory(prefix: "kefu-extend")
        let first = try await TestDaemon.start(stateDirectory: directory.path)
        let buyer = try await first.customer("b-extend")
        // In one write: a light load for the timing-sensitive tests that run beside this one.
        try await buyer.sendRaw(Array((1...1000).map { "o\($0) OPEN refund :退款\n" }.joined().utf8))
        #expect(try await buyer.expect("o1000 ", timeout: .seconds(30)) == "o1000 OK conv=1000")
        try await first.stop()

        let notifier = RecordingNotifier()
        let second = try await TestDaemon.start(
            stateDirectory: directory.path, notifier: notifier,
            timeoutExtension: TimeoutExtension(interval: .milliseconds(1), limit: .milliseconds(3), sleep: { _ in }))
        let messages = notifier.messages
        let firstExtension = try #require(messages.firstIndex { $0.hasPrefix("EXTEND") }, "\(messages.prefix(5))")
        let ready = try #require(messages.firstIndex { $0.hasPrefix("READY") })
        #expect(firstExtension < ready)
        #expect(messages[firstExtension] == "EXTEND 0.003 seconds")
        try await second.stop()
    }

    @Test func workShorterThanAnIntervalSendsNothing() async throws {
        let notifier = RecordingNotifier()
        let interval = Gate()
        let extending = TimeoutExtension(interval: .seconds(5), sleep: { _ in try await interval.sleep() })
        #expect(await extending.during(notifier) { "done" } == "done")
        await interval.awaitSleeper()
        interval.open()
        for _ in 0..<1000 { await Task.yield() }
        #expect(Self.extensions(notifier).isEmpty)
    }
}

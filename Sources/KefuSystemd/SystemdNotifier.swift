import CSystemd

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Talks to the service manager over `$NOTIFY_SOCKET` (see `sd_notify(3)`).
///
/// Every method is a cheap no-op that returns `false` when kefud was not started by systemd with
/// `Type=notify`, so callers never need to check ``isEnabled`` first. The environment is read on each
/// call (by libsystemd), never cached, so the notifier can be created before the environment is final.
public struct SystemdNotifier: Sendable {
    /// Creates a notifier. Reads nothing: libsystemd looks at `NOTIFY_SOCKET` on every send.
    public init() {}

    /// Whether `NOTIFY_SOCKET` is set, i.e. whether notifications go anywhere.
    public var isEnabled: Bool {
        getenv("NOTIFY_SOCKET") != nil
    }

    /// Tells systemd start-up (or a reload) finished: `READY=1`, plus `STATUS=` when `status` is given.
    @discardableResult
    public func ready(status: String? = nil) -> Bool {
        var assignments = ["READY=1"]
        if let status {
            assignments.append("STATUS=" + Self.singleLine(status))
        }
        return send(assignments)
    }

    /// Sets the one-line status shown by `systemctl status`. Line breaks are replaced by spaces.
    @discardableResult
    public func status(_ text: String) -> Bool {
        send(["STATUS=" + Self.singleLine(text)])
    }

    /// Tells systemd a clean shutdown has begun: `STOPPING=1`.
    @discardableResult
    public func stopping() -> Bool {
        send(["STOPPING=1"])
    }

    /// Tells systemd a configuration reload has begun; follow it with ``ready(status:)`` when done.
    ///
    /// Sends `RELOADING=1` and `MONOTONIC_USEC=`, which systemd 253+ needs for `Type=notify-reload`
    /// (older versions ignore the timestamp, so it is always safe to send).
    @discardableResult
    public func reloading(monotonicMicroseconds: UInt64 = SystemdNotifier.monotonicMicroseconds()) -> Bool {
        send(["RELOADING=1", "MONOTONIC_USEC=\(monotonicMicroseconds)"])
    }

    /// Keep-alive ping for `WatchdogSec=`: `WATCHDOG=1`. Send it every ``watchdogInterval()``.
    @discardableResult
    public func watchdogPing() -> Bool {
        send(["WATCHDOG=1"])
    }

    /// Asks systemd to treat the service as hung right now (`WATCHDOG=trigger`), e.g. when the routing
    /// loop is found wedged; systemd then applies the watchdog's restart policy.
    @discardableResult
    public func watchdogTrigger() -> Bool {
        send(["WATCHDOG=trigger"])
    }

    /// Asks for more time in the current start, stop or reload phase (`EXTEND_TIMEOUT_USEC=`), e.g. while a
    /// large store is being opened. The extension counts from now, not from the start of the phase.
    @discardableResult
    public func extendTimeout(microseconds: UInt64) -> Bool {
        send(["EXTEND_TIMEOUT_USEC=\(microseconds)"])
    }

    /// Sends arbitrary `NAME=value` assignments in one datagram.
    ///
    /// Each assignment is flattened to one line first: an embedded newline would otherwise smuggle in a
    /// second assignment (a status text containing `\nREADY=1` must not mark us ready).
    ///
    /// - Returns: `true` when the datagram reached a notify socket; `false` when `NOTIFY_SOCKET` is unset
    ///   or sending failed.
    @discardableResult
    public func send(_ assignments: [String]) -> Bool {
        guard !assignments.isEmpty else { return false }
        let state = assignments.map(Self.singleLine).joined(separator: "\n")
        // Non-variadic sd_notify: sd_notifyf is a C variadic and cannot be called from Swift.
        return sd_notify(0, state) > 0
    }

    /// The keep-alive period: half of `WATCHDOG_USEC`, as `sd_watchdog_enabled(3)` recommends.
    ///
    /// - Returns: `nil` when the watchdog is off, or when `WATCHDOG_PID` names another process.
    public static func watchdogInterval() -> Duration? {
        var usec: UInt64 = 0
        guard sd_watchdog_enabled(0, &usec) > 0, usec > 0 else { return nil }
        return .microseconds(usec / 2)
    }

    /// `CLOCK_MONOTONIC` now, in microseconds: the clock systemd expects in `MONOTONIC_USEC=`.
    public static func monotonicMicroseconds() -> UInt64 {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return UInt64(now.tv_sec) * 1_000_000 + UInt64(now.tv_nsec) / 1_000
    }

    /// Collapses line breaks (and NULs, which would truncate the C string) into single spaces.
    static func singleLine(_ text: String) -> String {
        guard text.contains(where: Self.isBreak) else { return text }
        return text.split(whereSeparator: Self.isBreak).joined(separator: " ")
    }

    private static func isBreak(_ character: Character) -> Bool {
        character.isNewline || character == "\0"
    }
}

import Glibc
import KefuCore

/// Where the server layer reads the time. The core never does; tests can substitute their own clock.
public protocol WallClock: Sendable {
    func now() -> Instant
}

/// The system's real-time clock (wall time, so stored deadlines stay meaningful across restarts).
public struct SystemWallClock: WallClock {
    public init() {}

    public func now() -> Instant {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        return Instant(unixMilliseconds: Int64(spec.tv_sec) * 1000 + Int64(spec.tv_nsec) / 1_000_000)
    }
}

import KefuCore

/// Where the records ops rely on are written (journald in the daemon; a list in tests).
public protocol JournalRecorder: Sendable {
    /// One SLA breach.
    func record(_ breach: SLABreach)
    /// Breaches beyond `breach_records_per_s` in a second, which got no record of their own.
    func record(_ summary: BreachSummary)
    /// An agent the daemon set away for letting chats breach.
    func record(_ away: AgentAutoAway)
    /// A step of the escalation ladder.
    func record(_ escalation: SLAEscalation)
    /// A warning sent, or a round met (debug level).
    func record(_ notice: SLANotice)
    /// The recorder for one shop's records.
    func forShop(_ shop: String) -> any JournalRecorder
    /// A refused login (`KEFU_EVENT=auth_failure`), for fail2ban.
    func record(_ failure: AuthFailure)
    /// Refused logins beyond the per-second budget, listed once a second.
    func record(_ summary: AuthFailureSummary)
}

extension JournalRecorder {
    /// Recorders that keep only what ops alert on (the tests' lists) ignore the debug-level notices.
    public func record(_ notice: SLANotice) {}
    public func record(_ failure: AuthFailure) {}
    public func record(_ summary: AuthFailureSummary) {}

    /// The recorder for one shop's records (journald's adds `KEFU_SHOP`); recorders that do not tell shops apart
    /// are the same for every shop.
    public func forShop(_ shop: String) -> any JournalRecorder { self }
}

/// What the daemon tells its service manager (sd_notify in the daemon; nothing or a list in tests).
public protocol ServiceNotifier: Sendable {
    func ready(status: String)
    func status(_ text: String)
    func stopping()
    /// `RELOADING=1` with `MONOTONIC_USEC=`: a reload has begun; `ready(status:)` ends it.
    func reloading()
    func watchdogPing()
    /// `WATCHDOG=trigger`: the routing state broke an invariant; systemd restarts the service from the store.
    func watchdogTrigger()
    /// How often the watchdog must be pinged, nil when it is not enabled.
    var watchdogInterval: Duration? { get }
    /// `EXTEND_TIMEOUT_USEC=`: the phase under way (start, stop) needs this much more time from now.
    func extendTimeout(by duration: Duration)
}

extension ServiceNotifier {
    public func extendTimeout(by duration: Duration) {}
}

/// While long start-up or shutdown work runs (recovering a large store, flushing it), asks systemd every `interval`
/// for three more intervals (`EXTEND_TIMEOUT_USEC=`), so that `TimeoutStartSec=`/`TimeoutStopSec=` do not kill a
/// kefud that is still at it. The extensions say the process is busy, not that the work progresses, so they stop
/// after `limit`: a recovery stuck in I/O still times out then. Work that ends within the first interval sends
/// nothing.
public struct TimeoutExtension: Sendable {
    public var interval: Duration
    /// How long extensions are asked for at most, in all.
    public var limit: Duration
    /// How the extension waits an interval (injected by tests).
    public var sleep: @Sendable (Duration) async throws -> Void

    public init(
        interval: Duration = .seconds(5), limit: Duration = .seconds(30 * 60),
        sleep: @escaping @Sendable (Duration) async throws -> Void = { try await Task.sleep(for: $0) }
    ) {
        self.interval = interval
        self.limit = limit
        self.sleep = sleep
    }

    public func during<T>(
        _ notifier: any ServiceNotifier, _ work: () async throws -> T
    ) async rethrows -> T {
        let (interval, sleep, limit) = (self.interval, self.sleep, self.limit)
        let extender = Task {
            var waited = Duration.zero
            while !Task.isCancelled, waited < limit {
                do { try await sleep(interval) } catch { return }
                waited += interval
                if Task.isCancelled { return }
                notifier.extendTimeout(by: interval * 3)
            }
        }
        defer { extender.cancel() }
        return try await work()
    }
}

/// How often the routing loop checks the core's invariants (every `everyTicks` housekeeping ticks, about a second
/// each), and with what: a failed check triggers systemd's watchdog rather than routing on in a bad state.
public struct InvariantCheck: Sendable {
    public var everyTicks: Int
    public var check: @Sendable (RoutingCore) -> [String]

    public init(
        everyTicks: Int = 60, check: @escaping @Sendable (RoutingCore) -> [String] = { $0.invariantViolations() }
    ) {
        self.everyTicks = everyTicks
        self.check = check
    }
}

/// A notifier that tells nobody, for running outside systemd and in tests.
public struct SilentNotifier: ServiceNotifier {
    public init() {}
    public func ready(status: String) {}
    public func status(_ text: String) {}
    public func stopping() {}
    public func reloading() {}
    public func watchdogPing() {}
    public func watchdogTrigger() {}
    public var watchdogInterval: Duration? { nil }
}

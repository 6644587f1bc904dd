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
}

/// What the daemon tells its service manager (sd_notify in the daemon; nothing or a list in tests).
public protocol ServiceNotifier: Sendable {
    func ready(status: String)
    func status(_ text: String)
    func stopping()
    /// `RELOADING=1` with `MONOTONIC_USEC=`: a reload has begun; `ready(status:)` ends it.
    func reloading()
    func watchdogPing()
    /// How often the watchdog must be pinged, nil when it is not enabled.
    var watchdogInterval: Duration? { get }
}

/// A notifier that tells nobody, for running outside systemd and in tests.
public struct SilentNotifier: ServiceNotifier {
    public init() {}
    public func ready(status: String) {}
    public func status(_ text: String) {}
    public func stopping() {}
    public func reloading() {}
    public func watchdogPing() {}
    public var watchdogInterval: Duration? { nil }
}

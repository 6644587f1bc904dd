/// Catalogued journal `MESSAGE_ID`s for kefud's events: fixed 128-bit ids, 32 lowercase hex digits.
///
/// Never change a value once released: operators' `journalctl MESSAGE_ID=...` queries and alerting rules
/// depend on them. `deploy/message-ids.md` says what each one means.
public enum SystemdMessageID {
    /// A conversation's SLA deadline passed with no agent reply.
    public static let slaBreach = "2b625ba6808041c28aec6c92bc372662"
    /// A breached conversation was escalated (to a supervisor or a higher-priority queue).
    public static let slaEscalation = "2256e7c29f6d400e9406609f87fb970a"
    /// A conversation is close to its SLA deadline.
    public static let slaWarning = "24ba9b8e1d0149ceb3aa7be6bfc7310e"
    /// A round was answered by a human before its deadline (debug level).
    public static let slaRoundMet = "0f95dc0853544954b984f4a5cd46f93c"
    /// Periodic summary of SLA warnings and rounds met that got no debug record of their own.
    public static let slaNoticeSummary = "f59281caed494b14adf056e4d35a13e5"
    /// An agent was set away automatically (missed offers or idle too long).
    public static let agentAutoAway = "f1fd7c8335c544049e9d855d669f9d9a"
    /// Periodic summary of breaches, emitted instead of one entry per breach during a storm.
    public static let breachSummary = "58327e9d8e5f49f7bce2c21721d4321f"
    /// kefud finished starting and is serving.
    public static let daemonStarted = "6fc852c7696c4de796454a2c0767e561"
    /// kefud began a clean shutdown.
    public static let daemonStopping = "a05145a7d57e4c00a2c5a3ebc410e9bf"
    /// A configuration reload (SIGHUP) was applied.
    public static let configReloaded = "fb00059be8f444aba1da0acfc88e1bb0"
    /// A configuration reload was rejected; the previous configuration stays in force.
    public static let configRejected = "20ff8345c8b6425faa356389fd41f5de"

    /// In a cluster: this node took a shop over (a new lease epoch) and serves it now.
    public static let shopGained = "084d2e9e0d1449f283eb5af13dcf05bd"
    /// In a cluster: this node stopped serving a shop (lease taken, deadline passed, handed over, store failed).
    public static let shopLost = "c94e6c9a0a624bfd8fed7338908c5049"
    /// A login was refused (unknown id, wrong or expired token, or throttled): one per failure, for fail2ban.
    public static let authFailure = "163fcea8428f4ef3bc478380f988beb4"
    /// Refused logins beyond the per-second budget, listed by address once a second.
    public static let authFailureSummary = "973b27b09f0c40bfab3490533584000c"

    /// Every id above, by name: for listing, documentation checks and uniqueness tests.
    public static let all: [(name: String, id: String)] = [
        ("slaBreach", slaBreach),
        ("slaEscalation", slaEscalation),
        ("slaWarning", slaWarning),
        ("slaRoundMet", slaRoundMet),
        ("slaNoticeSummary", slaNoticeSummary),
        ("agentAutoAway", agentAutoAway),
        ("breachSummary", breachSummary),
        ("daemonStarted", daemonStarted),
        ("daemonStopping", daemonStopping),
        ("configReloaded", configReloaded),
        ("configRejected", configRejected),
        ("shopGained", shopGained),
        ("shopLost", shopLost),
        ("authFailure", authFailure),
        ("authFailureSummary", authFailureSummary),
    ]
}

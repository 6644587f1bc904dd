/// Every field kefud writes to its journald records, by name: the contract of `journalctl KEFU_EVENT=sla_breach`,
/// alert rules and fail2ban filters (README's journald section and `deploy/message-ids.md` document them). Beside
/// ``SystemdMessageID``: a record is found by its `MESSAGE_ID` and read by these fields. Never rename one once
/// released. (journald drops fields whose names are not `[A-Z0-9_]`; `FieldNameTests` checks these.)
public enum KefuJournalField {
    /// What happened (values in ``KefuJournalEvent``).
    public static let event = "KEFU_EVENT"
    /// Which clock: `first_response`, `response`, `resolution`.
    public static let sla = "KEFU_SLA"
    public static let round = "KEFU_ROUND"
    public static let conversation = "KEFU_CONVERSATION"
    public static let customer = "KEFU_CUSTOMER"
    /// The agent holding the conversation (empty while it waits), or the agent set away.
    public static let agent = "KEFU_AGENT"
    public static let skill = "KEFU_SKILL"
    public static let store = "KEFU_STORE"
    public static let priority = "KEFU_PRIORITY"
    public static let waitedMilliseconds = "KEFU_WAITED_MS"
    public static let thresholdMilliseconds = "KEFU_THRESHOLD_MS"
    /// The wait inside business hours (what the platforms count).
    public static let businessMilliseconds = "KEFU_BUSINESS_MS"
    /// A warning's time left before the deadline.
    public static let leftMilliseconds = "KEFU_LEFT_MS"
    public static let escalationLevel = "KEFU_ESCALATION_LEVEL"
    public static let escalationActions = "KEFU_ESCALATION_ACTIONS"
    public static let reassignedTo = "KEFU_REASSIGNED_TO"
    /// How many breaches a summary or an auto-away counts.
    public static let breaches = "KEFU_BREACHES"
    public static let notices = "KEFU_NOTICES"
    /// Conversation ids, comma-separated.
    public static let conversations = "KEFU_CONVERSATIONS"
    public static let firstResponseCount = "KEFU_SLA_FIRST_RESPONSE"
    public static let responseCount = "KEFU_SLA_RESPONSE"
    public static let recordsPerSecond = "KEFU_RECORDS_PER_S"
    public static let firstAtMilliseconds = "KEFU_FIRST_AT_MS"
    public static let lastAtMilliseconds = "KEFU_LAST_AT_MS"
    public static let part = "KEFU_PART"
    public static let parts = "KEFU_PARTS"
    public static let windowMilliseconds = "KEFU_WINDOW_MS"
    /// The shop the record is about (`default` for the main file's team); on every SLA and agent record.
    public static let shop = "KEFU_SHOP"
    /// The logger of a log line (swift-log's label).
    public static let logger = "KEFU_LOGGER"
    public static let error = "KEFU_ERROR"
    /// A refused login's client address, role, id, and whether the throttle refused it without checking (1).
    public static let address = "KEFU_ADDRESS"
    public static let role = "KEFU_ROLE"
    public static let id = "KEFU_ID"
    public static let throttled = "KEFU_THROTTLED"
    /// A summary's failures, and its addresses with their counts (`10.0.0.7=120,10.0.0.8=3`).
    public static let count = "KEFU_COUNT"
    public static let addresses = "KEFU_ADDRESSES"
    /// Log metadata keys become `KEFU_<KEY>` (see ``Journal/fieldName(_:)``).
    public static let metadataPrefix = "KEFU_"

    /// Every name above, for the checks that they are valid and distinct.
    public static let all = [
        event,
        sla,
        round,
        conversation,
        customer,
        agent,
        skill,
        store,
        priority,
        waitedMilliseconds,
        thresholdMilliseconds,
        businessMilliseconds,
        leftMilliseconds,
        escalationLevel,
        escalationActions,
        reassignedTo,
        breaches,
        notices,
        conversations,
        firstResponseCount,
        responseCount,
        recordsPerSecond,
        firstAtMilliseconds,
        lastAtMilliseconds,
        part,
        parts,
        windowMilliseconds,
        shop,
        logger,
        error,
        address,
        role,
        id,
        throttled,
        count,
        addresses,
    ]
}

/// The values of `KEFU_EVENT`.
public enum KefuJournalEvent {
    public static let slaBreach = "sla_breach"
    public static let slaBreachSummary = "sla_breach_summary"
    public static let slaEscalation = "sla_escalation"
    public static let slaEscalationSummary = "sla_escalation_summary"
    public static let slaWarning = "sla_warning"
    public static let slaMet = "sla_met"
    public static let slaNoticeSummary = "sla_notice_summary"
    public static let agentAutoAway = "agent_auto_away"
    public static let authFailure = "auth_failure"
    public static let authFailureSummary = "auth_failure_summary"
}

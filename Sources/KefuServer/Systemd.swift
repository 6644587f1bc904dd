import KefuCore
import KefuSystemd
import Logging

/// sd_notify for the daemon: READY/STATUS/STOPPING/WATCHDOG.
public struct SystemdServiceNotifier: ServiceNotifier {
    private let notifier = SystemdNotifier()
    public let watchdogInterval: Duration? = SystemdNotifier.watchdogInterval()

    public init() {}

    public func ready(status: String) { notifier.ready(status: status) }
    public func status(_ text: String) { notifier.status(text) }
    public func stopping() { notifier.stopping() }
    public func reloading() { notifier.reloading() }
    public func watchdogPing() { notifier.watchdogPing() }
    public func watchdogTrigger() { notifier.watchdogTrigger() }
    public func extendTimeout(by duration: Duration) {
        let (seconds, attoseconds) = duration.components
        notifier.extendTimeout(
            microseconds: UInt64(max(0, seconds)) * 1_000_000 + UInt64(attoseconds / 1_000_000_000_000))
    }
}

/// Writes each SLA breach (and each agent set away) as one structured journald entry that ops can find by field
/// (`journalctl KEFU_EVENT=sla_breach KEFU_AGENT=alice`), and in a storm the summaries of the breaches beyond
/// `breach_records_per_s` (the routing loop's ``BreachRateLimiter`` decides which).
public struct JournaldRecorder: JournalRecorder {
    private let fallback: Logger
    /// `KEFU_SHOP` on every record.
    private var shop = "default"

    /// - Parameter fallback: where a breach goes when journald does not take it (not running, not under systemd),
    ///   so that no breach is ever silently lost.
    public init(fallback: Logger) {
        self.fallback = fallback
    }

    public func record(_ breach: SLABreach) {
        send(Self.journalRecord(for: breach))
    }

    public func record(_ summary: BreachSummary) {
        send(Self.journalRecord(for: summary))
    }

    public func record(_ away: AgentAutoAway) {
        send(Self.journalRecord(for: away))
    }

    public func record(_ escalation: SLAEscalation) {
        send(Self.journalRecord(for: escalation))
    }

    public func record(_ notice: SLANotice) {
        // Debug level: journald stores it (MaxLevelStore= is debug by default); nothing is logged elsewhere when
        // journald does not take it.
        _ = withShop(Self.journalRecord(for: notice)).send()
    }

    public func forShop(_ shop: String) -> any JournalRecorder {
        var recorder = self
        recorder.shop = shop
        return recorder
    }

    /// `record` with this recorder's `KEFU_SHOP`.
    func withShop(_ record: JournalRecord) -> JournalRecord {
        var record = record
        record.fields.append(JournalField(KefuJournalField.shop, shop))
        return record
    }

    /// The debug-level journald entry for a warning sent (`KEFU_EVENT=sla_warning`, with `KEFU_LEFT_MS`) or a round
    /// met (`KEFU_EVENT=sla_met`): the same fields as a breach, so the 3-minute rate per agent, skill and store can be
    /// read from journald as well as from the store.
    public static func journalRecord(for notice: SLANotice) -> JournalRecord {
        var record = journalRecord(for: notice.facts)
        let facts = notice.facts
        let round = facts.round == 1 ? "" : " (round \(facts.round))"
        switch notice.kind {
        case .warning:
            record.message =
                "SLA warning: conversation \(facts.conversation) (customer \(facts.customer), skill \(facts.skill)) "
                + "has \(seconds(notice.left ?? Milliseconds(0))) left of its \(seconds(facts.threshold)) "
                + "\(phrase(facts.sla))\(round); agent \(facts.agent?.rawValue ?? "none") warned"
            record.messageID = SystemdMessageID.slaWarning
        case .met:
            record.message =
                "SLA met: conversation \(facts.conversation) (customer \(facts.customer), skill \(facts.skill)) "
                + "answered in \(seconds(facts.waited)), within the \(seconds(facts.threshold)) "
                + "\(phrase(facts.sla))\(round)"
            record.messageID = SystemdMessageID.slaRoundMet
        }
        record.priority = JournalPriority.debug
        record.fields =
            record.fields.map { field in
                field.name == KefuJournalField.event
                    ? JournalField(KefuJournalField.event, notice.kind == .met ? KefuJournalEvent.slaMet : KefuJournalEvent.slaWarning) : field
            } + (notice.left.map { [JournalField(KefuJournalField.leftMilliseconds, $0.description)] } ?? [])
        return record
    }

    /// The journald entry for a step of the escalation ladder (`KEFU_EVENT=sla_escalation`): PRIORITY warning at
    /// level 1, error at level 2, critical from level 3, as the ladder climbs.
    public static func journalRecord(for escalation: SLAEscalation) -> JournalRecord {
        var record = journalRecord(for: escalation.breach)
        let breach = escalation.breach
        let actions = escalation.actions.map(\.rawValue).joined(separator: ",")
        let moved = escalation.reassignedTo.map { "; moved to \($0)" } ?? ""
        record.message =
            "SLA escalation level \(escalation.level): conversation \(breach.conversation) (customer "
            + "\(breach.customer), skill \(breach.skill)) still unanswered after \(seconds(breach.waited)) "
            + "(\(phrase(breach.sla)), round \(breach.round)); \(actions)\(moved)"
        record.messageID = SystemdMessageID.slaEscalation
        record.priority =
            escalation.level <= 1
            ? JournalPriority.warning
            : escalation.level == 2
                ? JournalPriority.error
                : JournalPriority.critical
        record.fields =
            record.fields.map { field in
                field.name == KefuJournalField.event ? JournalField(KefuJournalField.event, KefuJournalEvent.slaEscalation) : field
            } + [
                JournalField(KefuJournalField.escalationLevel, "\(escalation.level)"),
                JournalField(KefuJournalField.escalationActions, actions),
                JournalField(KefuJournalField.reassignedTo, escalation.reassignedTo?.rawValue ?? ""),
            ]
        return record
    }

    private func send(_ record: JournalRecord) {
        let record = withShop(record)
        if !record.send() {
            fallback.warning(
                "\(record.message)",
                metadata: Dictionary(
                    uniqueKeysWithValues: record.fields.map { ($0.name.lowercased(), .string($0.value)) }
                ))
        }
    }

    /// The journald entry for a breach. Field names are the contract in README.md and deploy/message-ids.md.
    public static func journalRecord(for breach: SLABreach) -> JournalRecord {
        let holder = breach.agent.map { "held by agent \($0)" } ?? "still queued with no agent"
        let round = breach.round == 1 ? "" : " (round \(breach.round))"
        let message =
            "SLA breach: conversation \(breach.conversation) (customer \(breach.customer), "
            + "skill \(breach.skill)) waited \(seconds(breach.waited)) for a \(phrase(breach.sla))\(round), "
            + "over the \(seconds(breach.threshold)) limit; \(holder)"
        return JournalRecord(
            message: message,
            messageID: SystemdMessageID.slaBreach,
            priority: JournalPriority.warning,
            fields: [
                JournalField(KefuJournalField.event, KefuJournalEvent.slaBreach),
                JournalField(KefuJournalField.sla, breach.sla.rawValue),
                JournalField(KefuJournalField.round, "\(breach.round)"),
                JournalField(KefuJournalField.conversation, breach.conversation.description),
                JournalField(KefuJournalField.customer, breach.customer.rawValue),
                JournalField(KefuJournalField.agent, breach.agent?.rawValue ?? ""),
                JournalField(KefuJournalField.skill, breach.skill.name),
                JournalField(KefuJournalField.store, breach.store ?? ""),
                JournalField(KefuJournalField.priority, breach.priority.rawValue),
                JournalField(KefuJournalField.waitedMilliseconds, breach.waited.description),
                JournalField(KefuJournalField.thresholdMilliseconds, breach.threshold.description),
                // What the platforms count: the wait inside business hours (`[business_hours]`).
                JournalField(KefuJournalField.businessMilliseconds, (breach.businessWaited ?? breach.waited).description),
            ]
        )
    }

    /// The journald entry for breaches summarised in a storm (`KEFU_EVENT=sla_breach_summary`): every breach without
    /// a record of its own is listed in exactly one of these, so counting both kinds accounts for all of them.
    public static func journalRecord(for summary: BreachSummary) -> JournalRecord {
        let part = summary.parts == 1 ? "" : " (part \(summary.part) of \(summary.parts))"
        let counts = "\(summary.firstResponse) first response, \(summary.response) response"
        if summary.kind == .notices { return noticeSummary(summary) }
        let escalations = summary.kind == .escalations
        let what = escalations ? "escalation records" : "breaches"
        let message =
            "SLA \(escalations ? "escalation" : "breach") storm: \(summary.breaches) \(what) (\(counts)) beyond "
            + "\(summary.recordsPerSecond) records a second are summarised here\(part); their conversations are "
            + "in KEFU_CONVERSATIONS, each \(escalations ? "one's" : "breach's") details in the store"
        return JournalRecord(
            message: message,
            messageID: escalations ? SystemdMessageID.slaEscalation : SystemdMessageID.breachSummary,
            priority: JournalPriority.warning,
            fields: [
                JournalField(
                    KefuJournalField.event,
                    escalations ? KefuJournalEvent.slaEscalationSummary : KefuJournalEvent.slaBreachSummary),
                JournalField(KefuJournalField.breaches, "\(summary.breaches)"),
                JournalField(KefuJournalField.conversations, summary.conversationList),
                JournalField(KefuJournalField.firstResponseCount, "\(summary.firstResponse)"),
                JournalField(KefuJournalField.responseCount, "\(summary.response)"),
                JournalField(KefuJournalField.recordsPerSecond, "\(summary.recordsPerSecond)"),
                JournalField(KefuJournalField.firstAtMilliseconds, summary.first.description),
                JournalField(KefuJournalField.lastAtMilliseconds, summary.last.description),
                JournalField(KefuJournalField.part, "\(summary.part)"),
                JournalField(KefuJournalField.parts, "\(summary.parts)"),
            ]
        )
    }

    /// The debug-level entry for warnings and rounds met beyond `breach_records_per_s` in a second
    /// (`KEFU_EVENT=sla_notice_summary`): counted and listed, not written one by one.
    static func noticeSummary(_ summary: BreachSummary) -> JournalRecord {
        let part = summary.parts == 1 ? "" : " (part \(summary.part) of \(summary.parts))"
        return JournalRecord(
            message:
                "SLA notices: \(summary.breaches) warnings and rounds met beyond \(summary.recordsPerSecond) records "
                + "a second are counted here\(part); their conversations are in KEFU_CONVERSATIONS",
            messageID: SystemdMessageID.slaNoticeSummary,
            priority: JournalPriority.debug,
            fields: [
                JournalField(KefuJournalField.event, KefuJournalEvent.slaNoticeSummary),
                JournalField(KefuJournalField.notices, "\(summary.breaches)"),
                JournalField(KefuJournalField.conversations, summary.conversationList),
                JournalField(KefuJournalField.recordsPerSecond, "\(summary.recordsPerSecond)"),
                JournalField(KefuJournalField.firstAtMilliseconds, summary.first.description),
                JournalField(KefuJournalField.lastAtMilliseconds, summary.last.description),
                JournalField(KefuJournalField.part, "\(summary.part)"),
                JournalField(KefuJournalField.parts, "\(summary.parts)"),
            ]
        )
    }

    /// The journald entry for an agent set away by the daemon (`KEFU_EVENT=agent_auto_away`).
    public static func journalRecord(for away: AgentAutoAway) -> JournalRecord {
        let moved = away.movedConversations.map(\.description).joined(separator: ",")
        let message =
            "Agent \(away.agent) set away: \(away.breaches) conversations breached within "
            + "\(seconds(away.window)); \(away.movedConversations.count) unanswered chats passed on"
        return JournalRecord(
            message: message,
            messageID: SystemdMessageID.agentAutoAway,
            priority: JournalPriority.warning,
            fields: [
                JournalField(KefuJournalField.event, KefuJournalEvent.agentAutoAway),
                JournalField(KefuJournalField.agent, away.agent.rawValue),
                JournalField(KefuJournalField.breaches, "\(away.breaches)"),
                JournalField(KefuJournalField.windowMilliseconds, away.window.description),
                JournalField(KefuJournalField.conversations, moved),
            ]
        )
    }

    public func record(_ failure: AuthFailure) {
        send(Self.journalRecord(for: failure))
    }

    public func record(_ summary: AuthFailureSummary) {
        send(Self.journalRecord(for: summary))
    }

    /// The journald entry for a refused login (`KEFU_EVENT=auth_failure`): the message ends with `from <address>`
    /// for fail2ban's `<HOST>` (deploy/fail2ban/kefud.conf).
    public static func journalRecord(for failure: AuthFailure) -> JournalRecord {
        let why = failure.throttled ? "throttled after repeated failures" : "unknown id or wrong token"
        return JournalRecord(
            message: "login failed (\(why)) for \(failure.role) \(failure.id) from \(failure.address)",
            messageID: SystemdMessageID.authFailure,
            priority: JournalPriority.notice,
            fields: [
                JournalField(KefuJournalField.event, KefuJournalEvent.authFailure),
                JournalField(KefuJournalField.address, failure.address),
                JournalField(KefuJournalField.role, failure.role),
                JournalField(KefuJournalField.id, failure.id),
                JournalField(KefuJournalField.throttled, failure.throttled ? "1" : "0"),
            ])
    }

    /// The journald entry for the refused logins of a second beyond `20` records (`KEFU_EVENT=auth_failure_summary`).
    public static func journalRecord(for summary: AuthFailureSummary) -> JournalRecord {
        let list = summary.addresses.map { "\($0.address)=\($0.count)" }.joined(separator: ",")
        return JournalRecord(
            message: "\(summary.count) more logins failed; by address: \(list)",
            messageID: SystemdMessageID.authFailureSummary,
            priority: JournalPriority.notice,
            fields: [
                JournalField(KefuJournalField.event, KefuJournalEvent.authFailureSummary),
                JournalField(KefuJournalField.count, "\(summary.count)"),
                JournalField(KefuJournalField.addresses, list),
                JournalField(KefuJournalField.firstAtMilliseconds, "\(summary.first.unixMilliseconds)"),
                JournalField(KefuJournalField.lastAtMilliseconds, "\(summary.last.unixMilliseconds)"),
            ])
    }

    private static func phrase(_ sla: SLAKind) -> String {
        switch sla {
        case .firstResponse: "first response"
        case .response: "response"
        case .resolution: "resolution"
        }
    }

    private static func seconds(_ span: Milliseconds) -> String {
        let tenths = (span.value + 50) / 100
        return "\(tenths / 10).\(tenths % 10) s"
    }
}

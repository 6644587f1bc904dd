import Prometheus

/// Every metric kefud exposes on `/metrics`, declared once: its name, help, label names and (for histograms) bucket
/// edges. swift-prometheus stops the process when one name is registered again with another type, help or buckets;
/// registering only through these declarations rules that out. Names follow Prometheus's rules: one `kefud_` prefix,
/// base units as suffixes (seconds, ratio), `_total` on counters only. Labels are bounded by configuration (shop,
/// skill, state, reason, level, role, code): never a buyer, conversation or message id.
public enum MetricCatalog {
    public struct Family: Sendable {
        public let name: String
        public let help: String
        public let labels: [String]
        /// Histogram bucket edges (upper bounds, seconds); nil for counters and gauges.
        public let buckets: [Double]?

        init(_ name: String, _ help: String, labels: [String], buckets: [Double]? = nil) {
            self.name = name
            self.help = help
            self.labels = labels
            self.buckets = buckets
        }

        var descriptor: MetricNameDescriptor { MetricNameDescriptor(metricName: name, unitName: "", helpText: help) }
    }

    /// The trade's lines on bucket edges, so that "answered within 180 s" is one bucket over the count: 30 s (JD's
    /// answer rate), 100 s (the usual warning), 120 s (the 2-minute answer), 180 s (the platforms' 3-minute rate).
    public static let waitBuckets: [Double] = [5, 10, 20, 30, 45, 60, 100, 120, 180, 300, 600, 1800]
    /// Work inside the daemon: microseconds to a second.
    public static let workBuckets: [Double] = [
        0.000_01, 0.000_025, 0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1,
        0.25, 0.5, 1,
    ]
    /// How late a timer fires after its deadline: a millisecond (the clock's step) to several seconds.
    public static let latenessBuckets: [Double] = [0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5]

    // MARK: Node

    public static let buildInfo = Family(
        "kefud_build_info", "The running kefud's version (the value is always 1).", labels: ["version"])
    public static let protocolErrors = Family(
        "kefud_protocol_errors_total", "Error lines sent to clients, by protocol error code.", labels: ["code"])
    public static let slowClients = Family(
        "kefud_slow_clients_total",
        "Connections closed because they did not read what was sent to them.", labels: [])
    public static let authFailures = Family(
        "kefud_auth_failures_total", "Refused logins (unknown id or wrong token), by the role asked for.",
        labels: ["role"])
    public static let loginsThrottled = Family(
        "kefud_logins_throttled_total",
        "Logins refused without checking the token: too many failures from the address, for that login (scope=login) "
            + "or for any (scope=address).",
        labels: ["scope"])

    // MARK: Shop, read at each scrape

    public static let conversationsWaiting = Family(
        "kefud_conversations_waiting", "Conversations waiting in the queue for an agent.", labels: ["shop", "skill"])
    public static let waitingOldest = Family(
        "kefud_waiting_oldest_seconds", "How long the longest-waiting queued conversation has waited since opening.",
        labels: ["shop", "skill"])
    public static let conversationsUnanswered = Family(
        "kefud_conversations_unanswered",
        "Conversations held by an agent whose buyer waits for a human answer (a response round is running).",
        labels: ["shop", "skill"])
    public static let unansweredOldest = Family(
        "kefud_unanswered_oldest_seconds",
        "How long the buyer of the oldest unanswered round has waited (wall time since the round's first message).",
        labels: ["shop", "skill"])
    public static let conversationsActive = Family(
        "kefud_conversations_active", "Conversations held by an agent.", labels: ["shop", "skill"])
    public static let agents = Family(
        "kefud_agents", "Agents by state: online (taking chats), away, offline, disconnected (in the reconnect grace).",
        labels: ["shop", "state"])
    public static let slotsUsed = Family(
        "kefud_agent_slots_used", "Chats held plus wrap-ups of the agents taking chats.", labels: ["shop"])
    public static let slots = Family(
        "kefud_agent_slots", "The most chats the agents taking chats may hold (max_chats summed).", labels: ["shop"])
    public static let connections = Family(
        "kefud_connections", "Logged-in connections, by role.", labels: ["shop", "role"])
    public static let responseRateToday = Family(
        "kefud_response_rate_today_ratio",
        "Response rounds met among rounds met or breached that started today (the shop's local day), the rate the "
            + "platforms score; NaN before the first such round.",
        labels: ["shop"])

    // MARK: Shop, counted as it happens

    public static let conversationsOpened = Family(
        "kefud_conversations_opened_total", "Conversations opened by buyers.", labels: ["shop", "skill"])
    public static let conversationsClosed = Family(
        "kefud_conversations_closed_total",
        "Conversations closed, by who closed them (customer, agent, supervisor, system: the buyer's idle close).",
        labels: ["shop", "reason"])
    public static let messages = Family(
        "kefud_messages_total",
        "Chat messages relayed, by sender (customer; agent; auto: an agent's canned reply or the daemon's message).",
        labels: ["shop", "sender"])
    public static let rounds = Family(
        "kefud_rounds_total",
        "Response rounds that ended: met (a human answered before the deadline), breached (the deadline passed), "
            + "closed (the conversation closed first, unanswered).",
        labels: ["shop", "result"])
    public static let slaWarnings = Family(
        "kefud_sla_warnings_total", "SLA-WARN sent to holders before a round's deadline.", labels: ["shop", "sla"])
    public static let slaBreaches = Family(
        "kefud_sla_breaches_total", "SLA breaches (as written to journald), by clock.", labels: ["shop", "sla"])
    public static let escalations = Family(
        "kefud_escalations_total", "Steps of the escalation ladder taken, by level.", labels: ["shop", "level"])
    public static let transfers = Family(
        "kefud_transfers_total",
        "Chats moved on purpose: transfer (TRANSFER), handover (HANDOVER), forced (a supervisor's ASSIGN).",
        labels: ["shop", "reason"])
    public static let csatRequests = Family(
        "kefud_csat_requests_total", "Satisfaction surveys sent to buyers at a close after a human answered.",
        labels: ["shop"])
    public static let csatRatings = Family(
        "kefud_csat_ratings_total", "Satisfaction ratings given, by rating (1 非常不满意 … 5 非常满意).",
        labels: ["shop", "rating"])
    public static let autoAways = Family(
        "kefud_agent_auto_aways_total", "Agents set away by the daemon for letting chats breach.", labels: ["shop"])

    // MARK: Shop, distributions

    public static let firstResponse = Family(
        "kefud_first_response_seconds",
        "First response: opening to the first human answer, in business time (answered rounds 1).",
        labels: ["shop", "skill"], buckets: waitBuckets)
    public static let roundResponse = Family(
        "kefud_round_response_seconds",
        "Every answered response round (the first included): its first message to the human answer, in business time.",
        labels: ["shop", "skill"], buckets: waitBuckets)
    public static let queueWait = Family(
        "kefud_queue_wait_seconds", "Opening to the first agent assignment (speed of answer's queue part).",
        labels: ["shop", "skill"], buckets: waitBuckets)
    public static let routingDecision = Family(
        "kefud_routing_decision_seconds",
        "Time of a routing core step that assigned a conversation (the decision and its effects; chat messages are not timed).",
        labels: ["shop"], buckets: workBuckets)
    public static let storeCommit = Family(
        "kefud_store_commit_seconds", "From handing a batch of records to the store to its durable commit.",
        labels: ["shop"], buckets: workBuckets)
    public static let timerLateness = Family(
        "kefud_sla_timer_lateness_seconds",
        "How late the SLA timer (warnings, deadlines, widening) fired after the instant it was armed for.",
        labels: ["shop"], buckets: latenessBuckets)

    /// Every family, in the order of this declaration (the README's table and the tests walk it).
    public static let all: [Family] = [
        buildInfo, protocolErrors, slowClients, authFailures, loginsThrottled,
        conversationsWaiting, waitingOldest, conversationsUnanswered, unansweredOldest, conversationsActive, agents,
        slotsUsed, slots, connections, responseRateToday,
        conversationsOpened, conversationsClosed, messages, rounds, slaWarnings, slaBreaches, escalations, transfers,
        csatRequests, csatRatings, autoAways,
        firstResponse, roundResponse, queueWait, routingDecision, storeCommit, timerLateness,
    ]
}

/// The registry kefud's metrics live in, and the node-wide ones. Thread-safe (swift-prometheus's handles are): the
/// connections count their errors on their own event loops; each shop's routing owner counts its own through a
/// `ShopMetrics` it alone uses.
public final class KefuMetrics: Sendable {
    public let registry = PrometheusCollectorRegistry()

    public init(version: String) {
        gauge(MetricCatalog.buildInfo, ["version": version]).set(to: 1)
    }

    /// The text exposition of every metric (Prometheus text format 0.0.4).
    public func exposition() -> [UInt8] { registry.emitToBuffer() }

    public func protocolError(code: String) { counter(MetricCatalog.protocolErrors, ["code": code]).increment() }

    public func slowClient() { counter(MetricCatalog.slowClients, [:]).increment() }

    public func authFailure(role: String) { counter(MetricCatalog.authFailures, ["role": role]).increment() }

    public func loginThrottled(scope: String) { counter(MetricCatalog.loginsThrottled, ["scope": scope]).increment() }

    // MARK: Registering through the catalog

    func counter(_ family: MetricCatalog.Family, _ values: [String: String]) -> Counter {
        registry.makeCounter(descriptor: family.descriptor, labels: Self.labels(family, values))
    }

    func gauge(_ family: MetricCatalog.Family, _ values: [String: String]) -> Gauge {
        registry.makeGauge(descriptor: family.descriptor, labels: Self.labels(family, values))
    }

    func histogram(_ family: MetricCatalog.Family, _ values: [String: String]) -> ValueHistogram {
        registry.makeValueHistogram(
            descriptor: family.descriptor, labels: Self.labels(family, values), buckets: family.buckets ?? [])
    }

    func remove(_ gauge: Gauge) { registry.unregisterGauge(gauge) }
    func remove(_ counter: Counter) { registry.unregisterCounter(counter) }
    func remove(_ histogram: ValueHistogram) { registry.unregisterValueHistogram(histogram) }

    /// The family's labels in its order, each with its value: every series of a family has the same label names.
    static func labels(_ family: MetricCatalog.Family, _ values: [String: String]) -> [(String, String)] {
        precondition(Set(values.keys) == Set(family.labels), "\(family.name) takes labels \(family.labels)")
        return family.labels.map { ($0, values[$0]!) }
    }
}

import KefuCore
import Prometheus

/// One shop's metrics, kept by the shop's routing owner alone, on its event loop: it counts what each step of the
/// routing core did (from the step's effects, the same facts the store and journald get) and, at a scrape, sets the
/// gauges from the core's readings. Only the histogram of store commits is recorded from elsewhere (the store's
/// completion), through its own thread-safe handle.
public final class ShopMetrics {
    /// Node-wide series (protocol errors, slow clients, refused logins) go here...
    private let node: KefuMetrics
    /// ...and the shop's own here: the node's registry, or one never exposed (the lobby of a cluster node, which
    /// serves no shop but counts its connections' errors).
    private let series: KefuMetrics
    public let shop: String

    private var counters: [SeriesKey: Counter] = [:]
    private var gauges: [SeriesKey: Gauge] = [:]
    /// The counters every message touches, looked up once.
    private let customerMessages: Counter
    private let agentMessages: Counter
    private let autoMessages: Counter
    /// Thread-safe: the store's completion records into it.
    public let storeCommit: ValueHistogram
    private let routingDecision: ValueHistogram
    private let roundsMet: Counter
    private let roundsBreached: Counter
    private let roundsClosed: Counter
    /// Per skill, looked up by skill alone (every answered round records into two of them).
    private var firstResponses: [Skill: ValueHistogram] = [:]
    private var roundResponses: [Skill: ValueHistogram] = [:]
    private var queueWaits: [Skill: ValueHistogram] = [:]
    private let timerLateness: ValueHistogram

    /// Open conversations that have been given to an agent: their queue wait was counted (once per conversation).
    private var assignedOnce: Set<ConversationID>

    /// `assigned`: the open conversations already held when the owner starts (recovered), whose queue wait is past.
    public init(node: KefuMetrics, shop: String, assigned: some Sequence<ConversationID> = [], exposed: Bool = true) {
        self.node = node
        let series = exposed ? node : KefuMetrics(version: "")
        self.series = series
        self.shop = shop
        customerMessages = series.counter(MetricCatalog.messages, ["shop": shop, "sender": "customer"])
        agentMessages = series.counter(MetricCatalog.messages, ["shop": shop, "sender": "agent"])
        autoMessages = series.counter(MetricCatalog.messages, ["shop": shop, "sender": "auto"])
        storeCommit = series.histogram(MetricCatalog.storeCommit, ["shop": shop])
        routingDecision = series.histogram(MetricCatalog.routingDecision, ["shop": shop])
        timerLateness = series.histogram(MetricCatalog.timerLateness, ["shop": shop])
        roundsMet = series.counter(MetricCatalog.rounds, ["shop": shop, "result": "met"])
        roundsBreached = series.counter(MetricCatalog.rounds, ["shop": shop, "result": "breached"])
        roundsClosed = series.counter(MetricCatalog.rounds, ["shop": shop, "result": "closed"])
        assignedOnce = Set(assigned)
    }

    // MARK: - Counting steps

    /// Counts one step's effects. `coreSeconds`: how long the core took for the step, recorded when it assigned a
    /// conversation to an agent.
    public func observe(_ effects: [Effect], coreSeconds: Double? = nil) {
        // One pass; the rare facts that need another effect of the step (an opening's skill, an assignment's
        // conversation) look for it then, so that a plain message costs no more than its counter.
        var assigned = false
        var moved: Set<ConversationID> = []
        for effect in effects {
            switch effect {
            case .persist(.message(let message)):
                counted(message, in: effects)
            case .persist(.conversation(let record)) where record.state == .closed:
                assignedOnce.remove(record.id)
                let closer = record.closedBy ?? .system
                counter(MetricCatalog.conversationsClosed, ["reason": closer.rawValue]).increment()
            case .persist(.assignment(let assignment)):
                switch assignment.reason {
                case .transfer, .handover, .forced:
                    if moved.insert(assignment.conversation).inserted {
                        counter(MetricCatalog.transfers, ["reason": assignment.reason.rawValue]).increment()
                    }
                default: break
                }
                guard assignment.agent != nil else { break }
                assigned = true
                // Its first agent ends the buyer's wait in the queue (the conversation's row goes with it).
                if !assignedOnce.contains(assignment.conversation),
                    let record = Self.conversation(assignment.conversation, in: effects)
                {
                    assignedOnce.insert(assignment.conversation)
                    let waited = Double((assignment.at - record.openedAt).value) / 1000
                    histogram(MetricCatalog.queueWait, &queueWaits, skill: record.skill).record(waited)
                }
            case .persist(.round(let round)):
                if let waited = round.businessWaited ?? round.waited, round.answeredAt != nil {
                    let seconds = Double(waited.value) / 1000
                    if round.round == 1 {
                        histogram(MetricCatalog.firstResponse, &firstResponses, skill: round.skill).record(seconds)
                    }
                    histogram(MetricCatalog.roundResponse, &roundResponses, skill: round.skill).record(seconds)
                } else if round.closedAt != nil, round.answeredAt == nil, round.breachedAt == nil {
                    roundsClosed.increment()
                }
            case .slaNotice(let notice):
                switch notice.kind {
                case .met:
                    roundsMet.increment()
                case .warning:
                    counter(MetricCatalog.slaWarnings, ["sla": notice.facts.sla.rawValue]).increment()
                }
            case .breach(let breach):
                counter(MetricCatalog.slaBreaches, ["sla": breach.sla.rawValue]).increment()
                if breach.sla != .resolution {
                    roundsBreached.increment()
                }
            case .persist(.rating(let survey)):
                if let rating = survey.rating {
                    counter(MetricCatalog.csatRatings, ["rating": "\(rating)"]).increment()
                } else {
                    counter(MetricCatalog.csatRequests, [:]).increment()
                }
            case .escalation(let escalation):
                counter(MetricCatalog.escalations, ["level": "\(escalation.level)"]).increment()
            case .autoAway:
                counter(MetricCatalog.autoAways, [:]).increment()
            default:
                break
            }
        }
        if assigned, let coreSeconds { routingDecision.record(coreSeconds) }
    }

    /// The conversation's row persisted by the same step.
    static func conversation(_ id: ConversationID, in effects: [Effect]) -> ConversationRecord? {
        for effect in effects {
            if case .persist(.conversation(let record)) = effect, record.id == id { return record }
        }
        return nil
    }

    public func protocolError(code: String) { node.protocolError(code: code) }
    public func slowClient() { node.slowClient() }
    public func authFailure(role: String) { node.authFailure(role: role) }
    public func loginThrottled(scope: String) { node.loginThrottled(scope: scope) }

    /// The SLA timer fired this late after the instant it was armed for.
    public func timerFired(late: Milliseconds) { timerLateness.record(Double(max(0, late.value)) / 1000) }

    private func counted(_ message: MessageRecord, in effects: [Effect]) {
        switch message.sender {
        case .customer:
            customerMessages.increment()
            // A conversation's first message is its opening (exactly once per conversation).
            if message.seq == 1, let skill = Self.conversation(message.conversation, in: effects)?.skill {
                counter(MetricCatalog.conversationsOpened, ["skill": skill.name]).increment()
            }
        case .agent: (message.automatic ? autoMessages : agentMessages).increment()
        case .system: autoMessages.increment()
        }
    }

    // MARK: - A scrape

    /// Sets the gauges from the core's readings at the scrape's instant; a skill a reload removed (with nothing
    /// open) loses its series.
    /// `today`: the shop's day so far (`DayTally`, kept by the owner), whose rate is the gauge's.
    public func refresh(_ readings: ShopReadings, connections: [String: Int], today: DayTally) {
        var present: Set<SeriesKey> = []
        func set(_ family: MetricCatalog.Family, _ values: [String: String], _ value: Double) {
            let key = SeriesKey(family.name, values)
            present.insert(key)
            gauge(family, values, key: key).set(to: value)
        }
        for (skill, reading) in readings.skills {
            let labels = ["skill": skill.name]
            set(MetricCatalog.conversationsWaiting, labels, Double(reading.waiting))
            set(MetricCatalog.waitingOldest, labels, Self.seconds(reading.oldestWaiting))
            set(MetricCatalog.conversationsUnanswered, labels, Double(reading.unanswered))
            set(MetricCatalog.unansweredOldest, labels, Self.seconds(reading.oldestUnanswered))
            set(MetricCatalog.conversationsActive, labels, Double(reading.active))
        }
        for (state, count) in readings.agents { set(MetricCatalog.agents, ["state": state], Double(count)) }
        set(MetricCatalog.slotsUsed, [:], Double(readings.slotsUsed))
        set(MetricCatalog.slots, [:], Double(readings.slots))
        for (role, count) in connections { set(MetricCatalog.connections, ["role": role], Double(count)) }
        // A rate of nothing is neither 0 nor 1: NaN until the day's first round is met or breached.
        set(MetricCatalog.responseRateToday, [:], today.shop.rate ?? .nan)
        for (key, gauge) in gauges where !present.contains(key) {
            series.remove(gauge)
            gauges[key] = nil
        }
    }

    /// Takes every series of the shop out of the registry (the node stops serving the shop).
    public func remove() {
        for gauge in gauges.values { series.remove(gauge) }
        for counter in counters.values { series.remove(counter) }
        for histogram in [firstResponses, roundResponses, queueWaits].flatMap(\.values) { series.remove(histogram) }
        for counter in [customerMessages, agentMessages, autoMessages, roundsMet, roundsBreached, roundsClosed] {
            series.remove(counter)
        }
        for histogram in [storeCommit, routingDecision, timerLateness] { series.remove(histogram) }
        gauges = [:]
        counters = [:]
        (firstResponses, roundResponses, queueWaits) = ([:], [:], [:])
    }

    static func seconds(_ span: Milliseconds?) -> Double { Double(span?.value ?? 0) / 1000 }

    // MARK: - Series of this shop

    private func counter(_ family: MetricCatalog.Family, _ values: [String: String]) -> Counter {
        let key = SeriesKey(family.name, values)
        if let counter = counters[key] { return counter }
        let counter = series.counter(family, values.merging(["shop": shop]) { $1 })
        counters[key] = counter
        return counter
    }

    private func gauge(_ family: MetricCatalog.Family, _ values: [String: String], key: SeriesKey) -> Gauge {
        if let gauge = gauges[key] { return gauge }
        let gauge = series.gauge(family, values.merging(["shop": shop]) { $1 })
        gauges[key] = gauge
        return gauge
    }

    private func histogram(
        _ family: MetricCatalog.Family, _ cache: inout [Skill: ValueHistogram], skill: Skill
    ) -> ValueHistogram {
        if let histogram = cache[skill] { return histogram }
        let histogram = series.histogram(family, ["shop": shop, "skill": skill.name])
        cache[skill] = histogram
        return histogram
    }
}

/// One series of a shop's: its family and its labels other than `shop`.
struct SeriesKey: Hashable {
    var name: String
    var values: [String: String]
    init(_ name: String, _ values: [String: String]) {
        self.name = name
        self.values = values
    }
}

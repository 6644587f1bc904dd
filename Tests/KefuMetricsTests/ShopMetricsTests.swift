import KefuCore
import Testing

@testable import KefuMetrics

/// The shop's series as a scrape shows them, after a scripted day run through the real routing core: every number
/// is asserted against what the script did.
@Suite("Shop metrics")
struct ShopMetricsTests {
    /// A core on a hand-moved clock whose every step is counted, as the routing owner counts it.
    struct CountedFloor {
        var core: RoutingCore
        var now = Instant(unixMilliseconds: 1_700_000_000_000)
        let node = KefuMetrics(version: "test")
        let metrics: ShopMetrics
        var today: DayTally

        init(policy: RoutingPolicy) {
            core = RoutingCore(policy: policy)
            metrics = ShopMetrics(node: node, shop: "s1")
            today = DayTally(calendar: policy.calendar, at: now)
        }

        @discardableResult
        mutating func run(_ command: Command) -> Step {
            let step = core.handle(command, at: now)
            metrics.observe(step.effects, coreSeconds: 0.000_02)
            today.observe(step.effects, at: now)
            return step
        }

        mutating func advance(seconds: Double) { now = now + .seconds(seconds); run(.tick) }

        mutating func open(_ customer: CustomerID, _ skill: Skill) -> ConversationID {
            let step = run(.open(.customer(customer), skill: skill, priority: .normal, text: "你好", store: nil, language: nil))
            guard case .ok(let fields) = step.reply, let id = fields.first(where: { $0.key == "conv" }).flatMap({ Int64($0.value) })
            else { fatalError("open failed: \(step.reply)") }
            return ConversationID(id)
        }

        func scrape() -> Exposition {
            metrics.refresh(core.readings(at: now), connections: ["agent": 1], today: today)
            return Exposition(String(decoding: node.exposition(), as: UTF8.self))
        }
    }

    static func policy() -> RoutingPolicy {
        RoutingPolicy(
            firstResponse: .seconds(30), response: .seconds(180),
            agents: [
                AgentProfile(id: "alice", name: "alice", maxChats: 3, skills: ["presales": 3]),
                AgentProfile(id: "bob", name: "bob", maxChats: 2, skills: ["refund": 2]),
            ])
    }

    @Test func aScriptedStretchOfTheDayIsCountedAsItHappened() {
        var floor = CountedFloor(policy: Self.policy())
        floor.run(.connect(.agent("alice")))
        let c1 = floor.open("c1", "presales")  // alice takes it at once
        floor.advance(seconds: 10)
        floor.run(.send(.agent("alice"), c1, text: "您好"))  // first response in 10 s: met
        let c2 = floor.open("c2", "refund")  // bob is offline: it waits
        floor.advance(seconds: 12)
        var scrape = floor.scrape()
        #expect(scrape["kefud_conversations_waiting", ["skill": "refund"]] == 1)
        #expect(scrape["kefud_waiting_oldest_seconds", ["skill": "refund"]] == 12)
        #expect(scrape["kefud_conversations_waiting", ["skill": "presales"]] == 0)
        #expect(scrape["kefud_conversations_active", ["skill": "presales"]] == 1)
        #expect(scrape["kefud_conversations_unanswered", ["skill": "presales"]] == 0)
        #expect(scrape["kefud_agents", ["state": "online"]] == 1)
        #expect(scrape["kefud_agents", ["state": "offline"]] == 1)
        #expect(scrape["kefud_agent_slots", [:]] == 3)
        #expect(scrape["kefud_agent_slots_used", [:]] == 1)
        #expect(scrape["kefud_connections", ["role": "agent"]] == 1)
        #expect(scrape["kefud_response_rate_today_ratio", [:]] == 1)

        floor.run(.send(.customer("c1"), c1, text: "什么时候发货?"))  // round 2 starts
        floor.advance(seconds: 20)  // c2's 30 s pass unanswered: a first-response breach
        scrape = floor.scrape()
        #expect(scrape["kefud_conversations_unanswered", ["skill": "presales"]] == 1)
        #expect(scrape["kefud_unanswered_oldest_seconds", ["skill": "presales"]] == 20)
        #expect(scrape["kefud_sla_breaches_total", ["sla": "first_response"]] == 1)
        #expect(scrape["kefud_rounds_total", ["result": "breached"]] == 1)
        #expect(scrape["kefud_response_rate_today_ratio", [:]] == 0.5)

        floor.run(.send(.agent("alice"), c1, text: "今天发"))  // round 2 answered after 20 s
        floor.run(.connect(.agent("bob")))  // bob takes the waiting refund chat, 32 s after it opened
        floor.run(.close(.customer("c1"), c1))
        floor.run(.close(.agent("bob"), c2))  // closed with its round unanswered
        scrape = floor.scrape()

        #expect(scrape["kefud_conversations_opened_total", ["skill": "presales"]] == 1)
        #expect(scrape["kefud_conversations_opened_total", ["skill": "refund"]] == 1)
        #expect(scrape["kefud_messages_total", ["sender": "customer"]] == 3)
        #expect(scrape["kefud_messages_total", ["sender": "agent"]] == 2)
        #expect(scrape["kefud_rounds_total", ["result": "met"]] == 2)
        #expect(scrape["kefud_rounds_total", ["result": "breached"]] == 1)
        #expect(scrape["kefud_conversations_closed_total", ["reason": "customer"]] == 1)
        #expect(scrape["kefud_conversations_closed_total", ["reason": "agent"]] == 1)
        // Histograms: the trade's lines are bucket edges, cumulative.
        #expect(scrape["kefud_first_response_seconds_bucket", ["skill": "presales", "le": "5.0"]] == 0)
        #expect(scrape["kefud_first_response_seconds_bucket", ["skill": "presales", "le": "10.0"]] == 1)
        #expect(scrape["kefud_first_response_seconds_count", ["skill": "presales"]] == 1)
        #expect(scrape["kefud_round_response_seconds_count", ["skill": "presales"]] == 2)
        #expect(scrape["kefud_round_response_seconds_sum", ["skill": "presales"]] == 30)
        #expect(scrape["kefud_queue_wait_seconds_bucket", ["skill": "presales", "le": "5.0"]] == 1)
        #expect(scrape["kefud_queue_wait_seconds_bucket", ["skill": "refund", "le": "30.0"]] == 0)
        #expect(scrape["kefud_queue_wait_seconds_bucket", ["skill": "refund", "le": "45.0"]] == 1)
        #expect(scrape["kefud_queue_wait_seconds_count", ["skill": "refund"]] == 1)
        #expect(scrape["kefud_routing_decision_seconds_count", [:]] == 2)  // two steps assigned a chat
        #expect(scrape["kefud_conversations_active", ["skill": "presales"]] == 0)
    }

    @Test func warningsEscalationsTransfersAndAutoAwaysAreCountedOnce() {
        var policy = Self.policy()
        policy.agents.append(AgentProfile(id: "carol", name: "carol", maxChats: 3, skills: ["presales": 2]))
        policy.warnBefore = .seconds(10)
        var floor = CountedFloor(policy: policy)
        floor.run(.connect(.agent("alice")))
        floor.run(.connect(.agent("carol")))
        let c1 = floor.open("c1", "presales")
        let holder = floor.core.conversation(c1)!.agent!
        let other: AgentID = holder == "alice" ? "carol" : "alice"
        floor.run(.transfer(.agent(holder), c1, to: .agent(other), reason: "升级处理"))
        floor.advance(seconds: 25)  // 10 s before the 30 s deadline: the warning
        floor.advance(seconds: 5)  // the deadline: breach and the ladder's first step
        let scrape = floor.scrape()
        #expect(scrape["kefud_transfers_total", ["reason": "transfer"]] == 1)
        #expect(scrape["kefud_sla_warnings_total", ["sla": "first_response"]] == 1)
        #expect(scrape["kefud_sla_breaches_total", ["sla": "first_response"]] == 1)
        #expect(scrape["kefud_escalations_total", ["level": "1"]] == 1)
    }

    @Test func aSkillARemovedConfigurationNoLongerNamesLosesItsSeriesAndARemovedShopLosesAll() {
        var floor = CountedFloor(policy: Self.policy())
        #expect(floor.scrape()["kefud_conversations_waiting", ["skill": "refund"]] == 0)
        var policy = Self.policy()
        policy.agents.removeLast()  // refund goes with bob
        floor.run(.reconfigure(policy))
        let scrape = floor.scrape()
        #expect(scrape["kefud_conversations_waiting", ["skill": "refund"]] == nil)
        #expect(scrape["kefud_conversations_waiting", ["skill": "presales"]] == 0)
        floor.metrics.remove()
        let after = Exposition(String(decoding: floor.node.exposition(), as: UTF8.self))
        #expect(after.samples.allSatisfy { $0.labels["shop"] == nil })
        #expect(after["kefud_build_info", ["version": "test"], shop: nil] == 1)
    }

    @Test func everyFamilyFollowsPrometheusNamingAndIsDeclaredOnce() {
        let names = MetricCatalog.all.map(\.name)
        #expect(Set(names).count == names.count)
        for family in MetricCatalog.all {
            #expect(family.name.hasPrefix("kefud_"))
            let isCounter = family.name.hasSuffix("_total")
            #expect(!isCounter || family.buckets == nil, "\(family.name): a histogram is not a counter")
            if family.buckets != nil { #expect(family.name.hasSuffix("_seconds"), "\(family.name): base unit") }
            #expect(!family.labels.contains { ["buyer", "customer", "conversation", "conv", "message"].contains($0) })
        }
        #expect([100.0, 120, 180].allSatisfy(MetricCatalog.waitBuckets.contains))
    }
}

/// A text exposition read back into samples: `name{labels} value` lines (comments skipped).
struct Exposition {
    struct Sample {
        var name: String
        var labels: [String: String]
        var value: Double
    }

    var samples: [Sample] = []

    init(_ text: String) {
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            guard let space = line.lastIndex(of: " ") else { continue }
            let series = line[..<space]
            let value = Double(line[line.index(after: space)...].lowercased() == "nan" ? "nan" : String(line[line.index(after: space)...])) ?? .nan
            var name = String(series)
            var labels: [String: String] = [:]
            if let brace = series.firstIndex(of: "{") {
                name = String(series[..<brace])
                let inner = series[series.index(after: brace)..<series.index(before: series.endIndex)]
                for pair in inner.split(separator: ",") {
                    let parts = pair.split(separator: "=", maxSplits: 1)
                    labels[String(parts[0])] = String(parts[1].dropFirst().dropLast())
                }
            }
            samples.append(Sample(name: name, labels: labels, value: value))
        }
    }

    /// The value of one series of shop `shop` (nil: a node series), or nil when there is no such series.
    subscript(name: String, labels: [String: String], shop shop: String? = "s1") -> Double? {
        var wanted = labels
        if let shop { wanted["shop"] = shop }
        return samples.first { $0.name == name && $0.labels == wanted }?.value
    }
}

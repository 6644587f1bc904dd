import DequeModule
@_spi(Benchmarks) import KefuCore

// Floors for the benchmarks, built through the core's public API only (and its `Benchmarks` SPI to read effects in
// place). Big states are built with `RoutingCore.restore(...)` rather than by opening conversations one by one:
// opening queues each conversation with a position that costs a scan of the queue, so building 100,000 queued
// conversations by `OPEN` would itself take minutes. Setup is never measured.

/// The size of a benchmark floor.
struct FloorSize: Sendable {
    var agents: Int
    var conversations: Int

    /// Skills on every floor, each agent having three of them.
    static let skills = 50
    /// Stores on every floor: each conversation names one, each agent serves five of them.
    static let stores = 10
    /// Reception limit of every agent: half the conversations are held, half wait.
    static let maxChats = 5

    static let all = [
        FloorSize(agents: 100, conversations: 1_000),
        FloorSize(agents: 1_000, conversations: 10_000),
        FloorSize(agents: 10_000, conversations: 100_000),
    ]

    var name: String { "\(agents) agents, \(conversations) conversations" }
}

/// Ids and values made once, so the measured loops do not build strings.
enum Names {
    static let start = Instant(unixMilliseconds: 1_700_000_000_000)
    static let skills = (0..<FloorSize.skills).map { Skill("s\($0)") }
    static let stores = (0..<FloorSize.stores).map { "store\($0)" }
    static let customers = (0..<1_000).map { CustomerID("c\($0)") }
    static let lead = Principal.supervisor("lead")
    static func agent(_ index: Int) -> AgentID { AgentID("a\(index)") }
}

/// A policy of `agents` agents with three skills each, spread so that every skill has the same number of agents,
/// and five stores each, spread so that every skill is served in every store (on the smallest floor too).
func makePolicy(agents: Int, firstResponse: Milliseconds = .seconds(86_400)) -> RoutingPolicy {
    let profiles = (0..<agents).map { index in
        let skills = [index, index + 17, index + 34].map { Names.skills[$0 % FloorSize.skills] }
        let firstStore = index + index / FloorSize.skills
        let stores = (0..<5).map { Names.stores[(firstStore + $0) % FloorSize.stores] }
        return AgentProfile(
            id: Names.agent(index), name: "agent \(index)", maxChats: FloorSize.maxChats,
            skills: Dictionary(uniqueKeysWithValues: skills.map { ($0, 1 + index % 5) }), stores: Set(stores)
        )
    }
    return RoutingPolicy(firstResponse: firstResponse, agents: profiles)
}

/// A queued or assigned record as the store would hand it back.
func record(
    _ id: Int, skill: Skill, store: String, agent: AgentID?, openedAt: Instant, policy: RoutingPolicy
) -> ConversationRecord {
    ConversationRecord(
        id: ConversationID(Int64(id)), customer: Names.customers[id % Names.customers.count], skill: skill,
        priority: id % 10 == 0 ? .vip : .normal, store: store, state: agent == nil ? .queued : .assigned, agent: agent,
        openedAt: openedAt, firstResponseDueAt: openedAt + policy.firstResponse, firstRespondedAt: nil,
        breachedAt: nil, closedAt: nil, messageCount: 1, firstMessage: "hello"
    )
}

/// A floor in steady state: every agent online and full, the rest of the conversations waiting. Each decision
/// alternates a close (the freed slot takes the best waiting conversation) and an open (routed or queued), so the
/// number of open conversations stays the same.
final class SteadyFloor {
    var core: RoutingCore
    /// Conversations held, oldest assignment first, with their holder: the next close takes the front one.
    var held: Deque<(ConversationID, AgentID)> = []
    var opens = 0
    var closeNext = true

    init(_ size: FloorSize) {
        let policy = makePolicy(agents: size.agents)
        core = RoutingCore(policy: policy)
        var records: [ConversationRecord] = []
        records.reserveCapacity(size.conversations)
        for index in 0..<size.conversations {
            // Staggered arrivals, oldest first, so queue order matters.
            let openedAt = Names.start + Milliseconds(Int64(index - size.conversations))
            let holderIndex = index / FloorSize.maxChats
            if holderIndex < size.agents {
                let profile = policy.agents[holderIndex]
                let skill = profile.skills.keys.sorted()[index % profile.skills.count]
                let store = profile.stores!.sorted()[index % FloorSize.maxChats]
                records.append(
                    record(
                        index + 1, skill: skill, store: store, agent: profile.id, openedAt: openedAt, policy: policy))
                held.append((ConversationID(Int64(index + 1)), profile.id))
            } else {
                // Every skill in every store: the store changes once per round of skills.
                let skill = Names.skills[index % FloorSize.skills]
                let store = Names.stores[index / FloorSize.skills % FloorSize.stores]
                records.append(
                    record(index + 1, skill: skill, store: store, agent: nil, openedAt: openedAt, policy: policy))
            }
        }
        _ = core.restore(records, lastAssignedAt: [:], at: Names.start)
        for profile in policy.agents { _ = core.handle(.connect(.agent(profile.id)), at: Names.start) }
        precondition(core.invariantViolations().isEmpty, "benchmark floor is unsound")
    }

    /// One routing decision: a close or an open.
    func decide() {
        defer { closeNext.toggle() }
        let step: Step
        if closeNext, let (id, agent) = held.popFirst() {
            step = core.handle(.close(.agent(agent), id), at: Names.start)
        } else {
            opens += 1
            let customer = Names.customers[opens % Names.customers.count]
            let skill = Names.skills[(opens * 7) % FloorSize.skills]
            let priority: Priority = opens % 10 == 0 ? .vip : .normal
            let open = Command.open(
                .customer(customer), skill: skill, priority: priority, text: "hello",
                store: Names.stores[opens / FloorSize.skills % FloorSize.stores])
            step = core.handle(open, at: Names.start)
        }
        // A refused command would make this a benchmark of refusals: stop rather than report it.
        if case .refused(let code, let text) = step.reply { fatalError("decision refused: \(code) \(text)") }
        // Read in place (through the buffer: the array's subscript would copy each effect out first).
        step.effects.withUnsafeBufferPointer { effects in
            for index in effects.indices {
                if let (conversation, agent) = effects[index].assignedTo { held.append((conversation, agent)) }
            }
        }
    }
}

/// `count` queued conversations with no agent online, their first-response deadlines all armed, due at
/// `Names.start + threshold` in opening order.
struct ArmedFloor {
    static let threshold = Milliseconds.seconds(120)

    var policy: RoutingPolicy
    var records: [ConversationRecord]

    /// `held`: each conversation held by an agent who has its skill and serves its store (over any limit: a restore
    /// does not check).
    init(count: Int, held: Bool = false) {
        let policy = makePolicy(agents: 100, firstResponse: Self.threshold)
        self.policy = policy
        // Every skill in every store: the store changes once per round of skills.
        let kinds = FloorSize.skills * FloorSize.stores
        let holders = (0..<kinds).map { kind in
            policy.agents.first {
                $0.skills[Names.skills[kind % FloorSize.skills]] != nil
                    && $0.serves(store: Names.stores[kind / FloorSize.skills])
            }?.id
        }
        records = (0..<count).map { index in
            let kind = index % kinds
            return record(
                index + 1, skill: Names.skills[kind % FloorSize.skills], store: Names.stores[kind / FloorSize.skills],
                agent: held ? holders[kind] : nil, openedAt: Names.start + Milliseconds(Int64(index % 60_000)),
                policy: policy
            )
        }
    }

    /// A core holding every record, deadlines armed.
    func restored() -> RoutingCore {
        var core = RoutingCore(policy: policy)
        _ = core.restore(records, lastAssignedAt: [:], at: Names.start)
        return core
    }

    /// An instant after every deadline.
    static let afterAll = Names.start + Milliseconds(60_000) + threshold
}

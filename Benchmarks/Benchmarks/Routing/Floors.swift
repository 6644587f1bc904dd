import DequeModule
import KefuCore

// Floors for the benchmarks, built through the core's public API only. Big states are built with
// `RoutingCore.restore(...)` rather than by opening conversations one by one: opening queues each conversation with
// a position that costs a scan of the queue, so building 100,000 queued conversations by `OPEN` would itself take
// minutes. Setup is never measured.

/// The size of a benchmark floor.
struct FloorSize: Sendable {
    var agents: Int
    var conversations: Int

    /// Skills on every floor, each agent having three of them.
    static let skills = 50
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
    static let customers = (0..<1_000).map { CustomerID("c\($0)") }
    static let lead = Principal.supervisor("lead")
    static func agent(_ index: Int) -> AgentID { AgentID("a\(index)") }
}

/// A policy of `agents` agents with three skills each, spread so that every skill has the same number of agents.
func makePolicy(agents: Int, firstResponse: Milliseconds = .seconds(86_400)) -> RoutingPolicy {
    let profiles = (0..<agents).map { index in
        let skills = [index, index + 17, index + 34].map { Names.skills[$0 % FloorSize.skills] }
        return AgentProfile(
            id: Names.agent(index), name: "agent \(index)", maxChats: FloorSize.maxChats,
            skills: Dictionary(uniqueKeysWithValues: skills.map { ($0, 1 + index % 5) })
        )
    }
    return RoutingPolicy(firstResponse: firstResponse, agents: profiles)
}

/// A queued or assigned record as the store would hand it back.
func record(
    _ id: Int, skill: Skill, agent: AgentID?, openedAt: Instant, policy: RoutingPolicy
) -> ConversationRecord {
    ConversationRecord(
        id: ConversationID(Int64(id)), customer: Names.customers[id % Names.customers.count], skill: skill,
        priority: id % 10 == 0 ? .vip : .normal, state: agent == nil ? .queued : .assigned, agent: agent,
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
                records.append(record(index + 1, skill: skill, agent: profile.id, openedAt: openedAt, policy: policy))
                held.append((ConversationID(Int64(index + 1)), profile.id))
            } else {
                let skill = Names.skills[index % FloorSize.skills]
                records.append(record(index + 1, skill: skill, agent: nil, openedAt: openedAt, policy: policy))
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
            let open = Command.open(.customer(customer), skill: skill, priority: priority, text: "hello")
            step = core.handle(open, at: Names.start)
        }
        // A refused command would make this a benchmark of refusals: stop rather than report it.
        if case .refused(let code, let text) = step.reply { fatalError("decision refused: \(code) \(text)") }
        // By index: `for case` would copy each effect out of the array first.
        for index in step.effects.indices {
            if case .persist(.assignment(let assignment)) = step.effects[index], let agent = assignment.agent {
                held.append((assignment.conversation, agent))
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

    /// `held`: each conversation held by an agent who has its skill (over any limit: a restore does not check).
    init(count: Int, held: Bool = false) {
        let policy = makePolicy(agents: 100, firstResponse: Self.threshold)
        self.policy = policy
        records = (0..<count).map { index in
            let skill = Names.skills[index % FloorSize.skills]
            let holder = held ? policy.agents.first { $0.skills[skill] != nil }?.id : nil
            return record(
                index + 1, skill: skill, agent: holder, openedAt: Names.start + Milliseconds(Int64(index % 60_000)),
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

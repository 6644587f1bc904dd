import KefuCore
import Testing

/// A routing core driven by a hand-moved clock, recording every effect, so tests read like a day on the floor.
struct Floor {
    var core: RoutingCore
    var now = Instant(unixMilliseconds: 1_700_000_000_000)
    var log: [Effect] = []

    init(
        firstResponseSeconds: Double = 120, agents: [AgentProfile], skills: [SkillRule] = [],
        rules: RoutingRules = RoutingRules()
    ) {
        self.init(
            policy: RoutingPolicy(
                firstResponse: .seconds(firstResponseSeconds), agents: agents, skillRules: skills, rules: rules
            ))
    }

    /// A floor on a policy built by the test (SLA policies, ladders, business hours...).
    init(policy: RoutingPolicy) {
        core = RoutingCore(policy: policy)
    }

    @discardableResult
    mutating func run(_ command: Command) -> Step {
        let step = core.handle(command, at: now)
        log.append(contentsOf: step.effects)
        expectInvariants(core, at: now)
        return step
    }

    mutating func advance(seconds: Double) -> Step {
        now = now + .seconds(seconds)
        return run(.tick)
    }

    /// Logs an agent in (which also sets it online).
    mutating func login(_ agent: AgentID) { run(.connect(.agent(agent))) }

    /// Opens a conversation and returns its id.
    mutating func open(
        _ customer: CustomerID, _ skill: Skill, priority: Priority = .normal, text: String = "hello",
        store: String? = nil, language: String? = nil
    ) -> ConversationID {
        let step = run(
            .open(
                .customer(customer), skill: skill, priority: priority, text: text, store: store, language: language
            ))
        guard case .ok(let fields) = step.reply, let conv = fields.first(where: { $0.key == "conv" }),
            let id = Int64(conv.value)
        else { fatalError("open failed: \(step.reply)") }
        return ConversationID(id)
    }

    func holder(of id: ConversationID) -> AgentID? { core.conversation(id)?.agent }
}

func agent(
    _ id: AgentID, max: Int = 5, _ skills: [Skill: Int], stores: Set<String>? = nil, languages: Set<String>? = nil
) -> AgentProfile {
    AgentProfile(id: id, name: id.rawValue, maxChats: max, skills: skills, stores: stores, languages: languages)
}

func rules(_ change: (inout RoutingRules) -> Void) -> RoutingRules {
    var rules = RoutingRules()
    change(&rules)
    return rules
}

/// The verdict a decision gave an agent.
func verdict(of agent: AgentID, in decision: Decision?) -> Verdict? {
    decision?.candidates.first { $0.agent == agent }?.verdict
}

/// Events a step delivers to one recipient.
func events(_ effects: [Effect], to recipient: Recipient) -> [Event] {
    effects.compactMap { effect in
        if case .deliver(let to, let event) = effect, to == recipient { return event }
        return nil
    }
}

func breaches(_ effects: [Effect]) -> [SLABreach] {
    effects.compactMap { if case .breach(let breach) = $0 { breach } else { nil } }
}

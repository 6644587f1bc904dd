/// One agent's standing in a routing decision: why it could not take the conversation, or why it lost.
public enum Verdict: Sendable, Equatable {
    case chosen
    case offline
    case away
    case disconnected
    case notSkilled
    case levelTooLow(level: Int, required: Int)
    case store(String)
    case language(String)
    case full(held: Int, max: Int)
    case reservedForAnother(AgentID)
    /// Left out on purpose (the holder whose chat breached, the agent transferring it away).
    case excluded(Exclusion)
    /// Eligible, but more loaded than the winner.
    case higherLoad(held: Int, max: Int)
    /// Same load, lower proficiency than the winner.
    case lowerLevel(Int)
    /// Same load and level, assigned more recently than the winner.
    case lessIdle
    /// Everything equal; the winner's id sorts first.
    case laterID
    /// A verdict as an older kefud stored it, in words this one does not take apart (its first format had no code).
    indirect case recorded(code: String, text: String)

    /// Short code for protocol lines.
    public var code: String {
        switch self {
        case .chosen: "chosen"
        case .offline: "offline"
        case .away: "away"
        case .disconnected: "disconnected"
        case .notSkilled: "not-skilled"
        case .levelTooLow: "level-too-low"
        case .store: "store"
        case .language: "language"
        case .full: "full"
        case .reservedForAnother: "reserved"
        case .excluded: "excluded"
        case .higherLoad: "higher-load"
        case .lowerLevel: "lower-level"
        case .lessIdle: "less-idle"
        case .laterID: "tie-break"
        case .recorded(let code, _): code
        }
    }

    /// A sentence an ops engineer understands.
    public var text: String {
        switch self {
        case .chosen: "chosen"
        case .offline: "offline"
        case .away: "away"
        case .disconnected: "not connected"
        case .notSkilled: "does not have the skill"
        case .levelTooLow(let level, let required): "level \(level) is below the required \(required)"
        case .store(let store): "does not serve store \(store)"
        case .language(let language): "does not speak \(language)"
        case .full(let held, let max): "full (\(held)/\(max))"
        case .reservedForAnother(let agent): "reserved for returning buyer's agent \(agent)"
        case .excluded(let why): "excluded: \(why.rawValue)"
        case .higherLoad(let held, let max): "higher load ratio (\(held)/\(max))"
        case .lowerLevel(let level): "same load, lower level \(level)"
        case .lessIdle: "same load and level, assigned more recently"
        case .laterID: "all else equal, id sorts later"
        case .recorded(_, let text): text
        }
    }
}

/// One candidate in a decision.
public struct Candidate: Sendable, Equatable {
    public var agent: AgentID
    public var verdict: Verdict

    public init(agent: AgentID, verdict: Verdict) {
        self.agent = agent
        self.verdict = verdict
    }
}

/// Agents of a skill a decision did not examine one by one, counted by standing (on a large team a decision looks
/// only at the front of the free agents; see `RoutingCore.itemizedLimit`).
public struct OtherAgents: Sendable, Equatable {
    public enum Standing: String, Sendable, CaseIterable {
        case offline, away, disconnected, full
        /// Free, but below the level the conversation requires now.
        case levelTooLow = "level-too-low"
        /// Free, but not serving the conversation's store (never walked: the roster files agents by store).
        case otherStore = "other-store"
        /// Free, but behind the agents examined in routing order (load ratio, idle time, id).
        case rankedLower = "ranked-lower"

        /// What the protocol shows as `verdict=`.
        public var code: String { rawValue }

        public var text: String {
            switch self {
            case .offline: "offline"
            case .away: "away"
            case .disconnected: "not connected"
            case .full: "full"
            case .levelTooLow: "level below the required"
            case .otherStore: "free, does not serve the chat's store"
            case .rankedLower: "free, ranked after the agents examined"
            }
        }
    }

    public var skill: Skill
    public var standing: Standing
    public var count: Int

    public init(skill: Skill, standing: Standing, count: Int) {
        self.skill = skill
        self.standing = standing
        self.count = count
    }
}

/// Why a conversation went where it went: kept for `EXPLAIN` and in the store's assignment history.
public struct Decision: Sendable, Equatable {
    public var conversation: ConversationID
    public var at: Instant
    /// The agent chosen; nil when nobody could take it and it waits.
    public var agent: AgentID?
    /// The rule that decided.
    public var rule: DecisionRule
    /// Every agent considered, with its verdict.
    public var candidates: [Candidate]
    /// Agents not examined one by one (large teams only), counted per skill and standing.
    public var others: [OtherAgents] = []

    public init(
        conversation: ConversationID, at: Instant, agent: AgentID?, rule: DecisionRule, candidates: [Candidate],
        others: [OtherAgents] = []
    ) {
        self.conversation = conversation
        self.at = at
        self.agent = agent
        self.rule = rule
        self.candidates = candidates
        self.others = others
    }
}

/// The rule that decided where a conversation went, as `EXPLAIN` names it (`* EXPLAIN ... :<rule>`).
public enum DecisionRule: Sendable, Equatable {
    /// Several agents could take it: the winner's tie-break against the closest runner-up (`TieBreak`).
    case lowestLoadRatio
    case higherProficiency
    case idleLongest
    case lowestID
    /// One agent could take it.
    case onlyEligibleAgent
    /// Nobody could: it waits in the queue.
    case noEligibleAgent
    /// A returning buyer (老客户) went back to the agent who served them last, within the sticky window.
    case returningBuyer(AgentID)
    /// A returning buyer waits up to `seconds` for their agent, who is full (`sticky_wait_s`).
    indirect case waitingForReturningAgent(AgentID, seconds: Int64)
    /// The agent gained room and took the longest-waiting chat it can serve (only that agent is examined).
    case capacityAppeared(AgentID)
    /// `TRANSFER agent=` by the holder, with its reason.
    indirect case transfer(by: AgentID, reason: String)
    /// `ASSIGN` by a supervisor.
    case forced(by: SupervisorID)
    /// Asked of a conversation that is not open.
    case unknownConversation
    /// A rule as an older kefud stored it, in words this one does not take apart; also the empty rule of an
    /// assignment kept without a decision.
    indirect case recorded(String)

    /// The rule in words.
    public var text: String {
        switch self {
        case .lowestLoadRatio: "lowest load ratio"
        case .higherProficiency: "equal load: higher proficiency"
        case .idleLongest: "equal load and proficiency: idle longest"
        case .lowestID: "all else equal: lowest id"
        case .onlyEligibleAgent: "only eligible agent"
        case .noEligibleAgent: "no eligible agent: waits in the queue"
        case .returningBuyer(let agent): "returning buyer: \(agent) served them last, within the sticky window"
        case .waitingForReturningAgent(let agent, let seconds): "returning buyer: waits up to \(seconds) s for \(agent)"
        case .capacityAppeared(let agent): "capacity appeared: the longest-waiting chat \(agent) can serve"
        case .transfer(let agent, let reason): "transfer by \(agent): \(reason)"
        case .forced(let supervisor): "forced by supervisor \(supervisor)"
        case .unknownConversation: "no such conversation"
        case .recorded(let text): text
        }
    }
}

/// The rules the core routes by, built from the configuration. Replaced whole on reload.
public struct RoutingPolicy: Sendable, Equatable, Codable {
    /// How long a customer may wait for the first human answer (`[sla] first_response_s`).
    public var firstResponse: Milliseconds
    /// How long a buyer message after an answer may wait for the next human answer (`[sla] response_s`).
    public var response: Milliseconds
    /// How long before a round's deadline its holder is warned (`[sla] warn_s`); nil: when 100/180 of the limit has
    /// passed (Taobao's client warns at 100 s of a 3-minute round); zero: never.
    public var warnBefore: Milliseconds?
    /// Every agent that may log in, with skills and reception limit.
    public var agents: [AgentProfile]
    /// Per-skill rules (`[[skill]]`); skills without an entry take `SkillRule(skill:)`'s defaults.
    public var skillRules: [Skill: SkillRule]
    /// Fairness, stickiness and presence (`[routing]`).
    public var rules: RoutingRules
    /// What the daemon says by itself (`[auto_reply]`).
    public var autoReplies = AutoReplies()
    /// What happens while a breached round stays unanswered (`[[escalation]]`), by time since the breach.
    public var escalation = EscalationStep.tradeDefault
    /// How often one round may be moved to another agent by the ladder (`[sla] max_reassign`).
    public var maxReassign = 2
    /// `[[sla.policy]]`: limits for the conversations they match (first match wins); the keys above are the default.
    public var slaPolicies: [SLAPolicy] = []
    /// `[sla] resolution_s`: how long a conversation may stay open in all (nil: no limit), unless a policy says.
    public var resolution: Milliseconds?
    /// When the clocks run (`[business_hours]`); without that section, always.
    public var calendar = BusinessCalendar.always
    /// The satisfaction survey sent at a close after a human answered (`[csat]`); nil: none.
    public var satisfaction: SatisfactionSurvey? = SatisfactionSurvey()

    /// The SLA policy a conversation falls under: the first `[[sla.policy]]` that matches, else the default.
    public func sla(for record: ConversationRecord) -> SLAPolicy {
        slaPolicies.first { $0.matches(record) }
            ?? SLAPolicy(
                firstResponse: firstResponse, response: response, resolution: resolution, warnBefore: warnBefore)
    }

    /// The limit of a conversation's round under its policy.
    public func limit(ofRound round: Int, for record: ConversationRecord) -> Milliseconds {
        // Without [[sla]] policies, the floor's limits (no policy value made on every round armed).
        if slaPolicies.isEmpty { return round <= 1 ? firstResponse : response }
        let policy = sla(for: record)
        return round <= 1 ? policy.firstResponse : policy.response
    }

    /// When to warn the holder of a conversation's round under its policy; nil: never.
    public func warning(start: Instant, due: Instant, for record: ConversationRecord) -> Instant? {
        if slaPolicies.isEmpty { return warning(start: start, due: due, before: warnBefore, calendar: calendar) }
        let sla = sla(for: record)
        return warning(start: start, due: due, before: sla.warnBefore, calendar: sla.calendar ?? calendar)
    }

    /// The hours a conversation's clocks count in: its SLA policy's, or the floor's.
    public func calendar(for record: ConversationRecord) -> BusinessCalendar {
        slaPolicies.first { $0.matches(record) }?.calendar ?? calendar
    }

    /// A conversation whose buyer stays silent this long after the agent's last message is closed by the daemon
    /// (`[sla] customer_idle_close_s`, default 30 min); nil never. The buyer is warned a minute before.
    public var customerIdleClose: Milliseconds? = .seconds(1800)

    public init(
        firstResponse: Milliseconds, response: Milliseconds? = nil, warnBefore: Milliseconds? = nil,
        agents: [AgentProfile], skillRules: [SkillRule] = [], rules: RoutingRules = RoutingRules(),
        autoReplies: AutoReplies = AutoReplies()
    ) {
        self.autoReplies = autoReplies
        self.firstResponse = firstResponse
        self.response = response ?? firstResponse
        self.warnBefore = warnBefore
        self.agents = agents
        self.skillRules = Dictionary(skillRules.map { ($0.skill, $0) }, uniquingKeysWith: { first, _ in first })
        self.rules = rules
    }

    /// Every skill a conversation may ask for: those agents have and those with rules of their own.
    public var knownSkills: [Skill] {
        Array(Set(agents.flatMap { $0.skills.keys }).union(skillRules.keys)).sorted()
    }

    /// The limit of a response round.
    public func limit(ofRound round: Int) -> Milliseconds { round <= 1 ? firstResponse : response }

    /// When to warn the holder of a round that started at `start` and is due at `due` (both in business time);
    /// nil: never.
    public func warning(start: Instant, due: Instant) -> Instant? {
        warning(start: start, due: due, before: warnBefore, calendar: calendar)
    }

    /// The warning instant for a round whose warning comes `before` its deadline (nil: at 100/180 of the limit).
    private func warning(
        start: Instant, due: Instant, before warnBefore: Milliseconds?, calendar: BusinessCalendar
    ) -> Instant? {
        let limit = calendar.elapsed(from: start, to: due)
        let before = warnBefore ?? Milliseconds(limit.value * 80 / 180)
        guard before.value > 0 else { return nil }
        return calendar.adding(Milliseconds(limit.value - min(before.value, limit.value)), to: start)
    }

    /// The rule for a skill.
    public func rule(for skill: Skill) -> SkillRule { skillRules[skill] ?? SkillRule(skill: skill) }
}

/// `[[sla.policy]]`: the limits for conversations of a skill, store and priority (each matcher optional). Platforms
/// differ: JD counts a 30-second first answer, Taobao 3-minute rounds.
public struct SLAPolicy: Sendable, Equatable, Codable {
    public var skill: Skill?
    public var store: String?
    public var priority: Priority?
    public var firstResponse: Milliseconds
    public var response: Milliseconds
    /// Open to close; nil: no limit.
    public var resolution: Milliseconds?
    /// Before a round's deadline; nil: at 100/180 of the limit; zero: never.
    public var warnBefore: Milliseconds?
    /// The hours this policy's clocks count in; nil: the floor's (`[business_hours]`).
    public var calendar: BusinessCalendar?

    public init(
        skill: Skill? = nil, store: String? = nil, priority: Priority? = nil, firstResponse: Milliseconds,
        response: Milliseconds? = nil, resolution: Milliseconds? = nil, warnBefore: Milliseconds? = nil,
        calendar: BusinessCalendar? = nil
    ) {
        self.calendar = calendar
        self.skill = skill
        self.store = store
        self.priority = priority
        self.firstResponse = firstResponse
        self.response = response ?? firstResponse
        self.resolution = resolution
        self.warnBefore = warnBefore
    }

    public func matches(_ record: ConversationRecord) -> Bool {
        (skill.map { $0 == record.skill } ?? true) && (store.map { $0 == record.store } ?? true)
            && (priority.map { $0 == record.priority } ?? true)
    }
}

/// What an escalation step does.
public enum EscalationAction: String, Sendable, Equatable, CaseIterable, Codable {
    /// Move the conversation to another eligible agent (at most `max_reassign` times per round).
    case reassign
    /// Tell every supervisor online (`* ESCALATED`).
    case supervisor
    /// Tell every manager online (`[[manager]]`).
    case manager
}

/// One rung of the escalation ladder (`[[escalation]]`): `after` the breach, if the round is still unanswered.
public struct EscalationStep: Sendable, Equatable, Codable {
    public var after: Milliseconds
    public var actions: [EscalationAction]

    public init(after: Milliseconds, actions: [EscalationAction]) {
        self.after = after
        self.actions = actions
    }

    /// The trade's rule: at the breach move it and tell the supervisors; 30 min later tell them again; 2 h later
    /// tell the managers.
    public static let tradeDefault = [
        EscalationStep(after: Milliseconds(0), actions: [.reassign, .supervisor]),
        EscalationStep(after: .seconds(1800), actions: [.supervisor]),
        EscalationStep(after: .seconds(7200), actions: [.manager]),
    ]
}

/// `[auto_reply]`: messages the daemon sends the buyer by itself, marked `auto=1` (they end no round).
/// `[csat]`: what the buyer is asked when a conversation a human answered closes, and for how long it may answer.
public struct SatisfactionSurvey: Sendable, Equatable, Codable {
    public static let defaultQuestion = "请您对本次服务进行评价:5 非常满意,4 满意,3 一般,2 不满意,1 非常不满意"
    /// Ratings run 1…5 (5 非常满意), as the platforms count them.
    public static let scale = 5

    public var question: String
    public var expiresAfter: Milliseconds

    public init(question: String = defaultQuestion, expiresAfter: Milliseconds = .seconds(86_400)) {
        self.question = question
        self.expiresAfter = expiresAfter
    }
}

public struct AutoReplies: Sendable, Equatable, Codable {
    /// Sent when a conversation opens (欢迎语).
    public var greeting: String?
    /// Sent when a new conversation has to wait in the queue.
    public var queued: String?
    /// Sent when a conversation opens outside business hours (the clocks wait for the shop to open).
    public var outOfHours: String?
    /// Sent a minute before a silent buyer's conversation is closed.
    public var idleWarning: String
    /// Sent when a silent buyer's conversation is closed.
    public var idleClose: String

    public static let defaultIdleWarning = "亲,您已经有一段时间没有回复了,1分钟后本次会话将自动结束。"
    public static let defaultIdleClose = "本次会话已自动结束,如有问题欢迎随时再来咨询。"

    public init(
        greeting: String? = nil, queued: String? = nil, idleWarning: String = AutoReplies.defaultIdleWarning,
        idleClose: String = AutoReplies.defaultIdleClose
    ) {
        self.greeting = greeting
        self.queued = queued
        self.idleWarning = idleWarning
        self.idleClose = idleClose
    }
}

/// `[[skill]]`: who may serve a skill, and how that widens while a chat waits.
public struct SkillRule: Sendable, Equatable, Codable {
    public var skill: Skill
    /// The lowest proficiency that may take the skill's chats at first (complaints: seniors only).
    public var minLevel: Int
    /// After this wait the required level drops to 1; after twice this wait the fallback skills may serve too.
    public var widenAfter: Milliseconds?
    /// Skills whose agents may serve once widened.
    public var fallback: [Skill]
    /// Waiting chats of the skill beyond which `OPEN` is refused as busy.
    public var maxQueue: Int?

    public init(
        skill: Skill, minLevel: Int = 1, widenAfter: Milliseconds? = nil, fallback: [Skill] = [], maxQueue: Int? = nil
    ) {
        self.skill = skill
        self.minLevel = minLevel
        self.widenAfter = widenAfter
        self.fallback = fallback
        self.maxQueue = maxQueue
    }
}

/// `[routing]`: fairness, stickiness and presence rules.
public struct RoutingRules: Sendable, Equatable, Codable {
    /// A returning buyer whose last chat closed within this window goes back to that agent when possible.
    public var stickyWindow = Milliseconds.seconds(72 * 3600)
    /// How long a returning buyer waits for their agent when that agent is online but full.
    public var stickyWait = Milliseconds(0)
    /// A vip counts as having waited this much longer.
    public var vipBoost = Milliseconds.seconds(600)
    /// How long a slot stays busy after a close.
    public var wrapUp = Milliseconds(0)
    /// How long a dropped agent keeps its chats.
    public var reconnectGrace = Milliseconds.seconds(60)
    /// Breaches within `autoAwayWindow` after which an agent is set away; 0 never.
    public var autoAwayBreaches = 2
    public var autoAwayWindow = Milliseconds.seconds(600)

    public init() {}
}

/// One agent as configured.
public struct AgentProfile: Sendable, Equatable, Codable {
    public var id: AgentID
    public var name: String
    /// Reception limit (接待上限): how many conversations the agent may hold at once.
    public var maxChats: Int
    /// Skill → proficiency 1...5.
    public var skills: [Skill: Int]
    /// Stores served; nil means all.
    public var stores: Set<String>?
    /// Languages spoken; nil means any.
    public var languages: Set<String>?

    public init(
        id: AgentID, name: String, maxChats: Int, skills: [Skill: Int], stores: Set<String>? = nil,
        languages: Set<String>? = nil
    ) {
        self.id = id
        self.name = name
        self.maxChats = maxChats
        self.skills = skills
        self.stores = stores
        self.languages = languages
    }

    /// Proficiency in a skill, 0 when the agent does not have it.
    public func level(in skill: Skill) -> Int { skills[skill] ?? 0 }

    /// Whether the agent serves this store (nil: the conversation names none).
    public func serves(store: String?) -> Bool { store.map { stores?.contains($0) ?? true } ?? true }

    /// Whether the agent speaks this language (nil: the conversation names none).
    public func speaks(language: String?) -> Bool { language.map { languages?.contains($0) ?? true } ?? true }
}

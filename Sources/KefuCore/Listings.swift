/// A waiting conversation as `QUEUE` lists it (`* WAITING`).
public struct WaitingEntry: Sendable, Equatable {
    public var conversation: ConversationID
    /// Its place among the waiting conversations of its skill: what the buyer was told.
    public var position: Int
    public var skill: Skill
    public var priority: Priority
    public var customer: CustomerID
    /// Since `OPEN`.
    public var waited: Milliseconds
    /// The level needed now (after widening).
    public var requiredLevel: Int
    public var store: String?
    public var language: String?
    /// The returning buyer's agent it waits for.
    public var reservedFor: AgentID?
    /// Its place in the whole queue's serving order, given on a page (`QUEUE after= limit=`).
    public var rank: Int?

    public init(
        conversation: ConversationID, position: Int, skill: Skill, priority: Priority, customer: CustomerID,
        waited: Milliseconds, requiredLevel: Int, store: String? = nil, language: String? = nil,
        reservedFor: AgentID? = nil, rank: Int? = nil
    ) {
        self.conversation = conversation
        self.position = position
        self.skill = skill
        self.priority = priority
        self.customer = customer
        self.waited = waited
        self.requiredLevel = requiredLevel
        self.store = store
        self.language = language
        self.reservedFor = reservedFor
        self.rank = rank
    }
}

/// An agent as `AGENTS` lists it (`* AGENT`): the presence it chose, and what the daemon sees.
public struct AgentEntry: Sendable, Equatable {
    public var agent: AgentID
    public var presence: Presence
    /// At least one session is logged in.
    public var connected: Bool
    /// Conversations it holds.
    public var held: Int
    /// Wrap-ups in progress, each keeping a slot busy.
    public var wrapUps: Int
    public var maxChats: Int
    /// Its skills, by name.
    public var skills: [SkillLevel]
    /// Nil: never assigned.
    public var lastAssignedAt: Instant?

    public init(
        agent: AgentID, presence: Presence, connected: Bool, held: Int, wrapUps: Int, maxChats: Int,
        skills: [SkillLevel], lastAssignedAt: Instant?
    ) {
        self.agent = agent
        self.presence = presence
        self.connected = connected
        self.held = held
        self.wrapUps = wrapUps
        self.maxChats = maxChats
        self.skills = skills
        self.lastAssignedAt = lastAssignedAt
    }
}

/// One skill of an agent, at its level (1 to 5).
public struct SkillLevel: Sendable, Equatable {
    public var skill: Skill
    public var level: Int

    public init(skill: Skill, level: Int) {
        self.skill = skill
        self.level = level
    }
}

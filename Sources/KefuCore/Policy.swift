/// The rules the core routes by, built from the configuration. Replaced whole on reload.
public struct RoutingPolicy: Sendable, Equatable {
    /// How long a customer may wait for the first human answer (`[sla] first_response_s`).
    public var firstResponse: Milliseconds
    /// Every agent that may log in, with skills and reception limit.
    public var agents: [AgentProfile]

    public init(firstResponse: Milliseconds, agents: [AgentProfile]) {
        self.firstResponse = firstResponse
        self.agents = agents
    }

    /// Every skill at least one agent has: what `OPEN` accepts.
    public var knownSkills: [Skill] {
        Array(Set(agents.flatMap { $0.skills.keys })).sorted()
    }
}

/// One agent as configured.
public struct AgentProfile: Sendable, Equatable {
    public var id: AgentID
    public var name: String
    /// Reception limit (接待上限): how many conversations the agent may hold at once.
    public var maxChats: Int
    /// Skill → proficiency 1...5.
    public var skills: [Skill: Int]

    public init(id: AgentID, name: String, maxChats: Int, skills: [Skill: Int]) {
        self.id = id
        self.name = name
        self.maxChats = maxChats
        self.skills = skills
    }

    /// Proficiency in a skill, 0 when the agent does not have it.
    public func level(in skill: Skill) -> Int { skills[skill] ?? 0 }
}

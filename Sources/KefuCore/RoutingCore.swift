/// The routing-and-SLA state machine. Commands and the current instant go in; the reply and the effects
/// (events to deliver, records to persist, breaches to log) come out. It owns no I/O and reads no clock, so
/// every rule is testable without sleeping and a recorded day of commands replays to the same decisions.
public struct RoutingCore: Sendable {
    /// An agent's live state: presence it chose, sessions it has, conversations it holds.
    struct AgentState {
        var profile: AgentProfile
        var presence: Presence = .offline
        var sessions = 0
        var held: Set<ConversationID> = []
        var lastAssignedAt: Instant?

        /// Online and connected: may take new conversations (if it has a free slot).
        var isAvailable: Bool { presence == .online && sessions > 0 }
        var hasFreeSlot: Bool { held.count < profile.maxChats }
    }

    public private(set) var policy: RoutingPolicy
    var agents: [AgentID: AgentState] = [:]
    /// Agents by skill, sorted by id, so candidate scans touch only agents who could serve.
    var agentsBySkill: [Skill: [AgentID]] = [:]
    var knownSkills: Set<Skill> = []
    /// Every open conversation (queued or assigned). Closed ones live only in the store.
    var conversations: [ConversationID: ConversationRecord] = [:]
    var queue = WaitingQueue()
    var deadlines = DeadlineQueue()
    var nextConversationID: ConversationID
    /// Effects of the command being handled, in order.
    var effects: [Effect] = []

    public init(policy: RoutingPolicy, nextConversationID: ConversationID = ConversationID(1)) {
        self.policy = policy
        self.nextConversationID = nextConversationID
        for profile in policy.agents {
            agents[profile.id] = AgentState(profile: profile)
        }
        rebuildSkillIndex()
    }

    // MARK: - Inspection

    /// The earliest instant at which a deadline falls due: the server arms one timer for it.
    public var nextDeadline: Instant? { deadlines.next }

    /// A short live summary (for `STATUS=`).
    public var status: RoutingStatus {
        RoutingStatus(
            agentsOnline: agents.values.count { $0.isAvailable },
            queued: queue.count,
            active: conversations.count - queue.count
        )
    }

    /// An open conversation's current state.
    public func conversation(_ id: ConversationID) -> ConversationRecord? { conversations[id] }

    /// Conversations an agent holds, by id.
    public func held(by agent: AgentID) -> [ConversationID] { agents[agent]?.held.sorted() ?? [] }

    /// Waiting conversations in serving order.
    public var waiting: [ConversationID] { queue.ordered.map(\.conversation) }

    /// The presence an agent has set, nil for an unknown agent.
    public func presence(of agent: AgentID) -> Presence? { agents[agent]?.presence }

    // MARK: - Restore

    /// Rebuilds the state the store recovered after a restart. Clocks continue from the stored absolute
    /// deadlines; one already past fires at the next command. Returns the records of any repair (for example a
    /// conversation whose agent was removed from the configuration goes back to the queue).
    public mutating func restore(
        _ records: [ConversationRecord],
        lastAssignedAt: [AgentID: Instant],
        at now: Instant
    ) -> Step {
        effects = []
        for (agent, instant) in lastAssignedAt where agents[agent] != nil {
            agents[agent]?.lastAssignedAt = instant
        }
        for var record in records where record.state != .closed {
            if record.id >= nextConversationID { nextConversationID = ConversationID(record.id.rawValue + 1) }
            if record.state == .assigned, let agent = record.agent, agents[agent] != nil {
                agents[agent]?.held.insert(record.id)
                conversations[record.id] = record
            } else {
                let repaired = record.state != .queued
                record.state = .queued
                record.agent = nil
                conversations[record.id] = record
                enqueue(record.id, notify: false)
                if repaired { persist(record.id) }
            }
            if record.firstRespondedAt == nil && record.breachedAt == nil {
                deadlines.arm(Deadline(at: record.firstResponseDueAt, conversation: record.id, kind: .firstResponse))
            }
        }
        return Step(reply: .ok([]), effects: take())
    }

    // MARK: - Commands

    /// Applies one command at `now`. Deadlines due by `now` fire first, so replaying the same commands at the
    /// same instants always yields the same decisions.
    public mutating func handle(_ command: Command, at now: Instant) -> Step {
        effects = []
        fireDeadlines(upTo: now)
        let reply = apply(command, at: now)
        return Step(reply: reply, effects: take())
    }

    mutating func take() -> [Effect] {
        defer { effects = [] }
        return effects
    }

    mutating func apply(_ command: Command, at now: Instant) -> Reply {
        switch command {
        case .connect(let principal):
            return connect(principal, at: now)
        case .disconnect(let principal):
            if case .agent(let id) = principal, agents[id] != nil {
                agents[id]!.sessions = max(0, agents[id]!.sessions - 1)
            }
            return .ok([])
        case .setPresence(let principal, let presence):
            guard case .agent(let id) = principal else { return .refused(.forbidden, "only agents set presence") }
            return setPresence(id, presence, at: now)
        case .open(let principal, let skill, let priority, let text):
            guard case .customer(let customer) = principal else {
                return .refused(.forbidden, "only customers open conversations")
            }
            return open(customer, skill: skill, priority: priority, text: text, at: now)
        case .send(let principal, let id, let text):
            return send(principal, id, text: text, at: now)
        case .close(let principal, let id):
            return close(principal, id, at: now)
        case .history(let principal, let id):
            return history(principal, id)
        case .tick:
            return .ok([])
        }
    }

    // MARK: - Records

    mutating func persist(_ id: ConversationID) {
        if let record = conversations[id] { effects.append(.persist(.conversation(record))) }
    }

    mutating func assignment(_ id: ConversationID, agent: AgentID?, at now: Instant, reason: String) {
        effects.append(.persist(.assignment(AssignmentRecord(conversation: id, agent: agent, at: now, reason: reason))))
    }

    mutating func append(
        _ id: ConversationID, sender: MessageSender, author: String, text: String, at now: Instant
    ) {
        guard let record = conversations[id] else { return }
        let message = MessageRecord(
            conversation: id, seq: record.messageCount, sender: sender, author: author, at: now, text: text
        )
        effects.append(.persist(.message(message)))
    }

    mutating func rebuildSkillIndex() {
        agentsBySkill = [:]
        for profile in policy.agents.sorted(by: { $0.id < $1.id }) {
            for (skill, level) in profile.skills where level >= 1 {
                agentsBySkill[skill, default: []].append(profile.id)
            }
        }
        knownSkills = Set(agentsBySkill.keys)
    }

}

/// Live counts for `STATUS=` and ops.
public struct RoutingStatus: Sendable, Equatable {
    public var agentsOnline: Int
    public var queued: Int
    public var active: Int
}

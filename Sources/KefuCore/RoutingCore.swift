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
    private var agents: [AgentID: AgentState] = [:]
    /// Agents by skill, sorted by id, so candidate scans touch only agents who could serve.
    private var agentsBySkill: [Skill: [AgentID]] = [:]
    private var knownSkills: Set<Skill> = []
    /// Every open conversation (queued or assigned). Closed ones live only in the store.
    private var conversations: [ConversationID: ConversationRecord] = [:]
    private var queue = WaitingQueue()
    private var deadlines = DeadlineQueue()
    private var nextConversationID: ConversationID
    /// Effects of the command being handled, in order.
    private var effects: [Effect] = []

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

    private mutating func take() -> [Effect] {
        defer { effects = [] }
        return effects
    }

    private mutating func apply(_ command: Command, at now: Instant) -> Reply {
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

    private mutating func connect(_ principal: Principal, at now: Instant) -> Reply {
        guard case .agent(let id) = principal else { return .ok([]) }
        guard agents[id] != nil else { return .refused(.forbidden, "agent \(id) is not configured") }
        agents[id]!.sessions += 1
        // Logging in means coming to work; an agent who was away stays away across a reconnect.
        if agents[id]!.presence == .offline { agents[id]!.presence = .online }
        for conversation in agents[id]!.held.sorted() {
            if let notice = assignmentNotice(conversation, at: now, resumed: true) {
                effects.append(.deliver(.caller, .assigned(notice)))
            }
        }
        offerCapacity(to: id, at: now)
        return .ok([Field("presence", agents[id]!.presence.rawValue)])
    }

    private mutating func setPresence(_ id: AgentID, _ presence: Presence, at now: Instant) -> Reply {
        guard agents[id] != nil else { return .refused(.forbidden, "agent \(id) is not configured") }
        agents[id]!.presence = presence
        switch presence {
        case .online:
            offerCapacity(to: id, at: now)
        case .away:
            break  // keeps its chats, takes no new ones
        case .offline:
            // An agent who leaves must not keep customers waiting on nobody: their chats go back to the queue
            // (keeping their arrival, so they go to the front) and on to whoever can take them.
            for conversation in agents[id]!.held.sorted() {
                revoke(conversation, reason: "offline")
                enqueue(conversation, notify: true)
                persist(conversation)
                assignment(conversation, agent: nil, at: now, reason: "offline")
            }
            routeWaiting(at: now)
        }
        return .ok([Field("presence", presence.rawValue)])
    }

    private mutating func open(
        _ customer: CustomerID,
        skill: Skill,
        priority: Priority,
        text: String,
        at now: Instant
    ) -> Reply {
        guard knownSkills.contains(skill) else {
            let known = knownSkills.sorted().map(\.name).joined(separator: ",")
            return .refused(.badArgs, "unknown skill \(skill); known skills: \(known)")
        }
        guard !text.isEmpty else { return .refused(.badArgs, "OPEN needs the customer's first message") }
        let id = nextConversationID
        nextConversationID = ConversationID(id.rawValue + 1)
        let record = ConversationRecord(
            id: id, customer: customer, skill: skill, priority: priority, state: .queued, agent: nil,
            openedAt: now, firstResponseDueAt: now + policy.firstResponse, firstRespondedAt: nil,
            breachedAt: nil, closedAt: nil, messageCount: 1, firstMessage: text
        )
        conversations[id] = record
        deadlines.arm(Deadline(at: record.firstResponseDueAt, conversation: id, kind: .firstResponse))
        let first = MessageRecord(
            conversation: id, seq: 1, sender: .customer, author: customer.rawValue, at: now, text: text
        )
        effects.append(.persist(.message(first)))
        if let agent = bestAgent(for: id, excluding: nil) {
            assign(id, to: agent, at: now, reason: "routed")
        } else {
            enqueue(id, notify: true)
            persist(id)
        }
        return .ok([Field("conv", id.description)])
    }

    private mutating func send(_ principal: Principal, _ id: ConversationID, text: String, at now: Instant) -> Reply {
        guard !text.isEmpty else { return .refused(.badArgs, "SEND needs a message text") }
        guard var record = conversations[id] else { return notFound(id) }
        switch principal {
        case .customer(let customer):
            guard record.customer == customer else { return notFound(id) }
            record.messageCount += 1
            conversations[id] = record
            append(id, sender: .customer, author: customer.rawValue, text: text, at: now)
            if let agent = record.agent {
                effects.append(.deliver(.agent(agent), .message(id, from: .customer, text: text)))
            }
        case .agent(let agent):
            guard record.agent == agent else { return notFound(id) }
            record.messageCount += 1
            // Only a human answer stops the first-response clock.
            if record.firstRespondedAt == nil { record.firstRespondedAt = now }
            conversations[id] = record
            append(id, sender: .agent, author: agent.rawValue, text: text, at: now)
            effects.append(.deliver(.customer(record.customer), .message(id, from: .agent, text: text)))
        case .supervisor:
            return .refused(.forbidden, "supervisors do not write in conversations")
        }
        persist(id)
        return .ok([Field("seq", "\(record.messageCount)")])
    }

    private mutating func close(_ principal: Principal, _ id: ConversationID, at now: Instant) -> Reply {
        guard var record = conversations[id] else { return notFound(id) }
        let closedBy: Closer
        switch principal {
        case .customer(let customer):
            guard record.customer == customer else { return notFound(id) }
            closedBy = .customer
        case .agent(let agent):
            guard record.agent == agent else { return notFound(id) }
            closedBy = .agent
        case .supervisor:
            closedBy = .supervisor
        }
        let agent = record.agent
        queue.remove(id)
        if let agent { agents[agent]?.held.remove(id) }
        record.state = .closed
        record.closedAt = now
        conversations[id] = nil
        effects.append(.persist(.conversation(record)))
        if closedBy != .customer { effects.append(.deliver(.customer(record.customer), .closed(id, by: closedBy))) }
        if let agent, closedBy != .agent { effects.append(.deliver(.agent(agent), .closed(id, by: closedBy))) }
        if let agent { offerCapacity(to: agent, at: now) }
        return .ok([])
    }

    private func history(_ principal: Principal, _ id: ConversationID) -> Reply {
        let record = conversations[id]
        switch principal {
        case .supervisor:
            return .history(id, viewer: principal, verifyOwnership: false)
        case .customer(let customer):
            if let record {
                return record.customer == customer
                    ? .history(id, viewer: principal, verifyOwnership: false) : notFound(id)
            }
        case .agent(let agent):
            if let record, record.agent == agent { return .history(id, viewer: principal, verifyOwnership: false) }
        }
        // Closed, or held by this agent earlier: only the store knows.
        return .history(id, viewer: principal, verifyOwnership: true)
    }

    private func notFound(_ id: ConversationID) -> Reply {
        .refused(.notFound, "no conversation \(id)")
    }

    // MARK: - Deadlines

    private mutating func fireDeadlines(upTo now: Instant) {
        while let deadline = deadlines.popDue(at: now) {
            switch deadline.kind {
            case .firstResponse:
                firstResponseDue(deadline, at: now)
            }
        }
    }

    /// The customer has waited `first_response` with no human answer: log the breach, tell the supervisors, and
    /// move the conversation to another agent who can answer now, if there is one. Its clock keeps running.
    private mutating func firstResponseDue(_ deadline: Deadline, at now: Instant) {
        guard var record = conversations[deadline.conversation],
            record.firstRespondedAt == nil, record.breachedAt == nil,
            record.firstResponseDueAt == deadline.at
        else { return }  // answered, closed or already handled: the deadline no longer applies
        record.breachedAt = now
        conversations[record.id] = record
        persist(record.id)
        let waited = now - record.openedAt
        let breach = SLABreach(
            sla: .firstResponse, conversation: record.id, customer: record.customer, agent: record.agent,
            skill: record.skill, priority: record.priority, waited: waited,
            threshold: record.firstResponseDueAt - record.openedAt, at: now
        )
        effects.append(.breach(breach))
        let escalation = Event.escalated(record.id, reason: "first-response", agent: record.agent, waited: waited)
        effects.append(.deliver(.supervisors, escalation))
        guard let holder = record.agent, let next = bestAgent(for: record.id, excluding: holder) else { return }
        revoke(record.id, reason: "first-response")
        assign(record.id, to: next, at: now, reason: "first-response")
        offerCapacity(to: holder, at: now)
    }

    // MARK: - Routing

    /// The agent who should take a conversation now: eligible (online, connected, skilled, with a free slot),
    /// lowest load ratio, then higher proficiency, then idle longest, then id.
    private func bestAgent(for id: ConversationID, excluding excluded: AgentID?) -> AgentID? {
        guard let record = conversations[id] else { return nil }
        var best: AgentState?
        for candidateID in agentsBySkill[record.skill] ?? [] where candidateID != excluded {
            guard let candidate = agents[candidateID], candidate.isAvailable, candidate.hasFreeSlot,
                candidate.profile.level(in: record.skill) >= 1
            else { continue }
            if let current = best, !Self.prefers(candidate, over: current, for: record.skill) { continue }
            best = candidate
        }
        return best?.profile.id
    }

    /// Whether `a` should win a conversation of `skill` over `b`.
    static func prefers(_ a: AgentState, over b: AgentState, for skill: Skill) -> Bool {
        // Compare held/max as fractions without division: a.held/a.max < b.held/b.max.
        let loadA = a.held.count * b.profile.maxChats
        let loadB = b.held.count * a.profile.maxChats
        if loadA != loadB { return loadA < loadB }
        let levelA = a.profile.level(in: skill)
        let levelB = b.profile.level(in: skill)
        if levelA != levelB { return levelA > levelB }
        switch (a.lastAssignedAt, b.lastAssignedAt) {
        case (nil, .some): return true
        case (.some, nil): return false
        case (.some(let x), .some(let y)) where x != y: return x < y
        default: return a.profile.id < b.profile.id
        }
    }

    /// Capacity appeared on an agent: give it the best waiting conversations it can serve, at once.
    private mutating func offerCapacity(to id: AgentID, at now: Instant) {
        while let agent = agents[id], agent.isAvailable, agent.hasFreeSlot {
            var best: QueueKey?
            for (skill, level) in agent.profile.skills where level >= 1 {
                if let head = queue.head(of: skill), best.map({ head < $0 }) ?? true { best = head }
            }
            guard let next = best else { return }
            assign(next.conversation, to: id, at: now, reason: "routed")
        }
    }

    /// Gives every waiting conversation that some available agent can take to that agent, oldest first.
    private mutating func routeWaiting(at now: Instant) {
        for id in queue.ordered.map(\.conversation) {
            if let agent = bestAgent(for: id, excluding: nil) { assign(id, to: agent, at: now, reason: "routed") }
        }
    }

    private mutating func assign(_ id: ConversationID, to agent: AgentID, at now: Instant, reason: String) {
        guard var record = conversations[id] else { return }
        queue.remove(id)
        record.state = .assigned
        record.agent = agent
        conversations[id] = record
        agents[agent]?.held.insert(id)
        agents[agent]?.lastAssignedAt = now
        persist(id)
        assignment(id, agent: agent, at: now, reason: reason)
        if let notice = assignmentNotice(id, at: now, resumed: false) {
            effects.append(.deliver(.agent(agent), .assigned(notice)))
        }
        effects.append(.deliver(.customer(record.customer), .joined(id, agent: agent)))
    }

    /// Takes a conversation away from its agent (the caller decides where it goes next).
    private mutating func revoke(_ id: ConversationID, reason: String) {
        guard var record = conversations[id], let agent = record.agent else { return }
        agents[agent]?.held.remove(id)
        record.agent = nil
        record.state = .queued
        conversations[id] = record
        effects.append(.deliver(.agent(agent), .revoked(id, reason: reason)))
    }

    private mutating func enqueue(_ id: ConversationID, notify: Bool) {
        guard let record = conversations[id] else { return }
        let key = QueueKey(priority: record.priority, arrivedAt: record.openedAt, conversation: id)
        queue.insert(key, skill: record.skill)
        if notify, let position = queue.position(of: id) {
            effects.append(.deliver(.customer(record.customer), .queued(id, position: position)))
        }
    }

    private func assignmentNotice(_ id: ConversationID, at now: Instant, resumed: Bool) -> AssignmentNotice? {
        guard let record = conversations[id] else { return nil }
        return AssignmentNotice(
            conversation: id, customer: record.customer, skill: record.skill, priority: record.priority,
            waited: now - record.openedAt, firstMessage: record.firstMessage, resumed: resumed
        )
    }

    // MARK: - Records

    private mutating func persist(_ id: ConversationID) {
        if let record = conversations[id] { effects.append(.persist(.conversation(record))) }
    }

    private mutating func assignment(_ id: ConversationID, agent: AgentID?, at now: Instant, reason: String) {
        effects.append(.persist(.assignment(AssignmentRecord(conversation: id, agent: agent, at: now, reason: reason))))
    }

    private mutating func append(
        _ id: ConversationID, sender: MessageSender, author: String, text: String, at now: Instant
    ) {
        guard let record = conversations[id] else { return }
        let message = MessageRecord(
            conversation: id, seq: record.messageCount, sender: sender, author: author, at: now, text: text
        )
        effects.append(.persist(.message(message)))
    }

    private mutating func rebuildSkillIndex() {
        agentsBySkill = [:]
        for profile in policy.agents.sorted(by: { $0.id < $1.id }) {
            for (skill, level) in profile.skills where level >= 1 {
                agentsBySkill[skill, default: []].append(profile.id)
            }
        }
        knownSkills = Set(agentsBySkill.keys)
    }

    // MARK: - Invariants

    /// Checks the routing invariants; returns a description of each violation (empty when sound). Used by the
    /// property tests and by the daemon's watchdog.
    public func invariantViolations() -> [String] {
        var problems: [String] = []
        var holders: [ConversationID: AgentID] = [:]
        for (id, agent) in agents {
            if agent.held.count > agent.profile.maxChats { problems.append("agent \(id) over capacity") }
            for conversation in agent.held {
                if let other = holders[conversation] {
                    problems.append("conversation \(conversation) held by \(other) and \(id)")
                }
                holders[conversation] = id
            }
        }
        for (id, record) in conversations {
            switch record.state {
            case .queued:
                if !queue.contains(id) { problems.append("conversation \(id) queued but not in the queue") }
                if holders[id] != nil { problems.append("conversation \(id) queued and held") }
            case .assigned:
                if holders[id] != record.agent || record.agent == nil {
                    problems.append("conversation \(id) holder mismatch")
                }
                if queue.contains(id) { problems.append("conversation \(id) assigned and queued") }
            case .closed:
                problems.append("closed conversation \(id) still open in memory")
            }
        }
        if queue.count != conversations.values.count(where: { $0.state == .queued }) {
            problems.append("queue holds conversations that are not open")
        }
        // No available agent with a free slot while a conversation it can serve waits.
        for (id, agent) in agents where agent.isAvailable && agent.hasFreeSlot {
            for (skill, level) in agent.profile.skills where level >= 1 && queue.count(of: skill) > 0 {
                problems.append("agent \(id) has a free slot while \(skill) conversations wait")
            }
        }
        return problems
    }
}

/// Live counts for `STATUS=` and ops.
public struct RoutingStatus: Sendable, Equatable {
    public var agentsOnline: Int
    public var queued: Int
    public var active: Int
}

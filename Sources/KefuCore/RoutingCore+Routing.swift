/// Choosing agents and moving conversations between the queue and agents.
extension RoutingCore {
    // MARK: - Routing

    /// The agent who should take a conversation now: eligible (online, connected, skilled, with a free slot),
    /// lowest load ratio, then higher proficiency, then idle longest, then id.
    func bestAgent(for id: ConversationID, excluding excluded: AgentID?) -> AgentID? {
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
    mutating func offerCapacity(to id: AgentID, at now: Instant) {
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
    mutating func routeWaiting(at now: Instant) {
        for id in queue.ordered.map(\.conversation) {
            if let agent = bestAgent(for: id, excluding: nil) { assign(id, to: agent, at: now, reason: "routed") }
        }
    }

    mutating func assign(_ id: ConversationID, to agent: AgentID, at now: Instant, reason: String) {
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
    mutating func revoke(_ id: ConversationID, reason: String) {
        guard var record = conversations[id], let agent = record.agent else { return }
        agents[agent]?.held.remove(id)
        record.agent = nil
        record.state = .queued
        conversations[id] = record
        effects.append(.deliver(.agent(agent), .revoked(id, reason: reason)))
    }

    mutating func enqueue(_ id: ConversationID, notify: Bool) {
        guard let record = conversations[id] else { return }
        let key = QueueKey(priority: record.priority, arrivedAt: record.openedAt, conversation: id)
        queue.insert(key, skill: record.skill)
        if notify, let position = queue.position(of: id) {
            effects.append(.deliver(.customer(record.customer), .queued(id, position: position)))
        }
    }

    func assignmentNotice(_ id: ConversationID, at now: Instant, resumed: Bool) -> AssignmentNotice? {
        guard let record = conversations[id] else { return nil }
        return AssignmentNotice(
            conversation: id, customer: record.customer, skill: record.skill, priority: record.priority,
            waited: now - record.openedAt, firstMessage: record.firstMessage, resumed: resumed
        )
    }
}

/// Giving a conversation to an agent and taking it back: the assignment record, the notice the agent gets, and
/// the way back to the queue.
extension RoutingCore {
    /// Gives a conversation to the best agent now, or queues it. Returns the agent chosen.
    @discardableResult
    mutating func place(
        _ id: ConversationID, at now: Instant, reason: AssignmentReason, via: AssignmentVia = .routed,
        excluding excluded: (AgentID, Exclusion)? = nil, notify: Bool = true
    ) -> AgentID? {
        let decision = route(id, at: now, reason: reason, via: via, excluding: excluded)
        if let agent = decision.agent { return agent }
        conversations[id]?.decision = decision
        if via.passesNotes { conversations[id]?.pendingVia = via }
        enqueue(id, at: now, notify: notify)
        persist(id)
        return nil
    }

    /// Gives a conversation to the best agent, if one can take it now, keeping the decision that chose it.
    /// Returns the decision either way; the caller decides what a conversation nobody could take does.
    @discardableResult
    mutating func route(
        _ id: ConversationID, at now: Instant, reason: AssignmentReason, via: AssignmentVia = .routed,
        excluding excluded: (AgentID, Exclusion)? = nil
    ) -> Decision {
        let decision = decide(id, excluding: excluded, at: now)
        guard let agent = decision.agent else { return decision }
        conversations[id]?.decision = decision
        assign(id, to: agent, at: now, reason: reason, via: via)
        return decision
    }

    /// Gives a conversation to an agent. `handle`: the agent's, when the caller has it; `decision`: the one to keep
    /// for `EXPLAIN`, set in the same lookup (else the conversation's own stands).
    mutating func assign(
        _ id: ConversationID, to agent: AgentID, at now: Instant, reason: AssignmentReason,
        via: AssignmentVia = .routed, handle known: Int? = nil, decision newDecision: Decision? = nil
    ) {
        let handle = known ?? agents.handle(of: agent) ?? 0
        // One lookup: the conversation changes in place and hands back what the records and notices need.
        guard
            let (pendingVia, skill, record, decision) = conversations.modify(
                id,
                { open in
                    let pendingVia = open.pendingVia
                    open.pendingVia = nil
                    open.record.state = .assigned
                    open.record.agent = agent
                    open.holderHandle = handle
                    open.assignedAt = now
                    open.reservedFor = nil
                    open.reservedUntil = nil
                    if let newDecision { open.decision = newDecision }
                    return (pendingVia, open.skill, open.record, open.decision)
                })
        else { return }
        // A transfer or handover that had to wait is still one when it is finally taken.
        let via = via == .routed ? pendingVia ?? via : via
        if queue.remove(id) { queueChanged.insert(skill) }
        changeAgent(handle: handle) { agent in
            agent.held.insert(id)
            agent.lastAssignedAt = now
        }
        effects.append(.persist(.conversation(record)))
        effects.append(
            .persist(
                .assignment(
                    AssignmentRecord(conversation: id, agent: agent, at: now, reason: reason, decision: decision))))
        var notice = Self.notice(of: record, at: now, resumed: false)
        notice.via = via
        effects.append(.deliver(.agent(agent), .assigned(notice)))
        // Whoever receives a chat from a colleague gets its notes with it.
        if via.passesNotes {
            for note in conversations[id]?.notes ?? [] { effects.append(.deliver(.agent(agent), .note(note))) }
        }
        effects.append(.deliver(.customer(record.customer), .joined(id, agent: agent)))
    }

    /// Takes a conversation away from its agent (the caller decides where it goes next).
    mutating func revoke(_ id: ConversationID, reason: AssignmentReason, at now: Instant) {
        guard var open = conversations[id], let agent = open.record.agent else { return }
        changeAgent(agent) { $0.held.remove(id) }
        open.record.agent = nil
        open.record.state = .queued
        conversations[id] = open
        effects.append(.deliver(.agent(agent), .revoked(id, reason: reason)))
    }

    /// Sends every chat an agent holds back to the queue (keeping their arrival, so they go to the front) and on
    /// to whoever can take them. `onlyUnanswered` leaves chats the agent already answered with it.
    mutating func requeueAll(
        of agentID: AgentID, reason: AssignmentReason, excluding exclusion: Exclusion, at now: Instant,
        onlyUnanswered: Bool = false
    ) -> [ConversationID] {
        var moved: [ConversationID] = []
        for id in agents[agentID]?.held.sorted() ?? [] {
            if onlyUnanswered, conversations[id]?.record.firstRespondedAt != nil { continue }
            revoke(id, reason: reason, at: now)
            recordAssignment(id, agent: nil, at: now, reason: reason)
            moved.append(id)
        }
        for id in moved { place(id, at: now, reason: reason, excluding: (agentID, exclusion)) }
        return moved
    }

    mutating func recordAssignment(_ id: ConversationID, agent: AgentID?, at now: Instant, reason: AssignmentReason) {
        let decision = conversations[id]?.decision
        let record = AssignmentRecord(conversation: id, agent: agent, at: now, reason: reason, decision: decision)
        effects.append(.persist(.assignment(record)))
    }

    func assignmentNotice(_ id: ConversationID, at now: Instant, resumed: Bool) -> AssignmentNotice? {
        // Read in place, in one lookup (the conversation is large).
        conversations.inspect(id) { Self.notice(of: $0.record, at: now, resumed: resumed) }
    }

    /// What the agent is told of a conversation it is given (or holds again after a reconnect).
    static func notice(of record: ConversationRecord, at now: Instant, resumed: Bool) -> AssignmentNotice {
        AssignmentNotice(
            conversation: record.id, customer: record.customer, skill: record.skill, priority: record.priority,
            waited: now - record.openedAt, firstMessage: record.firstMessage, resumed: resumed)
    }
}

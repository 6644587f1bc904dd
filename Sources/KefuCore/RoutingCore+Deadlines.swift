/// Deadlines coming due: SLA breaches, widening, sticky waits, wrap-ups, reconnect grace, queue reports.
extension RoutingCore {
    mutating func fireDeadlines(upTo now: Instant) {
        while let deadline = deadlines.popDue(at: now) {
            switch deadline.kind {
            case .firstResponse(let id):
                firstResponseDue(id, due: deadline.at, at: now)
            case .widen(let id, let step):
                widen(id, to: step, at: now)
            case .stickyExpiry(let id):
                guard let until = conversations[id]?.reservedUntil, until <= now else { break }
                conversations[id]?.reservedFor = nil
                conversations[id]?.reservedUntil = nil
                if queue.contains(id) { route(id, at: now, reason: "routed") }
            case .wrapUpOver(let agent):
                guard agents[agent] != nil else { break }
                changeAgent(agent) { $0.wrapUps.removeAll { $0 <= now } }
                offerCapacity(to: agent, at: now)
            case .reconnectGrace(let agent):
                guard let state = agents[agent], state.sessions == 0, let since = state.disconnectedAt,
                    since + policy.rules.reconnectGrace <= now
                else { break }
                // The laptop did not come back: its customers must not wait on nobody.
                _ = requeueAll(of: agent, reason: "disconnected", at: now)
            case .queueReport:
                reportQueue(at: now)
            }
        }
    }

    /// The customer has waited `first_response` with no human answer: log the breach, tell the supervisors, and
    /// move the conversation to another agent who can answer now, if there is one. Its clock keeps running.
    mutating func firstResponseDue(_ id: ConversationID, due: Instant, at now: Instant) {
        guard var record = conversations[id]?.record,
            record.firstRespondedAt == nil, record.breachedAt == nil, record.firstResponseDueAt == due
        else { return }  // answered, closed or already handled: the deadline no longer applies
        record.breachedAt = now
        conversations[id]?.record = record
        persist(id)
        let waited = now - record.openedAt
        let breach = SLABreach(
            sla: .firstResponse, conversation: id, customer: record.customer, agent: record.agent,
            skill: record.skill, priority: record.priority, waited: waited,
            threshold: record.firstResponseDueAt - record.openedAt, at: now
        )
        effects.append(.breach(breach))
        let escalation = Event.escalated(id, reason: "first-response", agent: record.agent, waited: waited)
        effects.append(.deliver(.supervisors, escalation))
        guard let holder = record.agent else { return }
        // Counted against the holder only if it had the chat for at least half the limit: a colleague who took it
        // over moments before the deadline is not the one hanging idle.
        let heldFor = now - (conversations[id]?.assignedAt ?? record.openedAt)
        let responsible = heldFor.value * 2 >= (record.firstResponseDueAt - record.openedAt).value
        let decision = decide(id, excluding: (holder, "let the first response breach"), at: now)
        if let next = decision.agent {
            revoke(id, reason: "first-response", at: now)
            conversations[id]?.decision = decision
            assign(id, to: next, at: now, reason: "first-response")
        }
        if responsible { countBreach(of: holder, at: now) }
        offerCapacity(to: holder, at: now)
    }

    /// No idle hanging (严禁空挂): an agent who lets `auto_away_breaches` chats breach within the window is set
    /// away, and its unanswered chats go to others.
    mutating func countBreach(of id: AgentID, at now: Instant) {
        let threshold = policy.rules.autoAwayBreaches
        guard threshold > 0, agents[id] != nil else { return }
        let window = policy.rules.autoAwayWindow
        changeAgent(id) { agent in
            agent.recentBreaches.append(now)
            agent.recentBreaches.removeAll { now - $0 >= window }
        }
        guard let agent = agents[id], agent.recentBreaches.count >= threshold, agent.presence == .online else { return }
        let breaches = agent.recentBreaches.count
        changeAgent(id) { agent in
            agent.presence = .away
            agent.recentBreaches = []
        }
        effects.append(.deliver(.agent(id), .presence(.away, reason: "unresponsive")))
        effects.append(.deliver(.supervisors, .agentAway(id, reason: "unresponsive", breaches: breaches)))
        let moved = requeueAll(of: id, reason: "unresponsive", at: now, onlyUnanswered: true)
        effects.append(.autoAway(AgentAutoAway(
            agent: id, breaches: breaches, window: policy.rules.autoAwayWindow, movedConversations: moved, at: now
        )))
    }

    /// A waiting conversation widens: lower required level, then fallback skills. It keeps its place and clocks.
    mutating func widen(_ id: ConversationID, to step: Int, at now: Instant) {
        // A step armed for a skill the chat has since been transferred away from no longer applies.
        guard let open = conversations[id], open.widenStep < step,
            widenSteps(of: open.record).contains(where: { $0.step == step && $0.at <= now })
        else { return }
        conversations[id]!.widenStep = step
        guard queue.contains(id) else { return }  // held by an agent: widening only matters while waiting
        let key = QueueKey(effectiveArrival: effectiveArrival(open.record), conversation: id)
        queue.insert(key, skill: open.record.skill, lanes: lanes(conversations[id]!))
        route(id, at: now, reason: "routed")
    }
}

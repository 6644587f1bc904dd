/// Deadlines coming due: SLA breaches, widening, sticky waits, wrap-ups, reconnect grace, queue reports.
extension RoutingCore {
    mutating func fireDeadlines(upTo now: Instant) {
        while let deadline = deadlines.popDue(at: now) {
            switch deadline.kind {
            case .roundDue(let id, let round):
                roundDue(id, round: round, due: deadline.at, at: now)
            case .buyerIdleWarning(let id, let since):
                // Still silent since that message, and the limit is the one this warning was armed for.
                guard conversations[id]?.record.buyerIdleSince == since,
                    buyerIdleTimes(since: since)?.warn == deadline.at
                else { break }
                automaticMessage(id, policy.autoReplies.idleWarning, at: now)
            case .buyerIdleClose(let id, let since):
                guard conversations[id]?.record.buyerIdleSince == since,
                    buyerIdleTimes(since: since)?.close == deadline.at
                else { break }
                automaticMessage(id, policy.autoReplies.idleClose, at: now)
                finish(id, by: .system, at: now)
            case .roundWarning(let id, let round):
                roundWarning(id, round: round, armedFor: deadline.at, at: now)
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

    /// A response round reached its limit with no human answer (round 1: the first response): log the breach, tell
    /// the supervisors, and move the conversation to another agent who can answer now, if there is one. Its clock
    /// keeps running.
    mutating func roundDue(_ id: ConversationID, round: Int, due: Instant, at now: Instant) {
        guard var record = conversations[id]?.record, record.round == round, let started = record.roundStartedAt,
            record.roundBreachedAt == nil, record.roundDueAt == due
        else { return }  // answered, closed, re-counted or already handled: the deadline no longer applies
        record.roundBreachedAt = now
        if round == 1 { record.breachedAt = now }
        conversations[id]?.record = record
        persist(id)
        persistRound(of: record)
        let waited = now - started
        let threshold = due - started
        let breach = SLABreach(
            sla: round == 1 ? .firstResponse : .response, conversation: id, round: round, customer: record.customer,
            agent: record.agent, skill: record.skill, store: record.store, priority: record.priority, waited: waited,
            threshold: threshold, at: now
        )
        effects.append(.breach(breach))
        let reason = round == 1 ? "first-response" : "response"
        let escalation = Event.escalated(id, reason: reason, agent: record.agent, waited: waited)
        effects.append(.deliver(.supervisors, escalation))
        guard let holder = record.agent else { return }
        // Counted against the holder only if it had the chat for at least half the limit: a colleague who took it
        // over moments before the deadline is not the one hanging idle.
        let heldFor = now - max(conversations[id]?.assignedAt ?? started, started)
        let responsible = heldFor.value * 2 >= threshold.value
        let decision = decide(id, excluding: (holder, "let the \(reason) breach"), at: now)
        if let next = decision.agent {
            revoke(id, reason: reason, at: now)
            conversations[id]?.decision = decision
            assign(id, to: next, at: now, reason: reason)
        }
        if responsible { countBreach(of: holder, at: now) }
        offerCapacity(to: holder, at: now)
    }

    /// A round's deadline is near: its holder hears it once (a chat that moves on keeps its warned round).
    mutating func roundWarning(_ id: ConversationID, round: Int, armedFor instant: Instant, at now: Instant) {
        guard let open = conversations[id], open.record.round == round, open.record.roundWarnedAt == nil,
            let start = open.record.roundStartedAt, open.record.roundBreachedAt == nil,
            let due = open.record.roundDueAt, due > now, policy.warning(start: start, due: due) == instant
        else { return }  // answered, breached, re-counted (a new warning is armed) or already warned
        guard let holder = open.record.agent else { return }  // queued: nobody holds it to warn
        conversations[id]?.record.roundWarnedAt = now
        persist(id)
        let sla: SLAKind = round == 1 ? .firstResponse : .response
        effects.append(.deliver(.agent(holder), .slaWarning(id, sla: sla, left: due - now)))
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

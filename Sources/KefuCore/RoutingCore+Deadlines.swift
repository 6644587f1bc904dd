/// Deadlines coming due: SLA breaches, widening, sticky waits, wrap-ups, reconnect grace, queue reports.
extension RoutingCore {
    mutating func fireDeadlines(upTo now: Instant) {
        while let deadline = deadlines.popDue(at: now) {
            switch deadline.kind {
            case .roundDue(let id, let round):
                roundDue(id, round: round, due: deadline.at, at: now)
            case .buyerIdleWarning(let id, let since):
                // Still silent since that message, and the limit is the one this warning was armed for.
                guard conversations[id]?.record.buyerIdleSince == since, conversations[id]?.record.heldSince == nil,
                    buyerIdleTimes(since: since)?.warn == deadline.at
                else { break }
                automaticMessage(id, policy.autoReplies.idleWarning, at: now)
            case .buyerIdleClose(let id, let since):
                guard conversations[id]?.record.buyerIdleSince == since, conversations[id]?.record.heldSince == nil,
                    buyerIdleTimes(since: since)?.close == deadline.at
                else { break }
                automaticMessage(id, policy.autoReplies.idleClose, at: now)
                finish(id, by: .system, at: now)
            case .resolutionDue(let id):
                resolutionDue(id, armedFor: deadline.at, at: now)
            case .escalation(let id, let round, let level):
                escalate(id, round: round, level: level, armedFor: deadline.at, at: now)
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
            record.roundBreachedAt == nil, record.roundDueAt == due, record.heldSince == nil
        else { return }  // answered, closed, re-counted, on hold or already handled: the deadline no longer applies
        record.roundBreachedAt = now
        if round == 1 { record.breachedAt = now }
        conversations[id]?.record = record
        persist(id)
        persistRound(of: record)
        let breach = roundBreach(record, started: started, due: due, at: now)
        let threshold = breach.threshold
        effects.append(.breach(breach))
        // The ladder: rungs at the breach apply now (moving the chat, telling supervisors) — before the holder's
        // breach is counted, since auto-away would move the chat on its own — and later ones are armed.
        let heldFor = now - max(conversations[id]?.assignedAt ?? started, started)
        for (index, step) in policy.escalation.enumerated() where step.after.value <= 0 {
            escalate(id, round: round, level: index + 1, armedFor: now, at: now)
        }
        // Counted against the holder only if it had the chat for at least half the limit: a colleague who took it
        // over moments before the deadline is not the one hanging idle.
        if let holder = record.agent, heldFor.value * 2 >= threshold.value { countBreach(of: holder, at: now) }
        if let current = conversations[id]?.record { armEscalation(of: current) }
    }

    /// The breach of a conversation's current round: waited on the wall clock, limit and wait in business time.
    func roundBreach(_ record: ConversationRecord, started: Instant, due: Instant, at now: Instant) -> SLABreach {
        var breach = SLABreach(
            sla: SLAKind(round: record.round), conversation: record.id, round: record.round,
            customer: record.customer, agent: record.agent, skill: record.skill, store: record.store,
            priority: record.priority, waited: now - started,
            threshold: policy.calendar(for: record).elapsed(from: started, to: due), at: now
        )
        breach.businessWaited = policy.calendar(for: record).elapsed(from: started, to: now)
        return breach
    }

    /// The conversation has been open for its `resolution_s` (HOLD does not pause this one): one breach record and
    /// the supervisors are told; nothing moves.
    mutating func resolutionDue(_ id: ConversationID, armedFor instant: Instant, at now: Instant) {
        guard var record = conversations[id]?.record, record.resolutionBreachedAt == nil,
            record.resolutionDueAt == instant
        else { return }
        record.resolutionBreachedAt = now
        conversations[id]?.record = record
        persist(id)
        let waited = now - record.openedAt
        effects.append(
            .breach(
                SLABreach(
                    sla: .resolution, conversation: id, round: record.round, customer: record.customer,
                    agent: record.agent,
                    skill: record.skill, store: record.store, priority: record.priority, waited: waited,
                    threshold: instant - record.openedAt, at: now
                )))
        effects.append(
            .deliver(.supervisors, .escalated(id, reason: "resolution", agent: record.agent, waited: waited)))
    }

    /// Arms the rungs of the escalation ladder a breached, unanswered round has not reached yet.
    mutating func armEscalation(of record: ConversationRecord) {
        guard record.roundStartedAt != nil, let breachedAt = record.roundBreachedAt else { return }
        for (index, step) in policy.escalation.enumerated() where index + 1 > record.roundEscalationLevel {
            deadlines.arm(.escalation(record.id, round: record.round, level: index + 1), at: breachedAt + step.after)
        }
    }

    /// A rung of the ladder: the round is still unanswered `after` its breach. Each level applies once, in order.
    mutating func escalate(_ id: ConversationID, round: Int, level: Int, armedFor instant: Instant, at now: Instant) {
        guard var record = conversations[id]?.record, record.round == round, let started = record.roundStartedAt,
            let breachedAt = record.roundBreachedAt, let due = record.roundDueAt,
            level == record.roundEscalationLevel + 1, level <= policy.escalation.count,
            breachedAt + policy.escalation[level - 1].after == instant
        else { return }  // answered, closed, already applied, or a rung of a ladder since reloaded
        let step = policy.escalation[level - 1]
        record.roundEscalationLevel = level
        conversations[id]?.record = record
        let reason = SLAKind(round: round).reason
        let waited = now - started
        let holder = record.agent
        var movedTo: AgentID?
        if step.actions.contains(.reassign), let holder, record.roundReassigns < policy.maxReassign {
            let decision = decide(id, excluding: (holder, "let the \(reason) breach"), at: now)
            if let next = decision.agent {
                revoke(id, reason: reason, at: now)
                conversations[id]?.decision = decision
                conversations[id]?.record.roundReassigns += 1
                assign(id, to: next, at: now, reason: reason)
                movedTo = next
                offerCapacity(to: holder, at: now)
            }
        }
        let event = Event.escalated(id, reason: reason, agent: holder, waited: waited, level: level)
        if step.actions.contains(.supervisor) { effects.append(.deliver(.supervisors, event)) }
        if step.actions.contains(.manager) { effects.append(.deliver(.managers, event)) }
        guard let current = conversations[id]?.record else { return }
        persist(id)
        persistRound(of: current)
        // `record` is the state at this rung's start: it names the holder before any `reassign` above.
        let breach = roundBreach(record, started: started, due: due, at: now)
        effects.append(
            .escalation(
                SLAEscalation(
                    breach: breach, level: level, actions: step.actions, reassignedTo: movedTo, at: now
                )))
    }

    /// A round's deadline is near: its holder hears it once (a chat that moves on keeps its warned round).
    mutating func roundWarning(_ id: ConversationID, round: Int, armedFor instant: Instant, at now: Instant) {
        guard let open = conversations[id], open.record.round == round, let start = open.record.roundStartedAt,
            open.record.roundBreachedAt == nil, let due = open.record.roundDueAt,
            policy.warning(start: start, due: due, for: open.record) == instant
        else { return }  // answered, breached or re-counted (its clock is armed anew): nothing of this round is due
        // The round's deadline is armed now that its warning came up (see `armRound`): whether or not anyone is
        // warned. A round on hold is armed again when the hold ends.
        guard open.record.heldSince == nil else { return }
        deadlines.arm(.roundDue(id, round: round), at: due)
        guard open.record.roundWarnedAt == nil, due > now else { return }  // warned already, or too late to warn
        guard let holder = open.record.agent else { return }  // queued: nobody holds it to warn
        conversations[id]?.record.roundWarnedAt = now
        persist(id)
        let sla = SLAKind(round: round)
        effects.append(.deliver(.agent(holder), .slaWarning(id, sla: sla, left: due - now)))
        let facts = roundBreach(open.record, started: start, due: due, at: now)
        effects.append(.slaNotice(SLANotice(kind: .warning, facts: facts, left: due - now)))
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
        effects.append(
            .autoAway(
                AgentAutoAway(
                    agent: id, breaches: breaches, window: policy.rules.autoAwayWindow, movedConversations: moved,
                    at: now
                )))
    }

    /// A waiting conversation widens: lower required level, then fallback skills. It keeps its place and clocks.
    mutating func widen(_ id: ConversationID, to step: Int, at now: Instant) {
        // A step armed for a skill the chat has since been transferred away from no longer applies.
        guard let open = conversations[id], open.widenStep < step,
            widenSteps(of: open.record, skill: open.skill).contains(where: { $0.step == step && $0.at <= now })
        else { return }
        conversations[id]!.widenStep = step
        guard queue.contains(id) else { return }  // held by an agent: widening only matters while waiting
        let key = QueueKey(effectiveArrival: effectiveArrival(open.record), conversation: id)
        queue.insert(key, skill: open.skill, lanes: lanes(conversations[id]!))
        route(id, at: now, reason: "routed")
    }
}

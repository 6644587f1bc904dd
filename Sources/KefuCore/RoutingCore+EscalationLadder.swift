/// The escalation ladder (`[[escalation]]`): what happens while a breached round stays unanswered, rung by rung.
extension RoutingCore {
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
        let reason = AssignmentReason(breachedRound: round)
        let waited = now - started
        let holder = record.agent
        var movedTo: AgentID?
        if step.actions.contains(.reassign), let holder, record.roundReassigns < policy.maxReassign {
            let decision = decide(id, excluding: (holder, Exclusion(breachedRound: round)), at: now)
            if let next = decision.agent {
                revoke(id, reason: reason, at: now)
                conversations[id]?.decision = decision
                conversations[id]?.record.roundReassigns += 1
                assign(id, to: next, at: now, reason: reason)
                movedTo = next
                offerCapacity(to: holder, at: now)
            }
        }
        let event = Event.escalated(id, reason: SLAKind(round: round), agent: holder, waited: waited, level: level)
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
}

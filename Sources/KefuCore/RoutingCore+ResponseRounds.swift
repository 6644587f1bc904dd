/// Response rounds and their SLA: each round's clock, the warning before its deadline, the breach, `HOLD` pausing
/// it, and the open-to-close resolution limit.
extension RoutingCore {
    /// `DUE`: the holder (or a supervisor) asks how long the conversation's waiting round has: `due_in_ms` until its
    /// deadline (wall time to an absolute instant, so business hours are already in it), `-` when no round waits
    /// for a human answer; `warned=1` once the holder was warned; `breached=1` past it.
    func due(_ principal: Principal, _ id: ConversationID, at now: Instant) -> Reply {
        if case .customer = principal { return .refused(.forbidden, "DUE is for agents and supervisors") }
        guard access(principal, id) == .granted, let record = conversations[id]?.record else { return notFound(id) }
        var fields = [Field("conv", id.description), Field("round", "\(record.round)")]
        if record.roundStartedAt != nil, let dueAt = record.roundDueAt {
            fields.append(Field("due_in_ms", "\((dueAt - now).value)"))
            if record.heldSince != nil { fields.append(Field("held", "1")) }
            if record.roundWarnedAt != nil { fields.append(Field("warned", "1")) }
            if record.roundBreachedAt != nil { fields.append(Field("breached", "1")) }
        } else {
            fields.append(Field("due_in_ms", "-"))
        }
        return .ok(fields)
    }

    /// A buyer message after an answer starts the next round, on the limit of its number.
    mutating func startRound(of record: inout ConversationRecord, at now: Instant) {
        record.round += 1
        record.roundStartedAt = now
        record.roundDueAt = policy.calendar(for: record).adding(
            policy.limit(ofRound: record.round, for: record), to: now)
        record.roundBreachedAt = nil
        record.roundWarnedAt = nil
        record.roundEscalationLevel = 0
        record.roundReassigns = 0
        armRound(of: record)
        persistRound(of: record)
    }

    /// A human answer ends the round waiting for one (auto-replies never do); before its deadline, the round is met.
    mutating func answerRound(of record: inout ConversationRecord, at now: Instant) {
        guard let started = record.roundStartedAt else { return }
        persistRound(of: record, answeredAt: now)
        if record.roundBreachedAt == nil, let due = record.roundDueAt {
            let facts = roundBreach(record, started: started, due: due, at: now)
            effects.append(.slaNotice(SLANotice(kind: .met, facts: facts)))
        }
        record.roundStartedAt = nil
        record.roundDueAt = nil
        record.roundBreachedAt = nil
        record.roundWarnedAt = nil
        record.roundEscalationLevel = 0
        record.roundReassigns = 0
    }

    /// Arms the clock of the conversation's current round: its warning when there is one still ahead (after
    /// `warnAfter`), which arms the deadline itself when it comes up (`roundWarning`); else the deadline. One entry
    /// in the deadline queue per round instead of two: most rounds are answered before either, and every open
    /// conversation arms one.
    mutating func armRound(of record: ConversationRecord, warnAfter: Instant? = nil) {
        guard let start = record.roundStartedAt, let due = record.roundDueAt else { return }
        if let warnAt = policy.warning(start: start, due: due, for: record), warnAfter.map({ warnAt > $0 }) ?? true {
            deadlines.arm(.roundWarning(record.id, round: record.round), at: warnAt)
        } else {
            deadlines.arm(.roundDue(record.id, round: record.round), at: due)
        }
    }

    /// Records the current round (a conversation with no round waiting has nothing to record).
    mutating func persistRound(of record: ConversationRecord, answeredAt: Instant? = nil, closedAt: Instant? = nil) {
        guard let started = record.roundStartedAt, let due = record.roundDueAt else { return }
        var round = RoundRecord(
            conversation: record.id, round: record.round, startedAt: started, dueAt: due, answeredAt: answeredAt,
            breachedAt: record.roundBreachedAt, closedAt: closedAt, agent: record.agent, skill: record.skill,
            store: record.store
        )
        round.escalationLevel = record.roundEscalationLevel
        round.warnedAt = record.roundWarnedAt
        round.businessWaited = (answeredAt ?? closedAt).map {
            policy.calendar(for: record).elapsed(from: started, to: $0)
        }
        effects.append(.persist(.round(round)))
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
        // The round's row keeps the warning too: reports count warnings per agent and day.
        if let record = conversations[id]?.record { persistRound(of: record) }
        let sla = SLAKind(round: round)
        effects.append(.deliver(.agent(holder), .slaWarning(id, sla: sla, left: due - now)))
        let facts = roundBreach(open.record, started: start, due: due, at: now)
        effects.append(.slaNotice(SLANotice(kind: .warning, facts: facts, left: due - now)))
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
            .deliver(.supervisors, .escalated(id, reason: .resolution, agent: record.agent, waited: waited)))
    }

    /// `HOLD <conv> :<reason>`: the holding agent waits on the warehouse or the courier. The round waiting for an
    /// answer (if it has not breached) pauses with the time it has left, and a silent buyer is not closed, until the
    /// buyer writes again. The reason goes into the history as an internal line.
    mutating func hold(_ principal: Principal, _ id: ConversationID, reason: String, at now: Instant) -> Reply {
        guard case .agent(let agent) = principal else { return .refused(.forbidden, "only agents put chats on hold") }
        guard var record = conversations[id]?.record, record.agent == agent else { return notFound(id) }
        guard !reason.isEmpty else { return .refused(.badArgs, "a hold needs a reason (what the chat waits for)") }
        guard record.heldSince == nil else { return .refused(.conflict, "the chat is already on hold") }
        record.heldSince = now
        var fields = [Field("conv", id.description)]
        if record.roundStartedAt != nil, record.roundBreachedAt == nil, let due = record.roundDueAt {
            let remaining = policy.calendar(for: record).elapsed(from: now, to: due)
            record.holdRemaining = remaining
            fields.append(Field("paused_ms", remaining.description))
        }
        conversations[id]?.record = record
        systemMessage(id, "on hold by \(agent): \(reason)", at: now)
        return .ok(fields)
    }

    /// The buyer spoke: the hold ends, and a paused round runs on with the time it had left.
    mutating func endHold(of record: inout ConversationRecord, at now: Instant) {
        record.heldSince = nil
        if let remaining = record.holdRemaining, record.roundStartedAt != nil {
            let due = policy.calendar(for: record).adding(remaining, to: now)
            record.roundDueAt = due
            if record.round == 1 { record.firstResponseDueAt = due }
            armRound(of: record, warnAfter: now)
        }
        record.holdRemaining = nil
    }
}

/// SLA deadlines coming due.
extension RoutingCore {
    // MARK: - Deadlines

    mutating func fireDeadlines(upTo now: Instant) {
        while let deadline = deadlines.popDue(at: now) {
            switch deadline.kind {
            case .firstResponse:
                firstResponseDue(deadline, at: now)
            }
        }
    }

    /// The customer has waited `first_response` with no human answer: log the breach, tell the supervisors, and
    /// move the conversation to another agent who can answer now, if there is one. Its clock keeps running.
    mutating func firstResponseDue(_ deadline: Deadline, at now: Instant) {
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
}

/// A conversation from `OPEN` to its close: the opening and its clocks, `CLOSE` and the agent's slot after it, the
/// silent buyer closed by the daemon, and who may read a conversation.
extension RoutingCore {
    struct OpenRequest {
        var customer: CustomerID
        var skill: Skill
        var priority: Priority
        var text: String
        var store: String?
        var language: String?
        var gateway: String?
    }

    /// `OPEN`: a new conversation with its clocks, placed with a returning buyer's agent, the best agent now, or in
    /// the queue.
    mutating func open(_ request: OpenRequest, at now: Instant) -> Reply {
        let (customer, skill, text) = (request.customer, request.skill, request.text)
        // One lookup of the name: the number says whether the skill is known now (a reload may have dropped it).
        guard let number = skillNumbers.number(of: skill), number < knownSkillNumbers.count,
            knownSkillNumbers[number]
        else {
            let known = knownSkills.sorted().map(\.name).joined(separator: ",")
            return .refused(.badArgs, "unknown skill \(skill); known skills: \(known)")
        }
        guard !text.isEmpty else { return .refused(.badArgs, "OPEN needs the customer's first message") }
        if let limit = skillTable.maxQueue(of: number), queue.count(of: number) >= limit {
            return .refused(
                .busy,
                "the \(skill) queue is full (\(limit) waiting); please leave a message later or try again soon"
            )
        }
        let id = nextConversationID
        nextConversationID = ConversationID(id.rawValue + 1)
        var record = ConversationRecord(
            id: id, customer: customer, skill: skill, priority: request.priority, store: request.store,
            language: request.language, gateway: request.gateway, state: .queued, agent: nil, openedAt: now,
            firstResponseDueAt: now + policy.firstResponse,
            firstRespondedAt: nil, breachedAt: nil, closedAt: nil, messageCount: 1, firstMessage: text
        )
        // The conversation's own SLA policy (skill, store, priority) sets its clocks.
        let sla = policy.sla(for: record)
        let calendar = sla.calendar ?? policy.calendar
        record.firstResponseDueAt = calendar.adding(sla.firstResponse, to: now)
        record.roundDueAt = record.firstResponseDueAt
        record.resolutionDueAt = sla.resolution.map { calendar.adding($0, to: now) }
        conversations.add(
            OpenConversation(record: record, skill: number, storeLane: storeLanes.lane(of: record.store)))
        if let due = record.resolutionDueAt { deadlines.arm(.resolutionDue(id), at: due) }
        armRound(of: record)
        persistRound(of: record)
        armWidening(record, skill: number)
        let first = MessageRecord(
            conversation: id, seq: 1, sender: .customer, author: customer.rawValue, at: now, text: text
        )
        effects.append(.persist(.message(first)))
        if !placeWithReturningAgent(id, of: customer, at: now) { place(id, at: now, reason: .routed) }
        // The daemon's own words come after the buyer's placement is known; they are no human answer.
        if let closed = policy.autoReplies.outOfHours, !calendar.isBusinessTime(now) {
            automaticMessage(id, closed, at: now)
        }
        if let greeting = policy.autoReplies.greeting { automaticMessage(id, greeting, at: now) }
        if let queued = policy.autoReplies.queued, self.queue.contains(id) { automaticMessage(id, queued, at: now) }
        return .ok([Field("conv", id.description)])
    }

    mutating func close(_ principal: Principal, _ id: ConversationID, at now: Instant) -> Reply {
        guard let (customer, holder) = conversations.inspect(id, { ($0.record.customer, $0.record.agent) }) else {
            return notFound(id)
        }
        let closedBy: Closer
        switch principal {
        case .customer(let caller):
            guard customer == caller else { return notFound(id) }
            closedBy = .customer
        case .agent(let agent):
            guard holder == agent else { return notFound(id) }
            closedBy = .agent
        case .supervisor:
            closedBy = .supervisor
        }
        finish(id, by: closedBy, at: now)
        return .ok([])
    }

    /// Closes an open conversation (the closer's permission already checked): the store, the other side, the
    /// agent's slot.
    mutating func finish(_ id: ConversationID, by closedBy: Closer, at now: Instant) {
        guard var open = conversations.take(id) else { return }
        let agent = open.record.agent
        if queue.remove(id) { queueChanged.insert(open.skill) }
        open.record.state = .closed
        open.record.closedAt = now
        open.record.closedBy = closedBy
        let record = open.record
        // A round still waiting ends with the conversation, unanswered.
        if record.roundStartedAt != nil { persistRound(of: record, closedAt: now) }
        effects.append(.persist(.conversation(record)))
        if closedBy != .customer { effects.append(.deliver(.customer(record.customer), .closed(id, by: closedBy))) }
        if let agent, closedBy != .agent { effects.append(.deliver(.agent(agent), .closed(id, by: closedBy))) }
        requestRating(of: record, at: now)
        if let agent {
            // The handle the assignment found, if it is still this agent's (else one lookup by id).
            let known = open.holderHandle
            let handle =
                agents.inspect(handle: known, { $0.profile.id == agent }) == true
                ? known : agents.handle(of: agent) ?? 0
            changeAgent(handle: handle) { $0.held.remove(id) }
            returningBuyers[record.customer] = ReturningBuyer(agent: agent, handle: handle, closedAt: now)
            if let assignedAt = open.assignedAt {
                // A moving average of recent handling times feeds the queue estimates.
                let sample = Double((now - assignedAt).value)
                if handlingTime.count <= open.skill {
                    handlingTime += Array(repeating: nil, count: open.skill + 1 - handlingTime.count)
                }
                handlingTime[open.skill] = handlingTime[open.skill].map { $0 * 0.8 + sample * 0.2 } ?? sample
            }
            if policy.rules.wrapUp.value > 0 {
                let over = now + policy.rules.wrapUp
                changeAgent(agent) { $0.wrapUps.append(over) }
                deadlines.arm(.wrapUpOver(agent), at: now + policy.rules.wrapUp)
            } else {
                offerCapacity(toHandle: handle, agent, at: now)
            }
        }
    }

    /// A wrap-up after a close is over: the slot it kept busy takes waiting work.
    mutating func wrapUpOver(_ agent: AgentID, at now: Instant) {
        guard agents[agent] != nil else { return }
        changeAgent(agent) { $0.wrapUps.removeAll { $0 <= now } }
        offerCapacity(to: agent, at: now)
    }

    /// Arms the idle warning and close for a buyer silent since the agent's last message.
    mutating func armBuyerIdle(_ record: ConversationRecord, after now: Instant? = nil) {
        guard let since = record.buyerIdleSince, let (warnAt, closeAt) = buyerIdleTimes(since: since) else { return }
        if now.map({ warnAt > $0 }) ?? true { deadlines.arm(.buyerIdleWarning(record.id, since: since), at: warnAt) }
        deadlines.arm(.buyerIdleClose(record.id, since: since), at: closeAt)
    }

    /// When a buyer silent since `since` is warned (a minute before, or halfway for limits under two minutes) and
    /// when the conversation closes; nil when idle buyers are never closed.
    func buyerIdleTimes(since: Instant) -> (warn: Instant, close: Instant)? {
        guard let limit = policy.customerIdleClose, limit.value > 0 else { return nil }
        let closeAt = since + limit
        return (closeAt + Milliseconds(-min(60_000, limit.value / 2)), closeAt)
    }

    /// A buyer silent since the agent's answer at `since` is warned before the close.
    mutating func buyerIdleWarning(_ id: ConversationID, since: Instant, armedFor instant: Instant, at now: Instant) {
        // Still silent since that message, and the limit is the one this warning was armed for.
        guard conversations[id]?.record.buyerIdleSince == since, conversations[id]?.record.heldSince == nil,
            buyerIdleTimes(since: since)?.warn == instant
        else { return }
        automaticMessage(id, policy.autoReplies.idleWarning, at: now)
    }

    /// A buyer still silent at the limit: the daemon says so and closes the conversation (`by=system`).
    mutating func buyerIdleClose(_ id: ConversationID, since: Instant, armedFor instant: Instant, at now: Instant) {
        guard conversations[id]?.record.buyerIdleSince == since, conversations[id]?.record.heldSince == nil,
            buyerIdleTimes(since: since)?.close == instant
        else { return }
        automaticMessage(id, policy.autoReplies.idleClose, at: now)
        finish(id, by: .system, at: now)
    }

    func history(_ principal: Principal, _ id: ConversationID) -> Reply {
        switch access(principal, id) {
        case .granted: .history(id, viewer: principal, verifyOwnership: false)
        case .denied: notFound(id)
        // A supervisor may read any conversation: the store need only find it.
        case .askStore: .history(id, viewer: principal, verifyOwnership: principal.isSupervisor == false)
        }
    }

    enum Access {
        case granted
        case denied
        /// Closed, or held by this agent earlier: only the store knows.
        case askStore
    }

    /// Who may read a conversation: its customer, the agent holding it (or who held it), any supervisor.
    func access(_ principal: Principal, _ id: ConversationID) -> Access {
        let record = conversations[id]?.record
        switch principal {
        case .supervisor:
            return record == nil ? .askStore : .granted
        case .customer(let customer):
            guard let record else { return .askStore }
            return record.customer == customer ? .granted : .denied
        case .agent(let agent):
            if let record, record.agent == agent { return .granted }
            return .askStore
        }
    }

    func notFound(_ id: ConversationID) -> Reply {
        // One text for "not yours", "closed" and "never existed", so the answer reveals nothing.
        .refused(.notFound, "no such conversation")
    }
}

/// What each client command does to the routing state.
extension RoutingCore {
    mutating func connect(_ principal: Principal, at now: Instant) -> Reply {
        guard case .agent(let id) = principal else { return .ok([]) }
        guard agents[id] != nil else { return .refused(.forbidden, "agent \(id) is not configured") }
        changeAgent(id) { agent in
            agent.sessions += 1
            agent.disconnectedAt = nil
            // Logging in means coming to work; an agent who was away stays away across a reconnect.
            if agent.presence == .offline { agent.presence = .online }
        }
        for conversation in agents[id]!.held.sorted() {
            if let notice = assignmentNotice(conversation, at: now, resumed: true) {
                effects.append(.deliver(.caller, .assigned(notice)))
            }
        }
        offerCapacity(to: id, at: now)
        return .ok([Field("presence", agents[id]!.presence.rawValue)])
    }

    /// A dropped connection is not "offline": the agent keeps its chats for `reconnect_grace_s`.
    mutating func disconnect(_ id: AgentID, at now: Instant) {
        guard agents[id] != nil else { return }
        changeAgent(id) { agent in
            agent.sessions = max(0, agent.sessions - 1)
            if agent.sessions == 0 { agent.disconnectedAt = now }
        }
        guard agents[id]!.sessions == 0 else { return }
        deadlines.arm(.reconnectGrace(id), at: now + policy.rules.reconnectGrace)
    }

    mutating func setPresence(_ id: AgentID, _ presence: Presence, at now: Instant) -> Reply {
        guard agents[id] != nil else { return .refused(.forbidden, "agent \(id) is not configured") }
        changeAgent(id) { agent in
            agent.presence = presence
            // Coming back is a fresh start for the no-idle-hanging count.
            if presence == .online { agent.recentBreaches = [] }
        }
        switch presence {
        case .online:
            offerCapacity(to: id, at: now)
        case .away:
            break  // keeps its chats, takes no new ones
        case .offline:
            // An agent who leaves must not keep customers waiting on nobody.
            _ = requeueAll(of: id, reason: "offline", at: now)
        }
        return .ok([Field("presence", presence.rawValue)])
    }

    struct OpenRequest {
        var customer: CustomerID
        var skill: Skill
        var priority: Priority
        var text: String
        var store: String?
        var language: String?
        var gateway: String?
    }

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
        if !placeWithReturningAgent(id, of: customer, at: now) { place(id, at: now, reason: "routed") }
        // The daemon's own words come after the buyer's placement is known; they are no human answer.
        if let closed = policy.autoReplies.outOfHours, !calendar.isBusinessTime(now) {
            automaticMessage(id, closed, at: now)
        }
        if let greeting = policy.autoReplies.greeting { automaticMessage(id, greeting, at: now) }
        if let queued = policy.autoReplies.queued, self.queue.contains(id) { automaticMessage(id, queued, at: now) }
        return .ok([Field("conv", id.description)])
    }

    /// A returning buyer (老客户) goes back to the agent who served them last, within `sticky_window_s`: at once
    /// when that agent can take the chat, or after waiting up to `sticky_wait_s` when the agent is online but
    /// full. Returns false when sticky routing does not apply.
    mutating func placeWithReturningAgent(_ id: ConversationID, of customer: CustomerID, at now: Instant) -> Bool {
        guard let last = returningBuyers[customer], now - last.closedAt <= policy.rules.stickyWindow else {
            return false
        }
        // Without a sticky wait only an agent with room now matters: a busy one is ruled out before reading the
        // conversation for a full verdict (a returning buyer's agent is busy most of a busy day).
        if policy.rules.stickyWait.value <= 0, agents.inspect(handle: last.handle, { $0.canTakeMore }) != true {
            return false
        }
        guard let demand = conversations.inspect(id, { $0.demand }),
            let (verdict, _) = agents.inspect(
                handle: last.handle,
                { [rules = skillTable] in
                    $0.verdict(for: demand, at: now, rules: rules)
                })
        else { return false }
        if verdict == .chosen {
            var decision = decide(id, at: now)
            decision.agent = last.agent
            decision.rule = "returning buyer: \(last.agent) served them last, within the sticky window"
            // Others who could have taken it lost to the returning buyer's agent, not to a load comparison.
            decision.candidates = decision.candidates.map { candidate in
                if candidate.agent == last.agent { return Candidate(agent: candidate.agent, verdict: .chosen) }
                guard !Self.isUnavailability(candidate.verdict) else { return candidate }
                return Candidate(agent: candidate.agent, verdict: .reservedForAnother(last.agent))
            }
            conversations[id]?.decision = decision
            assign(id, to: last.agent, at: now, reason: "sticky", via: "sticky")
            return true
        }
        guard case .full = verdict, policy.rules.stickyWait.value > 0 else { return false }
        conversations[id]?.reservedFor = last.agent
        conversations[id]?.reservedUntil = now + policy.rules.stickyWait
        deadlines.arm(.stickyExpiry(id), at: now + policy.rules.stickyWait)
        var decision = decide(id, at: now)
        decision.agent = nil
        decision.rule = "returning buyer: waits up to \(policy.rules.stickyWait.value / 1000) s for \(last.agent)"
        conversations[id]?.decision = decision
        enqueue(id, at: now, notify: true)
        persist(id)
        return true
    }

    static func isUnavailability(_ verdict: Verdict) -> Bool {
        switch verdict {
        case .higherLoad, .lowerLevel, .lessIdle, .laterID, .chosen: false
        default: true
        }
    }

    mutating func send(
        _ principal: Principal, _ id: ConversationID, text: String, ref: String? = nil, at now: Instant
    ) -> Reply {
        guard !text.isEmpty else { return .refused(.badArgs, "SEND needs a message text") }
        guard var open = conversations[id] else { return resent(by: principal, ref: ref, to: id) }
        // The conversation's row is written only when more changed than what its messages tell anyway (the count,
        // and while the buyer stays silent the time of the agent's latest answer: `ConversationRecord.catchUp`):
        // a message is one row in the store, not two.
        var rowChanged = false
        switch principal {
        case .customer(let customer):
            guard open.record.customer == customer else { return notFound(id) }
            if let seq = Self.sentBefore(ref, by: customer.rawValue, in: open) { return Self.duplicate(seq) }
            open.record.messageCount += 1
            if open.record.buyerIdleSince != nil {
                open.record.buyerIdleSince = nil  // the buyer spoke: no idle close
                rowChanged = true
            }
            if open.record.heldSince != nil {
                rowChanged = true
                // The buyer spoke: the hold ends, and a paused round runs on with the time it had left.
                open.record.heldSince = nil
                if let remaining = open.record.holdRemaining, open.record.roundStartedAt != nil {
                    let due = policy.calendar(for: open.record).adding(remaining, to: now)
                    open.record.roundDueAt = due
                    if open.record.round == 1 { open.record.firstResponseDueAt = due }
                    armRound(of: open.record, warnAfter: now)
                }
                open.record.holdRemaining = nil
            }
            // A buyer message after an answer starts the next round; while one is waiting, more messages do not
            // restart it.
            if open.record.roundStartedAt == nil {
                rowChanged = true
                open.record.round += 1
                open.record.roundStartedAt = now
                open.record.roundDueAt = policy.calendar(for: open.record).adding(
                    policy.limit(ofRound: open.record.round, for: open.record), to: now)
                open.record.roundBreachedAt = nil
                open.record.roundWarnedAt = nil
                open.record.roundEscalationLevel = 0
                open.record.roundReassigns = 0
                armRound(of: open.record)
                persistRound(of: open.record)
            }
            conversations[id] = open
            append(id, sender: .customer, author: customer.rawValue, text: text, at: now, ref: ref)
            if let agent = open.record.agent {
                effects.append(.deliver(.agent(agent), .message(id, from: .customer, text: text)))
            }
        case .agent(let agent):
            guard open.record.agent == agent else { return notFound(id) }
            if let seq = Self.sentBefore(ref, by: agent.rawValue, in: open) { return Self.duplicate(seq) }
            open.record.messageCount += 1
            // A human answer ends the round (the first one also stops the first-response clock).
            if open.record.firstRespondedAt == nil {
                open.record.firstRespondedAt = now
                rowChanged = true
            }
            if let started = open.record.roundStartedAt {
                rowChanged = true
                persistRound(of: open.record, answeredAt: now)
                if open.record.roundBreachedAt == nil, let due = open.record.roundDueAt {
                    let facts = roundBreach(open.record, started: started, due: due, at: now)
                    effects.append(.slaNotice(SLANotice(kind: .met, facts: facts)))
                }
                open.record.roundStartedAt = nil
                open.record.roundDueAt = nil
                open.record.roundBreachedAt = nil
                open.record.roundWarnedAt = nil
                open.record.roundEscalationLevel = 0
                open.record.roundReassigns = 0
            }
            open.passedOnBy = nil  // answered by its new agent: the one who passed it on may serve it again later
            // Now it is the buyer's turn: if they stay silent, the daemon warns them and then closes.
            if open.record.buyerIdleSince == nil { rowChanged = true }
            open.record.buyerIdleSince = now
            conversations[id] = open
            armBuyerIdle(open.record)
            append(id, sender: .agent, author: agent.rawValue, text: text, at: now, ref: ref)
            effects.append(.deliver(.customer(open.record.customer), .message(id, from: .agent, text: text)))
        case .supervisor:
            return .refused(.forbidden, "supervisors do not write in conversations")
        }
        if rowChanged { persist(id) }
        return .ok([Field("seq", "\(open.record.messageCount)")])
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
        let record = open.record
        // A round still waiting ends with the conversation, unanswered.
        if record.roundStartedAt != nil { persistRound(of: record, closedAt: now) }
        effects.append(.persist(.conversation(record)))
        if closedBy != .customer { effects.append(.deliver(.customer(record.customer), .closed(id, by: closedBy))) }
        if let agent, closedBy != .agent { effects.append(.deliver(.agent(agent), .closed(id, by: closedBy))) }
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

    // MARK: - Transfers, notes, handover

    /// `TRANSFER`: the holder passes a chat on, with a reason (the trade forbids passing customers on without
    /// cause). To an agent: that agent must be able to take it now. To a skill: it goes to the best agent of the
    /// skill, or waits for one. Clocks are not reset; the history records the transfer.
    mutating func transfer(
        _ principal: Principal, _ id: ConversationID, to target: TransferTarget, reason: String, at now: Instant
    ) -> Reply {
        guard case .agent(let source) = principal else { return .refused(.forbidden, "only agents transfer") }
        guard let open = conversations[id], open.record.agent == source else { return notFound(id) }
        guard !reason.isEmpty else { return .refused(.badArgs, "a transfer needs a reason") }
        switch target {
        case .agent(let destination):
            guard destination != source else { return .refused(.conflict, "the chat is already yours") }
            guard let agent = agents[destination] else { return .refused(.badArgs, "no agent \(destination)") }
            let (verdict, _) = self.verdict(agent, for: open, excluding: nil, at: now)
            guard verdict == .chosen else {
                return .refused(.conflict, "\(destination) cannot take it now: \(verdict.text)")
            }
            systemMessage(id, "transferred by \(source) to \(destination): \(reason)", at: now)
            revoke(id, reason: "transfer", at: now)
            conversations[id]?.passedOnBy = source
            conversations[id]?.decision = Decision(
                conversation: id, at: now, agent: destination, rule: "transfer by \(source): \(reason)",
                candidates: [Candidate(agent: destination, verdict: .chosen)]
            )
            assign(id, to: destination, at: now, reason: "transfer", via: "transfer")
        case .skill(let skill):
            guard knownSkills.contains(skill) else { return .refused(.badArgs, "unknown skill \(skill)") }
            systemMessage(id, "transferred by \(source) to skill \(skill): \(reason)", at: now)
            revoke(id, reason: "transfer", at: now)
            let number = skillNumbers.intern(skill)
            conversations[id]?.record.skill = skill
            conversations[id]?.skill = number
            conversations[id]?.passedOnBy = source
            // The new skill widens on its own schedule, counted from opening like every clock of the chat.
            if let record = conversations[id]?.record {
                let passed = widenSteps(of: record, skill: number).filter { $0.at <= now }.map(\.step).max() ?? 0
                conversations[id]?.widenStep = passed
                armWidening(record, skill: number, after: now)
            }
            recordAssignment(id, agent: nil, at: now, reason: "transfer")
            place(id, at: now, reason: "transfer", via: "transfer")
        }
        offerCapacity(to: source, at: now)
        let holder = conversations[id]?.record.agent
        return .ok([Field("conv", id.description), Field("agent", holder?.rawValue ?? "none")])
    }

    /// Appends a system line to the history (visible in HISTORY, not sent to anyone).
    /// `SEND <conv> auto=1`: a canned reply from the holding agent. The buyer gets it, marked `auto=1`; the round
    /// keeps running (the platforms do not count auto-replies as answers).
    mutating func autoReply(
        _ principal: Principal, _ id: ConversationID, text: String, ref: String? = nil, at now: Instant
    ) -> Reply {
        guard !text.isEmpty else { return .refused(.badArgs, "SEND needs a message text") }
        guard case .agent(let agent) = principal else {
            if case .supervisor = principal {
                return .refused(.forbidden, "supervisors do not write in conversations")
            }
            return .refused(.badArgs, "auto=1 is for agents' canned replies")
        }
        guard let open = conversations[id] else { return resent(by: principal, ref: ref, to: id) }
        guard open.record.agent == agent else { return notFound(id) }
        if let seq = Self.sentBefore(ref, by: agent.rawValue, in: open) { return Self.duplicate(seq) }
        automaticMessage(id, text, from: .agent, author: agent.rawValue, at: now, persistRow: false, ref: ref)
        return .ok([Field("seq", "\(open.record.messageCount + 1)")])
    }

    /// The seq of the message this sender already sent under `ref` in the conversation, if it did.
    static func sentBefore(_ ref: String?, by author: String, in open: OpenConversation) -> Int? {
        guard let ref, !open.sentRefs.isEmpty else { return nil }
        return open.sentRefs[SentRef(author: author, ref: ref)]
    }

    /// A resend: the original seq, and nothing else happens.
    static func duplicate(_ seq: Int) -> Reply {
        .ok([Field("seq", "\(seq)"), Field("duplicate", "1")])
    }

    /// A SEND to a conversation that is not open: with a `ref`, it may be the resend of a message acknowledged
    /// before the conversation closed, which only the store still knows; without, the conversation is not found.
    func resent(by principal: Principal, ref: String?, to id: ConversationID) -> Reply {
        let author: String
        switch principal {
        case .customer(let customer): author = customer.rawValue
        case .agent(let agent): author = agent.rawValue
        case .supervisor: return notFound(id)
        }
        guard let ref else { return notFound(id) }
        return .fromStore(.sentMessage(author: author, ref: ref), id, viewer: principal, verifyOwnership: true)
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

    /// An automatic message to the buyer (`auto=1`), kept in the history: the daemon's own (`from=system`) or an
    /// agent's canned reply.
    mutating func automaticMessage(
        _ id: ConversationID, _ text: String, from sender: MessageSender = .system, author: String = "system",
        at now: Instant, persistRow: Bool = true, ref: String? = nil
    ) {
        guard let record = conversations[id]?.record else { return }
        conversations[id]!.record.messageCount += 1
        append(id, sender: sender, author: author, text: text, at: now, automatic: true, ref: ref)
        effects.append(.deliver(.customer(record.customer), .autoMessage(id, from: sender, text: text)))
        // A canned reply changes only the count, which the messages tell (`ConversationRecord.catchUp`).
        if persistRow { persist(id) }
    }

    mutating func systemMessage(_ id: ConversationID, _ text: String, at now: Instant) {
        guard conversations[id] != nil else { return }
        conversations[id]!.record.messageCount += 1
        append(id, sender: .system, author: "system", text: text, at: now)
        persist(id)
    }

    mutating func note(_ principal: Principal, _ id: ConversationID, text: String, at now: Instant) -> Reply {
        guard !text.isEmpty else { return .refused(.badArgs, "NOTE needs a text") }
        let author: String
        switch principal {
        case .customer: return .refused(.forbidden, "notes are internal: agents and supervisors only")
        case .agent(let agent):
            guard conversations[id]?.record.agent == agent else { return notFound(id) }
            author = agent.rawValue
        case .supervisor(let supervisor):
            guard conversations[id] != nil else { return notFound(id) }
            author = supervisor.rawValue
        }
        let seq = conversations[id]!.notes.count + 1
        let note = NoteRecord(conversation: id, seq: seq, author: author, at: now, text: text)
        conversations[id]!.notes.append(note)
        effects.append(.persist(.note(note)))
        return .ok([Field("seq", "\(seq)")])
    }

    func notes(_ principal: Principal, _ id: ConversationID) -> Reply {
        if case .customer = principal { return .refused(.forbidden, "notes are internal: agents and supervisors only") }
        switch access(principal, id) {
        case .denied: return notFound(id)
        case .askStore: return .fromStore(.notes, id, viewer: principal, verifyOwnership: true)
        case .granted:
            let notes = conversations[id]?.notes ?? []
            return .listing(notes.map(Self.noteLine), [Field("count", "\(notes.count)")])
        }
    }

    /// How a note is listed (`NOTES`, and the notes given with a transfer or handover).
    public static func noteLine(_ note: NoteRecord) -> DataLine {
        DataLine(
            "NOTE",
            [
                Field("conv", note.conversation.description), Field("seq", "\(note.seq)"), Field("author", note.author),
                Field("at", note.at.description),
            ],
            text: note.text
        )
    }

    /// `HANDOVER`: end of shift (交接). Each open chat gets the handover note and goes to whoever can take it
    /// (`ASSIGNED ... via=handover` with the notes), or back to the queue at its original place; then the agent
    /// is offline.
    mutating func handover(_ principal: Principal, note: String?, at now: Instant) -> Reply {
        guard case .agent(let id) = principal, agents[id] != nil else {
            return .refused(.forbidden, "only agents hand over")
        }
        let held = agents[id]!.held.sorted()
        for conversation in held {
            if let note, !note.isEmpty { _ = self.note(principal, conversation, text: note, at: now) }
            revoke(conversation, reason: "handover", at: now)
            recordAssignment(conversation, agent: nil, at: now, reason: "handover")
        }
        changeAgent(id) { $0.presence = .offline }
        for conversation in held {
            place(conversation, at: now, reason: "handover", via: "handover", excluding: (id, "handing over"))
        }
        return .ok([Field("count", "\(held.count)"), Field("presence", "offline")])
    }

    // MARK: - Supervisors

    /// `ASSIGN`: a supervisor puts a chat with an agent, even over the agent's limit (and says so).
    mutating func forceAssign(
        _ principal: Principal, _ id: ConversationID, to agentID: AgentID, at now: Instant
    ) -> Reply {
        guard case .supervisor(let supervisor) = principal else {
            return .refused(.forbidden, "only supervisors assign")
        }
        guard conversations[id] != nil else { return notFound(id) }
        guard let agent = agents[agentID] else { return .refused(.badArgs, "no agent \(agentID)") }
        guard agent.sessions > 0 else { return .refused(.conflict, "\(agentID) is not connected") }
        if conversations[id]!.record.agent == agentID { return .refused(.conflict, "\(agentID) already holds it") }
        let overCapacity = !agent.hasFreeSlot
        let former = conversations[id]!.record.agent
        if former != nil { revoke(id, reason: "reassigned", at: now) }
        conversations[id]!.decision = Decision(
            conversation: id, at: now, agent: agentID, rule: "forced by supervisor \(supervisor)",
            candidates: [Candidate(agent: agentID, verdict: .chosen)]
        )
        assign(id, to: agentID, at: now, reason: "forced", via: "forced")
        // The former holder's freed slot is offered waiting work once the move is complete.
        if let former { offerCapacity(to: former, at: now) }
        var fields = [Field("conv", id.description), Field("agent", agentID.rawValue)]
        if overCapacity { fields.append(Field("over_capacity", "1")) }
        return .ok(fields)
    }

    /// `EXPLAIN`: the last routing decision, candidate by candidate.
    func explain(_ principal: Principal, _ id: ConversationID) -> Reply {
        if case .customer = principal { return .refused(.forbidden, "EXPLAIN is for agents and supervisors") }
        switch access(principal, id) {
        case .denied: return notFound(id)
        case .askStore: return .fromStore(.explanation, id, viewer: principal, verifyOwnership: true)
        case .granted:
            // After a restart the decision is only in the store (with the assignment it explains).
            guard let decision = conversations[id]?.decision else {
                return .fromStore(.explanation, id, viewer: principal, verifyOwnership: false)
            }
            let (lines, fields) = Self.explanation(decision)
            return .listing(lines, fields)
        }
    }

    /// `EXPLAIN`'s data lines and completion fields for a decision: `EXPLAIN`, one `CANDIDATE` per agent examined,
    /// one `OTHERS` per group of agents counted without being examined (large teams).
    public static func explanation(_ decision: Decision) -> (lines: [DataLine], fields: [Field]) {
        explanation(
            conversation: decision.conversation, agent: decision.agent, at: decision.at, rule: decision.rule,
            candidates: decision.candidates.map { ($0.agent.rawValue, $0.verdict.code, $0.verdict.text) },
            others: decision.others.map { ($0.skill.name, $0.standing.code, $0.count, $0.standing.text) }
        )
    }

    /// The same for a decision read back from the store, where it is kept as `Decision.text`.
    public static func explanation(stored assignment: AssignmentRecord) -> (lines: [DataLine], fields: [Field]) {
        var lines = assignment.explanation.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let rule = lines.isEmpty ? assignment.reason : lines.removeFirst()
        var candidates: [(String, String, String)] = []
        var others: [(String, String, Int, String)] = []
        for line in lines {
            // `<agent> <code>: <text>` or `*<skill> <standing> <count>: <text>`.
            let head = line.prefix { $0 != ":" }
            let text = String(line.dropFirst(head.count + 1).drop { $0 == " " })
            let words = head.split(separator: " ").map(String.init)
            if let first = words.first, first.hasPrefix("*"), words.count == 3, let count = Int(words[2]) {
                others.append((String(first.dropFirst()), words[1], count, text))
            } else {
                candidates.append((words.first ?? "", words.count > 1 ? words[1] : "", text))
            }
        }
        return explanation(
            conversation: assignment.conversation, agent: assignment.agent, at: assignment.at, rule: rule,
            candidates: candidates, others: others
        )
    }

    private static func explanation(
        conversation: ConversationID, agent: AgentID?, at: Instant, rule: String,
        candidates: [(agent: String, code: String, text: String)],
        others: [(skill: String, code: String, count: Int, text: String)]
    ) -> (lines: [DataLine], fields: [Field]) {
        let conv = Field("conv", conversation.description)
        var lines = [
            DataLine(
                "EXPLAIN", [conv, Field("agent", agent?.rawValue ?? "none"), Field("at", at.description)], text: rule)
        ]
        for candidate in candidates {
            var fields = [conv, Field("agent", candidate.agent)]
            if !candidate.code.isEmpty { fields.append(Field("verdict", candidate.code)) }
            lines.append(DataLine("CANDIDATE", fields, text: candidate.text))
        }
        for group in others {
            let fields = [
                conv, Field("skill", group.skill), Field("verdict", group.code), Field("count", "\(group.count)"),
            ]
            lines.append(DataLine("OTHERS", fields, text: group.text))
        }
        var fields = [Field("count", "\(candidates.count)")]
        if !others.isEmpty { fields.append(Field("others", "\(others.reduce(0) { $0 + $1.count })")) }
        return (lines, fields)
    }

    /// `QUEUE`: the waiting conversations in serving order (a page of them when asked).
    func queueListing(_ principal: Principal, page: ListingPage, at now: Instant) -> Reply {
        guard case .supervisor = principal else { return .refused(.forbidden, "QUEUE is for supervisors") }
        var positions: [Skill: Int] = [:]
        var lines: [DataLine] = []
        var rank = 0
        var more = false
        let first = (page.after ?? 0) + 1
        for key in queue.ordered {
            guard let open = conversations[key.conversation] else { continue }
            let record = open.record
            positions[record.skill, default: 0] += 1
            rank += 1
            guard rank >= first else { continue }
            if let limit = page.limit, lines.count == limit {
                more = true
                break
            }
            var fields = [
                Field("conv", record.id.description), Field("position", "\(positions[record.skill]!)"),
                Field("skill", record.skill.name), Field("priority", record.priority.rawValue),
                Field("customer", record.customer.rawValue), Field("waited_ms", (now - record.openedAt).description),
                Field("required_level", "\(requiredLevel(open.demand))"),
            ]
            if let store = record.store { fields.append(Field("store", store)) }
            if let language = record.language { fields.append(Field("lang", language)) }
            if let reserved = open.reservedFor { fields.append(Field("reserved", reserved.rawValue)) }
            if page.isPaged { fields.append(Field("rank", "\(rank)")) }
            lines.append(DataLine("WAITING", fields))
        }
        return .listing(lines, Self.listingFields(count: lines.count, more: more, paged: page.isPaged))
    }

    /// A listing's completion: `count=`, and for a page `more=0|1`.
    static func listingFields(count: Int, more: Bool, paged: Bool) -> [Field] {
        var fields = [Field("count", "\(count)")]
        if paged { fields.append(Field("more", more ? "1" : "0")) }
        return fields
    }

    /// `AGENTS`: presence (chosen) and state (derived) of every agent, by id (those after `after`, at most `limit`).
    func agentListing(_ principal: Principal, after: AgentID?, limit: Int?) -> Reply {
        guard case .supervisor = principal else { return .refused(.forbidden, "AGENTS is for supervisors") }
        var ids = agents.keys.sorted()
        if let after { ids = Array(ids.drop { $0 <= after }) }
        var more = false
        if let limit, ids.count > limit {
            ids = Array(ids.prefix(limit))
            more = true
        }
        let lines = ids.compactMap { id -> DataLine? in
            guard let agent = agents[id] else { return nil }
            let skills = agent.profile.skills.sorted { $0.key < $1.key }.map { "\($0.key.name):\($0.value)" }
            return DataLine(
                "AGENT",
                [
                    Field("agent", id.rawValue), Field("presence", agent.presence.rawValue),
                    Field("connected", agent.sessions > 0 ? "1" : "0"), Field("held", "\(agent.held.count)"),
                    Field("wrap_up", "\(agent.wrapUps.count)"), Field("max", "\(agent.profile.maxChats)"),
                    Field("skills", skills.joined(separator: ",")),
                    Field("last_assigned", agent.lastAssignedAt?.description ?? "never"),
                ])
        }
        return .listing(lines, Self.listingFields(count: lines.count, more: more, paged: after != nil || limit != nil))
    }
}

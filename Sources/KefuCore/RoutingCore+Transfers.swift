/// A chat changing hands on purpose: `TRANSFER` by its agent, `ASSIGN` by a supervisor, and `HANDOVER` (交接) at
/// the end of a shift.
extension RoutingCore {
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
            revoke(id, reason: .transfer, at: now)
            conversations[id]?.passedOnBy = source
            conversations[id]?.decision = Decision(
                conversation: id, at: now, agent: destination, rule: .transfer(by: source, reason: reason),
                candidates: [Candidate(agent: destination, verdict: .chosen)]
            )
            assign(id, to: destination, at: now, reason: .transfer, via: .transfer)
        case .skill(let skill):
            guard knownSkills.contains(skill) else { return .refused(.badArgs, "unknown skill \(skill)") }
            systemMessage(id, "transferred by \(source) to skill \(skill): \(reason)", at: now)
            revoke(id, reason: .transfer, at: now)
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
            recordAssignment(id, agent: nil, at: now, reason: .transfer)
            place(id, at: now, reason: .transfer, via: .transfer)
        }
        offerCapacity(to: source, at: now)
        let holder = conversations[id]?.record.agent
        return .ok([Field("conv", id.description), Field("agent", holder?.rawValue ?? "none")])
    }

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
        if former != nil { revoke(id, reason: .reassigned, at: now) }
        conversations[id]!.decision = Decision(
            conversation: id, at: now, agent: agentID, rule: .forced(by: supervisor),
            candidates: [Candidate(agent: agentID, verdict: .chosen)]
        )
        assign(id, to: agentID, at: now, reason: .forced, via: .forced)
        // The former holder's freed slot is offered waiting work once the move is complete.
        if let former { offerCapacity(to: former, at: now) }
        var fields = [Field("conv", id.description), Field("agent", agentID.rawValue)]
        if overCapacity { fields.append(Field("over_capacity", "1")) }
        return .ok(fields)
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
            revoke(conversation, reason: .handover, at: now)
            recordAssignment(conversation, agent: nil, at: now, reason: .handover)
        }
        changeAgent(id) { $0.presence = .offline }
        for conversation in held {
            place(conversation, at: now, reason: .handover, via: .handover, excluding: (id, .handingOver))
        }
        return .ok([Field("count", "\(held.count)"), Field("presence", "offline")])
    }
}

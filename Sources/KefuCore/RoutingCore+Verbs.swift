/// What each client command does to the routing state.
extension RoutingCore {
    mutating func connect(_ principal: Principal, at now: Instant) -> Reply {
        guard case .agent(let id) = principal else { return .ok([]) }
        guard agents[id] != nil else { return .refused(.forbidden, "agent \(id) is not configured") }
        agents[id]!.sessions += 1
        // Logging in means coming to work; an agent who was away stays away across a reconnect.
        if agents[id]!.presence == .offline { agents[id]!.presence = .online }
        for conversation in agents[id]!.held.sorted() {
            if let notice = assignmentNotice(conversation, at: now, resumed: true) {
                effects.append(.deliver(.caller, .assigned(notice)))
            }
        }
        offerCapacity(to: id, at: now)
        return .ok([Field("presence", agents[id]!.presence.rawValue)])
    }

    mutating func setPresence(_ id: AgentID, _ presence: Presence, at now: Instant) -> Reply {
        guard agents[id] != nil else { return .refused(.forbidden, "agent \(id) is not configured") }
        agents[id]!.presence = presence
        switch presence {
        case .online:
            offerCapacity(to: id, at: now)
        case .away:
            break  // keeps its chats, takes no new ones
        case .offline:
            // An agent who leaves must not keep customers waiting on nobody: their chats go back to the queue
            // (keeping their arrival, so they go to the front) and on to whoever can take them.
            for conversation in agents[id]!.held.sorted() {
                revoke(conversation, reason: "offline")
                enqueue(conversation, notify: true)
                persist(conversation)
                assignment(conversation, agent: nil, at: now, reason: "offline")
            }
            routeWaiting(at: now)
        }
        return .ok([Field("presence", presence.rawValue)])
    }

    mutating func open(
        _ customer: CustomerID,
        skill: Skill,
        priority: Priority,
        text: String,
        at now: Instant
    ) -> Reply {
        guard knownSkills.contains(skill) else {
            let known = knownSkills.sorted().map(\.name).joined(separator: ",")
            return .refused(.badArgs, "unknown skill \(skill); known skills: \(known)")
        }
        guard !text.isEmpty else { return .refused(.badArgs, "OPEN needs the customer's first message") }
        let id = nextConversationID
        nextConversationID = ConversationID(id.rawValue + 1)
        let record = ConversationRecord(
            id: id, customer: customer, skill: skill, priority: priority, state: .queued, agent: nil,
            openedAt: now, firstResponseDueAt: now + policy.firstResponse, firstRespondedAt: nil,
            breachedAt: nil, closedAt: nil, messageCount: 1, firstMessage: text
        )
        conversations[id] = record
        deadlines.arm(Deadline(at: record.firstResponseDueAt, conversation: id, kind: .firstResponse))
        let first = MessageRecord(
            conversation: id, seq: 1, sender: .customer, author: customer.rawValue, at: now, text: text
        )
        effects.append(.persist(.message(first)))
        if let agent = bestAgent(for: id, excluding: nil) {
            assign(id, to: agent, at: now, reason: "routed")
        } else {
            enqueue(id, notify: true)
            persist(id)
        }
        return .ok([Field("conv", id.description)])
    }

    mutating func send(_ principal: Principal, _ id: ConversationID, text: String, at now: Instant) -> Reply {
        guard !text.isEmpty else { return .refused(.badArgs, "SEND needs a message text") }
        guard var record = conversations[id] else { return notFound(id) }
        switch principal {
        case .customer(let customer):
            guard record.customer == customer else { return notFound(id) }
            record.messageCount += 1
            conversations[id] = record
            append(id, sender: .customer, author: customer.rawValue, text: text, at: now)
            if let agent = record.agent {
                effects.append(.deliver(.agent(agent), .message(id, from: .customer, text: text)))
            }
        case .agent(let agent):
            guard record.agent == agent else { return notFound(id) }
            record.messageCount += 1
            // Only a human answer stops the first-response clock.
            if record.firstRespondedAt == nil { record.firstRespondedAt = now }
            conversations[id] = record
            append(id, sender: .agent, author: agent.rawValue, text: text, at: now)
            effects.append(.deliver(.customer(record.customer), .message(id, from: .agent, text: text)))
        case .supervisor:
            return .refused(.forbidden, "supervisors do not write in conversations")
        }
        persist(id)
        return .ok([Field("seq", "\(record.messageCount)")])
    }

    mutating func close(_ principal: Principal, _ id: ConversationID, at now: Instant) -> Reply {
        guard var record = conversations[id] else { return notFound(id) }
        let closedBy: Closer
        switch principal {
        case .customer(let customer):
            guard record.customer == customer else { return notFound(id) }
            closedBy = .customer
        case .agent(let agent):
            guard record.agent == agent else { return notFound(id) }
            closedBy = .agent
        case .supervisor:
            closedBy = .supervisor
        }
        let agent = record.agent
        queue.remove(id)
        if let agent { agents[agent]?.held.remove(id) }
        record.state = .closed
        record.closedAt = now
        conversations[id] = nil
        effects.append(.persist(.conversation(record)))
        if closedBy != .customer { effects.append(.deliver(.customer(record.customer), .closed(id, by: closedBy))) }
        if let agent, closedBy != .agent { effects.append(.deliver(.agent(agent), .closed(id, by: closedBy))) }
        if let agent { offerCapacity(to: agent, at: now) }
        return .ok([])
    }

    func history(_ principal: Principal, _ id: ConversationID) -> Reply {
        let record = conversations[id]
        switch principal {
        case .supervisor:
            return .history(id, viewer: principal, verifyOwnership: false)
        case .customer(let customer):
            if let record {
                return record.customer == customer
                    ? .history(id, viewer: principal, verifyOwnership: false) : notFound(id)
            }
        case .agent(let agent):
            if let record, record.agent == agent { return .history(id, viewer: principal, verifyOwnership: false) }
        }
        // Closed, or held by this agent earlier: only the store knows.
        return .history(id, viewer: principal, verifyOwnership: true)
    }

    func notFound(_ id: ConversationID) -> Reply {
        // One text for "not yours", "closed" and "never existed", so the answer reveals nothing.
        .refused(.notFound, "no such conversation")
    }
}

/// Presence: what an agent sets apart from what the daemon sees; logging in, the reconnect grace of a dropped
/// connection, and auto-away for an agent who lets chats breach (no idle hanging, 严禁空挂).
extension RoutingCore {
    /// A session logged in: an agent comes to work (offline becomes online) and gets its chats back.
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
            _ = requeueAll(of: id, reason: .offline, excluding: .offline, at: now)
        }
        return .ok([Field("presence", presence.rawValue)])
    }

    /// The reconnect grace of an agent who dropped ran out with no session back: its chats move on.
    mutating func reconnectGraceOver(_ agent: AgentID, at now: Instant) {
        guard let state = agents[agent], state.sessions == 0, let since = state.disconnectedAt,
            since + policy.rules.reconnectGrace <= now
        else { return }
        // The laptop did not come back: its customers must not wait on nobody.
        _ = requeueAll(of: agent, reason: .disconnected, excluding: .disconnected, at: now)
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
        effects.append(.deliver(.agent(id), .presence(.away, reason: .unresponsive)))
        effects.append(.deliver(.supervisors, .agentAway(id, reason: .unresponsive, breaches: breaches)))
        let moved = requeueAll(of: id, reason: .unresponsive, excluding: .unresponsive, at: now, onlyUnanswered: true)
        effects.append(
            .autoAway(
                AgentAutoAway(
                    agent: id, breaches: breaches, window: policy.rules.autoAwayWindow, movedConversations: moved,
                    at: now
                )))
    }
}

/// Routing invariants, checked by tests after every step and by the daemon.
extension RoutingCore {
    /// Checks the routing invariants; returns a description of each violation (empty when sound). Used by the
    /// property tests and by the daemon's watchdog.
    public func invariantViolations(at now: Instant? = nil) -> [String] {
        var problems: [String] = []
        if !agents.sentinelIsEmpty || !conversations.sentinelIsEmpty {
            problems.append("a write through an unknown id landed in a table's empty slot 0")
        }
        var holders: [ConversationID: AgentID] = [:]
        for (id, agent) in agents {
            for conversation in agent.held {
                if let other = holders[conversation] {
                    problems.append("conversation \(conversation) held by \(other) and \(id)")
                }
                holders[conversation] = id
            }
        }
        for (id, agent) in agents where !roster.isFiled(agent) {
            problems.append("agent \(id) is filed in the roster under a stale state")
        }
        for (id, open) in conversations {
            switch open.record.state {
            case .queued:
                if !queue.contains(id) { problems.append("conversation \(id) queued but not in the queue") }
                if holders[id] != nil { problems.append("conversation \(id) queued and held") }
            case .assigned:
                if holders[id] != open.record.agent || open.record.agent == nil {
                    problems.append("conversation \(id) holder mismatch")
                }
                if queue.contains(id) { problems.append("conversation \(id) assigned and queued") }
            case .closed:
                problems.append("closed conversation \(id) still open in memory")
            }
        }
        if queue.count != conversations.values.count(where: { $0.record.state == .queued }) {
            problems.append("queue holds conversations that are not open")
        }
        // Only a supervisor's forced assignment, or a reload that lowered the limit below the load, may leave an
        // agent over its limit. (A conversation restored after a restart has no decision in memory: its
        // assignment, forced or not, is in the store.)
        for (id, agent) in agents where agent.held.count > agent.profile.maxChats {
            let forced = agent.held.contains { held in
                guard let open = conversations[held] else { return false }
                if open.keptOverLimit { return true }
                guard let rule = open.decision?.rule else { return true }
                if case .forced = rule { return true } else { return false }
            }
            if !forced { problems.append("agent \(id) over capacity") }
        }
        // No available agent with a free slot while a conversation it can serve waits.
        if let now {
            for (id, agent) in agents where agent.isAvailable && agent.hasFreeSlot {
                for key in queue.ordered {
                    guard let open = conversations[key.conversation] else { continue }
                    if verdict(agent, for: open, excluding: nil, at: now).verdict == .chosen {
                        problems.append("agent \(id) has a free slot while conversation \(key.conversation) waits")
                    }
                }
            }
        }
        return problems
    }
}

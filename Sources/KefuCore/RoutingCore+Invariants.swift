/// Routing invariants, checked by tests after every step and by the daemon.
extension RoutingCore {
    // MARK: - Invariants

    /// Checks the routing invariants; returns a description of each violation (empty when sound). Used by the
    /// property tests and by the daemon's watchdog.
    public func invariantViolations() -> [String] {
        var problems: [String] = []
        var holders: [ConversationID: AgentID] = [:]
        for (id, agent) in agents {
            if agent.held.count > agent.profile.maxChats { problems.append("agent \(id) over capacity") }
            for conversation in agent.held {
                if let other = holders[conversation] {
                    problems.append("conversation \(conversation) held by \(other) and \(id)")
                }
                holders[conversation] = id
            }
        }
        for (id, record) in conversations {
            switch record.state {
            case .queued:
                if !queue.contains(id) { problems.append("conversation \(id) queued but not in the queue") }
                if holders[id] != nil { problems.append("conversation \(id) queued and held") }
            case .assigned:
                if holders[id] != record.agent || record.agent == nil {
                    problems.append("conversation \(id) holder mismatch")
                }
                if queue.contains(id) { problems.append("conversation \(id) assigned and queued") }
            case .closed:
                problems.append("closed conversation \(id) still open in memory")
            }
        }
        if queue.count != conversations.values.count(where: { $0.state == .queued }) {
            problems.append("queue holds conversations that are not open")
        }
        // No available agent with a free slot while a conversation it can serve waits.
        for (id, agent) in agents where agent.isAvailable && agent.hasFreeSlot {
            for (skill, level) in agent.profile.skills where level >= 1 && queue.count(of: skill) > 0 {
                problems.append("agent \(id) has a free slot while \(skill) conversations wait")
            }
        }
        return problems
    }
}

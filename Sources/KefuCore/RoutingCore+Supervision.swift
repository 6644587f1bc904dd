/// What supervisors read: `EXPLAIN`, `QUEUE` and `AGENTS`.
extension RoutingCore {
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
            return .explanation(decision)
        }
    }

    /// What `EXPLAIN` shows of a conversation only the store has now: the decision kept with its latest assignment,
    /// under that assignment's holder and instant (an assignment kept without a decision explains nothing more).
    public static func explanation(of assignment: AssignmentRecord) -> Decision {
        var decision =
            assignment.decision
            ?? Decision(
                conversation: assignment.conversation, at: assignment.at, agent: nil, rule: .recorded(""),
                candidates: [])
        decision.conversation = assignment.conversation
        decision.agent = assignment.agent
        decision.at = assignment.at
        return decision
    }

    /// `QUEUE`: the waiting conversations in serving order (a page of them when asked).
    func queueListing(_ principal: Principal, page: ListingPage, at now: Instant) -> Reply {
        guard case .supervisor = principal else { return .refused(.forbidden, "QUEUE is for supervisors") }
        var positions: [Skill: Int] = [:]
        var entries: [WaitingEntry] = []
        var rank = 0
        var more = false
        let first = (page.after ?? 0) + 1
        for key in queue.ordered {
            guard let open = conversations[key.conversation] else { continue }
            let record = open.record
            positions[record.skill, default: 0] += 1
            rank += 1
            guard rank >= first else { continue }
            if let limit = page.limit, entries.count == limit {
                more = true
                break
            }
            entries.append(
                WaitingEntry(
                    conversation: record.id, position: positions[record.skill]!, skill: record.skill,
                    priority: record.priority, customer: record.customer, waited: now - record.openedAt,
                    requiredLevel: requiredLevel(open.demand), store: record.store, language: record.language,
                    reservedFor: open.reservedFor, rank: page.isPaged ? rank : nil))
        }
        return .queue(entries, more: page.isPaged ? more : nil)
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
        let entries = ids.compactMap { id -> AgentEntry? in
            guard let agent = agents[id] else { return nil }
            return AgentEntry(
                agent: id, presence: agent.presence, connected: agent.sessions > 0, held: agent.held.count,
                wrapUps: agent.wrapUps.count, maxChats: agent.profile.maxChats,
                skills: agent.profile.skills.sorted { $0.key < $1.key }.map {
                    SkillLevel(skill: $0.key, level: $0.value)
                },
                lastAssignedAt: agent.lastAssignedAt)
        }
        return .agents(entries, more: after != nil || limit != nil ? more : nil)
    }
}

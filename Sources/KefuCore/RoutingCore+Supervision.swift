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

    /// What `EXPLAIN` shows of a conversation only the store has now: the decision kept with its latest assignment,
    /// under that assignment's holder and instant (an assignment kept without a decision explains nothing more).
    public static func explanation(of assignment: AssignmentRecord) -> Decision {
        var decision =
            assignment.decision
            ?? Decision(conversation: assignment.conversation, at: assignment.at, agent: nil, rule: "", candidates: [])
        decision.conversation = assignment.conversation
        decision.agent = assignment.agent
        decision.at = assignment.at
        return decision
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

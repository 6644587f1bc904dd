/// Choosing among the eligible agents: the walk of the roster, and the decision kept for `EXPLAIN` (every agent
/// examined with its verdict, the others counted, the rule that decided).
extension RoutingCore {
    /// Decides who should take a conversation now: the eligible agent `TieBreak` puts first. Only free agents of the
    /// levels that may serve are looked at, best first (`AgentRoster`), so the cost does not grow with the team. The
    /// decision keeps every examined agent's verdict for `EXPLAIN`; on a small team every agent of the skill is listed.
    mutating func decide(
        _ id: ConversationID, excluding excluded: (AgentID, Exclusion)? = nil, at now: Instant
    ) -> Decision {
        fileChangedAgents()
        // What the conversation asks, read in place: the decision needs nothing else of it.
        guard let open = conversations.inspect(id, { $0.demand }) else {
            return Decision(conversation: id, at: now, agent: nil, rule: .unknownConversation, candidates: [])
        }
        let search = searchRoster(for: open, excluding: excluded, at: now)
        let best = search.eligible.min { TieBreak.prefers($0, over: $1) }
        // Every decision in debug builds (all tests) is checked against a scan of every agent of the skills.
        assert(
            scanChoice(open, excluding: excluded, at: now) == best?.key.agent,
            "the roster chose \(best?.key.agent.rawValue ?? "none"), a scan of every agent differs"
        )
        // The skills considered: its own, and once widened its fallbacks (by number, looked up only then).
        let fallback = fallbackSkills(open)
        var decision: Decision
        let team = fallback.reduce(roster.agents(of: open.skill)) { $0 + roster.agents(of: $1) }
        if team <= Self.itemizedLimit {
            let skills = ([open.skill] + fallback).map { skillNumbers[$0] }
            decision = itemizedDecision(id, open, skills: skills, best: best, excluding: excluded, at: now)
        } else {
            var candidates = search.examined
            for contender in search.eligible {
                let verdict =
                    contender.key.agent == best?.key.agent
                    ? Verdict.chosen : TieBreak.verdict(of: contender, losingTo: best!)
                candidates.append(Candidate(agent: contender.key.agent, verdict: verdict))
            }
            candidates.sort { $0.agent < $1.agent }
            decision = Decision(
                conversation: id, at: now, agent: best?.key.agent, rule: .noEligibleAgent, candidates: candidates,
                others: otherAgentsShared(open, fallback: fallback, visited: search.visited)
            )
        }
        decision.rule = Self.rule(decision.candidates, chosen: best != nil)
        return decision
    }

    /// Teams of up to this many agents (in the skills a decision considers) are explained agent by agent; larger
    /// ones list the agents a decision examined and count the others by standing.
    static let itemizedLimit = 32

    /// What a walk of the roster found: the eligible agents at the front of each lane (at most two per lane: the
    /// lane's best and its runner-up), the agents met on the way who cannot take the chat, and how many entries
    /// each lane gave.
    struct RosterSearch {
        var eligible: [Contender] = []
        var examined: [Candidate] = []
        var visited: [AgentRoster.Lane: Int] = [:]
    }

    /// Walks the lanes that may serve the conversation: its own skill at the levels required now and above, and
    /// once widened, its fallback skills at every level (agents who also have the own skill are found in its
    /// lanes). Within a lane the order is the routing order, so the first eligible agent is the lane's best.
    mutating func searchRoster(
        for open: Demand, excluding excluded: (AgentID, Exclusion)?, at now: Instant
    ) -> RosterSearch {
        var search = RosterSearch()
        let own = open.skill
        let required = requiredLevel(open)
        // Only lanes with free agents: one look at each skill's counts tells which.
        var lanes: [(lane: AgentRoster.Lane, fallback: Bool)] = []
        for (level, free) in roster.freeByLevel(of: own).enumerated() where level >= required && free > 0 {
            lanes.append((AgentRoster.Lane(skill: own, level: level), false))
        }
        for skill in fallbackSkills(open) {
            for (level, free) in roster.freeByLevel(of: skill).enumerated() where level >= 1 && free > 0 {
                lanes.append((AgentRoster.Lane(skill: skill, level: level), true))
            }
        }
        guard !lanes.isEmpty else { return search }
        let agents = self.agents
        let rules = skillTable
        var seen: Set<Int> = []
        // A chat of a store is served by the agents filed under it and those who serve every store. A chat that names
        // no store is served by all of them, and an agent listing several stores is then met in several heaps of a
        // lane.
        let ofAStore = open.storeLane != StoreLanes.anyStore
        let storeLanes = ofAStore ? 2 : roster.storeLanes
        for (lane, fallback) in lanes {
            var metInLane: Set<Int> = []
            for index in 0..<storeLanes {
                let store = ofAStore ? (index == 0 ? StoreLanes.anyStore : open.storeLane) : index
                var accepted = 0
                roster.walk(lane, store: store) { handle in
                    // Counted once per lane (what `OTHERS` subtracts), judged once per decision.
                    if ofAStore || metInLane.insert(handle).inserted {
                        search.visited[lane, default: 0] += 1
                    }
                    // The agent is read where it lies, field by field (no copy of it).
                    guard seen.insert(handle).inserted,
                        let (key, verdict, level) = agents.inspect(
                            handle: handle,
                            { agent -> (AgentRoster.Key, Verdict, Int)? in
                                // Met in a fallback lane but also in the own skill's lanes: judged there.
                                if fallback && agent.level(inSkill: own) >= 1 { return nil }
                                let (verdict, level) = agent.verdict(
                                    for: open, excluding: excluded, at: now, rules: rules)
                                return (agent.rosterKey, verdict, level)
                            }) ?? nil
                    else { return true }
                    guard verdict == .chosen else {
                        search.examined.append(Candidate(agent: key.agent, verdict: verdict))
                        return true
                    }
                    search.eligible.append((key, level))
                    accepted += 1
                    return accepted < 2
                }
            }
        }
        return search
    }

    /// The best eligible agent found by scanning every agent of the skills: what the roster must agree with.
    func scanChoice(_ open: Demand, excluding excluded: (AgentID, Exclusion)?, at now: Instant) -> AgentID? {
        var best: Contender?
        for agent in agents.values {
            let (verdict, level) = self.verdict(agent, for: open, excluding: excluded, at: now)
            if verdict == .chosen, best.map({ TieBreak.prefers((agent.rosterKey, level), over: $0) }) ?? true {
                best = (agent.rosterKey, level)
            }
        }
        return best?.key.agent
    }

    /// Every agent of the skills, each with its verdict: what a small team's `EXPLAIN` shows.
    func itemizedDecision(
        _ id: ConversationID, _ open: Demand, skills: [Skill], best: Contender?,
        excluding excluded: (AgentID, Exclusion)?,
        at now: Instant
    ) -> Decision {
        var considered: [AgentID] = []
        var listed: Set<AgentID> = []
        for skill in skills {
            for agent in agentsBySkill[skill] ?? [] where listed.insert(agent).inserted { considered.append(agent) }
        }
        var candidates: [Candidate] = []
        for agentID in considered {
            guard let agent = agents[agentID] else { continue }
            var (verdict, level) = self.verdict(agent, for: open, excluding: excluded, at: now)
            if verdict == .chosen, let best, best.key.agent != agentID {
                verdict = TieBreak.verdict(of: (agent.rosterKey, level), losingTo: best)
            }
            candidates.append(Candidate(agent: agentID, verdict: verdict))
        }
        return Decision(
            conversation: id, at: now, agent: best?.key.agent, rule: .noEligibleAgent, candidates: candidates
        )
    }

    /// The agents of each skill a large team's decision did not examine, counted by standing. Agents with
    /// several of the skills are counted under each.
    func otherAgents(
        _ open: Demand, fallback: [Int], visited: [AgentRoster.Lane: Int]
    ) -> [OtherAgents] {
        var others: [OtherAgents] = []
        func count(_ skill: Int) {
            let name = skillNumbers[skill]
            forEachOther(of: skill, open, visited: visited) { standing, count in
                others.append(OtherAgents(skill: name, standing: standing, count: count))
            }
        }
        // The own skill, then the fallbacks (no array of skills made for the common case of none).
        count(open.skill)
        for skill in fallback { count(skill) }
        return others
    }

    /// `otherAgents`, sharing the array of the skill's previous decision when the counts are the same: the common
    /// case on a busy floor (every agent full, decision after decision), which then makes no array per queued chat.
    mutating func otherAgentsShared(
        _ open: Demand, fallback: [Int], visited: [AgentRoster.Lane: Int]
    ) -> [OtherAgents] {
        guard fallback.isEmpty else { return otherAgents(open, fallback: fallback, visited: visited) }
        if open.skill < othersBySkill.count, let last = othersBySkill[open.skill] {
            var index = 0
            var same = true
            forEachOther(of: open.skill, open, visited: visited) { standing, count in
                same = same && index < last.count && last[index].standing == standing && last[index].count == count
                index += 1
            }
            if same && index == last.count { return last }
        }
        let others = otherAgents(open, fallback: fallback, visited: visited)
        if othersBySkill.count <= open.skill {
            othersBySkill += Array(repeating: nil, count: open.skill + 1 - othersBySkill.count)
        }
        othersBySkill[open.skill] = others
        return others
    }

    /// The standings and counts (above zero) of a skill's agents a decision did not examine, in `EXPLAIN` order.
    func forEachOther(
        of skill: Int, _ open: Demand, visited: [AgentRoster.Lane: Int],
        _ body: (OtherAgents.Standing, Int) -> Void
    ) {
        func add(_ standing: OtherAgents.Standing, _ count: Int) {
            if count > 0 { body(standing, count) }
        }
        add(.offline, roster.count(of: skill, .offline))
        add(.away, roster.count(of: skill, .away))
        add(.disconnected, roster.count(of: skill, .disconnected))
        add(.full, roster.count(of: skill, .full))
        let required = requiredLevel(open)
        var tooLow = 0
        var lower = 0
        var otherStore = 0
        for (level, free) in roster.freeByLevel(of: skill).enumerated() where level >= 1 {
            let lane = AgentRoster.Lane(skill: skill, level: level)
            if skill == open.skill && level < required {
                tooLow += free
            } else {
                // A decision walks only the agents of the chat's store and those who serve every store.
                let serving =
                    open.storeLane != StoreLanes.anyStore
                    ? roster.freeAgents(in: lane, store: StoreLanes.anyStore)
                        + roster.freeAgents(in: lane, store: open.storeLane)
                    : free
                otherStore += free - serving
                lower += serving - (visited[lane] ?? 0)
            }
        }
        add(.levelTooLow, tooLow)
        add(.otherStore, otherStore)
        add(.rankedLower, lower)
    }

    /// The rule that decided (`TieBreak.decidingRule`), or that nobody could take the chat.
    static func rule(_ candidates: [Candidate], chosen: Bool) -> DecisionRule {
        guard chosen else { return .noEligibleAgent }
        return TieBreak.decidingRule(candidates)
    }

    /// An agent who could take a chat, by its standing in the roster (load, idle time, id) and the level by which
    /// it qualifies.
    typealias Contender = (key: AgentRoster.Key, level: Int)
}

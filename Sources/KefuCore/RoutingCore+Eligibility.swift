/// Who may serve a conversation now: one agent's verdict (presence, connection, skill and level, store, language,
/// reservation, a free slot).
extension RoutingCore {
    /// The lowest level the conversation's own skill requires now (widening lowers it to 1).
    func requiredLevel(_ demand: Demand) -> Int { Self.requiredLevel(demand, skillTable) }

    static func requiredLevel(_ demand: Demand, _ rules: SkillTable) -> Int {
        demand.widenStep >= 1 ? 1 : rules.minLevel(of: demand.skill)
    }

    /// Skills (other than its own), by number, whose agents may serve the conversation now.
    func fallbackSkills(_ demand: Demand) -> [Int] { Self.fallbackSkills(demand, skillTable) }

    static func fallbackSkills(_ demand: Demand, _ rules: SkillTable) -> [Int] {
        demand.widenStep >= 2 ? rules.fallback(of: demand.skill).filter { $0 != demand.skill } : []
    }

    /// Whether an agent could take the conversation now, and if not, why. `eligible` carries the level by which
    /// it qualifies (own skill or a fallback).
    func verdict(
        _ agent: AgentState, for open: OpenConversation, excluding excluded: (AgentID, Exclusion)?, at now: Instant
    ) -> (verdict: Verdict, level: Int) {
        agent.verdict(for: open.demand, excluding: excluded, at: now, rules: skillTable)
    }

    func verdict(
        _ agent: AgentState, for demand: Demand, excluding excluded: (AgentID, Exclusion)?, at now: Instant
    ) -> (verdict: Verdict, level: Int) {
        agent.verdict(for: demand, excluding: excluded, at: now, rules: skillTable)
    }
}

extension RoutingCore.AgentState {
    typealias Demand = RoutingCore.Demand

    /// The verdict as a method of the agent and a function of its inputs only, so that it can be asked of an agent
    /// where it lies in the table (`agents.inspect(handle:)`) inside a walk of the queue, without copying the agent.
    func verdict(
        for open: Demand, excluding excluded: (AgentID, Exclusion)? = nil, at now: Instant, rules: SkillTable
    ) -> (verdict: Verdict, level: Int) {
        let agent = self
        if let excluded, excluded.0 == agent.profile.id { return (.excluded(excluded.1), 0) }
        if open.passedOnBy == agent.profile.id { return (.excluded(.transferredAway), 0) }
        switch agent.presence {
        case .offline: return (.offline, 0)
        case .away: return (.away, 0)
        case .online: break
        }
        if agent.sessions == 0 { return (.disconnected, 0) }
        let own = agent.level(inSkill: open.skill)
        let required = RoutingCore.requiredLevel(open, rules)
        var level = own >= required ? own : 0
        if level == 0 {
            level = RoutingCore.fallbackSkills(open, rules).map { agent.level(inSkill: $0) }.max() ?? 0
        }
        if level == 0 {
            return (own >= 1 ? .levelTooLow(level: own, required: required) : .notSkilled, 0)
        }
        if let store = open.store, !agent.profile.serves(store: store) { return (.store(store), 0) }
        if let language = open.language, !agent.profile.speaks(language: language) {
            return (.language(language), 0)
        }
        if let reserved = open.reservedFor, reserved != agent.profile.id, let until = open.reservedUntil, until > now {
            return (.reservedForAnother(reserved), 0)
        }
        if !agent.hasFreeSlot { return (.full(held: agent.busySlots, max: agent.profile.maxChats), 0) }
        return (.chosen, level)
    }
}

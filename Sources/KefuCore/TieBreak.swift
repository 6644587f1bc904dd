/// The choice among eligible agents, written once: the lowest load ratio wins, then the higher proficiency, then the
/// agent idle longest (one never assigned counts as idle longest), then the lower id, so routing is deterministic.
/// The roster's order, a decision's winner, each runner-up's verdict and the rule `EXPLAIN` names all come from here.
enum TieBreak: Int, Comparable {
    /// Busy slots over `max_chats`.
    case loadRatio = 1
    /// The level by which the agent qualifies.
    case proficiency
    /// The earlier last assignment.
    case idleTime
    /// The lower id.
    case id

    static func < (a: TieBreak, b: TieBreak) -> Bool { a.rawValue < b.rawValue }

    /// The first rule that tells `a` from `b`, and whether it favours `a`. Inlined into the roster's heaps, where
    /// both agents have the lane's level and proficiency never decides.
    @inline(__always)
    static func first(
        _ a: AgentRoster.Key, level aLevel: Int, _ b: AgentRoster.Key, level bLevel: Int
    ) -> (rule: TieBreak, favoursA: Bool) {
        // Load ratios compared as fractions, without division.
        let loadA = a.busy * b.max
        let loadB = b.busy * a.max
        if loadA != loadB { return (.loadRatio, loadA < loadB) }
        if aLevel != bLevel { return (.proficiency, aLevel > bLevel) }
        switch (a.lastAssignedAt, b.lastAssignedAt) {
        case (nil, .some): return (.idleTime, true)
        case (.some, nil): return (.idleTime, false)
        case (.some(let x), .some(let y)) where x != y: return (.idleTime, x < y)
        default: return (.id, a.agent < b.agent)
        }
    }

    /// Whether `a` should win over `b` (each with the level by which it qualifies).
    static func prefers(_ a: RoutingCore.Contender, over b: RoutingCore.Contender) -> Bool {
        first(a.key, level: a.level, b.key, level: b.level).favoursA
    }

    /// Why an eligible agent lost to the winner, as `EXPLAIN` shows it.
    static func verdict(of loser: RoutingCore.Contender, losingTo winner: RoutingCore.Contender) -> Verdict {
        switch first(loser.key, level: loser.level, winner.key, level: winner.level).rule {
        case .loadRatio: .higherLoad(held: loser.key.busy, max: loser.key.max)
        case .proficiency: .lowerLevel(loser.level)
        case .idleTime: .lessIdle
        case .id: .laterID
        }
    }

    /// The rule a runner-up's verdict says it lost on; nil for a verdict that is no loss in a comparison.
    init?(losing verdict: Verdict) {
        switch verdict {
        case .higherLoad: self = .loadRatio
        case .lowerLevel: self = .proficiency
        case .lessIdle: self = .idleTime
        case .laterID: self = .id
        default: return nil
        }
    }

    /// The rule that decided, as `EXPLAIN` names it: the one the closest runner-up lost on.
    var decidingRule: DecisionRule {
        switch self {
        case .loadRatio: .lowestLoadRatio
        case .proficiency: .higherProficiency
        case .idleTime: .idleLongest
        case .id: .lowestID
        }
    }

    /// The rule of a decision that chose an agent: the latest tie-break a runner-up lost on, else the only one.
    static func decidingRule(_ candidates: [Candidate]) -> DecisionRule {
        var closest: TieBreak?
        for candidate in candidates {
            if let rule = TieBreak(losing: candidate.verdict), closest.map({ rule > $0 }) ?? true { closest = rule }
        }
        return closest?.decidingRule ?? .onlyEligibleAgent
    }
}

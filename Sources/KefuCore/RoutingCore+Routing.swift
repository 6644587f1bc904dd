/// Choosing agents and moving conversations between the queue and agents.
extension RoutingCore {
    // MARK: - Who may serve

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

    /// Where the conversation waits: its own skill at the level required now, and fallback skills once widened.
    func lanes(_ open: OpenConversation) -> QueueLanes { Self.lanes(open, skillTable) }

    static func lanes(_ open: OpenConversation, _ rules: SkillTable) -> QueueLanes {
        let demand = open.demand
        return QueueLanes(
            own: QueueLane(skill: demand.skill, requiredLevel: requiredLevel(demand, rules), store: open.storeLane),
            fallback: fallbackSkills(demand, rules),
            plain: demand.language == nil && demand.reservedFor == nil && demand.passedOnBy == nil)
    }

    /// Whether an agent could take the conversation now, and if not, why. `eligible` carries the level by which
    /// it qualifies (own skill or a fallback).
    func verdict(
        _ agent: AgentState, for open: OpenConversation, excluding excluded: (AgentID, String)?, at now: Instant
    ) -> (verdict: Verdict, level: Int) {
        agent.verdict(for: open.demand, excluding: excluded, at: now, rules: skillTable)
    }

    func verdict(
        _ agent: AgentState, for demand: Demand, excluding excluded: (AgentID, String)?, at now: Instant
    ) -> (verdict: Verdict, level: Int) {
        agent.verdict(for: demand, excluding: excluded, at: now, rules: skillTable)
    }
}

extension RoutingCore.AgentState {
    typealias Demand = RoutingCore.Demand

    /// The verdict as a method of the agent and a function of its inputs only, so that it can be asked of an agent
    /// where it lies in the table (`agents.inspect(handle:)`) inside a walk of the queue, without copying the agent.
    func verdict(
        for open: Demand, excluding excluded: (AgentID, String)? = nil, at now: Instant, rules: SkillTable
    ) -> (verdict: Verdict, level: Int) {
        let agent = self
        if let excluded, excluded.0 == agent.profile.id { return (.excluded(excluded.1), 0) }
        if open.passedOnBy == agent.profile.id { return (.excluded("transferred it away"), 0) }
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

extension RoutingCore {

    /// Decides who should take a conversation now. The eligible agent with the lowest load ratio wins, then the
    /// higher proficiency, then the one idle longest, then the lower id. Only free agents of the levels that may
    /// serve are looked at, best first (`AgentRoster`), so the cost does not grow with the team. The decision keeps
    /// every examined agent's verdict for `EXPLAIN`; on a small team every agent of the skill is listed.
    mutating func decide(
        _ id: ConversationID, excluding excluded: (AgentID, String)? = nil, at now: Instant
    ) -> Decision {
        fileChangedAgents()
        // What the conversation asks, read in place: the decision needs nothing else of it.
        guard let open = conversations.inspect(id, { $0.demand }) else {
            return Decision(conversation: id, at: now, agent: nil, rule: "no such conversation", candidates: [])
        }
        let search = searchRoster(for: open, excluding: excluded, at: now)
        let best = search.eligible.min { Self.prefers($0, over: $1) }
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
                    contender.key.agent == best?.key.agent ? Verdict.chosen : Self.whyLost(contender, to: best!)
                candidates.append(Candidate(agent: contender.key.agent, verdict: verdict))
            }
            candidates.sort { $0.agent < $1.agent }
            decision = Decision(
                conversation: id, at: now, agent: best?.key.agent, rule: "", candidates: candidates,
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
        for open: Demand, excluding excluded: (AgentID, String)?, at now: Instant
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
    func scanChoice(_ open: Demand, excluding excluded: (AgentID, String)?, at now: Instant) -> AgentID? {
        var best: Contender?
        for agent in agents.values {
            let (verdict, level) = self.verdict(agent, for: open, excluding: excluded, at: now)
            if verdict == .chosen, best.map({ Self.prefers((agent.rosterKey, level), over: $0) }) ?? true {
                best = (agent.rosterKey, level)
            }
        }
        return best?.key.agent
    }

    /// Every agent of the skills, each with its verdict: what a small team's `EXPLAIN` shows.
    func itemizedDecision(
        _ id: ConversationID, _ open: Demand, skills: [Skill], best: Contender?,
        excluding excluded: (AgentID, String)?,
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
                verdict = Self.whyLost((agent.rosterKey, level), to: best)
            }
            candidates.append(Candidate(agent: agentID, verdict: verdict))
        }
        return Decision(
            conversation: id, at: now, agent: best?.key.agent, rule: "", candidates: candidates
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

    /// The rule that decided, named after the tie-break the closest runner-up lost on.
    static func rule(_ candidates: [Candidate], chosen: Bool) -> String {
        guard chosen else { return "no eligible agent: waits in the queue" }
        let closest = candidates.map { closeness($0.verdict) }.max() ?? 0
        switch closest {
        case 1: return "lowest load ratio"
        case 2: return "equal load: higher proficiency"
        case 3: return "equal load and proficiency: idle longest"
        case 4: return "all else equal: lowest id"
        default: return "only eligible agent"
        }
    }

    /// Whether `a` should win over `b` (each with the level by which it qualifies).
    /// An agent who could take a chat, by its standing in the roster (load, idle time, id) and the level by which
    /// it qualifies.
    typealias Contender = (key: AgentRoster.Key, level: Int)

    static func prefers(_ a: Contender, over b: Contender) -> Bool {
        // Compare busy/max as fractions without division.
        let loadA = a.key.busy * b.key.max
        let loadB = b.key.busy * a.key.max
        if loadA != loadB { return loadA < loadB }
        if a.level != b.level { return a.level > b.level }
        switch (a.key.lastAssignedAt, b.key.lastAssignedAt) {
        case (nil, .some): return true
        case (.some, nil): return false
        case (.some(let x), .some(let y)) where x != y: return x < y
        default: return a.key.agent < b.key.agent
        }
    }

    static func whyLost(_ loser: Contender, to winner: Contender) -> Verdict {
        let loadLoser = loser.key.busy * winner.key.max
        let loadWinner = winner.key.busy * loser.key.max
        if loadLoser != loadWinner { return .higherLoad(held: loser.key.busy, max: loser.key.max) }
        if loser.level != winner.level { return .lowerLevel(loser.level) }
        if loser.key.lastAssignedAt != winner.key.lastAssignedAt { return .lessIdle }
        return .laterID
    }

    /// Which tie-break was needed against the closest runner-up (later rules mean a closer race).
    static func closeness(_ verdict: Verdict) -> Int {
        switch verdict {
        case .higherLoad: 1
        case .lowerLevel: 2
        case .lessIdle: 3
        case .laterID: 4
        default: 0
        }
    }

    // MARK: - Placing conversations

    /// Gives a conversation to the best agent now, or queues it. Returns the agent chosen.
    @discardableResult
    mutating func place(
        _ id: ConversationID, at now: Instant, reason: String, via: String = "routed",
        excluding excluded: (AgentID, String)? = nil, notify: Bool = true
    ) -> AgentID? {
        let decision = route(id, at: now, reason: reason, via: via, excluding: excluded)
        if let agent = decision.agent { return agent }
        conversations[id]?.decision = decision
        if via == "transfer" || via == "handover" { conversations[id]?.pendingVia = via }
        enqueue(id, at: now, notify: notify)
        persist(id)
        return nil
    }

    /// Gives a conversation to the best agent, if one can take it now, keeping the decision that chose it.
    /// Returns the decision either way; the caller decides what a conversation nobody could take does.
    @discardableResult
    mutating func route(
        _ id: ConversationID, at now: Instant, reason: String, via: String = "routed",
        excluding excluded: (AgentID, String)? = nil
    ) -> Decision {
        let decision = decide(id, excluding: excluded, at: now)
        guard let agent = decision.agent else { return decision }
        conversations[id]?.decision = decision
        assign(id, to: agent, at: now, reason: reason, via: via)
        return decision
    }

    /// Capacity appeared on an agent: give it the best waiting conversations it can serve, at once.
    mutating func offerCapacity(to id: AgentID, at now: Instant) {
        guard let handle = agents.handle(of: id) else { return }
        offerCapacity(toHandle: handle, id, at: now)
    }

    mutating func offerCapacity(toHandle handle: Int, _ id: AgentID, at now: Instant) {
        guard let (rule, candidates) = agents.inspect(handle: handle, { ($0.capacityRule, $0.capacityCandidates) })
        else { return }
        while agents.inspect(handle: handle, { $0.canTakeMore }) == true,
            let next = work(forAgent: handle, at: now)
        {
            // The agent's own rule text and candidate list, made once: this runs on every freed slot.
            assign(
                next, to: id, at: now, reason: "routed", handle: handle,
                decision: Decision(conversation: next, at: now, agent: id, rule: rule, candidates: candidates))
        }
    }

    /// The longest-waiting conversation this agent can serve: the heads of its lanes, skipping chats it cannot
    /// take (store, language, reservation). The one returned must be assigned (it is taken off its lane's heap,
    /// `WaitingQueue.takeBest`). A function of its own so the read-only view of the conversations it
    /// captures is gone before anything is mutated (no copy of the dictionary).
    mutating func work(forAgent handle: Int, at now: Instant) -> ConversationID? {
        // The agent and the conversations are read where they lie (no copies): the queue is the only thing changed.
        let agents = self.agents
        guard let (lanes, stores) = agents.inspect(handle: handle, { ($0.lanes, $0.storeLanes) }) else { return nil }
        return Self.work(
            for: handle, lanes: lanes, stores: stores, agents, in: &queue, conversations, skillTable, at: now)
    }

    static func work(
        for handle: Int, lanes: [AgentRoster.Lane], stores: [Int]?, _ agents: AgentTable,
        in queue: inout WaitingQueue, _ open: ConversationTable, _ rules: SkillTable, at now: Instant
    ) -> ConversationID? {
        // The queue lanes the agent may serve: each of its skills at the levels up to its own that have waiting
        // chats, in the stores it serves and for chats that name none (a handful or a few dozen; on the stack).
        let storeCount = stores.map { $0.count + 1 } ?? queue.storeLanes
        let most = lanes.reduce(0) { $0 + min(max($1.level, 0), 63) } * storeCount
        return withUnsafeTemporaryAllocation(of: Int.self, capacity: most) { buffer in
            var count = 0
            // Lanes where nobody waits are left out of the search.
            func add(_ lane: QueueLane) {
                guard let number = queue.laneNumber(of: lane), !queue.isEmpty(lane: number) else { return }
                buffer.initializeElement(at: count, to: number)
                count += 1
            }
            for agentLane in lanes where agentLane.level >= 1 {
                let mask = queue.laneMask(of: agentLane.skill)
                for required in 1...min(agentLane.level, 63) where mask & (1 << UInt64(required)) != 0 {
                    if let stores {
                        add(QueueLane(skill: agentLane.skill, requiredLevel: required, store: StoreLanes.anyStore))
                        for store in stores {
                            add(QueueLane(skill: agentLane.skill, requiredLevel: required, store: store))
                        }
                    } else {
                        for store in 0..<storeCount {
                            add(QueueLane(skill: agentLane.skill, requiredLevel: required, store: store))
                        }
                    }
                }
            }
            let found = queue.takeBest(among: UnsafeBufferPointer(rebasing: buffer[..<count])) { conversation, plain in
                // The lane stands for skill, level and store: a plain chat asks nothing else of the agent.
                if plain { return agents.inspect(handle: handle, { $0.canTakeMore }) == true }
                // Only what the verdict needs is read from the conversation, in place.
                guard let demand = open.inspect(conversation, { $0.demand }) else { return false }
                return agents.inspect(handle: handle, { $0.verdict(for: demand, at: now, rules: rules).verdict })
                    == .chosen
            }
            return found?.conversation
        }
    }

    /// Gives a conversation to an agent. `handle`: the agent's, when the caller has it; `decision`: the one to keep
    /// for `EXPLAIN`, set in the same lookup (else the conversation's own stands).
    mutating func assign(
        _ id: ConversationID, to agent: AgentID, at now: Instant, reason: String, via: String = "routed",
        handle known: Int? = nil, decision newDecision: Decision? = nil
    ) {
        let handle = known ?? agents.handle(of: agent) ?? 0
        // One lookup: the conversation changes in place and hands back what the records and notices need.
        guard
            let (pendingVia, skill, record, decision) = conversations.modify(
                id,
                { open in
                    let pendingVia = open.pendingVia
                    open.pendingVia = nil
                    open.record.state = .assigned
                    open.record.agent = agent
                    open.holderHandle = handle
                    open.assignedAt = now
                    open.reservedFor = nil
                    open.reservedUntil = nil
                    if let newDecision { open.decision = newDecision }
                    return (pendingVia, open.skill, open.record, open.decision)
                })
        else { return }
        // A transfer or handover that had to wait is still one when it is finally taken.
        let via = via == "routed" ? pendingVia ?? via : via
        if queue.remove(id) { queueChanged.insert(skill) }
        changeAgent(handle: handle) { agent in
            agent.held.insert(id)
            agent.lastAssignedAt = now
        }
        effects.append(.persist(.conversation(record)))
        effects.append(
            .persist(
                .assignment(
                    AssignmentRecord(conversation: id, agent: agent, at: now, reason: reason, decision: decision))))
        var notice = Self.notice(of: record, at: now, resumed: false)
        notice.via = via
        effects.append(.deliver(.agent(agent), .assigned(notice)))
        // Whoever receives a chat from a colleague gets its notes with it.
        if via == "transfer" || via == "handover" {
            for note in conversations[id]?.notes ?? [] { effects.append(.deliver(.agent(agent), .note(note))) }
        }
        effects.append(.deliver(.customer(record.customer), .joined(id, agent: agent)))
    }

    /// Takes a conversation away from its agent (the caller decides where it goes next).
    mutating func revoke(_ id: ConversationID, reason: String, at now: Instant) {
        guard var open = conversations[id], let agent = open.record.agent else { return }
        changeAgent(agent) { $0.held.remove(id) }
        open.record.agent = nil
        open.record.state = .queued
        conversations[id] = open
        effects.append(.deliver(.agent(agent), .revoked(id, reason: reason)))
    }

    /// Sends every chat an agent holds back to the queue (keeping their arrival, so they go to the front) and on
    /// to whoever can take them. `onlyUnanswered` leaves chats the agent already answered with it.
    mutating func requeueAll(
        of agentID: AgentID, reason: String, at now: Instant, onlyUnanswered: Bool = false
    ) -> [ConversationID] {
        var moved: [ConversationID] = []
        for id in agents[agentID]?.held.sorted() ?? [] {
            if onlyUnanswered, conversations[id]?.record.firstRespondedAt != nil { continue }
            revoke(id, reason: reason, at: now)
            recordAssignment(id, agent: nil, at: now, reason: reason)
            moved.append(id)
        }
        for id in moved { place(id, at: now, reason: reason, excluding: (agentID, reason)) }
        return moved
    }

    func assignmentNotice(_ id: ConversationID, at now: Instant, resumed: Bool) -> AssignmentNotice? {
        // Read in place, in one lookup (the conversation is large).
        conversations.inspect(id) { Self.notice(of: $0.record, at: now, resumed: resumed) }
    }

    /// What the agent is told of a conversation it is given (or holds again after a reconnect).
    static func notice(of record: ConversationRecord, at now: Instant, resumed: Bool) -> AssignmentNotice {
        AssignmentNotice(
            conversation: record.id, customer: record.customer, skill: record.skill, priority: record.priority,
            waited: now - record.openedAt, firstMessage: record.firstMessage, resumed: resumed)
    }

    // MARK: - The queue

    /// The instant a conversation counts as having arrived for queue order: vips are boosted.
    func effectiveArrival(_ record: ConversationRecord) -> Instant {
        Self.effectiveArrival(record, vipBoost: policy.rules.vipBoost)
    }

    static func effectiveArrival(_ record: ConversationRecord, vipBoost: Milliseconds) -> Instant {
        record.priority == .vip ? record.openedAt + Milliseconds(-vipBoost.value) : record.openedAt
    }

    mutating func enqueue(_ id: ConversationID, at now: Instant, notify: Bool) {
        let (rules, boost) = (skillTable, policy.rules.vipBoost)
        guard
            let (key, skill, lanes) = conversations.modify(
                id,
                { open in
                    // Only a record that changes is written: a new conversation's record is still shared with the
                    // step that opened it, and a write would copy it.
                    if open.record.state != .queued || open.record.agent != nil {
                        open.record.state = .queued
                        open.record.agent = nil
                    }
                    let arrival = Self.effectiveArrival(open.record, vipBoost: boost)
                    return (
                        QueueKey(effectiveArrival: arrival, conversation: id), open.skill,
                        Self.lanes(open, rules)
                    )
                })
        else { return }
        queue.insert(key, skill: skill, lanes: lanes)
        queueChanged.insert(skill)
        if notify, let position = queue.position(of: id) {
            report(id, position: position, at: now)
        }
    }

    /// Tells a waiting customer their position and an estimate of the wait.
    mutating func report(_ id: ConversationID, position: Int, at now: Instant) {
        guard
            let (skill, customer) = conversations.modify(
                id,
                { open in
                    open.reportedPosition = position
                    open.reportedAt = now
                    return (open.skill, open.record.customer)
                })
        else { return }
        fileChangedAgents()
        let (eta, offline) = estimate(position: position, skill: skill)
        effects.append(
            .deliver(.customer(customer), .queued(id, position: position, etaSeconds: eta, offline: offline)))
    }

    /// Seconds until a slot is likely to free for this position: position × recent handling time ÷ slots of the
    /// agents online who can serve the skill. `offline` when no such agent is online (the buyer leaves a message).
    func estimate(position: Int, skill: Int) -> (eta: Int?, offline: Bool) {
        let slots = roster.slotsOnline(of: skill)
        guard slots > 0 else { return (nil, true) }
        let handling = (skill < handlingTime.count ? handlingTime[skill] : nil) ?? Self.assumedHandlingMilliseconds
        let seconds = (Double(position) * handling / Double(slots) / 1000).rounded(.up)
        return (Int(seconds), false)
    }

    /// Before any chat of a skill has closed, estimates assume five minutes a chat.
    static let assumedHandlingMilliseconds = 300_000.0

    /// Arms the once-a-second queue report when positions may have changed.
    mutating func scheduleQueueReport(at now: Instant) {
        guard !queueChanged.isEmpty, !queueReportArmed else { return }
        queueReportArmed = true
        deadlines.arm(.queueReport, at: now + Milliseconds(1000))
    }

    /// Tells every waiting customer whose position changed their new one; a customer told less than a second
    /// ago waits for the next report.
    mutating func reportQueue(at now: Instant) {
        queueReportArmed = false
        let skills = queueChanged.members
        queueChanged.removeAll()
        for skill in skills.sorted(by: { skillNumbers[$0] < skillNumbers[$1] }) {
            for (index, key) in queue.ordered(skill: skill).enumerated() {
                guard let open = conversations[key.conversation], open.reportedPosition != index + 1 else { continue }
                if let last = open.reportedAt, now - last < Milliseconds(1000) {
                    queueChanged.insert(skill)
                    continue
                }
                report(key.conversation, position: index + 1, at: now)
            }
        }
        scheduleQueueReport(at: now)
    }

    /// A conversation's widening steps: at `widen_after_s` and twice that from opening.
    func widenSteps(of record: ConversationRecord, skill: Int) -> [(step: Int, at: Instant)] {
        guard let widen = skillTable.widenAfter(of: skill) else { return [] }
        return [(1, record.openedAt + widen), (2, record.openedAt + Milliseconds(widen.value * 2))]
    }

    /// Arms the widening steps still ahead (all of them for a new conversation).
    mutating func armWidening(_ record: ConversationRecord, skill: Int, after now: Instant? = nil) {
        for (step, at) in widenSteps(of: record, skill: skill) where now.map({ at > $0 }) ?? true {
            deadlines.arm(.widen(record.id, step: step), at: at)
        }
    }
}

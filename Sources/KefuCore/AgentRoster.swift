import HeapModule

/// Where a routing decision looks for agents, so that its cost does not grow with the team: the agents who could take
/// a chat now (online, connected, a free slot) wait in one heap per (skill, level), best first; every other agent is
/// only counted, by skill and standing. A decision walks the front of the few heaps that may serve a conversation
/// and never touches a full or offline agent. Removal is lazy (a generation number tells live entries from stale
/// ones), as in the waiting queue.
struct AgentRoster {
    /// Where an agent stands for routing, derived from its state.
    enum Standing: Int, CaseIterable {
        case offline, away, disconnected, full, free
    }

    /// An agent's place in a lane: lower load ratio first, then idle longest, then lower id. (The level is the
    /// lane's.) The same order as `RoutingCore.prefers` for agents of one level.
    struct Key: Comparable {
        var busy: Int
        var max: Int
        var lastAssignedAt: Instant?
        var agent: AgentID

        static func < (a: Key, b: Key) -> Bool {
            // Load ratios compared as fractions, without division.
            let loadA = a.busy * b.max
            let loadB = b.busy * a.max
            if loadA != loadB { return loadA < loadB }
            switch (a.lastAssignedAt, b.lastAssignedAt) {
            case (nil, .some): return true
            case (.some, nil): return false
            case (.some(let x), .some(let y)) where x != y: return x < y
            default: return a.agent < b.agent
            }
        }
    }

    /// Agents of one skill at one level.
    struct Lane: Hashable {
        var skill: Skill
        var level: Int
    }

    private struct Entry: Comparable {
        var key: Key
        var generation: UInt64
        static func < (lhs: Entry, rhs: Entry) -> Bool { lhs.key < rhs.key }
        static func == (lhs: Entry, rhs: Entry) -> Bool { lhs.key == rhs.key && lhs.generation == rhs.generation }
    }

    private struct Indexed {
        var standing: Standing
        var key: Key
        var lanes: [Lane]
        var generation: UInt64
    }

    /// A skill's counts, kept together so an agent's change costs one lookup per skill.
    private struct Tally {
        /// Agents by standing (indexed by `Standing.rawValue`).
        var standing = [Int](repeating: 0, count: Standing.allCases.count)
        /// Free agents by level (the heaps may also hold stale entries).
        var freeByLevel: [Int] = []
        /// Reception slots of the agents who are online and connected (for queue estimates).
        var slotsOnline = 0

        func free(at level: Int) -> Int { level < freeByLevel.count ? freeByLevel[level] : 0 }

        mutating func add(_ standing: Standing, level: Int, _ delta: Int, slots: Int) {
            self.standing[standing.rawValue] += delta
            slotsOnline += delta * slots
            guard standing == .free else { return }
            if freeByLevel.count <= level { freeByLevel += Array(repeating: 0, count: level + 1 - freeByLevel.count) }
            freeByLevel[level] += delta
        }
    }

    private var heaps: [Lane: Heap<Entry>] = [:]
    private var tallies: [Skill: Tally] = [:]
    private var indexed: [AgentID: Indexed] = [:]
    private var nextGeneration: UInt64 = 0

    /// Files an agent under its current state (a new agent, or one whose presence, sessions, load, last assignment,
    /// capacity or skills changed). One lookup of the agent, one per skill for the counts, and one per skill for the
    /// heap when it becomes (or stays) free with a new key: this runs twice per routed chat.
    mutating func update(_ agent: RoutingCore.AgentState) {
        let standing = Self.standing(of: agent)
        let key = Key(
            busy: agent.busySlots, max: agent.profile.maxChats, lastAssignedAt: agent.lastAssignedAt,
            agent: agent.profile.id
        )
        let lanes = agent.lanes
        let id = agent.profile.id
        let old = indexed[id]
        if let old, old.standing == standing, old.key == key, old.lanes == lanes { return }
        // Counts per skill: moved in one pass when the agent keeps its skills.
        let slots = Self.isOnline(standing) ? key.max : 0
        var freeAfter: [Int] = []
        if let old, old.lanes == lanes {
            if old.standing != standing || old.key.max != key.max {
                let oldSlots = Self.isOnline(old.standing) ? old.key.max : 0
                for lane in lanes {
                    tallies[lane.skill, default: Tally()].add(old.standing, level: lane.level, -1, slots: oldSlots)
                    tallies[lane.skill]!.add(standing, level: lane.level, +1, slots: slots)
                    if standing == .free { freeAfter.append(tallies[lane.skill]!.free(at: lane.level)) }
                }
            } else if standing == .free {
                freeAfter = lanes.map { freeAgents(in: $0) }
            }
        } else {
            if let old { count(old, -1) }
            for lane in lanes {
                tallies[lane.skill, default: Tally()].add(standing, level: lane.level, +1, slots: slots)
                if standing == .free { freeAfter.append(tallies[lane.skill]!.free(at: lane.level)) }
            }
        }
        guard standing == .free else {
            // Not routable: entries still in heaps are stale by standing; the generation stays.
            indexed[id] = Indexed(standing: standing, key: key, lanes: lanes, generation: old?.generation ?? 0)
            return
        }
        nextGeneration &+= 1
        let generation = nextGeneration
        indexed[id] = Indexed(standing: standing, key: key, lanes: lanes, generation: generation)
        for (index, lane) in lanes.enumerated() {
            let size = Self.insert(Entry(key: key, generation: generation), into: &heaps[lane, default: Heap()])
            // Stale entries leave a heap when they reach its top; one that is mostly stale is rebuilt from its live
            // entries, so memory stays proportional to the free agents.
            if size > 2 * freeAfter[index] + 64 { compact(lane) }
        }
    }

    private static func insert(_ entry: Entry, into heap: inout Heap<Entry>) -> Int {
        heap.insert(entry)
        return heap.count
    }

    private static func isOnline(_ standing: Standing) -> Bool { standing == .full || standing == .free }

    /// Forgets an agent (removed from the configuration).
    mutating func remove(_ id: AgentID) {
        guard let old = indexed.removeValue(forKey: id) else { return }
        count(old, -1)
    }

    static func standing(of agent: RoutingCore.AgentState) -> Standing {
        switch agent.presence {
        case .offline: return .offline
        case .away: return .away
        case .online: break
        }
        if agent.sessions == 0 { return .disconnected }
        return agent.hasFreeSlot ? .free : .full
    }

    private mutating func count(_ entry: Indexed, _ delta: Int) {
        let online = Self.isOnline(entry.standing)
        for lane in entry.lanes {
            let slots = online ? entry.key.max : 0
            tallies[lane.skill, default: Tally()].add(entry.standing, level: lane.level, delta, slots: slots)
        }
    }

    private mutating func compact(_ lane: Lane) {
        guard let heap = heaps[lane] else { return }
        heaps[lane] = Heap(heap.unordered.filter(isLive))
    }

    private func isLive(_ entry: Entry) -> Bool {
        guard let current = indexed[entry.key.agent] else { return false }
        return current.generation == entry.generation && current.standing == .free
    }

    // MARK: - Reading

    /// Whether the roster has the agent filed under its current state (an invariant: every change goes through
    /// `update`).
    func isFiled(_ agent: RoutingCore.AgentState) -> Bool {
        guard let filed = indexed[agent.profile.id] else { return false }
        let lanes = RoutingCore.AgentState.lanes(of: agent.profile)
        return filed.standing == Self.standing(of: agent) && filed.key.busy == agent.busySlots
            && filed.key.max == agent.profile.maxChats && filed.key.lastAssignedAt == agent.lastAssignedAt
            && Set(filed.lanes) == Set(lanes)
    }

    /// Free agents in a lane.
    func freeAgents(in lane: Lane) -> Int { tallies[lane.skill]?.free(at: lane.level) ?? 0 }

    /// Free agents of a skill by level (index: level; may be shorter than the top level).
    func freeByLevel(of skill: Skill) -> [Int] { tallies[skill]?.freeByLevel ?? [] }

    /// How many of a skill's agents stand where.
    func count(of skill: Skill, _ standing: Standing) -> Int { tallies[skill]?.standing[standing.rawValue] ?? 0 }

    /// Every agent who has the skill.
    func agents(of skill: Skill) -> Int { tallies[skill]?.standing.reduce(0, +) ?? 0 }

    /// Reception slots of the skill's agents who are online and connected.
    func slotsOnline(of skill: Skill) -> Int { tallies[skill]?.slotsOnline ?? 0 }

    /// Visits the free agents of a lane best first until `visit` returns false. Returns how many were visited.
    /// Entries are taken off the heap while walking and put back after, so the cost is the number visited.
    @discardableResult
    mutating func walk(_ lane: Lane, _ visit: (AgentID) -> Bool) -> Int {
        guard var heap = heaps[lane] else { return 0 }
        heaps[lane] = nil  // take the heap out so it is mutated in place, not copied
        var visited: [Entry] = []
        while let top = heap.min {
            guard isLive(top) else {
                heap.removeMin()  // stale
                continue
            }
            visited.append(heap.removeMin())
            if !visit(top.key.agent) { break }
        }
        for entry in visited { heap.insert(entry) }
        heaps[lane] = heap
        return visited.count
    }
}

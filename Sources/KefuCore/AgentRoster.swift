/// Where a routing decision looks for agents, so that its cost does not grow with the team: the agents who could take
/// a chat now (online, connected, a free slot) wait in one heap per (skill, level, store), best first — an agent who
/// serves every store in the heap of `StoreLanes.anyStore`, one who lists stores in the heap of each —; every other
/// agent is only counted, by skill and standing. A decision walks the front of the few heaps that may serve a
/// conversation and never touches a full or offline agent. Removal is lazy (a generation number tells live entries from stale
/// ones), as in the waiting queue.
struct AgentRoster {
    /// Where an agent stands for routing, derived from its state.
    enum Standing: Int, CaseIterable {
        case offline, away, disconnected, full, free
    }

    /// An agent's place in a lane: the routing order (`TieBreak`) among agents of the lane's level.
    struct Key: Comparable {
        var busy: Int
        var max: Int
        var lastAssignedAt: Instant?
        var agent: AgentID
        /// The agent's handle in the core's table (not part of the order: ids are unique).
        var handle: Int

        static func < (a: Key, b: Key) -> Bool { TieBreak.first(a, level: 0, b, level: 0).favoursA }
    }

    /// Agents of one skill (by its number, `SkillNumbers`) at one level.
    struct Lane: Hashable {
        var skill: Int
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
        /// The store lanes it serves (nil: every store, filed under `StoreLanes.anyStore`).
        var stores: [Int]?
        var generation: UInt64

        /// The store lanes of the heaps it is filed in.
        var heapStores: [Int] { AgentRoster.heapStores(stores) }
    }

    /// A skill's counts, kept together so an agent's change costs one lookup per skill.
    private struct Tally {
        /// Agents by standing (indexed by `Standing.rawValue`).
        var standing = [Int](repeating: 0, count: Standing.allCases.count)
        /// Free agents by level (the heaps may also hold stale entries).
        var freeByLevel: [Int] = []
        /// Free agents by level, then store lane (an agent serving every store under 0, one listing stores under
        /// each of them).
        var freeByStore: [[Int]] = []
        /// Reception slots of the agents who are online and connected (for queue estimates).
        var slotsOnline = 0

        func free(at level: Int) -> Int { level < freeByLevel.count ? freeByLevel[level] : 0 }

        func free(at level: Int, store: Int) -> Int {
            level < freeByStore.count && store < freeByStore[level].count ? freeByStore[level][store] : 0
        }

        mutating func add(_ standing: Standing, level: Int, stores: [Int], _ delta: Int, slots: Int) {
            self.standing[standing.rawValue] += delta
            slotsOnline += delta * slots
            guard standing == .free else { return }
            if freeByLevel.count <= level {
                freeByLevel += Array(repeating: 0, count: level + 1 - freeByLevel.count)
                freeByStore += Array(repeating: [], count: level + 1 - freeByStore.count)
            }
            freeByLevel[level] += delta
            for store in stores {
                if freeByStore[level].count <= store {
                    freeByStore[level] += Array(repeating: 0, count: store + 1 - freeByStore[level].count)
                }
                freeByStore[level][store] += delta
            }
        }
    }

    /// Heaps by skill number, then level, then store lane.
    private var heaps: [[[BinaryHeap<Entry>]]] = []
    /// One more than the highest store lane an agent was filed under: a chat that names no store looks at all.
    private(set) var storeLanes = 1
    /// Counts by skill number.
    private var tallies: [Tally] = []
    /// Where each agent is filed, by handle.
    private var indexed: [Indexed?] = []
    private var nextGeneration: UInt64 = 0
    /// Free agents not yet in their heaps (see `update`), by handle, in the order they changed.
    private var pending = NumberSet()

    private func tally(_ skill: Int) -> Tally? { skill < tallies.count ? tallies[skill] : nil }

    /// The tally of a skill, made on first use.
    private mutating func withTally(_ skill: Int, _ change: (inout Tally) -> Void) {
        if tallies.count <= skill { tallies += Array(repeating: Tally(), count: skill + 1 - tallies.count) }
        change(&tallies[skill])
    }

    private mutating func withHeap<R>(_ lane: Lane, store: Int, _ body: (inout BinaryHeap<Entry>) -> R) -> R {
        if heaps.count <= lane.skill { heaps += Array(repeating: [], count: lane.skill + 1 - heaps.count) }
        if heaps[lane.skill].count <= lane.level {
            heaps[lane.skill] += Array(repeating: [], count: lane.level + 1 - heaps[lane.skill].count)
        }
        if heaps[lane.skill][lane.level].count <= store {
            heaps[lane.skill][lane.level] += Array(
                repeating: BinaryHeap(), count: store + 1 - heaps[lane.skill][lane.level].count)
        }
        return body(&heaps[lane.skill][lane.level][store])
    }

    private func hasHeap(_ lane: Lane, store: Int) -> Bool {
        lane.skill < heaps.count && lane.level < heaps[lane.skill].count && store >= 0
            && store < heaps[lane.skill][lane.level].count
    }

    private func filed(_ handle: Int) -> Indexed? { handle < indexed.count ? indexed[handle] : nil }

    private mutating func file(_ entry: Indexed?, at handle: Int) {
        if indexed.count <= handle { indexed += Array(repeating: nil, count: handle + 1 - indexed.count) }
        indexed[handle] = entry
    }

    /// Files an agent under its current state (a new agent, or one whose presence, sessions, load, last assignment,
    /// capacity or skills changed). One lookup of the agent, one per skill for the counts, and one per skill for the
    /// heap when it becomes (or stays) free with a new key: this runs twice per routed chat.
    mutating func update(_ agent: RoutingCore.AgentState) { update(agent.filing) }

    /// What the roster files an agent under: its standing, its place in a lane, and its lanes. Taken from an agent
    /// where it lies (`agents[handle: h]?.filing`), so filing does not copy the agent.
    struct Filing {
        var standing: Standing
        var key: Key
        var lanes: [Lane]
        /// The store lanes the agent serves (nil: every store).
        var stores: [Int]?
    }

    mutating func update(_ filing: Filing) {
        let (standing, key, lanes, stores) = (filing.standing, filing.key, filing.lanes, filing.stores)
        let handle = key.handle
        // Nothing the roster reads changed: the key orders free agents only, so a busy agent's new load or last
        // assignment (every close and reassignment of a full agent) need not be filed. Checked where the entry
        // lies (a copy of it would retain its arrays and strings on every step).
        let unchanged = indexed.withUnsafeBufferPointer { entries -> Bool in
            guard handle < entries.count, let old = entries[handle] else { return false }
            return old.standing == standing && old.lanes == lanes && old.stores == stores
                && (old.key == key || (standing != .free && old.key.max == key.max))
        }
        if unchanged { return }
        let old = filed(handle)
        let heapStores = Self.heapStores(stores)
        // Known at filing, before the heaps are (lazily) filled: a walk sizes its store lanes by it first.
        if let top = heapStores.max(), top >= storeLanes { storeLanes = top + 1 }
        // Counts per skill: moved in one pass when the agent keeps its skills and stores.
        let slots = Self.isOnline(standing) ? key.max : 0
        if let old, old.lanes == lanes, old.stores == stores {
            if old.standing != standing || old.key.max != key.max {
                let oldSlots = Self.isOnline(old.standing) ? old.key.max : 0
                for lane in lanes {
                    withTally(lane.skill) { tally in
                        tally.add(old.standing, level: lane.level, stores: heapStores, -1, slots: oldSlots)
                        tally.add(standing, level: lane.level, stores: heapStores, +1, slots: slots)
                    }
                }
            }
        } else {
            if let old { count(old, -1) }
            for lane in lanes {
                withTally(lane.skill) { tally in
                    tally.add(standing, level: lane.level, stores: heapStores, +1, slots: slots)
                }
            }
        }
        guard standing == .free else {
            // Not routable: entries still in heaps are stale by standing; the generation stays.
            file(
                Indexed(
                    standing: standing, key: key, lanes: lanes, stores: stores, generation: old?.generation ?? 0),
                at: handle)
            return
        }
        nextGeneration &+= 1
        file(
            Indexed(standing: standing, key: key, lanes: lanes, stores: stores, generation: nextGeneration), at: handle)
        // Into the heaps when a decision next walks them: an agent a close freed is often full again before then
        // (the freed slot takes the next waiting chat at once), and its entries would only have gone stale.
        pending.insert(handle)
    }

    /// Files the agents that became (or stayed) free since the last walk into their lanes' heaps, as they stand now.
    private mutating func flushPending() {
        guard !pending.isEmpty else { return }
        for handle in pending.members {
            guard let entry = filed(handle), entry.standing == .free else { continue }
            for lane in entry.lanes {
                for store in entry.heapStores {
                    let size = withHeap(lane, store: store) {
                        Self.insert(Entry(key: entry.key, generation: entry.generation), into: &$0)
                    }
                    // Stale entries leave a heap when they reach its top; one that is mostly stale is rebuilt from
                    // its live entries, so memory stays proportional to the free agents.
                    if size > 2 * freeAgents(in: lane, store: store) + 64 { compact(lane, store: store) }
                }
            }
        }
        pending.removeAll()
    }

    private static func insert(_ entry: Entry, into heap: inout BinaryHeap<Entry>) -> Int {
        heap.insert(entry)
        return heap.count
    }

    /// The store lanes of the heaps an agent serving `stores` is filed in (nil: every store, one heap).
    private static func heapStores(_ stores: [Int]?) -> [Int] { stores ?? [StoreLanes.anyStore] }

    private static func isOnline(_ standing: Standing) -> Bool { standing == .full || standing == .free }

    /// Forgets an agent (removed from the configuration).
    mutating func remove(_ handle: Int) {
        guard let old = filed(handle) else { return }
        file(nil, at: handle)
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
            withTally(lane.skill) {
                $0.add(entry.standing, level: lane.level, stores: entry.heapStores, delta, slots: slots)
            }
        }
    }

    private mutating func compact(_ lane: Lane, store: Int) {
        guard hasHeap(lane, store: store) else { return }
        let live = heaps[lane.skill][lane.level][store].unordered.filter(isLive)
        heaps[lane.skill][lane.level][store] = BinaryHeap(live)
    }

    private func isLive(_ entry: Entry) -> Bool {
        guard let current = filed(entry.key.handle) else { return false }
        return current.generation == entry.generation && current.standing == .free
    }

    // MARK: - Reading

    /// Whether the roster has the agent filed under its current state (an invariant: every change goes through
    /// `update`).
    func isFiled(_ agent: RoutingCore.AgentState) -> Bool {
        guard let filed = filed(agent.handle) else { return false }
        let lanes = agent.lanes
        let standing = Self.standing(of: agent)
        // The key (load, last assignment) orders free agents only: a busy agent's may be older than its state.
        let keyed =
            standing != .free
            || (filed.key.busy == agent.busySlots && filed.key.lastAssignedAt == agent.lastAssignedAt)
        return filed.standing == standing && keyed && filed.key.max == agent.profile.maxChats
            && Set(filed.lanes) == Set(lanes) && filed.stores == agent.storeLanes
    }

    /// Free agents in a lane filed under a store lane (0: those who serve every store).
    func freeAgents(in lane: Lane, store: Int) -> Int { tally(lane.skill)?.free(at: lane.level, store: store) ?? 0 }

    /// Free agents of a skill by level (index: level; may be shorter than the top level).
    func freeByLevel(of skill: Int) -> [Int] { tally(skill)?.freeByLevel ?? [] }

    /// How many of a skill's agents stand where.
    func count(of skill: Int, _ standing: Standing) -> Int { tally(skill)?.standing[standing.rawValue] ?? 0 }

    /// Every agent who has the skill.
    func agents(of skill: Int) -> Int { tally(skill)?.standing.reduce(0, +) ?? 0 }

    /// Reception slots of the skill's agents who are online and connected.
    func slotsOnline(of skill: Int) -> Int { tally(skill)?.slotsOnline ?? 0 }

    /// Visits the free agents of a lane filed under a store lane (by handle) best first until `visit` returns false.
    /// Returns how many were visited. Entries are taken off the heap while walking and put back after, so the cost is
    /// the number visited.
    @discardableResult
    mutating func walk(_ lane: Lane, store: Int, _ visit: (Int) -> Bool) -> Int {
        flushPending()
        guard hasHeap(lane, store: store) else { return 0 }
        // Take the heap out so it is mutated in place, not copied.
        var heap = heaps[lane.skill][lane.level][store]
        heaps[lane.skill][lane.level][store] = BinaryHeap()
        var visited: [Entry] = []
        while let top = heap.min {
            guard isLive(top) else {
                heap.removeMin()  // stale
                continue
            }
            visited.append(heap.removeMin())
            if !visit(top.key.handle) { break }
        }
        for entry in visited { heap.insert(entry) }
        heaps[lane.skill][lane.level][store] = heap
        return visited.count
    }
}

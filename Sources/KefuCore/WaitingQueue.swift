/// Orders waiting conversations. A vip counts as having arrived `vip_boost_s` earlier (aging instead of strict
/// priority, so a flood of vips cannot starve normal chats forever); ties go to the lower conversation id. A
/// conversation sent back to the queue keeps its original arrival, so it goes back near the front.
struct QueueKey: Comparable, Hashable {
    var effectiveArrival: Instant
    var conversation: ConversationID

    /// "Less" means served earlier.
    static func < (lhs: QueueKey, rhs: QueueKey) -> Bool {
        if lhs.effectiveArrival != rhs.effectiveArrival { return lhs.effectiveArrival < rhs.effectiveArrival }
        return lhs.conversation < rhs.conversation
    }
}

/// Where a waiting conversation can be found: the skill that may serve it, the lowest level allowed and the store it
/// names. An agent of level L in a skill looks at the lanes of levels 1...L only, and at the stores it serves only,
/// so seniors-only chats and other stores' chats never sit in the way of its search.
struct QueueLane: Hashable {
    /// The skill's number (`SkillNumbers`).
    var skill: Int
    var requiredLevel: Int
    /// The store's lane (`StoreLanes`: `anyStore` when the conversation names none, `unlisted` for a store no agent
    /// lists).
    var store = StoreLanes.anyStore
}

/// The lanes a conversation waits in: its own skill's at the level required now, and once widened its fallback
/// skills' at level 1. The own lane is held inline: most conversations never widen, and queueing them allocates
/// nothing for their lanes.
struct QueueLanes {
    var own: QueueLane
    /// Fallback skills by number (empty until the second widening step).
    var fallback: [Int] = []
    /// Nothing but its lanes limits who may take it (no language, no reservation, not passed on by an agent): an
    /// available agent of one of its lanes may take it without reading the conversation. Set when it is queued;
    /// those limits are only set before a conversation is queued, and lifting one only lets more agents take it.
    var plain = false

    /// Every lane, the own one first.
    func forEach(_ body: (QueueLane) -> Void) {
        body(own)
        for skill in fallback { body(QueueLane(skill: skill, requiredLevel: 1, store: own.store)) }
    }
}

/// Waiting conversations, one heap per lane. Removal is lazy: a generation number tells live heap entries from
/// stale ones. A conversation may stand in several lanes at once (its own skill, then fallback skills once widened).
/// Its key also sits in the sorted keys of its own skill, so a position is a rank and a skill's serving order a walk,
/// never a scan of the whole queue.
struct WaitingQueue {
    private struct Entry: Comparable {
        var key: QueueKey
        var generation: UInt64
        static func < (lhs: Entry, rhs: Entry) -> Bool { lhs.key < rhs.key }
        static func == (lhs: Entry, rhs: Entry) -> Bool { lhs.key == rhs.key && lhs.generation == rhs.generation }
    }

    /// A waiting conversation, found by its id (which is therefore not kept again): 24 bytes, so that the check
    /// of a heap head touches as little memory as it can.
    private struct Member {
        var effectiveArrival: Instant
        var generation: UInt64
        /// The conversation's own skill, by number (for positions and `max_queue`).
        var skill: Int32
        /// `QueueLanes.plain`.
        var plain: Bool

        func key(_ conversation: ConversationID) -> QueueKey {
            QueueKey(effectiveArrival: effectiveArrival, conversation: conversation)
        }
    }

    /// The heaps of every lane in one array: lane (skill, level, store) is heap
    /// `(skill * levelSpan + level) * storeSpan + store` (`laneNumber(of:)`). Levels are small (1 to 5 in
    /// practice) and store lanes only as many as the stores agents list (plus two), so the empty heaps of unused
    /// combinations cost little; the layout grows (and the heaps move) only when a skill, level or store appears
    /// that it has no room for.
    private var heaps: [BinaryHeap<Entry>] = []
    private var skillSpan = 0
    private var levelSpan = 1
    private var storeSpan = 1
    /// The required levels that have a lane, per skill number (bit `level`), so an agent looks up only lanes that
    /// exist.
    private var laneLevels: [UInt64] = []
    private var members = ConversationIndex<Member>()
    /// Keys of the waiting conversations by the number of their own skill.
    private var bySkill: [SortedKeys<QueueKey>] = []
    private var nextGeneration: UInt64 = 0

    var count: Int { members.count }

    func contains(_ conversation: ConversationID) -> Bool { members[conversation] != nil }

    /// Waiting conversations whose own skill is `skill`.
    func count(of skill: Int) -> Int { skill < bySkill.count ? bySkill[skill].count : 0 }

    /// Adds (or moves) a conversation to these lanes.
    mutating func insert(_ key: QueueKey, skill: Int, lanes: QueueLanes) {
        remove(key.conversation)
        nextGeneration &+= 1
        members.insert(
            key.conversation,
            Member(
                effectiveArrival: key.effectiveArrival, generation: nextGeneration, skill: Int32(skill),
                plain: lanes.plain))
        lanes.forEach { lane in
            let level = min(max(lane.requiredLevel, 0), 63)
            let store = max(lane.store, 0)
            makeRoom(skill: lane.skill, level: level, store: store)
            heaps[(lane.skill * levelSpan + level) * storeSpan + store].insert(
                Entry(key: key, generation: nextGeneration))
            laneLevels[lane.skill] |= 1 << UInt64(level)
        }
        grow(toSkill: skill)
        bySkill[skill].insert(key)
    }

    private mutating func grow(toSkill skill: Int) {
        guard laneLevels.count <= skill else { return }
        let more = skill + 1 - laneLevels.count
        laneLevels += Array(repeating: 0, count: more)
        bySkill += Array(repeating: SortedKeys(), count: more)
    }

    /// Widens the heaps' layout to hold lane (skill, level, store), moving the heaps when it changes.
    private mutating func makeRoom(skill: Int, level: Int, store: Int) {
        grow(toSkill: skill)
        guard skill >= skillSpan || level >= levelSpan || store >= storeSpan else { return }
        let (skills, levels, stores) = (max(skillSpan, skill + 1), max(levelSpan, level + 1), max(storeSpan, store + 1))
        var moved = [BinaryHeap<Entry>](repeating: BinaryHeap(), count: skills * levels * stores)
        for oldSkill in 0..<skillSpan {
            for oldLevel in 0..<levelSpan {
                for oldStore in 0..<storeSpan {
                    swap(
                        &moved[(oldSkill * levels + oldLevel) * stores + oldStore],
                        &heaps[(oldSkill * levelSpan + oldLevel) * storeSpan + oldStore])
                }
            }
        }
        heaps = moved
        (skillSpan, levelSpan, storeSpan) = (skills, levels, stores)
    }

    /// Takes a conversation out of the queue; false when it was not waiting.
    @discardableResult
    mutating func remove(_ conversation: ConversationID) -> Bool {
        guard let member = members.remove(conversation) else { return false }
        bySkill[Int(member.skill)].remove(member.key(conversation))
        // Heap entries stay until they reach the top of their heap; walks discard them then.
        return true
    }

    /// The heap number of a lane, nil when no conversation ever waited in it (for `takeBest`). Valid until the next
    /// `insert`.
    func laneNumber(of lane: QueueLane) -> Int? {
        guard lane.skill >= 0, lane.skill < skillSpan, lane.requiredLevel >= 0, lane.requiredLevel < levelSpan,
            lane.store >= 0, lane.store < storeSpan
        else { return nil }
        return (lane.skill * levelSpan + lane.requiredLevel) * storeSpan + lane.store
    }

    /// Whether no conversation waits in a lane (by its `laneNumber`), so a search can leave it out.
    func isEmpty(lane number: Int) -> Bool { heaps[number].isEmpty }

    /// The best waiting conversation in any of `lanes` (by `laneNumber`) that `accept` admits (an agent's language,
    /// reservation and availability checks; it is told whether the conversation is `QueueLanes.plain`). The lanes'
    /// heads are merged in serving order, so only the best head is judged (the one place a conversation is read)
    /// unless it is stale or refused: the cost is the entries judged, not the number of lanes or the queue's length.
    /// A conversation standing in two of the lanes is judged once.
    ///
    /// The one found is taken: its entry leaves that lane's heap now, while it is at hand, instead of being found
    /// stale later. The caller must take it out of the queue (`remove`): it is being assigned.
    mutating func takeBest(
        among lanes: UnsafeBufferPointer<Int>, where accept: (_ conversation: ConversationID, _ plain: Bool) -> Bool
    ) -> QueueKey? {
        var skipped: [(lane: Int, entry: Entry)] = []
        defer { for (lane, entry) in skipped { heaps[lane].insert(entry) } }
        while true {
            var best: (lane: Int, entry: Entry)?
            for lane in lanes {
                if let top = heaps[lane].min, best.map({ top < $0.entry }) ?? true { best = (lane, top) }
            }
            guard let (lane, top) = best else { return nil }
            guard let member = members[top.key.conversation], member.generation == top.generation else {
                heaps[lane].removeMin()  // stale
                continue
            }
            if accept(top.key.conversation, member.plain) {
                heaps[lane].removeMin()
                return top.key
            }
            skipped.append((lane, heaps[lane].removeMin()))
        }
    }

    /// One more than the highest store lane any conversation has waited in: an agent serving every store looks at
    /// lanes 0..<storeLanes.
    var storeLanes: Int { storeSpan }

    /// The required levels that have a lane for a skill, as a bit mask (bit `level`): an agent of level L looks
    /// only at the set bits up to L.
    func laneMask(of skill: Int) -> UInt64 { skill < laneLevels.count ? laneLevels[skill] : 0 }

    /// Every waiting conversation of a skill in serving order (for positions and reports).
    func ordered(skill: Int) -> [QueueKey] {
        skill < bySkill.count ? Array(bySkill[skill]) : []
    }

    /// 1-based position of a waiting conversation among those of its own skill, in O(log n) wherever it lands
    /// (a vip or a requeued chat goes in the middle).
    func position(of conversation: ConversationID) -> Int? {
        guard let member = members[conversation] else { return nil }
        return bySkill[Int(member.skill)].rank(of: member.key(conversation))
    }

    /// Every waiting conversation in serving order.
    var ordered: [QueueKey] { members.map { $0.value.key($0.key) }.sorted() }
}

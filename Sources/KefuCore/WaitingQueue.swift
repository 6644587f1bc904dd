import HeapModule

/// Orders waiting conversations: vip before normal, then by arrival. A conversation sent back to the queue
/// keeps its original arrival, so it goes back near the front rather than behind newer chats.
struct QueueKey: Comparable, Hashable {
    var priority: Priority
    var arrivedAt: Instant
    var conversation: ConversationID

    /// "Less" means served earlier.
    static func < (lhs: QueueKey, rhs: QueueKey) -> Bool {
        if lhs.priority != rhs.priority { return lhs.priority > rhs.priority }
        if lhs.arrivedAt != rhs.arrivedAt { return lhs.arrivedAt < rhs.arrivedAt }
        return lhs.conversation < rhs.conversation
    }
}

/// Waiting conversations, one heap per skill, so the best conversation an agent can serve is found by looking
/// at the head of each of its skills. Removal is lazy: a generation number tells live heap entries from stale ones.
struct WaitingQueue {
    private struct Entry: Comparable {
        var key: QueueKey
        var generation: UInt64
        static func < (lhs: Entry, rhs: Entry) -> Bool { lhs.key < rhs.key }
        static func == (lhs: Entry, rhs: Entry) -> Bool { lhs.key == rhs.key && lhs.generation == rhs.generation }
    }

    private struct Member {
        var skill: Skill
        var key: QueueKey
        var generation: UInt64
    }

    private var heaps: [Skill: Heap<Entry>] = [:]
    private var members: [ConversationID: Member] = [:]
    private var countBySkill: [Skill: Int] = [:]
    private var nextGeneration: UInt64 = 0

    var count: Int { members.count }

    func contains(_ conversation: ConversationID) -> Bool { members[conversation] != nil }

    func count(of skill: Skill) -> Int { countBySkill[skill] ?? 0 }

    mutating func insert(_ key: QueueKey, skill: Skill) {
        nextGeneration &+= 1
        if members[key.conversation] != nil { remove(key.conversation) }
        members[key.conversation] = Member(skill: skill, key: key, generation: nextGeneration)
        heaps[skill, default: Heap()].insert(Entry(key: key, generation: nextGeneration))
        countBySkill[skill, default: 0] += 1
    }

    mutating func remove(_ conversation: ConversationID) {
        guard let member = members.removeValue(forKey: conversation) else { return }
        countBySkill[member.skill, default: 1] -= 1
        // The heap entry stays until it reaches the top; `head(of:)` discards it then.
    }

    /// The best waiting conversation of a skill.
    mutating func head(of skill: Skill) -> QueueKey? {
        while let top = heaps[skill]?.min {
            if let member = members[top.key.conversation], member.generation == top.generation {
                return top.key
            }
            heaps[skill]?.removeMin()
        }
        return nil
    }

    /// 1-based position of a waiting conversation among those of its skill.
    /// Linear in that skill's queue; called once per open or requeue, not per decision.
    func position(of conversation: ConversationID) -> Int? {
        guard let member = members[conversation] else { return nil }
        var ahead = 0
        for other in members.values where other.skill == member.skill && other.key < member.key {
            ahead += 1
        }
        return ahead + 1
    }

    /// Every waiting conversation in serving order (for inspection and tests).
    var ordered: [QueueKey] { members.values.map(\.key).sorted() }
}

import KefuReplay
import KefuTestSupport
import Testing

@testable import KefuCore

// SortedKeys (the per-skill order behind queue positions) against the obvious model, a sorted array, with small
// chunk capacities so that splits, merges and emptied chunks happen all the time. Randomness comes from a seeded
// generator, so every run checks the same sequences.

@Suite("Sorted keys: ranks and order in chunks")
struct SortedKeysTests {
    /// Random inserts and removes over a small key space (so removes often hit and inserts often collide), growing
    /// then shrinking to empty; after every step the answers, the order, every rank and the chunk shapes agree.
    @Test(arguments: [4, 5, 8, 16, 64, 512])
    func randomInsertsAndRemovesMatchASortedArray(chunkCapacity: Int) {
        var rng = SeededGenerator(seed: 0x6B65_6675 &+ UInt64(chunkCapacity))
        var keys = SortedKeys<Int>(chunkCapacity: chunkCapacity)
        var model: [Int] = []
        // Phases: mostly inserts, mixed, mostly removes, then drain to empty.
        for insertShare in [80, 50, 20, 0] {
            for _ in 0..<600 {
                let key = Int.random(in: 0..<400, using: &rng)
                if Int.random(in: 0..<100, using: &rng) < insertShare {
                    let inserted = keys.insert(key)
                    let slot = model.firstIndex { $0 >= key } ?? model.count
                    let fresh = slot == model.count || model[slot] != key
                    if fresh { model.insert(key, at: slot) }
                    #expect(inserted == fresh, "insert \(key)")
                } else {
                    // Half the removes pick a present key, so the set really shrinks.
                    let victim = !model.isEmpty && Bool.random(using: &rng) ? model.randomElement(using: &rng)! : key
                    let removed = keys.remove(victim)
                    let present = model.firstIndex(of: victim)
                    if let present { model.remove(at: present) }
                    #expect(removed == (present != nil), "remove \(victim)")
                }
                if let problem = Self.firstProblem(keys, model) {
                    Issue.record("\(problem)")
                    return
                }
            }
        }
        for key in model { keys.remove(key) }
        #expect(keys.isEmpty)
        #expect(keys.chunkCounts.isEmpty)
    }

    /// A queue's usual life: arrivals above every key (the last chunk fills and splits, extending the size tree in
    /// place), departures from the front, now and then one from the middle.
    @Test(arguments: [4, 5, 64])
    func arrivalsAtTheEndAndDeparturesAtTheFrontMatchASortedArray(chunkCapacity: Int) {
        var rng = SeededGenerator(seed: 0x7175_6575 &+ UInt64(chunkCapacity))
        var keys = SortedKeys<Int>(chunkCapacity: chunkCapacity)
        var model: [Int] = []
        var next = 0
        for step in 0..<3000 {
            let roll = Int.random(in: 0..<100, using: &rng)
            if roll < 65 || model.isEmpty {
                next += Int.random(in: 1...3, using: &rng)
                let inserted = keys.insert(next)
                #expect(inserted)
                model.append(next)
            } else {
                let victim = roll < 90 ? 0 : Int.random(in: 0..<model.count, using: &rng)
                let removed = keys.remove(model.remove(at: victim))
                #expect(removed)
            }
            if let problem = Self.firstProblem(keys, model) {
                Issue.record("step \(step): \(problem)")
                return
            }
        }
    }

    @Test func emptyAnswersNothing() {
        var keys = SortedKeys<Int>(chunkCapacity: 4)
        #expect(keys.isEmpty)
        #expect(keys.count == 0)
        #expect(keys.rank(of: 1) == nil)
        #expect(!keys.contains(1))
        #expect(Array(keys).isEmpty)
        #expect(keys.chunkCounts.isEmpty)
        let removed = keys.remove(1)
        #expect(!removed)
        #expect(keys.isEmpty)
    }

    @Test func removingAnAbsentKeyChangesNothing() {
        var keys = SortedKeys<Int>(chunkCapacity: 4)
        for key in stride(from: 10, through: 100, by: 10) { keys.insert(key) }
        let before = keys.chunkCounts
        for absent in [5, 15, 55, 95, 105] {
            let removed = keys.remove(absent)
            #expect(!removed)
            #expect(keys.rank(of: absent) == nil)
        }
        #expect(keys.count == 10)
        #expect(keys.chunkCounts == before)
        #expect(Array(keys) == Array(stride(from: 10, through: 100, by: 10)))
    }

    @Test func insertingAPresentKeyChangesNothing() {
        var keys = SortedKeys<Int>(chunkCapacity: 4)
        for key in 1...9 { keys.insert(key) }
        let before = keys.chunkCounts
        for key in [1, 5, 9] {
            let inserted = keys.insert(key)
            #expect(!inserted)
        }
        #expect(keys.count == 9)
        #expect(keys.chunkCounts == before)
        #expect(Array(keys) == Array(1...9))
    }

    @Test func aFullChunkSplitsInHalves() {
        var keys = SortedKeys<Int>(chunkCapacity: 4)
        for key in 1...4 { keys.insert(key) }
        #expect(keys.chunkCounts == [4])
        keys.insert(5)
        #expect(keys.chunkCounts == [2, 3])
        // Below every key: goes into the first chunk, which splits again once over capacity.
        keys.insert(0)
        keys.insert(-1)
        #expect(keys.chunkCounts == [4, 3])
        keys.insert(-2)
        #expect(keys.chunkCounts == [2, 3, 3])
        #expect(Array(keys) == Array(-2...5))
        #expect((-2...5).map { keys.rank(of: $0) } == Array(1...8))
    }

    @Test func aChunkDownToAQuarterMergesIntoItsNeighbour() {
        var keys = SortedKeys<Int>(chunkCapacity: 8)
        for key in 1...9 { keys.insert(key) }
        #expect(keys.chunkCounts == [4, 5])
        keys.remove(1)
        keys.remove(2)
        #expect(keys.chunkCounts == [7])  // the first chunk fell to 2 (a quarter of 8) and joined the second
        #expect(Array(keys) == Array(3...9))
        #expect(keys.rank(of: 9) == 7)
    }

    @Test func aMergeThatOverflowsSplitsAgain() {
        var keys = SortedKeys<Int>(chunkCapacity: 8)
        for key in 1...9 { keys.insert(key) }  // [1...4] [5...9]
        for key in 10...12 { keys.insert(key) }  // [1...4] [5...12]
        keys.remove(1)
        keys.remove(2)  // [3, 4] + [5...12] is 10 keys: split into 5 and 5
        #expect(keys.chunkCounts == [5, 5])
        #expect(Array(keys) == Array(3...12))
        #expect((3...12).map { keys.rank(of: $0) } == Array(1...10))
    }

    @Test func aLoneChunkEmptiesAndFillsAgain() {
        var keys = SortedKeys<Int>(chunkCapacity: 4)
        keys.insert(7)
        let removed = keys.remove(7)
        #expect(removed)
        #expect(keys.isEmpty)
        #expect(keys.chunkCounts.isEmpty)
        keys.insert(3)
        #expect(keys.rank(of: 3) == 1)
        #expect(keys.chunkCounts == [1])
    }

    @Test func removingTheGreatestKeyOfAChunkKeepsTheSearchRight() {
        var keys = SortedKeys<Int>(chunkCapacity: 8)
        for key in 1...16 { keys.insert(key) }
        #expect(keys.chunkCounts == [4, 4, 8])
        keys.remove(4)  // the first chunk's greatest key: the search must now stop the first chunk at 3
        #expect(keys.chunkCounts == [3, 4, 8])
        #expect(keys.rank(of: 3) == 3)
        #expect(keys.rank(of: 5) == 4)
        #expect(keys.rank(of: 4) == nil)
        keys.insert(4)  // between the chunks: the front of the second
        #expect(keys.chunkCounts == [3, 5, 8])
        #expect(Array(keys) == Array(1...16))
        #expect((1...16).map { keys.rank(of: $0) } == Array(1...16))
    }

    /// The queue built on it: positions and per-skill order agree with a model, through vips landing in the middle,
    /// re-inserts under the same and new keys, and removals, over two skills.
    @Test func waitingQueuePositionsMatchAModel() {
        var rng = SeededGenerator(seed: 42)
        var queue = WaitingQueue()
        var model: [ConversationID: (skill: Int, key: QueueKey)] = [:]
        let skills = [0, 1]  // skill numbers, as the core hands them to the queue
        var now: Int64 = 1_000_000
        var nextID: Int64 = 1
        for _ in 0..<3000 {
            now += Int64.random(in: 0...50, using: &rng)
            let skill = skills.randomElement(using: &rng)!
            let lanes = QueueLanes(own: QueueLane(skill: skill, requiredLevel: 1))
            switch Int.random(in: 0..<10, using: &rng) {
            case 0..<4:  // a new chat, a vip one time in four
                let boost: Int64 = Int.random(in: 0..<4, using: &rng) == 0 ? 30_000 : 0
                let arrival = Instant(unixMilliseconds: now - boost)
                let key = QueueKey(effectiveArrival: arrival, conversation: ConversationID(nextID))
                nextID += 1
                queue.insert(key, skill: skill, lanes: lanes)
                model[key.conversation] = (skill, key)
            case 4..<6:  // re-insert a waiting chat: same key (widened) or an older arrival, maybe another skill
                // Sorted ids: a dictionary's own order changes from run to run.
                guard let id = model.keys.sorted().randomElement(using: &rng), let entry = model[id] else { continue }
                var key = entry.key
                if Bool.random(using: &rng) { key.effectiveArrival.unixMilliseconds -= 5_000 }
                queue.insert(key, skill: skill, lanes: lanes)
                model[id] = (skill, key)
            default:
                guard let id = model.keys.sorted().randomElement(using: &rng) else { continue }
                queue.remove(id)
                model[id] = nil
            }
            for skill in skills {
                let expected = model.values.filter { $0.skill == skill }.map(\.key).sorted()
                #expect(queue.ordered(skill: skill) == expected)
                #expect(queue.count(of: skill) == expected.count)
            }
            for (id, entry) in model {
                let expected = model.values.count(where: { $0.skill == entry.skill && $0.key < entry.key }) + 1
                #expect(queue.position(of: id) == expected)
            }
            #expect(queue.count == model.count)
            #expect(queue.ordered == model.values.map(\.key).sorted())
        }
        #expect(queue.position(of: ConversationID(nextID)) == nil)
    }

    /// The first disagreement with the model, or a chunk out of shape: empty, over capacity, or (among several)
    /// down to a quarter of the capacity.
    static func firstProblem(_ keys: SortedKeys<Int>, _ model: [Int]) -> String? {
        if keys.count != model.count { return "count \(keys.count), expected \(model.count)" }
        if keys.isEmpty != model.isEmpty { return "isEmpty \(keys.isEmpty) with \(model.count) keys" }
        let walked = Array(keys)
        if walked != model { return "order \(walked), expected \(model)" }
        for (index, key) in model.enumerated() where keys.rank(of: key) != index + 1 {
            return "rank of \(key) is \(String(describing: keys.rank(of: key))), expected \(index + 1)"
        }
        let counts = keys.chunkCounts
        if counts.reduce(0, +) != model.count { return "chunks \(counts) hold \(model.count) keys" }
        if counts.contains(where: { $0 == 0 || $0 > keys.chunkCapacity }) {
            return "chunks \(counts) with capacity \(keys.chunkCapacity)"
        }
        if counts.count > 1, counts.contains(where: { $0 <= keys.chunkCapacity / 4 }) {
            return "chunks \(counts) should have merged (capacity \(keys.chunkCapacity))"
        }
        return nil
    }
}

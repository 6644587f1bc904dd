import KefuReplay
import KefuTestSupport
import Testing

@testable import KefuCore

// ConversationIndex (conversation id -> table slot or queue entry) against a dictionary, over the traffic it is
// built for (ids in order, most closing soon) and the traffic that would break a plain window: a chat left open for
// days, a restore bringing ids out of order or after a long gap.

@Suite("Values by conversation id")
struct ConversationIndexTests {
    /// Opens in id order with occasional gaps and out-of-order ids, closes mostly of the oldest, a few chats that
    /// never close, slots replaced: after every step each id answers as the dictionary does, and the window spans
    /// no more than its bound; now and then, listing the index gives every entry once.
    @Test func randomTrafficMatchesADictionary() {
        var rng = SeededGenerator(seed: 0x736C_6F74)
        var index = ConversationIndex<Int>()
        var model: [Int64: Int] = [:]
        var open: [Int64] = []  // in opening order
        var nextID: Int64 = 1
        var nextSlot = 1
        for step in 0..<20_000 {
            let roll = Int.random(in: 0..<100, using: &rng)
            if roll < 50 || open.isEmpty {
                var id = nextID
                switch Int.random(in: 0..<100, using: &rng) {
                case 0: id += Int64.random(in: 5_000...50_000, using: &rng)  // a gap, as after a restore
                case 1 where nextID > 10: id = Int64.random(in: 1..<nextID, using: &rng)  // out of order
                default: break
                }
                nextID = max(nextID, id + 1)
                if model[id] == nil { open.append(id) }
                index.insert(ConversationID(id), nextSlot)
                model[id] = nextSlot
                nextSlot += 1
            } else {
                // Mostly the oldest (chats close in about the order they opened), sometimes any; the first few
                // ids are never closed: the chats left open for days.
                let candidates = open.indices.filter { open[$0] > 5 }
                guard !candidates.isEmpty else { continue }
                let position = roll < 90 ? candidates[0] : candidates.randomElement(using: &rng)!
                let id = open.remove(at: position)
                #expect(index.remove(ConversationID(id)) == model.removeValue(forKey: id), "remove \(id)")
            }
            #expect(index.count == model.count)
            #expect(index.windowSpan <= 4 * index.count + 4096 + 1, "window of \(index.windowSpan) ids at step \(step)")
            if step % 997 == 0 {
                let listed = index.map { ($0.key.rawValue, $0.value) }
                #expect(
                    Dictionary(listed, uniquingKeysWith: { _, _ in -1 }) == model, "every entry once, at step \(step)")
            }
            // Every open id, the ids around the newest, and random ones (mostly absent).
            let probes =
                (step % 97 == 0 ? open : []) + Array(max(1, nextID - 20)..<nextID + 2)
                + (0..<20).map { _ in Int64.random(in: 1..<nextID + 2, using: &rng) }
            for id in probes where index[ConversationID(id)] != model[id] {
                Issue.record(
                    "id \(id): \(String(describing: index[ConversationID(id)])) != \(String(describing: model[id]))")
                return
            }
        }
        let absent = ConversationID(nextID + 7)
        #expect(index.remove(absent) == nil)
        for id in open { #expect(index.remove(ConversationID(id)) == model.removeValue(forKey: id)) }
        #expect(index.count == 0)
    }

    /// One chat stays open while 200,000 later ones open and close: it is still found, and the window does not
    /// grow with the ids that passed.
    @Test func aChatLeftOpenDoesNotWidenTheWindow() {
        var index = ConversationIndex<Int>()
        index.insert(ConversationID(1), 1)
        for id in Int64(2)...200_001 {
            index.insert(ConversationID(id), 2)
            #expect(index.remove(ConversationID(id)) == 2)
        }
        #expect(index[ConversationID(1)] == 1)
        #expect(index.windowSpan <= 4096 + 1)
        #expect(index.remove(ConversationID(1)) == 1)
        #expect(index.count == 0)
    }

    @Test func anAbsentIdHasNoSlotAndRemovesNothing() {
        var index = ConversationIndex<Int>()
        #expect(index[ConversationID(3)] == nil)
        #expect(index.remove(ConversationID(3)) == nil)
        index.insert(ConversationID(10), 4)
        #expect(index[ConversationID(9)] == nil)
        #expect(index[ConversationID(11)] == nil)
        #expect(index.remove(ConversationID(11)) == nil)
        #expect(index[ConversationID(10)] == 4)
        #expect(index.count == 1)
    }
}

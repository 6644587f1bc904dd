/// Unique keys in ascending order, answering a key's rank (1-based position) and iterating in order without a scan
/// or a sort of the whole set.
///
/// The waiting queue keeps one per skill: a vip or a requeued chat lands in the middle of its skill's queue, and
/// telling its customer the position must not cost a pass over every waiting conversation (100,000 in the
/// benchmark). The keys sit in sorted chunks of at most `chunkCapacity`, so an insert or a removal moves at most that
/// many keys after a binary search over the chunks' last keys; a Fenwick tree over the chunk sizes counts the keys
/// before a chunk in O(log chunks). A chunk that falls to a quarter of the capacity is merged into a neighbour, so
/// there are never more than `4 × count / chunkCapacity` chunks.
struct SortedKeys<Key: Comparable> {
    /// Most keys a chunk holds before it splits in two.
    let chunkCapacity: Int
    /// Non-empty sorted chunks; every key of a chunk is below every key of the next.
    private var chunks: [[Key]] = []
    /// The last (greatest) key of each chunk, searched to find the chunk a key belongs to.
    private var lasts: [Key] = []
    /// Fenwick tree over the chunk sizes: `sizes[i]` holds the sizes of chunks `i & (i + 1)...i` together, so the
    /// keys before a chunk are a sum of O(log chunks) entries.
    private var sizes: [Int] = []
    private(set) var count = 0

    /// 64 keys a chunk: the common removal is a skill's oldest waiting chat, at the front of the first chunk, and
    /// moves the rest of that chunk (a chunk of 512 moved up to 8 KB per assignment); more, smaller chunks cost
    /// only a few more steps of the binary search over the chunks. Tests use tiny chunks to split and merge often.
    init(chunkCapacity: Int = 64) {
        precondition(chunkCapacity >= 4, "a chunk must hold at least 4 keys")
        self.chunkCapacity = chunkCapacity
    }

    var isEmpty: Bool { count == 0 }

    /// The size of every chunk in order, for tests of splitting and merging.
    var chunkCounts: [Int] { chunks.map(\.count) }

    func contains(_ key: Key) -> Bool { find(key) != nil }

    /// 1-based position of `key` in ascending order, nil if absent.
    func rank(of key: Key) -> Int? {
        guard let (chunk, slot) = find(key) else { return nil }
        return keysBefore(chunk: chunk) + slot + 1
    }

    /// Adds `key`; returns false (and changes nothing) if it is already there.
    @discardableResult
    mutating func insert(_ key: Key) -> Bool {
        guard !chunks.isEmpty else {
            chunks = [[key]]
            lasts = [key]
            count = 1
            rebuildSizes()
            return true
        }
        // Above every key (a new arrival, the common case): goes at the end of the last chunk, without a search.
        let above = key > lasts[lasts.count - 1]
        let chunk = above ? chunks.count - 1 : Swift.min(chunkIndex(for: key), chunks.count - 1)
        let slot = above ? chunks[chunk].count : Self.lowerBound(of: key, in: chunks[chunk])
        if slot < chunks[chunk].count, chunks[chunk][slot] == key { return false }
        chunks[chunk].insert(key, at: slot)
        if slot == chunks[chunk].count - 1 { lasts[chunk] = key }
        count += 1
        if chunks[chunk].count > chunkCapacity {
            split(chunk, grownBy: 1)
        } else {
            addSize(1, at: chunk)
        }
        return true
    }

    /// Removes `key`; returns false if it was not there.
    @discardableResult
    mutating func remove(_ key: Key) -> Bool {
        guard let (chunk, slot) = find(key) else { return false }
        chunks[chunk].remove(at: slot)
        count -= 1
        if chunks[chunk].isEmpty {
            // Only a lone chunk empties: any other merges with a neighbour well before.
            chunks.remove(at: chunk)
            lasts.remove(at: chunk)
            rebuildSizes()
            return true
        }
        if slot == chunks[chunk].count { lasts[chunk] = chunks[chunk][slot - 1] }
        if chunks.count > 1, chunks[chunk].count <= chunkCapacity / 4 {
            merge(chunk)
        } else {
            addSize(-1, at: chunk)
        }
        return true
    }

    // MARK: - Chunks

    /// Where `key` is, if present.
    private func find(_ key: Key) -> (chunk: Int, slot: Int)? {
        let chunk = chunkIndex(for: key)
        guard chunk < chunks.count else { return nil }
        let slot = Self.lowerBound(of: key, in: chunks[chunk])
        guard slot < chunks[chunk].count, chunks[chunk][slot] == key else { return nil }
        return (chunk, slot)
    }

    /// The first chunk whose last key is at or above `key` (`chunks.count` when `key` is above them all).
    private func chunkIndex(for key: Key) -> Int { Self.lowerBound(of: key, in: lasts) }

    /// The first index whose key is at or above `key` in sorted `keys`.
    private static func lowerBound(of key: Key, in keys: [Key]) -> Int {
        var low = 0
        var high = keys.count
        while low < high {
            let middle = low + (high - low) / 2
            if keys[middle] < key { low = middle + 1 } else { high = middle }
        }
        return low
    }

    /// Cuts an overfull chunk into two halves. `grownBy`: keys added to the chunk since the tree last counted it.
    private mutating func split(_ chunk: Int, grownBy grown: Int? = nil) {
        let half = chunks[chunk].count / 2
        let upper = Array(chunks[chunk][half...])
        chunks[chunk].removeSubrange(half...)
        chunks.insert(upper, at: chunk + 1)
        lasts[chunk] = chunks[chunk][half - 1]
        lasts.insert(upper[upper.count - 1], at: chunk + 1)
        guard let grown, chunk + 2 == chunks.count, sizes.count == chunk + 1 else { return rebuildSizes() }
        // The last chunk split (arrivals append to it, so this is the common split): the tree is extended by one
        // node in O(log chunks) instead of rebuilt in O(chunks), which grew with the queue.
        addSize(grown - upper.count, at: chunk)
        let node = chunk + 1
        sizes.append(upper.count + keysBefore(chunk: node) - keysBefore(chunk: node & (node + 1)))
    }

    /// Joins a chunk down to a quarter of the capacity with its smaller neighbour, splitting the result again if it
    /// overflows.
    private mutating func merge(_ chunk: Int) {
        let left: Int
        if chunk == 0 {
            left = 0
        } else if chunk == chunks.count - 1 {
            left = chunk - 1
        } else {
            left = chunks[chunk - 1].count <= chunks[chunk + 1].count ? chunk - 1 : chunk
        }
        let right = chunks.remove(at: left + 1)
        chunks[left].append(contentsOf: right)
        lasts.remove(at: left)
        if chunks[left].count > chunkCapacity {
            split(left)
        } else {
            rebuildSizes()
        }
    }

    // MARK: - Fenwick tree over chunk sizes

    /// Rebuilds the tree in O(chunks) after chunks were added or removed.
    private mutating func rebuildSizes() {
        // In place, and without a key path (`map(\.count)` instantiated one on every call).
        if sizes.count > chunks.count { sizes.removeLast(sizes.count - chunks.count) }
        for index in chunks.indices {
            if index < sizes.count { sizes[index] = chunks[index].count } else { sizes.append(chunks[index].count) }
        }
        for index in sizes.indices {
            let parent = index | (index + 1)
            if parent < sizes.count { sizes[parent] += sizes[index] }
        }
    }

    private mutating func addSize(_ delta: Int, at chunk: Int) {
        var index = chunk
        while index < sizes.count {
            sizes[index] += delta
            index |= index + 1
        }
    }

    /// Keys in the chunks before `chunk`.
    private func keysBefore(chunk: Int) -> Int {
        var total = 0
        var end = chunk  // sums sizes[0..<end]
        while end > 0 {
            total += sizes[end - 1]
            end &= end - 1
        }
        return total
    }
}

extension SortedKeys: Sequence {
    /// Ascending order, chunk by chunk.
    func makeIterator() -> FlattenSequence<[[Key]]>.Iterator { chunks.joined().makeIterator() }

    var underestimatedCount: Int { count }
}

extension SortedKeys: Sendable where Key: Sendable {}

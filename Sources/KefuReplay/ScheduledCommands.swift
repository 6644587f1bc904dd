import KefuCore

/// The commands a run has yet to hand to the core, earliest first, and among those at one instant the first
/// scheduled first (a binary min-heap on instant and order of scheduling).
struct ScheduledCommands: Sendable {
    struct Entry: Sendable {
        var at: Instant
        var order: Int64
        var command: Command

        func precedes(_ other: Entry) -> Bool { at != other.at ? at < other.at : order < other.order }
    }

    private var entries: [Entry] = []

    var first: Entry? { entries.first }

    mutating func insert(_ entry: Entry) {
        entries.append(entry)
        var child = entries.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard entries[child].precedes(entries[parent]) else { break }
            entries.swapAt(child, parent)
            child = parent
        }
    }

    mutating func removeFirst() {
        let last = entries.count - 1
        entries.swapAt(0, last)
        entries.removeLast()
        var parent = 0
        while true {
            let left = 2 * parent + 1
            let right = left + 1
            var smallest = parent
            if left < entries.count, entries[left].precedes(entries[smallest]) { smallest = left }
            if right < entries.count, entries[right].precedes(entries[smallest]) { smallest = right }
            if smallest == parent { return }
            entries.swapAt(parent, smallest)
            parent = smallest
        }
    }
}

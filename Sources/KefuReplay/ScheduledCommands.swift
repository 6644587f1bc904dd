import KefuCore

/// The commands a run has yet to hand to the core, earliest first, and among those at one instant the first
/// scheduled first (a binary min-heap on instant and order of scheduling).
struct ScheduledCommands: Sendable {
    struct Entry: Sendable, Comparable {
        var at: Instant
        var order: Int64
        var command: Command

        static func < (a: Entry, b: Entry) -> Bool { a.at != b.at ? a.at < b.at : a.order < b.order }
        static func == (a: Entry, b: Entry) -> Bool { a.at == b.at && a.order == b.order }
    }

    private var entries = BinaryHeap<Entry>()

    var first: Entry? { entries.min }

    mutating func insert(_ entry: Entry) { entries.insert(entry) }

    mutating func removeFirst() { entries.removeMin() }
}

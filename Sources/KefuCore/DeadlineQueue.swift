import HeapModule

/// What a deadline is for.
enum DeadlineKind: Hashable {
    case firstResponse
}

/// One armed deadline.
struct Deadline: Comparable {
    var at: Instant
    var conversation: ConversationID
    var kind: DeadlineKind

    static func < (lhs: Deadline, rhs: Deadline) -> Bool {
        if lhs.at != rhs.at { return lhs.at < rhs.at }
        return lhs.conversation < rhs.conversation
    }
}

/// Every armed deadline in one heap, so the server needs a single timer for the earliest one however many
/// conversations are open. Cancelling is lazy: the core checks, when a deadline comes due, whether it still applies.
struct DeadlineQueue {
    private var heap = Heap<Deadline>()

    var count: Int { heap.count }

    /// The earliest armed deadline.
    var next: Instant? { heap.min?.at }

    mutating func arm(_ deadline: Deadline) { heap.insert(deadline) }

    /// Removes and returns the earliest deadline if it is due at `now`.
    mutating func popDue(at now: Instant) -> Deadline? {
        guard let top = heap.min, top.at <= now else { return nil }
        return heap.removeMin()
    }
}

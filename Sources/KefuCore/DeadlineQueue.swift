/// What a deadline is for. (SPI `Benchmarks`: the benchmarks measure the deadline queue on its own.)
@_spi(Benchmarks) public enum DeadlineKind: Hashable, Sendable {
    /// The customer's first-response clock runs out.
    /// A response round's deadline (round 1 is the first response).
    case roundDue(ConversationID, round: Int)
    /// The moment to warn the holder that a round's deadline is near.
    case roundWarning(ConversationID, round: Int)
    /// The buyer has said nothing since the agent's message of that instant: warn them, then close.
    case buyerIdleWarning(ConversationID, since: Instant)
    case buyerIdleClose(ConversationID, since: Instant)
    /// The conversation has been open for its resolution limit.
    case resolutionDue(ConversationID)
    /// A rung of the escalation ladder for a breached round.
    case escalation(ConversationID, round: Int, level: Int)
    /// A waiting conversation widens: step 1 lowers the required level to 1, step 2 admits fallback skills.
    case widen(ConversationID, step: Int)
    /// A returning buyer has waited `sticky_wait_s` for their agent: route normally from now on.
    case stickyExpiry(ConversationID)
    /// An agent's wrap-up after a close is over: its slot is free again.
    case wrapUpOver(AgentID)
    /// A dropped agent did not come back in time: its chats go back to the queue.
    case reconnectGrace(AgentID)
    /// Time to tell waiting customers whose position changed (at most once a second).
    case queueReport
    /// A conversation's satisfaction survey can no longer be answered.
    case surveyExpiry(ConversationID)
}

/// One armed deadline. `sequence` makes the order of deadlines due at the same instant the order of arming, so
/// replays are deterministic.
@_spi(Benchmarks) public struct Deadline: Comparable, Sendable {
    public var at: Instant
    public var sequence: UInt64
    public var kind: DeadlineKind

    public static func < (lhs: Deadline, rhs: Deadline) -> Bool {
        if lhs.at != rhs.at { return lhs.at < rhs.at }
        return lhs.sequence < rhs.sequence
    }

    public static func == (lhs: Deadline, rhs: Deadline) -> Bool { lhs.at == rhs.at && lhs.sequence == rhs.sequence }
}

/// Every armed deadline in one heap, so the server needs a single timer for the earliest one however many
/// conversations are open. Cancelling is lazy: the core checks, when a deadline comes due, whether it still applies.
@_spi(Benchmarks) public struct DeadlineQueue: Sendable {
    private var heap = BinaryHeap<Deadline>()
    private var sequence: UInt64 = 0

    public init() {}

    public var count: Int { heap.count }

    /// The earliest armed deadline.
    public var next: Instant? { heap.min?.at }

    public mutating func arm(_ kind: DeadlineKind, at instant: Instant) {
        sequence &+= 1
        heap.insert(Deadline(at: instant, sequence: sequence, kind: kind))
    }

    /// Removes and returns the earliest deadline if it is due at `now`.
    public mutating func popDue(at now: Instant) -> Deadline? {
        guard let top = heap.min, top.at <= now else { return nil }
        return heap.removeMin()
    }
}

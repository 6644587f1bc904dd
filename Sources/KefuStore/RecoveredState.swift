import KefuCore

/// What the daemon needs from disk before it starts serving.
public struct RecoveredState: Sendable, Equatable {
    /// Every conversation whose state is not `closed`, ordered by id.
    public var openConversations: [ConversationRecord]
    /// The id to give the next conversation: the largest stored id plus one, or 1 for an empty store.
    public var nextConversationID: ConversationID
    /// Each agent's most recent assignment time, from the assignment history (for least-recently-assigned
    /// routing). Agents never assigned are absent.
    public var lastAssignedAt: [AgentID: Instant]

    public init(
        openConversations: [ConversationRecord],
        nextConversationID: ConversationID,
        lastAssignedAt: [AgentID: Instant]
    ) {
        self.openConversations = openConversations
        self.nextConversationID = nextConversationID
        self.lastAssignedAt = lastAssignedAt
    }
}

/// Counters of the store's work since it was opened, for metrics and tests.
public struct StoreStatistics: Sendable, Equatable {
    /// Write transactions committed. Group commit makes this smaller than `batches`.
    public var transactions: Int
    /// Enqueued write batches (calls to `enqueue`) that committed.
    public var batches: Int
    /// Records that committed.
    public var records: Int
    /// Write batches that failed (their transaction or their own records were rolled back).
    public var failedBatches: Int

    public init(transactions: Int = 0, batches: Int = 0, records: Int = 0, failedBatches: Int = 0) {
        self.transactions = transactions
        self.batches = batches
        self.records = records
        self.failedBatches = failedBatches
    }
}

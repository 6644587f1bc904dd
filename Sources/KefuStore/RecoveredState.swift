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
    /// The notes of each open conversation, ordered by `seq`. Conversations without notes are absent; closed
    /// conversations are never included (read them with `StoreReader.notes(of:)`).
    public var notes: [ConversationID: [NoteRecord]]
    /// For each customer whose last conversation an agent held and which closed inside the window asked for,
    /// that agent (see `StoreReader.lastAgents(closedSince:)`). Empty when no window was asked for.
    public var returningBuyers: [CustomerID: ReturningBuyer]
    /// The messages of open conversations sent with `SEND ref=`: the seq each sender's ref got.
    public var sentRefs: [ConversationID: [RoutingCore.SentRef: Int]]

    public init(
        openConversations: [ConversationRecord],
        nextConversationID: ConversationID,
        lastAssignedAt: [AgentID: Instant],
        notes: [ConversationID: [NoteRecord]] = [:],
        returningBuyers: [CustomerID: ReturningBuyer] = [:],
        sentRefs: [ConversationID: [RoutingCore.SentRef: Int]] = [:]
    ) {
        self.sentRefs = sentRefs
        self.openConversations = openConversations
        self.nextConversationID = nextConversationID
        self.lastAssignedAt = lastAssignedAt
        self.notes = notes
        self.returningBuyers = returningBuyers
    }
}

/// Who served a returning buyer (老客户) last, so a new conversation can go back to the same agent.
public struct ReturningBuyer: Sendable, Hashable {
    /// The agent who held the customer's most recently closed conversation.
    public var agent: AgentID
    /// When that conversation was closed.
    public var closedAt: Instant

    public init(agent: AgentID, closedAt: Instant) {
        self.agent = agent
        self.closedAt = closedAt
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

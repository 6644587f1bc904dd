import KefuCore

/// Where a shop's records are kept: SQLite on one node (`ConversationStore`), PostgreSQL in a cluster
/// (`KefuCluster.PostgresRecordStore`). The routing owner sees only this.
///
/// Both keep the same promises: batches commit in the order they were enqueued, many to a transaction; `onCommit`
/// runs once its batch is durable (or failed: then nothing of it was written); a read runs after every write
/// enqueued before it and before every write enqueued after it. Callbacks and read bodies run on the store's own
/// thread and must be short.
public protocol RecordStore: AnyObject, Sendable {
    /// Counters of the store's work since it was opened.
    var statistics: StoreStatistics { get }

    /// Queues records for writing and returns at once; `onCommit` says when they are durable.
    func enqueue(_ records: [Record], onCommit: @escaping @Sendable (Result<Void, StoreError>) -> Void)

    /// Queues a read and returns at once; `completion` receives what `body` returned.
    func enqueueRead<T: Sendable>(
        _ body: @escaping @Sendable (any RecordReader) throws -> T,
        completion: @escaping @Sendable (Result<T, StoreError>) -> Void)

    /// Queues one batch of a retention purge (see `PurgeRequest`) and returns at once: a transaction of its own, after
    /// the writes enqueued before it and before those enqueued after it; `completion` says what it did.
    func enqueuePurge(
        _ request: PurgeRequest, completion: @escaping @Sendable (Result<PurgeOutcome, StoreError>) -> Void)

    /// Stops accepting work and returns once everything queued has committed and the store is closed.
    func shutdown() async
}

extension RecordStore {
    /// Writes records and returns once they are committed. Not cancellable: once enqueued, records are written.
    public func commit(_ records: [Record]) async throws(StoreError) {
        let result: Result<Void, StoreError> = await withCheckedContinuation { continuation in
            enqueue(records) { continuation.resume(returning: $0) }
        }
        try result.get()
    }

    /// Runs one purge batch and returns what it did.
    public func purge(_ request: PurgeRequest) async throws(StoreError) -> PurgeOutcome {
        let result: Result<PurgeOutcome, StoreError> = await withCheckedContinuation { continuation in
            enqueuePurge(request) { continuation.resume(returning: $0) }
        }
        return try result.get()
    }

    /// Runs `body` against the store after every write enqueued before this call has committed.
    public func read<T: Sendable>(_ body: @escaping @Sendable (any RecordReader) throws -> T) async throws(StoreError)
        -> T
    {
        let result: Result<T, StoreError> = await withCheckedContinuation { continuation in
            enqueueRead(body) { continuation.resume(returning: $0) }
        }
        return try result.get()
    }
}

/// What a read body may ask of a store, whichever holds the records. Valid only while the body runs, on the
/// store's thread.
public protocol RecordReader {
    /// A page of a conversation's messages: those with `after < seq <= upTo`, at most `limit`, in order. Without
    /// `includeInternal`, the daemon's internal lines (`from=system` that are not automatic: transfer reasons) are
    /// left out, as a buyer sees the conversation.
    func history(
        of conversation: ConversationID, after: Int, upTo: Int, limit: Int, includeInternal: Bool
    ) throws -> [MessageRecord]
    /// The seq of the message `author` sent under `ref` in the conversation (`SEND ref=`), if there is one.
    func sentMessage(_ conversation: ConversationID, author: String, ref: String) throws -> Int?
    /// The seq of a conversation's last message (0 when it has none).
    func lastSeq(of conversation: ConversationID) throws -> Int
    /// The stored state of a conversation, or nil if it was never written.
    func conversation(_ id: ConversationID) throws -> ConversationRecord?
    /// When the conversation's texts began to be deleted by retention (nil: they are all there). Its `HISTORY` and
    /// `NOTES` then say `purged=1` and list nothing.
    func purgedAt(_ conversation: ConversationID) throws -> Instant?
    /// Every agent that has held the conversation, each once, in order of their first assignment.
    func agentsWhoHeld(_ conversation: ConversationID) throws -> [AgentID]
    /// The conversation's changes of hands, in the order they were written.
    func assignments(of conversation: ConversationID) throws -> [AssignmentRecord]
    /// The conversation's last change of hands, or nil if it never had one.
    func latestAssignment(of conversation: ConversationID) throws -> AssignmentRecord?
    /// The conversation's internal notes, ordered by `seq`.
    func notes(of conversation: ConversationID) throws -> [NoteRecord]
    /// A conversation's response rounds, in order.
    func rounds(of conversation: ConversationID) throws -> [RoundRecord]
    /// What a day's tally (`DayTally`) is rebuilt from after a restart: the rounds started, the surveys sent and the
    /// conversations opened at or after `since`.
    func dayRecords(since: Instant) throws -> DayRecords
    /// Satisfaction surveys that expire after `now` (answered or not): a restart keeps them answerable once.
    func openSurveys(at now: Instant) throws -> [RatingRecord]
    /// The conversation's survey, if one was sent.
    func survey(of conversation: ConversationID) throws -> RatingRecord?
    /// For each customer, the agent who held their most recently closed conversation among those closed at or
    /// after `since`, and when it closed (老客户 go back to the same agent after a restart or a failover).
    func lastAgents(closedSince since: Instant) throws -> [CustomerID: ReturningBuyer]
    /// Everything a routing owner needs to resume serving the shop, plus `lastAgents(closedSince:)` as
    /// `returningBuyers` when `since` is not nil.
    func recoveredState(returningBuyersSince since: Instant?) throws -> RecoveredState
}

extension RecordReader {
    /// The messages of a conversation, ordered by `seq`; empty when there are none.
    public func history(of conversation: ConversationID) throws -> [MessageRecord] {
        try history(of: conversation, after: 0, upTo: Int.max, limit: Int.max, includeInternal: true)
    }

    /// `recoveredState(returningBuyersSince: nil)`: `returningBuyers` stays empty.
    public func recoveredState() throws -> RecoveredState {
        try recoveredState(returningBuyersSince: nil)
    }
}

/// A read body wrapped as a job for a store's thread: its result (an error that is not a `StoreError` wrapped in one
/// naming `path`) goes to `completion`, after the reader has been made invalid.
package func readJob<T: Sendable>(
    _ body: @escaping @Sendable (any RecordReader) throws -> T, path: String,
    completion: @escaping @Sendable (Result<T, StoreError>) -> Void
) -> @Sendable (any RecordReader) -> Void {
    { reader in
        let result: Result<T, StoreError>
        do {
            result = .success(try body(reader))
        } catch let error as StoreError {
            result = .failure(error)
        } catch {
            result = .failure(StoreError(.read, path: path, message: "\(error)", underlying: error))
        }
        (reader as? StoreReader)?.invalidate()
        completion(result)
    }
}

/// Today's records as the store has them (see `RecordReader.dayRecords`).
public struct DayRecords: Sendable, Equatable {
    public var rounds: [RoundRecord]
    public var surveys: [RatingRecord]
    /// When each conversation opened (its first message).
    public var openings: [Instant]

    public init(rounds: [RoundRecord], surveys: [RatingRecord], openings: [Instant]) {
        self.rounds = rounds
        self.surveys = surveys
        self.openings = openings
    }
}

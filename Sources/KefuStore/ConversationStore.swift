import CSQLite
import Foundation
import KefuCore
import Logging

/// The durable record of conversations, messages, assignments and notes, in `<directory>/kefu.sqlite`.
///
/// One dedicated writer thread owns the only SQLite connection. Callers append jobs to a FIFO queue and return at
/// once, so the routing loop never waits for the disk; the writer drains whatever has queued up into a single
/// transaction (group commit) and then reports to each batch's callback. A callback fires only after its
/// transaction has committed, so a client may be acknowledged from it.
///
/// Threading contract: callbacks and read bodies run on the writer thread. They must be short and must not
/// block (hop to your own event loop to do real work); every job queued behind them waits meanwhile.
public final class ConversationStore: RecordStore {
    /// Path of the database file.
    public let path: String

    private let queue: JobQueue
    private let logger: Logger

    /// Where a shop's store lives in kefud's state directory: shop `default`'s (the main configuration file's team,
    /// `NodeConfiguration.defaultShop`) in the state directory itself, where a node of one shop always kept it; every
    /// other shop's in `shops/<shop>/` below it.
    public static func directory(of shop: String, in stateDirectory: String) -> String {
        shop == "default" ? stateDirectory : stateDirectory + "/shops/" + shop
    }

    /// Opens (creating if needed) the store in `directory` and starts its writer thread.
    ///
    /// Throws a `StoreError` naming the path when the directory cannot be created, the file cannot be opened or
    /// is not a SQLite database, or its schema is newer than this build.
    public init(directory: String, logger: Logger) throws(StoreError) {
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw StoreError(.open, path: directory, message: "cannot create directory: \(error)")
        }
        let path = URL(fileURLWithPath: directory).appendingPathComponent("kefu.sqlite").path
        var logger = logger
        logger[metadataKey: "store"] = "\(path)"

        _ = Self.librarySetUp
        let connection = try SQLiteConnection(path: path)
        try Self.configure(connection)
        try Schema.migrate(connection, logger: logger)

        self.path = path
        self.logger = logger
        self.queue = JobQueue()
        let writer = Writer(connection: connection, queue: queue, logger: logger)
        let thread = Thread { writer.run() }
        thread.name = "kefu-store"
        thread.start()
        logger.info("store opened", metadata: ["schema": "\(Schema.currentVersion)"])
    }

    deinit {
        // Let the writer finish what was queued and exit; it holds no reference back to the store.
        queue.close()
    }

    /// Process-wide SQLite settings, made once before the first connection opens (SQLite refuses them after).
    private static let librarySetUp: Void = {
        _ = kefu_sqlite3_disable_memory_statistics()
    }()

    private static func configure(_ connection: SQLiteConnection) throws(StoreError) {
        // Only this process writes, but a `sqlite3` shell or backup may briefly hold a lock.
        try connection.execute("PRAGMA busy_timeout = 5000", .open)
        // The first statement that reads the file: a file that is not a database fails here, naming the path.
        let mode = try connection.statement("PRAGMA journal_mode = WAL", .open)
        defer { mode.reset() }
        guard try mode.step(.open), mode.string(0).lowercased() == "wal" else {
            throw StoreError(.open, path: connection.path, message: "cannot switch the database to WAL mode")
        }
        // WAL with synchronous=NORMAL may lose the last commits on power failure. FULL fsyncs the WAL at every
        // commit, so "committed" (and therefore acknowledged to a client) means on disk. Group commit keeps the
        // cost to one fsync per batch of work, not one per record.
        try connection.execute("PRAGMA synchronous = FULL", .open)
        try connection.execute("PRAGMA foreign_keys = ON", .open)
    }

    /// Counters of the store's work since it was opened.
    public var statistics: StoreStatistics {
        queue.statistics
    }

    /// Queues records for writing and returns immediately.
    ///
    /// Batches commit in the order they were enqueued, possibly several in one transaction, and `onCommit` is
    /// called on the writer thread, in enqueue order, once the transaction holding these records has committed
    /// (`.success`) or failed (`.failure`, nothing of this batch was written). Within a batch, conversation rows
    /// are written before messages, assignments and notes, which must refer to a conversation already written.
    /// After `close()`, `onCommit` is called at once, on the caller's thread, with a `.closed` error.
    public func enqueue(_ records: [Record], onCommit: @escaping @Sendable (Result<Void, StoreError>) -> Void) {
        queue.write(records, onCommit: onCommit, closed: closedError)
    }

    /// Queues a read and returns immediately.
    ///
    /// `body` runs on the writer thread after every write enqueued before this call has committed, and before
    /// any write enqueued after it; `completion` then receives its result on the same thread. An error thrown by
    /// `body` that is not a `StoreError` is wrapped in one (`underlying`). After `close()`, `completion` is
    /// called at once, on the caller's thread, with a `.closed` error.
    public func enqueueRead<T: Sendable>(
        _ body: @escaping @Sendable (any RecordReader) throws -> T,
        completion: @escaping @Sendable (Result<T, StoreError>) -> Void
    ) {
        queue.read(body, path: path, completion: completion, closed: closedError)
    }

    /// Queues one purge batch and returns immediately; `completion` runs on the writer thread once its transaction
    /// has committed (or failed: then nothing of it was changed). After `close()`, at once with a `.closed` error.
    public func enqueuePurge(
        _ request: PurgeRequest, completion: @escaping @Sendable (Result<PurgeOutcome, StoreError>) -> Void
    ) {
        queue.purge(request, completion: completion, closed: closedError)
    }

    /// Reads what the daemon needs to resume: open conversations and their notes, the next id, agents' last
    /// assignments. `returningBuyers` is left empty; see `recover(returningBuyersSince:)`.
    ///
    /// Blocks the calling thread until the writer thread has run it (after any writes already queued). Meant for
    /// startup, before serving; async code may prefer `read { try $0.recoveredState() }`. Fails rather than
    /// deadlocks if called from a callback on the writer thread.
    public func recover() throws(StoreError) -> RecoveredState {
        try recover(returningBuyersSince: nil)
    }

    /// `recover()`, plus, when `since` is not nil, each customer's last agent among the conversations closed at
    /// or after `since` (`RecoveredState.returningBuyers`, see `StoreReader.lastAgents(closedSince:)`).
    public func recover(returningBuyersSince since: Instant?) throws(StoreError) -> RecoveredState {
        guard !queue.isWriterThread else {
            throw StoreError(.read, path: path, message: "recover() called on the store's writer thread")
        }
        let latch = Latch<Result<RecoveredState, StoreError>>()
        enqueueRead(
            { try $0.recoveredState(returningBuyersSince: since) },
            completion: { latch.fulfill($0) }
        )
        return try latch.wait().get()
    }

    /// Stops accepting work, commits everything already queued (running its callbacks), stops the writer thread
    /// and closes the database, blocking until done. Idempotent.
    ///
    /// Called from a callback on the writer thread it cannot wait for itself: it then only stops accepting work,
    /// and the writer closes the database once it has drained the queue.
    public func close() {
        queue.close()
        guard !queue.isWriterThread else { return }
        queue.waitUntilFinished()
    }

    /// `close()` without blocking a thread: returns once everything queued has committed and the database is
    /// closed.
    public func shutdown() async {
        await queue.shutdown()
    }

    private var closedError: StoreError {
        StoreError(.closed, path: path, message: "store is closed")
    }
}

import Foundation
import KefuCore

// Keeping data only as long as the shop decides (`[retention] closed_after_days`, PIPL): the texts of conversations
// closed before a cutoff go, in small transactions, while every figure the reports read stays.
//
// What goes, per conversation:
// - every note (the rows are deleted: no report reads notes);
// - every message's text (set to ''), and the conversation's `first_message` (the buyer's opening line).
// What stays: the conversation row (ids, times, who closed it, the count of messages), its assignments, rounds,
// rating (with its comment: it is a column of the conversation sheet) and the agents' presence, and of each message
// the row without its text: who sent it (`sender`, `author`), when (`at`), whether it was automatic, its `ref`.
//
// Why message rows are blanked rather than deleted: the agent-day sheet counts `buyer_messages` and `agent_messages`
// per agent per local day, crediting a buyer's message to whoever held the chat at that millisecond, in the time zone
// `kefuctl report --time-zone` names when it runs. No count kept per conversation (or per day in one zone) can give
// those figures back; the rows without their texts do, through the same queries, so every sheet stays identical.
//
// A conversation is marked (`purged_at`) in the batch that begins it, before any of its rows goes: from then on
// `HISTORY` and `NOTES` say `purged=1` instead of showing a half-emptied conversation. It is listed in `purging` until
// its last text is gone (a batch stops at its row budget, the next carries on), so a crash or a stop between two
// batches loses nothing of the work and leaves nothing behind.

/// One batch of a purge: at most `rows` rows changed, in one transaction.
public struct PurgeRequest: Sendable, Equatable {
    /// Conversations closed before this instant go.
    public var closedBefore: Instant
    /// Rows a batch may change: messages blanked, notes deleted, and one per conversation begun.
    public var rows: Int
    /// When the batch runs (written as `purged_at`).
    public var at: Instant
    /// `[replay] keep_days`: input journal rows of runs that ended before this instant go (nil: the journal is kept).
    /// A run — the owner's start and the inputs after it, up to the next start — is kept whole while any of it is
    /// younger: a replay starts at a run's start.
    public var journalBefore: Instant?

    public init(closedBefore: Instant, rows: Int, at: Instant, journalBefore: Instant? = nil) {
        self.closedBefore = closedBefore
        self.rows = max(1, rows)
        self.at = at
        self.journalBefore = journalBefore
    }
}

/// What one batch (or a whole pass, summed) did.
public struct PurgeOutcome: Sendable, Equatable {
    /// Conversations whose last text went in this batch.
    public var conversations = 0
    /// Messages whose text was deleted.
    public var messages = 0
    /// Notes deleted.
    public var notes = 0
    /// Input journal rows deleted.
    public var journalRows = 0
    /// Batches summed here.
    public var batches = 0
    /// Nothing is left to purge before the cutoff: the pass is over.
    public var finished = false

    public init(conversations: Int = 0, messages: Int = 0, notes: Int = 0, batches: Int = 0, finished: Bool = false) {
        self.conversations = conversations
        self.messages = messages
        self.notes = notes
        self.batches = batches
        self.finished = finished
    }

    /// Adds a batch to a pass's totals.
    public mutating func add(_ batch: PurgeOutcome) {
        conversations += batch.conversations
        messages += batch.messages
        notes += batch.notes
        journalRows += batch.journalRows
        batches += batch.batches
        finished = batch.finished
    }
}

/// What a purge would take now (`kefuctl purge --dry-run`).
public struct PurgePreview: Sendable, Equatable {
    /// Conversations closed before the cutoff that still have texts (or one being purged).
    public var conversations = 0
    /// Their messages that still have a text.
    public var messages = 0
    /// Their notes.
    public var notes = 0
    /// The earliest and latest close among them.
    public var oldestClose: Instant?
    public var newestClose: Instant?

    public init(
        conversations: Int = 0, messages: Int = 0, notes: Int = 0, oldestClose: Instant? = nil,
        newestClose: Instant? = nil
    ) {
        self.conversations = conversations
        self.messages = messages
        self.notes = notes
        self.oldestClose = oldestClose
        self.newestClose = newestClose
    }
}

/// The steps of a purge batch over one store's tables (SQLite here, a cluster's PostgreSQL in KefuCluster), each one
/// statement over many conversations, all inside the transaction the caller opened: a batch is a handful of statements
/// however many conversations it touches (a cluster's store pays a round trip for each).
package protocol PurgeTables {
    /// How many conversations are being purged (begun by an earlier batch, not finished).
    func pendingCount() throws -> Int
    /// Begins the purge of at most `limit` conversations closed before `closedBefore` (oldest close first): marks
    /// each purged at `at`, blanks its first message, lists it in `purging`. How many.
    func begin(closedBefore: Int64, limit: Int, at: Int64) throws -> Int
    /// Deletes at most `limit` notes of the conversations being purged; how many.
    func deleteNotes(limit: Int) throws -> Int
    /// Blanks at most `limit` message texts of the conversations being purged; how many.
    func blankMessages(limit: Int) throws -> Int
    /// Takes the conversations with no text left off `purging`; how many.
    func finishDone() throws -> Int
    /// Whether anything closed before `closedBefore` is left to purge.
    func remains(closedBefore: Int64) throws -> Bool
    /// What `preview(closedBefore:)` reports.
    func preview(closedBefore: Int64) throws -> PurgePreview
    /// Deletes at most `limit` input journal rows of runs that ended before `before` (oldest first); how many.
    func deleteJournal(before: Int64, limit: Int) throws -> Int
    /// Whether any such row is left.
    func journalRemains(before: Int64) throws -> Bool
}

package enum Purge {
    /// One batch: begins up to a tenth of `request.rows` conversations (fewer while earlier ones are still being
    /// purged), deletes their notes and blanks their messages up to `request.rows` rows in all, and finishes those
    /// with nothing left.
    package static func batch(_ request: PurgeRequest, on tables: some PurgeTables) throws -> PurgeOutcome {
        var outcome = PurgeOutcome(batches: 1)
        if let before = request.journalBefore?.unixMilliseconds {
            // The journal first: its rows are a few kilobytes each and one batch's budget, like the texts'.
            outcome.journalRows = try tables.deleteJournal(before: before, limit: request.rows)
            if try tables.journalRemains(before: before) { return outcome }
        }
        let room = max(1, request.rows / 10)
        let pending = try tables.pendingCount()
        if pending < room {
            _ = try tables.begin(
                closedBefore: request.closedBefore.unixMilliseconds, limit: room - pending,
                at: request.at.unixMilliseconds)
        }
        outcome.notes = try tables.deleteNotes(limit: request.rows)
        if request.rows > outcome.notes {
            outcome.messages = try tables.blankMessages(limit: request.rows - outcome.notes)
        }
        outcome.conversations = try tables.finishDone()
        outcome.finished = try !tables.remains(closedBefore: request.closedBefore.unixMilliseconds)
        return outcome
    }
}

// MARK: - SQLite

/// The purge's steps over a SQLite store's connection (the writer's, or `kefuctl purge`'s own).
struct SQLitePurgeTables: PurgeTables {
    let connection: SQLiteConnection

    /// The conversations to purge and not begun, through `conversations_unpurged` (whose WHERE is repeated so that
    /// the planner may use it): purged conversations leave that index, so a pass never walks the years purged before.
    static let candidates = """
        SELECT id FROM conversations
        WHERE closed_at IS NOT NULL AND purged_at IS NULL AND closed_at < ?1 AND state = 'closed'
        """

    private func count(_ sql: String, _ bind: (Statement) -> Void = { _ in }) throws(StoreError) -> Int {
        let statement = try connection.statement(sql, .write)
        defer { statement.reset() }
        bind(statement)
        return try statement.step(.write) ? Int(statement.int64(0)) : 0
    }

    private func change(_ sql: String, _ bind: (Statement) -> Void) throws(StoreError) -> Int {
        let statement = try connection.statement(sql, .write)
        bind(statement)
        try statement.run(.write)
        return connection.changes
    }

    func pendingCount() throws -> Int {
        try count("SELECT count(*) FROM purging")
    }

    /// Rows before the start of the last run that began by the cutoff (0: none began by then, nothing goes).
    static let journalDoomed = """
        SELECT id FROM input_journal
        WHERE id < (SELECT coalesce(max(id), 0) FROM input_journal WHERE starts_run = 1 AND at <= ?1)
        """

    func deleteJournal(before: Int64, limit: Int) throws -> Int {
        try change("DELETE FROM input_journal WHERE id IN (\(Self.journalDoomed) ORDER BY id LIMIT ?2)") {
            $0.bind(1, before)
            $0.bind(2, Int64(limit))
        }
    }

    func journalRemains(before: Int64) throws -> Bool {
        try count("SELECT EXISTS (\(Self.journalDoomed))") { $0.bind(1, before) } != 0
    }

    func begin(closedBefore: Int64, limit: Int, at: Int64) throws -> Int {
        let begun = try change(
            "INSERT INTO purging (conversation) \(Self.candidates) ORDER BY closed_at, id LIMIT ?2"
        ) {
            $0.bind(1, closedBefore)
            $0.bind(2, Int64(limit))
        }
        guard begun > 0 else { return 0 }
        _ = try change(
            """
            UPDATE conversations SET purged_at = ?1, first_message = ''
            WHERE id IN (SELECT conversation FROM purging) AND purged_at IS NULL
            """
        ) { $0.bind(1, at) }
        return begun
    }

    func deleteNotes(limit: Int) throws -> Int {
        try change(
            """
            DELETE FROM notes WHERE (conversation, seq) IN (
                SELECT n.conversation, n.seq FROM purging AS p CROSS JOIN notes AS n ON n.conversation = p.conversation
                LIMIT ?1)
            """
        ) { $0.bind(1, Int64(limit)) }
    }

    func blankMessages(limit: Int) throws -> Int {
        try change(
            """
            UPDATE messages SET text = '' WHERE id IN (
                SELECT m.id FROM purging AS p CROSS JOIN messages AS m ON m.conversation = p.conversation
                WHERE m.text != '' LIMIT ?1)
            """
        ) { $0.bind(1, Int64(limit)) }
    }

    func finishDone() throws -> Int {
        try change(
            """
            DELETE FROM purging
            WHERE NOT EXISTS (SELECT 1 FROM notes AS n WHERE n.conversation = purging.conversation)
                AND NOT EXISTS (
                    SELECT 1 FROM messages AS m WHERE m.conversation = purging.conversation AND m.text != '')
            """
        ) { _ in }
    }

    func remains(closedBefore: Int64) throws -> Bool {
        try count("SELECT EXISTS (SELECT 1 FROM purging) OR EXISTS (\(Self.candidates))") {
            $0.bind(1, closedBefore)
        } != 0
    }

    func preview(closedBefore: Int64) throws -> PurgePreview {
        let doomed = """
            WITH doomed AS (
                SELECT id, closed_at FROM conversations
                WHERE closed_at IS NOT NULL AND purged_at IS NULL AND closed_at < ?1 AND state = 'closed'
                UNION SELECT c.id, c.closed_at FROM purging AS p JOIN conversations AS c ON c.id = p.conversation)
            """
        var preview = PurgePreview()
        let statement = try connection.statement(
            doomed
                + """
                 SELECT count(*), min(closed_at), max(closed_at),
                    (SELECT count(*) FROM doomed CROSS JOIN messages AS m ON m.conversation = doomed.id
                        WHERE m.text != ''),
                    (SELECT count(*) FROM doomed CROSS JOIN notes AS n ON n.conversation = doomed.id)
                FROM doomed
                """, .read)
        defer { statement.reset() }
        statement.bind(1, closedBefore)
        if try statement.step(.read) {
            preview.conversations = Int(statement.int64(0))
            preview.oldestClose = statement.optionalInt64(1).map(Instant.init(unixMilliseconds:))
            preview.newestClose = statement.optionalInt64(2).map(Instant.init(unixMilliseconds:))
            preview.messages = Int(statement.int64(3))
            preview.notes = Int(statement.int64(4))
        }
        return preview
    }
}

extension SQLiteConnection {
    /// One purge batch in its own transaction. `secure_delete` is on meanwhile, so the texts are overwritten in the
    /// file's pages, not only unlinked from them (they would otherwise linger in free space until reused).
    func purgeBatch(_ request: PurgeRequest) throws(StoreError) -> PurgeOutcome {
        try execute("PRAGMA secure_delete = ON", .write)
        defer { try? execute("PRAGMA secure_delete = OFF", .write) }
        try execute("BEGIN IMMEDIATE", .write)
        do {
            let outcome = try Purge.batch(request, on: SQLitePurgeTables(connection: self))
            try execute("COMMIT", .write)
            return outcome
        } catch {
            if inTransaction { try? execute("ROLLBACK", .write) }
            if let error = error as? StoreError { throw error }
            throw StoreError(.write, path: path, message: "\(error)", underlying: error)
        }
    }
}

// MARK: - Outside kefud: `kefuctl purge`

/// A store's purge run from outside kefud (`kefuctl purge`): its own connection, beside a serving kefud, each batch
/// a short transaction that waits (SQLite's busy timeout) for kefud's writer to finish the one it is in.
public enum StoreRetention {
    /// What a purge of the conversations closed before `closedBefore` would take now, read-only.
    public static func preview(directory: String, closedBefore: Instant) throws(StoreError) -> PurgePreview {
        let connection = try SQLiteConnection(path: databasePath(in: directory), readOnly: true)
        defer { connection.close() }
        try connection.execute("PRAGMA busy_timeout = 5000", .open)
        try requireCurrentSchema(connection)
        do {
            return try SQLitePurgeTables(connection: connection).preview(closedBefore: closedBefore.unixMilliseconds)
        } catch {
            throw error as? StoreError ?? StoreError(.read, path: connection.path, message: "\(error)")
        }
    }

    /// Purges batch by batch until nothing is left before `closedBefore`; `progress` hears each batch.
    public static func purge(
        directory: String, closedBefore: Instant, rows: Int, pause: Duration = .milliseconds(100),
        now: () -> Instant, progress: (PurgeOutcome) -> Void = { _ in }
    ) throws(StoreError) -> PurgeOutcome {
        let connection = try SQLiteConnection(path: databasePath(in: directory))
        defer { connection.close() }
        // kefud's writer holds the write lock for one group commit at a time; wait for it rather than fail.
        try connection.execute("PRAGMA busy_timeout = 10000", .open)
        try requireCurrentSchema(connection)
        try connection.execute("PRAGMA synchronous = FULL", .open)
        try connection.execute("PRAGMA foreign_keys = ON", .open)
        var total = PurgeOutcome()
        while true {
            let batch = try connection.purgeBatch(PurgeRequest(closedBefore: closedBefore, rows: rows, at: now()))
            total.add(batch)
            progress(batch)
            if batch.finished { return total }
            let (seconds, attoseconds) = pause.components
            Thread.sleep(forTimeInterval: Double(seconds) + Double(attoseconds) / 1e18)
        }
    }

    static func databasePath(in directory: String) -> String {
        directory.hasSuffix("/") ? directory + "kefu.sqlite" : directory + "/kefu.sqlite"
    }

    /// A store written by another version is left alone: its layout may not be the one these statements expect.
    static func requireCurrentSchema(_ connection: SQLiteConnection) throws(StoreError) {
        let version = try Schema.userVersion(connection)
        guard version == Schema.currentVersion else {
            throw StoreError(
                .open, path: connection.path,
                message: version == 0
                    ? "not a kefud store (no schema): is kefud's state directory right?"
                    : "schema version \(version), this kefuctl knows \(Schema.currentVersion): use the kefuctl of the "
                        + "kefud that wrote it (start kefud once to upgrade an older store)")
        }
    }
}

import KefuCore

/// Reading a shop's input journal back (`kefuctl replay`, `kefuctl simulate --from-day`): the rows of the run that was
/// under way at `from` (from its restore point) up to `to`. SQLite here; a cluster's PostgreSQL in KefuCluster, with the
/// same selection.
public enum JournalReading {
    /// The rows a replay of `from`…`to` needs, in order, and where the run they begin with started.
    public struct Rows: Sendable {
        public var chunks: [InputJournal.Chunk]
        /// The restore point the rows begin with (nil: the journal holds no run start at all).
        public var runStart: Instant?
        /// True when no run started by `from`: the rows begin with the first run after it.
        public var startsAfterFrom: Bool

        public init(chunks: [InputJournal.Chunk], runStart: Instant?, startsAfterFrom: Bool) {
            self.chunks = chunks
            self.runStart = runStart
            self.startsAfterFrom = startsAfterFrom
        }
    }

    /// SQL shared by both stores: `?1`/`$1` = from, `?2`/`$2` = to (ms); PostgreSQL adds `$3` = shop.
    package enum SQL {
        /// The run to start from: the last that began by `from`, else the first after it.
        package static let sqliteRunStart = """
            SELECT coalesce(
                (SELECT max(id) FROM input_journal WHERE starts_run = 1 AND at <= ?1),
                (SELECT min(id) FROM input_journal WHERE starts_run = 1)),
                (SELECT max(id) FROM input_journal WHERE starts_run = 1 AND at <= ?1) IS NULL
            """
        package static let sqliteRows = """
            SELECT at, entries, starts_run, inputs FROM input_journal WHERE id >= ?1 AND at <= ?2 ORDER BY id
            """
    }

    /// A shop's journal in its SQLite store (read-only, beside a serving kefud).
    public static func read(directory: String, from: Instant, to: Instant) throws(StoreError) -> Rows {
        let connection = try SQLiteConnection(path: StoreRetention.databasePath(in: directory), readOnly: true)
        defer { connection.close() }
        try connection.execute("PRAGMA busy_timeout = 5000", .open)
        try StoreRetention.requireCurrentSchema(connection)
        let start = try connection.statement(SQL.sqliteRunStart, .read)
        defer { start.reset() }
        start.bind(1, from.unixMilliseconds)
        guard try start.step(.read), let first = start.optionalInt64(0) else {
            return Rows(chunks: [], runStart: nil, startsAfterFrom: false)
        }
        let after = start.int64(1) != 0
        let rows = try connection.statement(SQL.sqliteRows, .read)
        defer { rows.reset() }
        rows.bind(1, first)
        rows.bind(2, to.unixMilliseconds)
        var chunks: [InputJournal.Chunk] = []
        while try rows.step(.read) {
            chunks.append(
                InputJournal.Chunk(
                    at: Instant(unixMilliseconds: rows.int64(0)), entries: Int(rows.int64(1)),
                    startsRun: rows.int64(2) != 0, bytes: rows.blob(3)))
        }
        return Rows(chunks: chunks, runStart: chunks.first.map(\.at), startsAfterFrom: after)
    }
}

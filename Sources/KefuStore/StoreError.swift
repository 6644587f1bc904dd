/// A failure of the conversation store, carrying the database path and, when SQLite produced it, SQLite's own
/// message and extended result code, so that a log line is enough to diagnose it.
public struct StoreError: Error, CustomStringConvertible, Sendable {
    /// What the store was doing when it failed.
    public enum Operation: String, Sendable {
        /// Creating the directory or opening the database file (including "file is not a database").
        case open
        /// Reading or upgrading the schema (`PRAGMA user_version`).
        case migrate
        /// Applying records or committing the transaction that holds them.
        case write
        /// Running a read job, or decoding a stored row.
        case read
        /// The store was closed before the job could be accepted.
        case closed
        /// In a cluster: this node no longer serves the shop under the epoch it wrote with (its lease was taken);
        /// nothing of the batch was written, and nothing more will be.
        case fenced
    }

    /// What the store was doing.
    public var operation: Operation
    /// Path of the database file (or of its directory, when that could not be created).
    public var path: String
    /// Human-readable cause: SQLite's message, or the store's own explanation.
    public var message: String
    /// SQLite's extended result code, when the failure came from SQLite.
    public var sqliteCode: Int32?
    /// The error thrown by a read body, when that is what failed.
    public var underlying: (any Error)?

    /// Creates an error; mostly used by the store itself.
    public init(
        _ operation: Operation,
        path: String,
        message: String,
        sqliteCode: Int32? = nil,
        underlying: (any Error)? = nil
    ) {
        self.operation = operation
        self.path = path
        self.message = message
        self.sqliteCode = sqliteCode
        self.underlying = underlying
    }

    public var description: String {
        var text = "store \(operation.rawValue) failed for \(path): \(message)"
        if let sqliteCode {
            text += " (sqlite code \(sqliteCode))"
        }
        return text
    }
}

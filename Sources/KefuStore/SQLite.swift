import CSQLite

// Thin wrappers over the SQLite C API. They are deliberately not Sendable: a connection and its statements
// belong to the store's writer thread (see `Writer`), and the compiler should stop them from leaking elsewhere.

/// SQLITE_TRANSIENT: SQLite copies the bound bytes before the bind call returns, so Swift buffers can be
/// temporary. (The C macro is a cast of -1 and is not imported.)
private var sqliteTransient: sqlite3_destructor_type {
    unsafeBitCast(-1, to: sqlite3_destructor_type.self)
}

/// One open SQLite connection with a per-connection cache of prepared statements.
final class SQLiteConnection {
    let path: String
    private(set) var handle: OpaquePointer?
    private var statements: [String: Statement] = [:]
    /// Statements whose SQL is a compile-time constant, by the constant's address: the writer's statements run for
    /// every record, and hashing their SQL text each time cost more than binding the record.
    private var constantStatements: [Int: Statement] = [:]

    /// Opens (creating if needed) the database file. Does not touch the file's contents yet, so a file that is
    /// not a database is only detected by the first statement.
    init(path: String, readOnly: Bool = false) throws(StoreError) {
        self.path = path
        var db: OpaquePointer?
        // NOMUTEX: the connection is confined to one thread at a time, so SQLite's own mutexes are redundant.
        let flags =
            (readOnly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE) | SQLITE_OPEN_NOMUTEX
        let rc = sqlite3_open_v2(path, &db, flags, nil)
        guard rc == SQLITE_OK, let db else {
            let message = db.map { String(cString: sqlite3_errmsg($0)) } ?? String(cString: sqlite3_errstr(rc))
            sqlite3_close_v2(db)
            throw StoreError(.open, path: path, message: message, sqliteCode: rc)
        }
        handle = db
        sqlite3_extended_result_codes(db, 1)
    }

    deinit {
        close()
    }

    /// True while a transaction is open. SQLite may roll a transaction back on its own after an I/O error or a
    /// full disk; this is how the writer notices.
    var inTransaction: Bool {
        guard let handle else { return false }
        return sqlite3_get_autocommit(handle) == 0
    }

    /// Rows the last INSERT, UPDATE or DELETE changed.
    var changes: Int {
        guard let handle else { return 0 }
        return Int(sqlite3_changes(handle))
    }

    /// Runs one or more statements that return no rows we care about (DDL, pragmas without results).
    func execute(_ sql: String, _ operation: StoreError.Operation) throws(StoreError) {
        let db = try open(operation)
        var errorMessage: UnsafeMutablePointer<CChar>?
        let rc = sqlite3_exec(db, sql, nil, nil, &errorMessage)
        if rc != SQLITE_OK {
            let message = errorMessage.map { String(cString: $0) } ?? String(cString: sqlite3_errstr(rc))
            sqlite3_free(errorMessage)
            throw StoreError(operation, path: path, message: message, sqliteCode: rc)
        }
    }

    /// Returns the cached prepared statement for `sql`, preparing it on first use.
    func statement(_ sql: String, _ operation: StoreError.Operation) throws(StoreError) -> Statement {
        if let cached = statements[sql] {
            return cached
        }
        let db = try open(operation)
        var raw: OpaquePointer?
        // PERSISTENT: these statements live as long as the connection, so let SQLite allocate accordingly.
        let rc = sqlite3_prepare_v3(db, sql, -1, UInt32(SQLITE_PREPARE_PERSISTENT), &raw, nil)
        guard rc == SQLITE_OK, let raw else {
            throw error(operation, code: rc)
        }
        let statement = Statement(raw, connection: self)
        statements[sql] = statement
        return statement
    }

    /// The cached prepared statement for constant SQL, found by the constant's address.
    func statement(_ sql: StaticString, _ operation: StoreError.Operation) throws(StoreError) -> Statement {
        let key = Int(bitPattern: sql.utf8Start)
        if let cached = constantStatements[key] { return cached }
        let statement = try statement(sql.description, operation)
        constantStatements[key] = statement
        return statement
    }

    /// Finalizes every cached statement and closes the connection. Idempotent.
    func close() {
        for statement in statements.values {
            statement.finalize()
        }
        statements.removeAll()
        constantStatements.removeAll()
        if let handle {
            sqlite3_close_v2(handle)
        }
        handle = nil
    }

    /// The connection's current error as a `StoreError`.
    func error(_ operation: StoreError.Operation, code: Int32) -> StoreError {
        let message = handle.map { String(cString: sqlite3_errmsg($0)) } ?? String(cString: sqlite3_errstr(code))
        return StoreError(operation, path: path, message: message, sqliteCode: code)
    }

    private func open(_ operation: StoreError.Operation) throws(StoreError) -> OpaquePointer {
        guard let handle else {
            throw StoreError(operation, path: path, message: "database connection is closed")
        }
        return handle
    }
}

/// A prepared statement. Callers bind, step, and must `reset()` when done (a `defer` right after fetching the
/// statement), so the cached statement is clean for its next use and holds no read snapshot.
final class Statement {
    private var handle: OpaquePointer?
    private unowned let connection: SQLiteConnection

    fileprivate init(_ handle: OpaquePointer, connection: SQLiteConnection) {
        self.handle = handle
        self.connection = connection
    }

    fileprivate func finalize() {
        sqlite3_finalize(handle)
        handle = nil
    }

    /// Clears bindings and rewinds, ready for the next use. Errors were already reported by `step()`.
    func reset() {
        sqlite3_reset(handle)
        sqlite3_clear_bindings(handle)
    }

    func bind(_ index: Int32, _ value: String) {
        // withUTF8 gives the exact byte count, so embedded NULs survive. An empty string may have no base
        // address, and a null pointer would bind SQL NULL, hence the explicit empty literal.
        var value = value
        value.withUTF8 { bytes in
            if let base = bytes.baseAddress {
                _ = base.withMemoryRebound(to: CChar.self, capacity: bytes.count) { chars in
                    sqlite3_bind_text(handle, index, chars, Int32(bytes.count), sqliteTransient)
                }
            } else {
                _ = sqlite3_bind_text(handle, index, "", 0, sqliteTransient)
            }
        }
    }

    func bind(_ index: Int32, _ value: String?) {
        if let value {
            bind(index, value)
        } else {
            sqlite3_bind_null(handle, index)
        }
    }

    func bind(_ index: Int32, _ value: [UInt8]) {
        value.withUnsafeBytes { bytes in
            // A zero-length blob, not NULL: the column is NOT NULL.
            _ = sqlite3_bind_blob(handle, index, bytes.baseAddress ?? UnsafeRawPointer(bitPattern: 1), Int32(bytes.count), sqliteTransient)
        }
    }

    func bind(_ index: Int32, _ value: Int64) {
        sqlite3_bind_int64(handle, index, value)
    }

    func bind(_ index: Int32, _ value: Int64?) {
        if let value {
            bind(index, value)
        } else {
            sqlite3_bind_null(handle, index)
        }
    }

    /// Advances the statement: true when a row is available, false when done.
    func step(_ operation: StoreError.Operation) throws(StoreError) -> Bool {
        let rc = sqlite3_step(handle)
        switch rc {
        case SQLITE_ROW:
            return true
        case SQLITE_DONE:
            return false
        default:
            throw connection.error(operation, code: rc)
        }
    }

    /// Steps a statement that returns no rows, then resets it.
    func run(_ operation: StoreError.Operation) throws(StoreError) {
        defer { reset() }
        _ = try step(operation)
    }

    func isNull(_ column: Int32) -> Bool {
        sqlite3_column_type(handle, column) == SQLITE_NULL
    }

    func int64(_ column: Int32) -> Int64 {
        sqlite3_column_int64(handle, column)
    }

    func double(_ column: Int32) -> Double {
        sqlite3_column_double(handle, column)
    }

    func optionalInt64(_ column: Int32) -> Int64? {
        isNull(column) ? nil : int64(column)
    }

    func blob(_ column: Int32) -> [UInt8] {
        let count = Int(sqlite3_column_bytes(handle, column))
        guard count > 0, let base = sqlite3_column_blob(handle, column) else { return [] }
        return Array(UnsafeRawBufferPointer(start: base, count: count))
    }

    func string(_ column: Int32) -> String {
        // Read by byte count rather than as a C string, so embedded NULs survive the round trip.
        guard let text = sqlite3_column_text(handle, column) else { return "" }
        let count = Int(sqlite3_column_bytes(handle, column))
        return String(decoding: UnsafeBufferPointer(start: text, count: count), as: UTF8.self)
    }

    func optionalString(_ column: Int32) -> String? {
        isNull(column) ? nil : string(column)
    }
}

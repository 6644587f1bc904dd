import CSQLite
import Foundation
import Logging

/// Copies the write-ahead log back into the database file on a thread of its own, so that no commit waits for it.
///
/// SQLite checkpoints inside the commit that takes the log past 1000 pages: that commit, and every reply and event
/// behind it, then waits for thousands of page copies and an fsync of the database file (tens of milliseconds; the
/// relay benchmark's slowest messages). Here the writer's connection never checkpoints (`wal_autocheckpoint = 0`);
/// its commit hook wakes this thread once the log holds `threshold` pages, and a PASSIVE checkpoint on a second
/// connection copies what it can without waiting for the writer. Once the log is copied whole, the writer's next
/// transaction starts it over from the beginning. Should the log still grow past `ceiling` pages (a writer busier
/// than the copy), the writer checkpoints itself, as SQLite would have, so the log stays bounded.
final class Checkpointer: @unchecked Sendable {  // the state is guarded by `condition`; the connection is the thread's
    static let threshold: Int32 = 1000
    static let ceiling: Int32 = 100_000

    private let condition = NSCondition()
    private var wanted = false
    private var stopped = false
    private var finished = false
    private let path: String
    private let logger: Logger

    init(path: String, logger: Logger) {
        self.path = path
        self.logger = logger
    }

    /// Registers the commit hook on the writer's connection and starts the thread.
    func start(watching writer: OpaquePointer) throws(StoreError) {
        let connection = try Connection(path: path)
        try connection.execute("PRAGMA busy_timeout = 5000", .open)
        sqlite3_wal_hook(
            writer,
            { context, database, _, pages in
                guard let context else { return SQLITE_OK }
                let checkpointer = Unmanaged<Checkpointer>.fromOpaque(context).takeUnretainedValue()
                if pages >= Checkpointer.ceiling {
                    // The copy fell behind: this commit waits for it, as SQLite's own checkpoint would have.
                    sqlite3_wal_checkpoint_v2(database, nil, SQLITE_CHECKPOINT_PASSIVE, nil, nil)
                } else if pages >= Checkpointer.threshold {
                    checkpointer.wake()
                }
                return SQLITE_OK
            }, Unmanaged.passUnretained(self).toOpaque())
        let handed = HandedOver(connection)
        let thread = Thread { [self] in run(handed.value) }
        thread.name = "kefu-checkpoint"
        thread.start()
    }

    private func wake() {
        condition.lock()
        wanted = true
        condition.signal()
        condition.unlock()
    }

    private func run(_ connection: Connection) {
        while true {
            condition.lock()
            while !wanted && !stopped { condition.wait() }
            let stop = stopped
            wanted = false
            condition.unlock()
            if stop { break }
            let rc = connection.handle.map {
                sqlite3_wal_checkpoint_v2($0, nil, SQLITE_CHECKPOINT_PASSIVE, nil, nil)
            }
            if let rc, rc != SQLITE_OK && rc != SQLITE_BUSY {
                logger.warning(
                    "background checkpoint failed", metadata: ["error": "\(String(cString: sqlite3_errstr(rc)))"])
            }
        }
        // Closed before the writer's connection: the writer's close is then the last, and leaves no log behind.
        connection.close()
        condition.lock()
        finished = true
        condition.broadcast()
        condition.unlock()
    }

    /// Stops the thread and waits until its connection is closed. The writer's connection must no longer commit.
    func stop() {
        condition.lock()
        stopped = true
        condition.signal()
        while !finished { condition.wait() }
        condition.unlock()
    }
}

/// A value handed to a thread as it starts and used only there afterwards (a SQLite connection, which is not
/// `Sendable` on purpose).
private final class HandedOver<Value>: @unchecked Sendable {
    let value: Value
    init(_ value: Value) { self.value = value }
}

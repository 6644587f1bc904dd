import Foundation
import KefuCore

/// What a backup file holds (`kefuctl backup` prints it).
public struct BackupSummary: Sendable, Equatable {
    /// The last message written before the backup's snapshot: the newest in the store's log of messages.
    public struct LastMessage: Sendable, Equatable {
        public var conversation: Int64
        public var seq: Int64
        public var at: Instant
    }

    public var path: String
    public var bytes: Int64
    public var schemaVersion: Int64
    public var conversations: Int
    public var messages: Int
    public var lastMessage: LastMessage?
}

/// `kefuctl backup`: a consistent copy of a store while kefud serves it, with `VACUUM INTO` on a connection of its own.
///
/// `VACUUM INTO` reads the database in one read transaction, so the copy is the store as one commit left it: every
/// transaction committed before that snapshot began is in it whole, none after it is. In WAL mode the read holds no lock
/// kefud's writer waits for (kefud keeps committing meanwhile); only checkpoints cannot pass the snapshot until the copy
/// is done. A copy of the files instead (`cp kefu.sqlite`) would miss what is still in `kefu.sqlite-wal`, or take a
/// page of the main file half-checkpointed: never that.
///
/// The copy is a compact database in rollback-journal mode with the store's schema version: a valid kefud store as it
/// is (kefud switches it to WAL when it opens it). It is written beside the target under a temporary name, synced to
/// disk, and only then linked to the target name, which must not exist: a backup never overwrites a file, and a
/// crash leaves no half-written file under the target's name.
public enum StoreBackup {
    public static func write(directory: String, to target: String) throws(StoreError) -> BackupSummary {
        let target = URL(fileURLWithPath: target).standardizedFileURL.path
        guard !FileManager.default.fileExists(atPath: target) else {
            throw StoreError(.write, path: target, message: "the file exists; a backup never overwrites a file")
        }
        let temporary = target + ".partial-\(getpid())"
        unlink(temporary)
        do throws(StoreError) {
            let source = try SQLiteConnection(
                path: StoreRetention.databasePath(in: directory), readOnly: true)
            defer { source.close() }
            try source.execute("PRAGMA busy_timeout = 10000", .open)
            try StoreRetention.requireCurrentSchema(source)
            let vacuum = try source.statement("VACUUM INTO ?1", .write)
            defer { vacuum.reset() }
            vacuum.bind(1, temporary)
            _ = try vacuum.step(.write)
        } catch {
            unlink(temporary)
            throw error
        }
        do throws(StoreError) {
            // VACUUM INTO does not sync what it wrote: the backup must be on disk before it is called one.
            try sync(path: temporary)
            guard link(temporary, target) == 0 else {
                let reason = String(cString: strerror(errno))
                throw StoreError(.write, path: target, message: "cannot name the backup: \(reason)")
            }
            unlink(temporary)
            try sync(path: URL(fileURLWithPath: target).deletingLastPathComponent().path)
        } catch {
            unlink(temporary)
            throw error
        }
        return try summary(of: target)
    }

    /// Reads a backup (or any store file) read-only: its size, schema version, counts and last message, after
    /// SQLite's `quick_check`.
    public static func summary(of path: String) throws(StoreError) -> BackupSummary {
        let connection = try SQLiteConnection(path: path, readOnly: true)
        defer { connection.close() }
        let check = try connection.statement("PRAGMA quick_check", .read)
        defer { check.reset() }
        guard try check.step(.read), check.string(0) == "ok" else {
            throw StoreError(.read, path: path, message: "the copy fails SQLite's quick_check: \(check.string(0))")
        }
        let version = try Schema.userVersion(connection)
        func count(_ sql: StaticString) throws(StoreError) -> Int {
            let statement = try connection.statement(sql, .read)
            defer { statement.reset() }
            return try statement.step(.read) ? Int(statement.int64(0)) : 0
        }
        var summary = BackupSummary(
            path: path, bytes: 0, schemaVersion: version, conversations: try count("SELECT count(*) FROM conversations"),
            messages: try count("SELECT count(*) FROM messages"), lastMessage: nil)
        let last = try connection.statement(
            "SELECT conversation, seq, at FROM messages ORDER BY id DESC LIMIT 1", .read)
        defer { last.reset() }
        if try last.step(.read) {
            summary.lastMessage = .init(
                conversation: last.int64(0), seq: last.int64(1), at: Instant(unixMilliseconds: last.int64(2)))
        }
        let size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? NSNumber)?.int64Value
        summary.bytes = size ?? 0
        return summary
    }

    private static func sync(path: String) throws(StoreError) {
        let descriptor = open(path, O_RDONLY)
        guard descriptor >= 0 else {
            throw StoreError(.write, path: path, message: "cannot open to sync: \(String(cString: strerror(errno)))")
        }
        defer { close(descriptor) }
        guard fsync(descriptor) == 0 else {
            throw StoreError(.write, path: path, message: "fsync failed: \(String(cString: strerror(errno)))")
        }
    }
}

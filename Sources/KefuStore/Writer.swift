import KefuCore
import Logging

/// The writer thread's side of the store: owns the connection and turns queued jobs into transactions.
///
/// `@unchecked Sendable` because it is handed to the writer thread when that thread starts and is touched only
/// there afterwards; the connection and its cached statements never cross threads again.
final class Writer: @unchecked Sendable {
    private let connection: SQLiteConnection
    private let queue: JobQueue
    private let logger: Logger

    init(connection: SQLiteConnection, queue: JobQueue, logger: Logger) {
        self.connection = connection
        self.queue = queue
        self.logger = logger
    }

    /// The thread's body: drain the queue until the store closes, then close the database.
    func run() {
        queue.serve(
            commit: { group in
                let (results, committed) = write(group)
                return (results, committed ? 1 : 0)
            },
            read: { $0(StoreReader(connection: connection)) },
            purge: { request in
                let result = Result { () throws(StoreError) in try connection.purgeBatch(request) }
                if case .failure(let error) = result {
                    logger.error("store purge batch failed", metadata: ["error": "\(error)"])
                }
                return result
            })
        // Closing the last connection checkpoints the WAL into the main file.
        connection.close()
        logger.info("store closed")
        queue.markFinished()
    }

    /// Applies a group of batches in one transaction. With several batches, each gets a savepoint so that one
    /// client's bad record (say, a message for an unknown conversation) fails only that client's batch instead
    /// of everyone who happened to share the transaction.
    private func write(_ group: [PendingWrite]) -> (results: [Result<Void, StoreError>], committed: Bool) {
        func failAll(_ error: StoreError) -> (results: [Result<Void, StoreError>], committed: Bool) {
            rollback()
            logger.error(
                "store transaction failed",
                metadata: ["error": "\(error)", "batches": "\(group.count)"]
            )
            return (Array(repeating: .failure(error), count: group.count), false)
        }

        do {
            try run("BEGIN IMMEDIATE")
        } catch {
            return failAll(error)
        }
        let isolate = group.count > 1
        var results: [Result<Void, StoreError>] = []
        results.reserveCapacity(group.count)
        for pending in group {
            do {
                if isolate {
                    try run("SAVEPOINT batch")
                }
                for record in Self.parentsFirst(pending.records) {
                    try RecordSQL.apply(record, on: connection)
                }
                if isolate {
                    try run("RELEASE batch")
                }
                results.append(.success(()))
            } catch {
                // After an I/O error or a full disk SQLite may have rolled back the whole transaction itself;
                // then the batches already applied are gone too.
                guard isolate, connection.inTransaction else {
                    return failAll(error)
                }
                do {
                    try run("ROLLBACK TO batch")
                    try run("RELEASE batch")
                } catch {
                    return failAll(error)
                }
                logger.warning("store batch rejected", metadata: ["error": "\(error)"])
                results.append(.failure(error))
            }
        }
        guard results.contains(where: { if case .success = $0 { true } else { false } }) else {
            rollback()
            return (results, false)
        }
        do {
            try run("COMMIT")
        } catch {
            return failAll(error)
        }
        return (results, true)
    }

    private func rollback() {
        guard connection.inTransaction else { return }
        do {
            try run("ROLLBACK")
        } catch {
            logger.error("store rollback failed", metadata: ["error": "\(error)"])
        }
    }

    private func run(_ sql: StaticString) throws(StoreError) {
        try connection.statement(sql, .write).run(.write)
    }

    /// Conversation rows first, keeping the relative order of everything else, so a batch that lists a message,
    /// assignment or note before the conversation it belongs to still satisfies the foreign keys. Harmless
    /// otherwise: rows of different kinds never overwrite each other.
    private static func parentsFirst(_ records: [Record]) -> [Record] {
        var sawChild = false
        for record in records {
            if case .conversation = record {
                if sawChild {
                    return records.filter(isConversation) + records.filter { !isConversation($0) }
                }
            } else {
                sawChild = true
            }
        }
        return records
    }

    private static func isConversation(_ record: Record) -> Bool {
        if case .conversation = record { true } else { false }
    }
}

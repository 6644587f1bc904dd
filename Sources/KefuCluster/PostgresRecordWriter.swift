import KefuCore
import KefuStore
import Logging
import PostgresNIO

/// The PostgreSQL store's thread: turns queued jobs into `kefu_commit` statements and runs reads between them.
///
/// `@unchecked Sendable`: handed to the store's thread when it starts and touched only there afterwards.
final class PostgresRecordWriter: @unchecked Sendable {
    private let shop: String
    private let node: String
    private let epoch: Int64
    private let name: String
    private let queue: JobQueue
    private var connection: PostgresConnection?
    private let connector: Connector
    private let logger: Logger
    private let onFenced: @Sendable () -> Void
    private var fenced = false
    /// How long a statement may take before the connection is taken as hung: a group commit of thousands of records
    /// takes milliseconds, so this only ever ends a connection that PostgreSQL or the network lost.
    static let statementTimeout = Duration.seconds(10)
    /// A whole group failed for another reason than its data (PostgreSQL went away mid-commit, so it may or may not
    /// have committed): nothing later may commit after it, or the shop's records would have a hole. The shop is given
    /// up and recovered afresh from what PostgreSQL has.
    private var broken: StoreError?

    init(
        store: PostgresRecordStore, queue: JobQueue, connection: PostgresConnection, connector: Connector,
        logger: Logger, onFenced: @escaping @Sendable () -> Void
    ) {
        self.shop = store.shop
        self.node = store.node
        self.epoch = store.epoch
        self.name = store.name
        self.queue = queue
        self.connection = connection
        self.connector = connector
        self.logger = logger
        self.onFenced = onFenced
    }

    func run() {
        queue.serve(
            commit: commit,
            read: { $0(PostgresRecordReader(shop: shop, name: name, query: { [self] in try self.query($0) })) })
        if let connection { try? blocking { try await connection.close() } }
        logger.info("store closed")
        queue.markFinished()
    }

    /// The rows of one statement, on the current connection (opened again first if PostgreSQL went away).
    func query(_ query: PostgresQuery) throws -> [PostgresRow] {
        let connection = try currentConnection()
        do {
            // The future API, waited for on this thread (never an event loop): no hop through Swift's concurrency
            // pool on the way out and back, which a lone message's commit would otherwise pay twice.
            let answer = connection.query(query, logger: logger)
            let timeout = answer.eventLoop.scheduleTask(in: .init(Self.statementTimeout)) {
                closeInBackground(connection)
            }
            defer { timeout.cancel() }
            return try answer.wait().rows
        } catch {
            if (error as? PSQLError)?.serverInfo == nil {
                // The connection broke or hung (PostgreSQL restarted, the network): the next statement opens a new one.
                self.connection = nil
                closeInBackground(connection)
            }
            throw StoreError(.read, path: name, message: describe(error), underlying: error)
        }
    }

    private func currentConnection() throws -> PostgresConnection {
        if let connection, !connection.isClosed { return connection }
        let connector = connector
        do {
            let connection = try blocking {
                try await withDeadline(Self.statementTimeout) {
                    try await connector.connect()
                } late: {
                    closeInBackground($0)
                }
            }
            self.connection = connection
            logger.info("store reconnected")
            return connection
        } catch {
            throw StoreError(.open, path: name, message: "cannot connect: \(describe(error))", underlying: error)
        }
    }

    /// One group of batches: one `kefu_commit`, or each batch alone when one of them is refused for its data.
    private func commit(_ group: [PendingWrite]) -> (results: [Result<Void, StoreError>], transactions: Int) {
        var results: [Result<Void, StoreError>]
        var transactions = 0
        if fenced {
            results = Array(repeating: .failure(fencedError), count: group.count)
        } else if let broken {
            results = Array(repeating: .failure(broken), count: group.count)
        } else {
            var batch = RecordBatch()
            for pending in group { batch.add(pending.records) }
            switch write(batch) {
            case .success:
                results = Array(repeating: .success(()), count: group.count)
                transactions = 1
            case .failure(let error) where group.count > 1 && !fenced && Self.isAboutTheData(error):
                // One client's bad record (a message for an unknown conversation) must not fail everyone who
                // shared the statement: each batch again on its own.
                results = []
                for pending in group {
                    var alone = RecordBatch()
                    alone.add(pending.records)
                    let result: Result<Void, StoreError> =
                        fenced ? .failure(fencedError) : broken.map { .failure($0) } ?? write(alone)
                    switch result {
                    case .success: transactions += 1
                    case .failure(let error) where !fenced && !Self.isAboutTheData(error): broken = error
                    case .failure: break
                    }
                    results.append(result)
                }
            case .failure(let error):
                if !fenced && !Self.isAboutTheData(error) { broken = error }
                results = Array(repeating: .failure(error), count: group.count)
            }
        }
        return (results, transactions)
    }

    /// PostgreSQL refused the statement for what it wrote (a constraint): the same batch alone fails the same way,
    /// and the others may commit without it.
    private static func isAboutTheData(_ error: StoreError) -> Bool {
        (error.underlying as? PSQLError)?.serverInfo != nil
    }

    private var fencedError: StoreError {
        StoreError(
            .fenced, path: name,
            message: "node \(node) no longer serves shop \(shop) under epoch \(epoch): nothing was written")
    }

    private func write(_ batch: RecordBatch) -> Result<Void, StoreError> {
        let json = batch.json
        let statement: PostgresQuery =
            "SELECT kefu_commit(\(shop), \(node), \(epoch), \(json)::jsonb)"
        do {
            _ = try query(statement)
            return .success(())
        } catch let error as StoreError {
            if let underlying = error.underlying as? PSQLError,
                underlying.serverInfo?[.sqlState] == RecordTables.fencedState
            {
                fenced = true
                logger.error("store fenced: the shop's lease is gone", metadata: ["epoch": "\(epoch)"])
                onFenced()
                return .failure(fencedError)
            }
            logger.error("store transaction failed", metadata: ["error": "\(error.message)"])
            var failure = error
            failure.operation = error.operation == .read ? .write : error.operation
            return .failure(failure)
        } catch {
            return .failure(StoreError(.write, path: name, message: "\(error)", underlying: error))
        }
    }
}

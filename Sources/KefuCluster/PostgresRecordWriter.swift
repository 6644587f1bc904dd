import DequeModule
import Dispatch
import KefuCore
import KefuStore
import Logging
import NIOCore
import PostgresNIO
import Synchronization

/// The PostgreSQL store's work, in FIFO order, on one event loop: the loop of the store's connection, which is the
/// shop's routing owner's loop. A lone message's commit then crosses no thread on its way to PostgreSQL and back
/// (a store thread blocking on each answer cost four thread wake-ups a commit; at one client a message's time is
/// mostly wake-ups, see the README's cluster numbers). Consecutive writes share one statement (group commit); a read runs on a thread of its own (its
/// body asks and waits) while the writes queued after it wait.
///
/// `@unchecked Sendable`: everything below `loop` is touched only on `loop`.
final class PostgresRecordWriter: @unchecked Sendable {
    let loop: any EventLoop
    private let shop: String
    private let node: String
    private let epoch: Int64
    private let name: String
    private let connector: Connector
    private let logger: Logger
    private let onFenced: @Sendable () -> Void
    /// Where read bodies run: they block on PostgreSQL's answers, which arrive on `loop`.
    private let readQueue = DispatchQueue(label: "kefu-pg-store-reads")

    private var jobs = Deque<Job>()
    /// A statement, a read or a connect is in flight: the next job waits for it.
    private var busy = false
    private var closing = false
    /// The store is closed and its connection gone: nothing more is taken.
    private var closed = false
    private var finishWaiters: [@Sendable () -> Void] = []
    private var connection: PostgresConnection?
    /// The commit statements prepared on `connection`, by shape.
    private var prepared: [[RecordSection]: PreparedQuery] = [:]
    private var fenced = false
    /// A whole group failed for another reason than its data (PostgreSQL went away mid-commit, so it may or may not
    /// have committed): nothing later may commit after it, or the shop's records would have a hole. The shop is given
    /// up and recovered afresh from what PostgreSQL has.
    private var broken: StoreError?

    let statistics = Mutex(StoreStatistics())

    /// How long a statement may take before the connection is taken as hung: a group commit of thousands of records
    /// takes milliseconds, so this only ever ends a connection that PostgreSQL or the network lost.
    static let statementTimeout = Duration.seconds(10)

    init(
        shop: String, node: String, epoch: Int64, name: String, loop: any EventLoop, connection: PostgresConnection,
        connector: Connector, logger: Logger, onFenced: @escaping @Sendable () -> Void
    ) {
        self.loop = loop
        self.shop = shop
        self.node = node
        self.epoch = epoch
        self.name = name
        self.connection = connection
        self.connector = connector
        self.logger = logger
        self.onFenced = onFenced
    }

    // MARK: - Taking work (any thread)

    func submit(_ job: Job) {
        if loop.inEventLoop {
            take(job)
        } else {
            loop.execute { self.take(job) }
        }
    }

    /// Stops taking work; `done` runs once everything queued is finished and the connection is closed.
    func close(_ done: @escaping @Sendable () -> Void) {
        loop.execute {
            self.finishWaiters.append(done)
            self.closing = true
            self.next()
        }
    }

    private func take(_ job: Job) {
        guard !closing && !closed else {
            // It raced the store's `shutdown()`: refused as after it, never run on a connection opened again.
            switch job {
            case .write(_, let callback): callback(.failure(closedError))
            case .read(let body): fail(body, with: closedError)
            case .purge(_, let completion): completion(.failure(closedError))
            }
            return
        }
        jobs.append(job)
        next()
    }

    /// What a job gets once the store is closed.
    var closedError: StoreError { StoreError(.closed, path: name, message: "store is closed") }

    // MARK: - Running it (on `loop`)

    /// Starts the job at the head of the queue unless one is in flight: every consecutive write there as one group,
    /// or a read.
    private func next() {
        loop.preconditionInEventLoop()
        while !busy, let job = jobs.first {
            switch job {
            case .write:
                if fenced || broken != nil {
                    let group = takeWrites()
                    finish(group, results: group.map { _ in .failure(broken ?? fencedError) }, transactions: 0)
                    continue
                }
                guard let connection = usableConnection() else { return }
                busy = true
                commit(takeWrites(), on: connection)
            case .read(let body):
                guard let connection = usableConnection() else { return }
                jobs.removeFirst()
                busy = true
                read(body, on: connection)
            case .purge(let request, let completion):
                if fenced || broken != nil {
                    jobs.removeFirst()
                    completion(.failure(broken ?? fencedError))
                    continue
                }
                guard let connection = usableConnection() else { return }
                jobs.removeFirst()
                busy = true
                purge(request, completion, on: connection)
            }
        }
        if !busy && jobs.isEmpty && closing { finishClosing() }
    }

    /// Every consecutive write at the head of the queue: one group.
    private func takeWrites() -> [PendingWrite] {
        var group: [PendingWrite] = []
        while case .write(let records, let callback) = jobs.first {
            jobs.removeFirst()
            group.append(PendingWrite(records: records, callback: callback))
        }
        return group
    }

    /// A read that cannot run: its body's first question fails with `error`.
    private func fail(_ body: @escaping @Sendable (any RecordReader) -> Void, with error: StoreError) {
        readQueue.async { [shop, name] in body(PostgresRecordReader(shop: shop, name: name) { _ in throw error }) }
    }

    /// The open connection, or nil after starting to open a new one (PostgreSQL went away): `next()` runs again once
    /// it is open, or once the jobs waiting for it have failed.
    private func usableConnection() -> PostgresConnection? {
        if let connection, !connection.isClosed { return connection }
        if let connection { closeInBackground(connection) }
        connection = nil
        prepared = [:]
        busy = true
        let connector = connector
        let loop = loop
        Task {
            let result: Result<PostgresConnection, any Error>
            do {
                result = .success(
                    try await withDeadline(Self.statementTimeout) {
                        try await connector.connect(on: loop)
                    } late: {
                        closeInBackground($0)
                    })
            } catch {
                result = .failure(error)
            }
            loop.execute { self.connected(result) }
        }
        return nil
    }

    private func connected(_ result: Result<PostgresConnection, any Error>) {
        busy = false
        switch result {
        case .success(let connection):
            self.connection = connection
            logger.info("store reconnected")
        case .failure(let error):
            // The job at the head fails; a write failing this way breaks the store (see `broken`).
            let failure = StoreError(.open, path: name, message: "cannot connect: \(describe(error))", underlying: error)
            switch jobs.first {
            case .write:
                broken = failure
            case .read(let body):
                jobs.removeFirst()
                fail(body, with: failure)
            case .purge(_, let completion):
                jobs.removeFirst()
                completion(.failure(failure))
            case nil:
                break
            }
        }
        next()
    }

    private func finishClosing() {
        closing = false
        closed = true
        let waiters = finishWaiters
        finishWaiters = []
        let finished: @Sendable () -> Void = { [logger] in
            logger.info("store closed")
            for waiter in waiters { waiter() }
        }
        guard let connection else { return finished() }
        self.connection = nil
        connection.close().whenComplete { _ in withExtendedLifetime(connection) { finished() } }
    }

    // MARK: Writes

    /// One group of batches as one statement; when it is refused for its data, each batch again alone, so that one
    /// client's bad record does not fail everyone who shared the statement.
    private func commit(_ group: [PendingWrite], on connection: PostgresConnection) {
        var batch = RecordBatch()
        for pending in group { batch.add(pending.records) }
        write(batch, on: connection) { result in
            switch result {
            case .success:
                self.done(group, results: group.map { _ in .success(()) }, transactions: 1)
            case .failure(let error) where group.count > 1 && !self.fenced && Self.isAboutTheData(error):
                self.commitAlone(group, from: 0, results: [], transactions: 0, on: connection)
            case .failure(let error):
                if !self.fenced && !Self.isAboutTheData(error) { self.broken = error }
                self.done(group, results: group.map { _ in .failure(error) }, transactions: 0)
            }
        }
    }

    private func commitAlone(
        _ group: [PendingWrite], from index: Int, results: [Result<Void, StoreError>], transactions: Int,
        on connection: PostgresConnection
    ) {
        guard index < group.count else { return done(group, results: results, transactions: transactions) }
        let continueWith: @Sendable (Result<Void, StoreError>) -> Void = { result in
            var transactions = transactions
            switch result {
            case .success: transactions += 1
            case .failure(let error) where !self.fenced && !Self.isAboutTheData(error): self.broken = error
            case .failure: break
            }
            self.commitAlone(
                group, from: index + 1, results: results + [result], transactions: transactions, on: connection)
        }
        if fenced || broken != nil { return continueWith(.failure(broken ?? fencedError)) }
        var alone = RecordBatch()
        alone.add(group[index].records)
        write(alone, on: connection, then: continueWith)
    }

    private func done(_ group: [PendingWrite], results: [Result<Void, StoreError>], transactions: Int) {
        busy = false
        finish(group, results: results, transactions: transactions)
        next()
    }

    /// Counts a group's transactions and batches, then runs each batch's callback, in enqueue order.
    private func finish(_ group: [PendingWrite], results: [Result<Void, StoreError>], transactions: Int) {
        let delta = StoreStatistics(group: group, results: results, transactions: transactions)
        statistics.withLock { $0.add(delta) }
        for (pending, result) in zip(group, results) { pending.callback(result) }
    }

    /// Runs one batch's statement (prepared on first use of its shape on this connection).
    private func write(
        _ batch: RecordBatch, on connection: PostgresConnection,
        then body: @escaping @Sendable (Result<Void, StoreError>) -> Void
    ) {
        let sections = batch.sections
        let statement: EventLoopFuture<PreparedQuery>
        if let known = prepared[sections] {
            statement = loop.makeSucceededFuture(known)
        } else {
            statement = connection.prepare(query: RecordSection.commitStatement(for: sections)).hop(to: loop)
                .map { query in
                    self.prepared[sections] = query
                    return query
                }
        }
        let arguments = batch.arguments(shop: shop, node: node, epoch: epoch)
        let timeout = loop.scheduleTask(in: .init(Self.statementTimeout)) { closeInBackground(connection) }
        statement.flatMap { $0.execute(arguments) }.hop(to: loop).whenComplete { result in
            timeout.cancel()
            switch result {
            case .success(let rows):
                switch try? rows.first?.decode(String.self) {
                case "1":
                    body(.success(()))
                case "0":
                    self.fenced = true
                    self.logger.error("store fenced: the shop's lease is gone", metadata: ["epoch": "\(self.epoch)"])
                    self.onFenced()
                    body(.failure(self.fencedError))
                default:
                    // Not an answer this statement gives: whether it committed is unknown, so nothing more may.
                    body(.failure(StoreError(.write, path: self.name, message: "unexpected answer to a commit")))
                }
            case .failure(let error):
                if !Self.isServerError(error) {
                    // The connection broke or hung (PostgreSQL restarted, the network): the next job opens a new one.
                    self.connection = nil
                    self.prepared = [:]
                    closeInBackground(connection)
                }
                self.logger.error("store transaction failed", metadata: ["error": "\(describe(error))"])
                body(.failure(StoreError(.write, path: self.name, message: describe(error), underlying: error)))
            }
        }
    }

    /// PostgreSQL refused the statement for what it wrote (a constraint, an invalid value): the same batch alone fails
    /// the same way, and the others may commit without it.
    private static func isAboutTheData(_ error: StoreError) -> Bool {
        error.underlying.map(isServerError) ?? false
    }

    private static func isServerError(_ error: any Error) -> Bool {
        if case .server = error as? PostgresError { return true }
        return (error as? PSQLError)?.serverInfo != nil
    }

    private var fencedError: StoreError {
        StoreError(
            .fenced, path: name,
            message: "node \(node) no longer serves shop \(shop) under epoch \(epoch): nothing was written")
    }

    // MARK: Reads

    /// Runs a read body on the read thread, over `connection`; the queue moves on once it returns.
    private func read(_ body: @escaping @Sendable (any RecordReader) -> Void, on connection: PostgresConnection) {
        let lost = ConnectionLost()
        readQueue.async { [shop, name, logger] in
            body(
                PostgresRecordReader(shop: shop, name: name) { query in
                    try Self.wait(for: query, on: connection, logger: logger, name: name, lost: lost)
                })
            self.loop.execute {
                if lost.value.load(ordering: .relaxed), self.connection === connection {
                    self.connection = nil
                    self.prepared = [:]
                }
                self.busy = false
                self.next()
            }
        }
    }

    // MARK: Retention

    /// One purge batch as a transaction of its own on the read thread, over `connection`, under the shop's fence: the
    /// lease row is taken `FOR SHARE` first, as by every commit, and a node that no longer serves the shop under its
    /// epoch changes nothing. The queue moves on once it is done.
    private func purge(
        _ request: PurgeRequest, _ completion: @escaping @Sendable (Result<PurgeOutcome, StoreError>) -> Void,
        on connection: PostgresConnection
    ) {
        let lost = ConnectionLost()
        readQueue.async { [shop, node, epoch, name, logger, fencedError] in
            let query: (PostgresQuery) throws -> [PostgresRow] = { query in
                try Self.wait(for: query, on: connection, logger: logger, name: name, lost: lost)
            }
            let result: Result<PurgeOutcome, StoreError>
            do {
                _ = try query("BEGIN")
                let fence = try query(
                    "SELECT 1 FROM kefu_leases WHERE shop = \(shop) AND owner = \(node) AND epoch = \(epoch) FOR SHARE")
                guard !fence.isEmpty else { throw fencedError }
                let outcome = try Purge.batch(request, on: PostgresPurgeTables(shop: shop, query: query))
                _ = try query("COMMIT")
                result = .success(outcome)
            } catch {
                if !lost.value.load(ordering: .relaxed) { _ = try? query("ROLLBACK") }
                let failure =
                    error as? StoreError
                    ?? StoreError(.write, path: name, message: describe(error), underlying: error)
                logger.error("store purge batch failed", metadata: ["error": "\(failure)"])
                result = .failure(failure)
            }
            self.loop.execute {
                if lost.value.load(ordering: .relaxed), self.connection === connection {
                    self.connection = nil
                    self.prepared = [:]
                }
                self.busy = false
                completion(result)
                self.next()
            }
        }
    }

    /// The rows of one statement, waited for on the read thread (never an event loop).
    private static func wait(
        for query: PostgresQuery, on connection: PostgresConnection, logger: Logger, name: String,
        lost: ConnectionLost
    ) throws -> [PostgresRow] {
        do {
            let answer = connection.query(query, logger: logger)
            let timeout = answer.eventLoop.scheduleTask(in: .init(statementTimeout)) {
                closeInBackground(connection)
            }
            defer { timeout.cancel() }
            return try answer.wait().rows
        } catch {
            if !isServerError(error) {
                lost.value.store(true, ordering: .relaxed)
                closeInBackground(connection)
            }
            throw StoreError(.read, path: name, message: describe(error), underlying: error)
        }
    }
}

/// Set on the read thread when a read's statement broke its connection: the loop then stops using it.
private final class ConnectionLost: Sendable {
    let value = Atomic(false)
}

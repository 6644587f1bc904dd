import Foundation
import KefuConfig
import KefuCore
import KefuStore
import Logging
import NIOCore
import NIOPosix
import PostgresNIO
import Synchronization

/// A shop's records in PostgreSQL, written by the node that serves the shop under the epoch of its lease.
///
/// The same promises as the SQLite store (`ConversationStore`): jobs run in FIFO order, consecutive writes share one
/// transaction (group commit, here one statement, so one round trip and one fsync with `synchronous_commit` on), a
/// commit callback runs only once its batch is durable, a read runs after the writes queued before it. The work runs
/// on the event loop of the store's connection (`PostgresRecordWriter`), which should be the routing owner's loop;
/// callbacks run there.
///
/// Fenced: every commit checks the shop's lease under this store's node and epoch. Once one is refused, the node no
/// longer serves the shop; every later write fails at once with a `.fenced` error and `onFenced` is called, once.
public final class PostgresRecordStore: RecordStore {
    public let shop: String
    public let node: String
    public let epoch: Int64
    /// What a `StoreError` names as the store: the server and the shop (never the password).
    let name: String
    private let writer: PostgresRecordWriter
    private let closed = Atomic(false)

    /// Connects on its own connection, on `loop`. The tables exist (`ShopLeases.join` made them).
    public static func open(
        _ settings: ClusterSettings, shop: String, epoch: Int64,
        on loop: any EventLoop = MultiThreadedEventLoopGroup.singleton.next(), logger: Logger,
        onFenced: @escaping @Sendable () -> Void = {}
    ) async throws -> PostgresRecordStore {
        let url = settings.postgres
        let name = "postgresql://\(url.host):\(url.port)/\(url.database) shop=\(shop)"
        var logger = logger
        logger[metadataKey: "store"] = "\(name)"
        let connector = Connector(url: url, logger: logger)
        let connection = try await connector.connect(on: loop)
        let writer = PostgresRecordWriter(
            shop: shop, node: settings.node, epoch: epoch, name: name, loop: loop, connection: connection,
            connector: connector, logger: logger, onFenced: onFenced)
        logger.info("store opened", metadata: ["shop": "\(shop)", "epoch": "\(epoch)"])
        return PostgresRecordStore(shop: shop, node: settings.node, epoch: epoch, name: name, writer: writer)
    }

    private init(shop: String, node: String, epoch: Int64, name: String, writer: PostgresRecordWriter) {
        self.shop = shop
        self.node = node
        self.epoch = epoch
        self.name = name
        self.writer = writer
    }

    /// A store dropped without `shutdown()` still finishes its work and closes its connection.
    deinit {
        if !closed.load(ordering: .relaxed) { writer.close {} }
    }

    public var statistics: StoreStatistics { writer.statistics.withLock { $0 } }

    public func enqueue(_ records: [Record], onCommit: @escaping @Sendable (Result<Void, StoreError>) -> Void) {
        guard !closed.load(ordering: .relaxed) else { return onCommit(.failure(closedError)) }
        writer.submit(.write(records, onCommit))
    }

    public func enqueueRead<T: Sendable>(
        _ body: @escaping @Sendable (any RecordReader) throws -> T,
        completion: @escaping @Sendable (Result<T, StoreError>) -> Void
    ) {
        guard !closed.load(ordering: .relaxed) else { return completion(.failure(closedError)) }
        writer.submit(.read(readJob(body, path: name, completion: completion)))
    }

    public func enqueuePurge(
        _ request: PurgeRequest, completion: @escaping @Sendable (Result<PurgeOutcome, StoreError>) -> Void
    ) {
        guard !closed.load(ordering: .relaxed) else { return completion(.failure(closedError)) }
        writer.submit(.purge(request, completion))
    }

    public func shutdown() async {
        closed.store(true, ordering: .relaxed)
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            writer.close { continuation.resume() }
        }
    }

    private var closedError: StoreError { writer.closedError }

    /// The statement every commit is, for a batch with no records: `$1` shop, `$2` node, `$3` epoch; its one row is
    /// "1" while the node serves the shop under that epoch (and holds its lease row until the transaction ends), else "0".
    public static var fenceStatement: String { RecordSection.commitStatement(for: []) }
}

/// Opens the store's connections (at start, and again after PostgreSQL went away).
struct Connector: Sendable {
    let url: PostgresURL
    let logger: Logger

    func connect(on loop: any EventLoop) async throws -> PostgresConnection {
        let logger = logger
        // "Committed" must mean on PostgreSQL's disk before a client hears OK, whatever the server's default.
        return try await url.connect(id: 2, on: loop, logger: logger) {
            try await $0.query("SET synchronous_commit = on", logger: logger)
        }.0
    }
}

/// The full text of a PostgreSQL error: postgres-nio's `description` hides the server's message on purpose (kefud's
/// own messages never carry the password: the URL is shown without it).
public func describe(_ error: any Error) -> String {
    // postgres-nio's older API (prepared queries) reports the server's errors as `PostgresError`.
    if case .server(let server) = error as? PostgresError {
        let state = server.fields[.sqlState].map { " (\($0))" } ?? ""
        return (server.fields[.message] ?? "server error") + state
    }
    guard let error = error as? PSQLError else { return "\(error)" }
    if let info = error.serverInfo {
        let state = info[.sqlState].map { " (\($0))" } ?? ""
        return (info[.message] ?? "server error") + state
    }
    return "\(error.code)" + (error.underlying.map { ": \($0)" } ?? "")
}

/// Closes `connection` without waiting, keeping it alive until the close completes (postgres-nio requires a
/// connection to be closed before its last reference goes).
func closeInBackground(_ connection: PostgresConnection) {
    connection.close().whenComplete { _ in withExtendedLifetime(connection) {} }
}

/// A statement (or connect) that did not answer in time: the connection is taken as hung.
struct TimedOut: Error, CustomStringConvertible {
    var limit: Duration
    var description: String { "PostgreSQL did not answer within \(limit)" }
}

/// `body`'s result, or `TimedOut` after `limit`, whichever comes first. The body is cancelled on a timeout but not
/// waited for (a statement on a hung connection may never return; closing the connection ends it); what it returns
/// after the timeout goes to `late` (a connection opened too late is closed there).
func withDeadline<T: Sendable>(
    _ limit: Duration, _ body: @escaping @Sendable () async throws -> T,
    late: @escaping @Sendable (T) async -> Void = { _ in }
) async throws -> T {
    let outcome = FirstOutcome<T>()
    return try await withCheckedThrowingContinuation { continuation in
        outcome.wait(with: continuation)
        let work = Task {
            do {
                let value = try await body()
                if !outcome.resume(with: .success(value)) { await late(value) }
            } catch {
                outcome.resume(with: .failure(error))
            }
        }
        Task {
            try? await Task.sleep(for: limit)
            if outcome.resume(with: .failure(TimedOut(limit: limit))) { work.cancel() }
        }
    }
}

/// A continuation resumed by the first of several racers.
private final class FirstOutcome<T: Sendable>: Sendable {
    private let continuation = Mutex<CheckedContinuation<T, any Error>?>(nil)

    func wait(with continuation: CheckedContinuation<T, any Error>) {
        self.continuation.withLock { $0 = continuation }
    }

    /// True when this was the first outcome (the one the waiter gets).
    @discardableResult
    func resume(with result: Result<T, any Error>) -> Bool {
        guard let continuation = continuation.withLock({ $0.take() }) else { return false }
        continuation.resume(with: result)
        return true
    }
}

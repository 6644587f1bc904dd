import Foundation
import KefuCore

/// Called once the transaction holding an enqueued batch has committed or failed.
package typealias CommitCallback = @Sendable (Result<Void, StoreError>) -> Void

/// One unit of work for the writer thread, in FIFO order.
package enum Job: Sendable {
    /// Records to apply, and who to tell when they are durable.
    case write([Record], CommitCallback)
    /// A read, wrapped with its completion. Runs after every write queued before it has committed.
    case read(@Sendable (any RecordReader) -> Void)
    /// One batch of a retention purge, a transaction of its own between the writes queued before and after it, and
    /// who to tell what it did.
    case purge(PurgeRequest, @Sendable (Result<PurgeOutcome, StoreError>) -> Void)
}

extension StoreStatistics {
    /// What one group commit adds to a store's counters: its transactions, and its batches by outcome.
    package init(group: [PendingWrite], results: [Result<Void, StoreError>], transactions: Int) {
        self.init(transactions: transactions)
        for (pending, result) in zip(group, results) {
            if case .success = result {
                batches += 1
                records += pending.records.count
            } else {
                failedBatches += 1
            }
        }
    }

    package mutating func add(_ other: StoreStatistics) {
        transactions += other.transactions
        batches += other.batches
        records += other.records
        failedBatches += other.failedBatches
    }
}

/// Records a caller queued, and who to tell when they are durable: one batch of a group commit.
package struct PendingWrite: Sendable {
    package let records: [Record]
    package let callback: CommitCallback

    package init(records: [Record], callback: @escaping CommitCallback) {
        self.records = records
        self.callback = callback
    }
}

/// The queue between callers and the writer thread, plus the store's lifecycle flags and counters.
///
/// Everything mutable is guarded by `condition`; nothing slow runs under it (no SQLite, no callbacks), so an
/// `enqueue` from the routing loop only ever waits for a few appends.
final class JobQueue: @unchecked Sendable {
    private static let threadKey = "kefu.store.writer"

    private let condition = NSCondition()
    private var jobs: [Job] = []
    private var closing = false
    private var finished = false
    private var finishWaiters: [@Sendable () -> Void] = []
    private var counters = StoreStatistics()

    init() {}

    /// Appends a job; false if the store is closing, in which case the caller fails the job itself.
    func append(_ job: Job) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        guard !closing else { return false }
        jobs.append(job)
        condition.signal()
        return true
    }

    /// Blocks the writer until there is work, then hands over everything queued so it can share transactions.
    /// Returns nil once the store is closing and the queue is drained.
    func takeAll() -> [Job]? {
        condition.lock()
        defer { condition.unlock() }
        while jobs.isEmpty && !closing {
            condition.wait()
        }
        if jobs.isEmpty {
            return nil
        }
        let taken = jobs
        jobs.removeAll(keepingCapacity: true)
        return taken
    }

    /// Stops accepting jobs; the writer drains what is queued and then exits.
    func close() {
        condition.lock()
        closing = true
        condition.broadcast()
        condition.unlock()
    }

    /// Called by the writer as its last act, after the connection is closed.
    func markFinished() {
        condition.lock()
        finished = true
        let waiters = finishWaiters
        finishWaiters.removeAll()
        condition.broadcast()
        condition.unlock()
        for waiter in waiters {
            waiter()
        }
    }

    /// Blocks the calling thread until the writer has exited.
    func waitUntilFinished() {
        condition.lock()
        defer { condition.unlock() }
        while !finished {
            condition.wait()
        }
    }

    /// Runs `body` once the writer has exited (immediately, on this thread, if it already has).
    func whenFinished(_ body: @escaping @Sendable () -> Void) {
        condition.lock()
        if finished {
            condition.unlock()
            body()
        } else {
            finishWaiters.append(body)
            condition.unlock()
        }
    }

    /// Queues a write; after `close()`, fails it at once with `closed`.
    func write(
        _ records: [Record], onCommit: @escaping CommitCallback, closed: @autoclosure () -> StoreError
    ) {
        if !append(.write(records, onCommit)) { onCommit(.failure(closed())) }
    }

    /// Queues a read (see `readJob`); after `close()`, fails it at once with `closed`.
    func read<T: Sendable>(
        _ body: @escaping @Sendable (any RecordReader) throws -> T, path: String,
        completion: @escaping @Sendable (Result<T, StoreError>) -> Void, closed: @autoclosure () -> StoreError
    ) {
        if !append(.read(readJob(body, path: path, completion: completion))) { completion(.failure(closed())) }
    }

    /// Queues a purge batch; after `close()`, fails it at once with `closed`.
    func purge(
        _ request: PurgeRequest, completion: @escaping @Sendable (Result<PurgeOutcome, StoreError>) -> Void,
        closed: @autoclosure () -> StoreError
    ) {
        if !append(.purge(request, completion)) { completion(.failure(closed())) }
    }

    /// Stops accepting work and returns once the writer has committed what was queued and exited.
    func shutdown() async {
        close()
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            whenFinished { continuation.resume() }
        }
    }

    /// The writer thread's loop: until the store closes and its queue is drained,
    /// consecutive writes go to `commit` together (group commit: it returns each batch's result and how many
    /// transactions committed), and a read first has the writes queued before it committed, so it sees them and
    /// never sees a write queued after it. Batches' callbacks run after their commit, in enqueue order. A purge batch
    /// is a transaction of its own, after the writes queued before it.
    func serve(
        commit: ([PendingWrite]) -> (results: [Result<Void, StoreError>], transactions: Int),
        read: (@Sendable (any RecordReader) -> Void) -> Void,
        purge: (PurgeRequest) -> Result<PurgeOutcome, StoreError>
    ) {
        adoptCurrentThreadAsWriter()
        while let jobs = takeAll() {
            var group: [PendingWrite] = []
            func flush() {
                guard !group.isEmpty else { return }
                let (results, transactions) = commit(group)
                finish(group, results: results, transactions: transactions)
                group.removeAll(keepingCapacity: true)
            }
            for job in jobs {
                switch job {
                case .write(let records, let callback):
                    group.append(PendingWrite(records: records, callback: callback))
                case .read(let body):
                    flush()
                    read(body)
                case .purge(let request, let completion):
                    flush()
                    completion(purge(request))
                }
            }
            flush()
        }
    }

    /// Counts a group's transactions and batches, then runs each batch's callback, in enqueue order.
    private func finish(_ group: [PendingWrite], results: [Result<Void, StoreError>], transactions: Int) {
        add(StoreStatistics(group: group, results: results, transactions: transactions))
        for (pending, result) in zip(group, results) { pending.callback(result) }
    }

    func add(_ delta: StoreStatistics) {
        condition.lock()
        counters.add(delta)
        condition.unlock()
    }

    var statistics: StoreStatistics {
        condition.lock()
        defer { condition.unlock() }
        return counters
    }

    /// Marks the calling thread as this queue's writer (see `isWriterThread`).
    func adoptCurrentThreadAsWriter() {
        Thread.current.threadDictionary[Self.threadKey] = self
    }

    /// True on the writer thread, i.e. inside a commit callback or read body. Blocking there on the writer's
    /// own work would deadlock, so the blocking entry points check this.
    var isWriterThread: Bool {
        (Thread.current.threadDictionary[Self.threadKey] as AnyObject?) === self
    }
}

/// A one-shot value handed from the writer thread to a thread blocked waiting for it.
final class Latch<Value: Sendable>: @unchecked Sendable {
    private let condition = NSCondition()
    private var value: Value?

    init() {}

    func fulfill(_ value: Value) {
        condition.lock()
        self.value = value
        condition.broadcast()
        condition.unlock()
    }

    func wait() -> Value {
        condition.lock()
        defer { condition.unlock() }
        while true {
            if let value {
                return value
            }
            condition.wait()
        }
    }
}

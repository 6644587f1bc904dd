import KefuCore
import KefuProtocol
import KefuStore
import NIOCore

/// When the store cannot write (a full disk, an I/O error, a read-only file system): never acknowledge what is not
/// committed, and never crash-loop. Commands whose step would write are undone and answered `ERR unavailable`;
/// reads, in-memory answers and connections go on; what must happen anyway (timers expiring, connections dropping)
/// is kept in order, with its outputs held, and committed by a retry that backs off from half a second to five; the
/// first retry that commits ends the outage by itself. One critical log line (journald) says it began, one notice
/// that it ended, and `STATUS=` says so meanwhile.
///
/// Only failures the disk or the system may clear count (SQLite's FULL, IOERR, READONLY, CANTOPEN, BUSY, LOCKED,
/// NOMEM, PROTOCOL on a write): any other failure is a bug in what was written, and stops kefud as before (systemd
/// restarts it from the store). In a cluster a failed commit gives the shop up instead (another node takes it).
struct StoreOutage {
    static let firstRetry = TimeAmount.milliseconds(500)
    static let longestRetry = TimeAmount.seconds(5)

    var since: Instant
    var error: StoreError
    /// The jobs not committed yet, by ticket, in ticket order: those that failed and those gathered since.
    var waiting: [(ticket: UInt64, records: [Record])] = []
    /// The batch a retry is committing now.
    var retrying: [(ticket: UInt64, records: [Record])]?
    var retryScheduled = false
    var retryIn = StoreOutage.firstRetry
    var attempts = 0
    /// The latest job that committed on its own while the outage was on (after the one that failed): its outputs
    /// wait until everything before it has committed too.
    var committedUpTo: UInt64 = 0

    mutating func wait(_ ticket: UInt64, _ records: [Record]) {
        let index = waiting.firstIndex { $0.ticket > ticket } ?? waiting.endIndex
        waiting.insert((ticket, records), at: index)
    }
}

extension StoreError {
    /// A failure of writing that the disk or the system may clear by itself, so a retry may succeed.
    public var mayClear: Bool {
        operation == .write && hasClearableCode
    }

    /// At start: opening the store (its WAL needs a page), upgrading its schema or the first repair commit failed
    /// for such a reason. A file that cannot be opened at all or is read-only is a mistake of setup, not of the
    /// moment: that start fails at once, naming it.
    public var mayClearAtStart: Bool {
        guard [.open, .migrate, .write].contains(operation), let code = sqliteCode else { return false }
        // SQLITE_BUSY 5, LOCKED 6, NOMEM 7, IOERR 10, FULL 13, PROTOCOL 15 (primary codes).
        return [5, 6, 7, 10, 13, 15].contains(code & 0xff)
    }

    private var hasClearableCode: Bool {
        guard let code = sqliteCode else { return false }
        // SQLITE_BUSY 5, LOCKED 6, NOMEM 7, READONLY 8, IOERR 10, FULL 13, CANTOPEN 14, PROTOCOL 15 (primary codes).
        return [5, 6, 7, 8, 10, 13, 14, 15].contains(code & 0xff)
    }
}

extension ShopOwner {
    /// Job `ticket` failed with a failure that may clear: the outage begins (or goes on) and its records wait.
    func storeFailed(_ ticket: UInt64, _ records: [Record], _ failure: StoreError) {
        if outage == nil {
            outage = StoreOutage(since: clock.now(), error: failure)
            logger.critical(
                "the store cannot write: commands that write are refused (ERR unavailable) until it can; retrying",
                metadata: ["event": "store_unavailable", "error": "\(failure)"])
            updateStatus()
        }
        outage?.wait(ticket, records)
        scheduleStoreRetry()
    }

    /// A job after the failed one committed on its own: its outputs wait for the ones before it.
    func storeCommittedDuringOutage(_ ticket: UInt64) {
        if let upTo = outage?.committedUpTo { outage?.committedUpTo = max(upTo, ticket) }
        scheduleStoreRetry()
    }

    /// A job gathered during the outage is not sent: it waits for the next retry, in order.
    func holdDuringOutage(_ ticket: UInt64, _ records: [Record]) {
        outage?.wait(ticket, records)
        scheduleStoreRetry()
    }

    /// The next retry, once the jobs already with the store have reported (so that order is kept).
    func scheduleStoreRetry() {
        guard let outage, !outage.retryScheduled, outage.retrying == nil, jobsInFlight.isEmpty else { return }
        self.outage?.retryScheduled = true
        let owner = link.owner
        loop.scheduleTask(in: outage.retryIn) { owner.value.handle(.retryStore) }
    }

    func retryStore() {
        // The scheduled retry has fired: whatever happens next, a later failure may schedule the next one.
        outage?.retryScheduled = false
        guard var outage, outage.retrying == nil, jobsInFlight.isEmpty else { return }
        let batch = outage.waiting
        outage.waiting = []
        outage.retrying = batch
        outage.attempts += 1
        self.outage = outage
        let link = self.link
        store.enqueue(batch.flatMap(\.records)) { result in
            if case .failure(let error) = result {
                link.post(.storeRetried(failure: error))
            } else {
                link.post(.storeRetried(failure: nil))
            }
        }
    }

    func storeRetried(_ failure: StoreError?) {
        guard var outage, let batch = outage.retrying else { return }
        outage.retrying = nil
        if let failure {
            // Still failing: the batch goes back in front, and the next try waits twice as long.
            outage.waiting = batch + outage.waiting
            outage.error = failure
            outage.retryIn = min(outage.retryIn * 2, StoreOutage.longestRetry)
            self.outage = outage
            if !failure.mayClear {
                logger.critical("store commit failed; stopping", metadata: ["error": "\(failure)"])
                return stopAfterStoreFailure(failure)
            }
            return scheduleStoreRetry()
        }
        let upTo = max(batch.last?.ticket ?? 0, outage.committedUpTo)
        if outage.waiting.isEmpty {
            self.outage = nil
            let down = clock.now() - outage.since
            logger.notice(
                "the store writes again: commands that write are taken again",
                metadata: [
                    "event": "store_recovered", "unavailable_ms": "\(down.value)", "attempts": "\(outage.attempts)",
                ])
            updateStatus()
        } else {
            // More was gathered while the retry ran: committed by the next one, at once.
            outage.retryIn = .zero
            self.outage = outage
            scheduleStoreRetry()
            self.outage?.retryIn = StoreOutage.firstRetry
        }
        release(upTo > 0 ? gate.finish(upTo) : [])
    }

    /// During an outage: the command's step if it writes nothing; else nil, with the core as it was before.
    func stepWithoutWriting(_ command: Command, at now: Instant) -> Step? {
        let before = (core, inputs.mark)
        let step = self.step(command, at: now)
        for effect in step.effects {
            if case .persist = effect {
                core = before.0
                inputs.rollBack(to: before.1)
                return nil
            }
        }
        return step
    }

    var unavailable: ProtocolError {
        ProtocolError(.unavailable, "the store cannot write (disk full?); nothing was done; try again later")
    }

    var outageStatus: String {
        guard let outage else { return "" }
        return "STORE UNAVAILABLE since \(outage.since) (writes refused, retrying: \(outage.error.message)); "
    }
}

import DequeModule

/// The rule "nothing is shown before it is committed", on its own.
///
/// The routing owner hands the store its records as numbered jobs (tickets) and the store finishes them in order. An
/// output (a reply, an event, a journald record) may leave only once every job issued before it has committed:
/// otherwise a crash could take back what someone already saw. An output with nothing outstanding leaves at once;
/// the others wait, in order, behind the latest job, and leave when the store reports it. A read from the store takes
/// a ticket too: its answer takes its place in the order (it is inserted first in its batch when it comes back), so
/// that the lines it produces go out after everything before it and before everything after it.
struct CommitGate<Output> {
    private struct Batch {
        var ticket: UInt64
        var outputs: [Output] = []
        /// A read whose answer goes first in this batch has not come back yet.
        var awaitingRead = false
    }

    /// Tickets handed out so far, and how many jobs have finished (they finish in order).
    private(set) var issued: UInt64 = 0
    private(set) var finished: UInt64 = 0
    private var batches = Deque<Batch>()

    /// Nothing issued is outstanding and nothing waits.
    var isClear: Bool { batches.isEmpty && finished == issued }

    /// A ticket for the next store job (a write): outputs emitted from now on wait for it.
    mutating func issue() -> UInt64 {
        issued += 1
        return issued
    }

    /// A ticket for a read whose answer must take this place in the order (see ``answered(_:with:)``).
    mutating func issueRead() -> UInt64 {
        issued += 1
        batches.append(Batch(ticket: issued, awaitingRead: true))
        return issued
    }

    /// The output if it may leave now, else nil (it waits behind the latest job).
    mutating func emit(_ output: consuming Output) -> Output? {
        if batches.isEmpty && finished == issued { return output }
        if batches.last?.ticket == issued {
            batches[batches.count - 1].outputs.append(output)
        } else {
            batches.append(Batch(ticket: issued, outputs: [output]))
        }
        return nil
    }

    /// The store finished job `ticket` (and every one before it): the outputs that may leave now, in order.
    mutating func finish(_ ticket: UInt64) -> [Output] {
        finished = max(finished, ticket)
        var released: [Output] = []
        while let first = batches.first, first.ticket <= finished, !first.awaitingRead {
            let batch = batches.removeFirst()
            // Usually one batch: its outputs are handed on whole rather than copied one by one.
            if released.isEmpty { released = batch.outputs } else { released.append(contentsOf: batch.outputs) }
        }
        return released
    }

    /// The read issued as `ticket` came back with these outputs: they go first in its batch, which may leave now.
    mutating func answered(_ ticket: UInt64, with outputs: [Output]) -> [Output] {
        if let index = batches.firstIndex(where: { $0.ticket == ticket }) {
            batches[index].outputs.insert(contentsOf: outputs, at: 0)
            batches[index].awaitingRead = false
        }
        return finish(ticket)
    }
}

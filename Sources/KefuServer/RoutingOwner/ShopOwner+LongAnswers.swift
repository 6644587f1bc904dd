import KefuCore
import KefuProtocol
import KefuStore

/// Answers of any size reach a client that reads: a listing, a history, the replay at login go out a part at a time,
/// the next part once the client has read the one before (``ClientConnection/AfterDelivery/notifyWhenDrained``).
/// Meanwhile whatever else is for that session waits behind the answer, so its data lines come directly before their
/// completion and completions stay in order.
final class LongAnswer {
    enum Source {
        /// Lines made at once (from memory), written a part at a time.
        case lines([OutboundLine], next: Int, completion: OutboundLine?)
        /// A conversation's history, read from the store a page at a time.
        case history(HistoryCursor)
    }

    var source: Source
    /// The page read from the store and not written yet.
    var page: [MessageRecord]?
    /// A page is being read.
    var reading = false

    init(_ source: Source) {
        self.source = source
    }
}

/// Where a `HISTORY` answer stands.
struct HistoryCursor: Sendable {
    var conversation: ConversationID
    var tag: String
    /// The last seq written (or `after=`).
    var after: Int
    /// The conversation's last message when it was asked for: the answer ends there.
    var upTo: Int
    /// How many more lines `limit=` allows (nil: all).
    var remaining: Int?
    /// Agents and supervisors see the daemon's internal lines (transfer reasons); buyers do not.
    var includeInternal: Bool
    /// `after=` or `limit=` was given: the completion says `more=`.
    var paged: Bool
    /// Retention deleted the conversation's texts: nothing is listed, and the completion says `purged=1`.
    var purged = false
    /// Lines written so far.
    var count = 0
    /// How many rows the page being read asked for (one beyond `remaining`, to tell whether more follow).
    var requested = 0

    /// The size of the next page to ask for.
    mutating func nextRequest() -> Int {
        requested = min(ShopOwner.historyPageSize, (remaining ?? (Int.max - 1)) + 1)
        return requested
    }
}

extension ShopOwner {
    /// Lines of a long answer written at a time.
    static let answerChunk = 1000
    /// Messages read from the store at a time for `HISTORY`.
    static let historyPageSize = 1000

    /// A listing made in memory: data lines, then its completion (none for the replay at login).
    func emitListing(_ lines: [OutboundLine], completion: OutboundLine?, to session: SessionState) {
        for output in listing(lines, completion: completion, to: session) { emit(output) }
    }

    func listing(_ lines: [OutboundLine], completion: OutboundLine?, to session: SessionState) -> [Output] {
        guard lines.count > Self.answerChunk else {
            return lines.map { .line(session, $0) } + (completion.map { [.line(session, $0)] } ?? [])
        }
        return [.longAnswer(session, LongAnswer(.lines(lines, next: 0, completion: completion)))]
    }

    /// Writes the next part of the session's long answer, or finishes it.
    func continueLongAnswer(_ session: SessionState) {
        guard let answer = session.longAnswer, !session.gone else { return }
        switch answer.source {
        case .lines(let lines, let next, let completion):
            let end = min(lines.count, next + Self.answerChunk)
            for index in next..<end { write(lines[index], to: session) }
            if end == lines.count {
                if let completion { write(completion, to: session) }
                return finishLongAnswer(session)
            }
            answer.source = .lines(lines, next: end, completion: completion)
            session.after = .notifyWhenDrained
            markDirty(session)
        case .history(var cursor):
            guard let page = answer.page else {
                if !answer.reading { readHistoryPage(session, answer, cursor) }
                return
            }
            answer.page = nil
            var more = false
            for message in page {
                if cursor.remaining == 0 {
                    more = true
                    break
                }
                write(.history(message), to: session)
                cursor.count += 1
                cursor.after = message.seq
                cursor.remaining? -= 1
            }
            let exhausted = page.count < cursor.requested
            if more || exhausted {
                write(
                    .listed(
                        tag: cursor.tag, count: cursor.count, more: cursor.paged ? more : nil, purged: cursor.purged),
                    to: session)
                return finishLongAnswer(session)
            }
            answer.source = .history(cursor)
            session.after = .notifyWhenDrained
            markDirty(session)
        }
    }

    /// The answer is complete: what waited behind it goes out (until another long answer begins).
    private func finishLongAnswer(_ session: SessionState) {
        session.longAnswer = nil
        while session.longAnswer == nil, let next = session.deferred.popFirst() { release(next) }
    }

    private func readHistoryPage(_ session: SessionState, _ answer: LongAnswer, _ current: HistoryCursor) {
        var next = current
        let limit = next.nextRequest()
        let cursor = next
        answer.source = .history(next)
        answer.reading = true
        let link = self.link
        let id = session.id
        store.enqueueRead(
            { reader in
                try reader.history(
                    of: cursor.conversation, after: cursor.after, upTo: cursor.upTo, limit: limit,
                    includeInternal: cursor.includeInternal)
            },
            completion: { link.post(.historyPage(id, $0)) })
    }

    func historyPageCame(_ id: SessionID, _ result: Result<[MessageRecord], StoreError>) {
        guard let session = sessions[id], let answer = session.longAnswer, case .history(let cursor) = answer.source
        else { return }
        answer.reading = false
        switch result {
        case .success(let page):
            answer.page = page
            continueLongAnswer(session)
        case .failure(let error):
            logger.error("store read failed", metadata: ["error": "\(error)"])
            write(.error(tag: cursor.tag, ProtocolError(.internal, "the store could not be read")), to: session)
            finishLongAnswer(session)
        }
    }

    // MARK: - Reads through the store

    /// `HISTORY`: the first page is read in its place in the order (after every write before it), with the last
    /// seq at that moment, which the answer does not go past.
    func readHistory(
        _ conversation: ConversationID, viewer: Principal, verify: Bool, page: Page, session: SessionState,
        tag: String
    ) {
        let after = Int(page.after ?? 0)
        let limit = page.limit
        let paged = page.after != nil || page.limit != nil
        read(session: session, tag: tag) { reader in
            guard let record = try reader.conversation(conversation),
                try Self.mayRead(record, viewer: viewer, verify: verify, reader: reader)
            else { return .notFound }
            // A purged conversation lists nothing (what is left of its messages has no text) and says so.
            let purged = try reader.purgedAt(conversation) != nil
            let upTo = try purged ? 0 : reader.lastSeq(of: conversation)
            var cursor = HistoryCursor(
                conversation: conversation, tag: tag, after: after, upTo: upTo, remaining: limit,
                includeInternal: !viewer.isCustomer, paged: paged, purged: purged)
            let requested = cursor.nextRequest()
            let first =
                try purged
                ? []
                : reader.history(
                    of: conversation, after: after, upTo: upTo, limit: requested,
                    includeInternal: cursor.includeInternal)
            return .history(cursor, firstPage: first)
        }
    }

    /// `NOTES` or `EXPLAIN` of a conversation only the store has now.
    func readFromStore(
        _ query: StoreQuery, _ conversation: ConversationID, viewer: Principal, verify: Bool, session: SessionState,
        tag: String
    ) {
        read(session: session, tag: tag) { reader in
            guard let record = try reader.conversation(conversation),
                try Self.mayRead(record, viewer: viewer, verify: verify, reader: reader)
            else { return .notFound }
            switch query {
            case .notes:
                return .notes(try reader.notes(of: conversation), purged: try reader.purgedAt(conversation) != nil)
            case .explanation:
                let assignment = try reader.latestAssignment(of: conversation)
                return .explanation(assignment.map(RoutingCore.explanation(of:)))
            case .sentMessage(let author, let ref):
                guard let seq = try reader.sentMessage(conversation, author: author, ref: ref) else { return .notFound }
                return .resent(seq: seq)
            }
        }
    }

    /// Runs a read on the store's thread after every write issued before it; its answer takes its place in the
    /// session's output order.
    private func read(session: SessionState, tag: String, _ body: @escaping @Sendable (any RecordReader) throws -> StoreAnswer)
    {
        sendOpenJobBeforeRead()
        // While the store cannot write, a read does not wait in line behind jobs that cannot commit (ticket 0: its
        // answer goes out when it comes); it sees what is committed, which is all anyone has been shown.
        let ticket = outage == nil ? gate.issueRead() : 0
        let link = self.link
        let logger = self.logger
        let id = session.id
        store.enqueueRead(body) { result in
            let answer: StoreAnswer
            switch result {
            case .success(let read): answer = read
            case .failure(let error):
                logger.error("store read failed", metadata: ["error": "\(error)"])
                answer = .failed
            }
            link.post(.storeRead(ticket: ticket, session: id, tag: tag, answer))
        }
    }

    func storeAnswered(_ ticket: UInt64, session id: SessionID, tag: String, _ answer: StoreAnswer) {
        var outputs: [Output] = []
        if let session = sessions[id] {
            switch answer {
            case .notFound:
                outputs = [.line(session, .error(tag: tag, ProtocolError(.notFound, "no such conversation")))]
            case .failed:
                outputs = [.line(session, .error(tag: tag, ProtocolError(.internal, "the store could not be read")))]
            case .history(let cursor, let first):
                let answer = LongAnswer(.history(cursor))
                answer.page = first
                outputs = [.longAnswer(session, answer)]
            case .notes(let notes, let purged):
                outputs = listing(
                    notes.map(OutboundLine.note), completion: .listed(tag: tag, count: notes.count, purged: purged),
                    to: session)
            case .explanation(let decision?):
                outputs = listing(
                    OutboundLine.explaining(decision), completion: .explained(tag: tag, decision), to: session)
            case .explanation(nil):
                outputs = [.line(session, .listed(tag: tag, count: 0))]
            case .resent(let seq):
                outputs = [.line(session, .ok(tag: tag, [Field("seq", "\(seq)"), Field("duplicate", "1")]))]
            }
        }
        // Released even when the session has gone: the outputs behind the read wait for it.
        release(ticket == 0 ? outputs : gate.answered(ticket, with: outputs))
    }

    /// The store's half of "not yours is not-found": the customer of the conversation, an agent who held it.
    static func mayRead(
        _ record: ConversationRecord, viewer: Principal, verify: Bool, reader: any RecordReader
    ) throws -> Bool {
        guard verify else { return true }
        switch viewer {
        case .customer(let customer): return record.customer == customer
        case .agent(let agent): return try reader.agentsWhoHeld(record.id).contains(agent)
        case .supervisor: return true
        }
    }
}

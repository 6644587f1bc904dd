import KefuCore
import KefuProtocol
import KefuStore

/// What a reply reads from the store.
enum StoreRead: Sendable {
    case history
    case notes
    case explanation

    init(_ query: StoreQuery) {
        switch query {
        case .notes: self = .notes
        case .explanation: self = .explanation
        }
    }
}

extension RoutingLoop {
    /// Reads run on the store's thread after every write enqueued before them (same FIFO), so they see everything
    /// already acknowledged; their lines take their place in the session's output order.
    func readFromStore(
        _ read: StoreRead, _ conversation: ConversationID, viewer: Principal, verify: Bool, session: SessionID,
        tag: String
    ) {
        issuedTicket += 1
        let ticket = issuedTicket
        pending.append(PendingBatch(ticket: ticket, awaitingRead: true))
        let mailbox = self.mailbox
        let logger = self.logger
        store.enqueueRead(
            { reader -> [String] in
                guard let record = try reader.conversation(conversation),
                    try Self.mayRead(record, viewer: viewer, verify: verify, reader: reader)
                else { return [ServerLine.error(tag, ProtocolError(.notFound, "no such conversation"))] }
                var lines: [String]
                switch read {
                case .history:
                    // System lines (transfer reasons) are internal: a buyer sees the conversation, not its handling.
                    let hideSystem = viewer.isCustomer
                    lines = try reader.history(of: conversation).filter { !(hideSystem && $0.sender == .system) }
                        .map(\.historyLine)
                case .notes:
                    lines = try reader.notes(of: conversation).map { RoutingCore.noteLine($0).rendered }
                case .explanation:
                    lines = try reader.latestAssignment(of: conversation).map { Self.explanationLines($0) } ?? []
                }
                let count = read == .explanation ? max(0, lines.count - 1) : lines.count
                lines.append(ServerLine.ok(tag, [("count", "\(count)")]))
                return lines
            },
            completion: { result in
                let lines: [String]
                switch result {
                case .success(let read): lines = read
                case .failure(let error):
                    logger.error("store read failed", metadata: ["error": "\(error)"])
                    lines = [ServerLine.error(tag, ProtocolError(.internal, "the store could not be read"))]
                }
                mailbox.post(.storeRead(ticket: ticket, StoreReadLines(session: session, lines: lines)))
            })
    }

    /// The store's half of "not yours is not-found": the customer of the conversation, an agent who held it.
    static func mayRead(
        _ record: ConversationRecord, viewer: Principal, verify: Bool, reader: StoreReader
    ) throws -> Bool {
        guard verify else { return true }
        switch viewer {
        case .customer(let customer): return record.customer == customer
        case .agent(let agent): return try reader.agentsWhoHeld(record.id).contains(agent)
        case .supervisor: return true
        }
    }

    /// A stored decision: the rule on the first line, one candidate per line after it.
    static func explanationLines(_ assignment: AssignmentRecord) -> [String] {
        let conv = assignment.conversation.description
        var lines = assignment.explanation.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let rule = lines.isEmpty ? assignment.reason : lines.removeFirst()
        let agent = assignment.agent?.rawValue ?? "none"
        return [ServerLine.event(
            "EXPLAIN", [("conv", conv), ("agent", agent), ("at", assignment.at.description)], text: rule
        )] + lines.map { line in
            // `<agent> <verdict code>: <verdict text>`, as `Decision.text` writes it.
            let head = line.prefix { $0 != ":" }
            let words = head.split(separator: " ", maxSplits: 1)
            let text = String(line.dropFirst(head.count + 1).drop { $0 == " " })
            var fields = [("conv", conv), ("agent", String(words.first ?? ""))]
            if words.count == 2 { fields.append(("verdict", String(words[1]))) }
            return ServerLine.event("CANDIDATE", fields, text: text)
        }
    }

    func storeRead(ticket: UInt64, _ read: StoreReadLines) {
        if let index = pending.firstIndex(where: { $0.ticket == ticket }) {
            pending[index].outputs.insert(contentsOf: read.lines.map { .line(read.session, $0) }, at: 0)
            pending[index].awaitingRead = false
        }
        finished(ticket)
    }
}

extension DataLine {
    var rendered: String {
        ServerLine.event(name, fields.map { ($0.key, $0.value) }, text: text)
    }
}

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
                var fields: [(String, String)]? = nil
                switch read {
                case .history:
                    // System lines (transfer reasons) are internal: a buyer sees the conversation, not its handling.
                    // (The daemon's automatic messages — greeting, queue message — are the buyer's to see.)
                    let hideSystem = viewer.isCustomer
                    lines = try reader.history(of: conversation)
                        .filter { !(hideSystem && $0.sender == .system && !$0.automatic) }
                        .map(\.historyLine)
                case .notes:
                    lines = try reader.notes(of: conversation).map { RoutingCore.noteLine($0).rendered }
                case .explanation:
                    if let assignment = try reader.latestAssignment(of: conversation) {
                        let explanation = RoutingCore.explanation(stored: assignment)
                        lines = explanation.lines.map(\.rendered)
                        fields = explanation.fields.map { ($0.key, $0.value) }
                    } else {
                        lines = []
                    }
                }
                lines.append(ServerLine.ok(tag, fields ?? [("count", "\(lines.count)")]))
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

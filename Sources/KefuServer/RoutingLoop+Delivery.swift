import KefuCore
import KefuProtocol

/// Who receives an event: sessions of a person, the gateway speaking for a buyer, supervisors, watchers.
extension RoutingLoop {
    /// Most lines kept for one buyer who is away; beyond this the oldest go (their HISTORY still has them).
    static let undeliveredLimit = 1000

    /// Sends an event line to its recipient's sessions, and a copy to watching supervisors unless `watched` is
    /// false (a kept line given later was already shown to them when it happened).
    func deliverEvent(_ line: String, to recipient: Recipient, caller: SessionID?, watched: Bool = true) {
        switch recipient {
        case .caller:
            if let caller { emit(.line(caller, line)) }
        case .agent(let id):
            for session in sorted(sessionsByPrincipal[.agent(id)]) { emit(.line(session, line)) }
        case .supervisors:
            for session in sorted(supervisorSessions) { emit(.line(session, line)) }
        case .managers:
            for session in sorted(managerSessions) { emit(.line(session, line)) }
        case .customer(let id):
            // A session that is closing (QUIT, end of input, outbox full) will not write anything emitted now:
            // it does not count as reaching the buyer, or the line would be lost instead of kept.
            var reached = false
            for session in sorted(sessionsByPrincipal[.customer(id)]) where isOpen(session) {
                emit(.line(session, line))
                reached = true
            }
            // A gateway hears its buyers' events with the buyer named at the end.
            if let gateway = customerGateway[id] {
                let named = Self.appending(("customer", id.rawValue), to: line)
                for session in sorted(gatewaySessions[gateway]) where isOpen(session) {
                    emit(.line(session, named))
                    reached = true
                }
            }
            if !reached {
                undelivered[id, default: []].append(line)
                if undelivered[id]!.count > Self.undeliveredLimit { undelivered[id]!.removeFirst() }
            }
        }
        guard watched, !watchers.isEmpty else { return }
        let copy = Self.watched(line, to: recipient, caller: caller)
        for session in sorted(watchers) { emit(.line(session, copy)) }
    }

    /// Gives a buyer (or their gateway) the events kept while nobody was there to receive them.
    func flushUndelivered(to customer: CustomerID) {
        guard let lines = undelivered.removeValue(forKey: customer) else { return }
        for line in lines { deliverEvent(line, to: .customer(customer), caller: nil, watched: false) }
    }

    /// Whether lines emitted to the session now will still be written to it.
    func isOpen(_ session: SessionID) -> Bool { sessions[session].map { !$0.closing } ?? false }

    func sorted(_ sessions: Set<SessionID>?) -> [SessionID] {
        (sessions ?? []).sorted { $0.rawValue < $1.rawValue }
    }

    /// Adds a `key=value` field to an event line, after its other fields and before its text.
    static func appending(_ field: (String, String), to line: String) -> String {
        let pair = " \(field.0)=\(field.1)"
        if let marker = ClientLine.textMarker(in: line) {
            return String(line[..<marker]) + pair + String(line[marker...])
        }
        return line + pair
    }

    /// What a watching supervisor sees: `* WATCHED to=<who> event=<NAME> <fields> [:text]`.
    static func watched(_ line: String, to recipient: Recipient, caller: SessionID?) -> String {
        let to: String
        switch recipient {
        case .caller: to = "caller:\(caller?.description ?? "none")"
        case .agent(let id): to = "agent:\(id)"
        case .customer(let id): to = "customer:\(id)"
        case .supervisors: to = "supervisors"
        case .managers: to = "managers"
        }
        let body = line.dropFirst(2)  // "* "
        let name = body.prefix { $0 != " " }
        return "* WATCHED to=\(to) event=\(name)" + body.dropFirst(name.count)
    }
}

import DequeModule
import KefuCore
import KefuProtocol

/// Who receives an event: sessions of a person, the gateway speaking for a buyer, supervisors, watchers.
extension ShopOwner {
    /// Sends an event to its recipient's sessions, and a copy to watching supervisors unless `watched` is false (a
    /// kept event given later was already shown to them when it happened).
    func deliver(_ event: Event, to recipient: Recipient, caller: SessionState?, watched: Bool = true) {
        switch recipient {
        case .caller:
            if let caller { emit(.line(caller, .event(event))) }
        case .agent(let id):
            for session in sessionsByPrincipal[.agent(id)] ?? [] { emit(.line(session, .event(event))) }
        case .supervisors:
            for session in supervisorSessions { emit(.line(session, .event(event))) }
        case .managers:
            for session in managerSessions { emit(.line(session, .event(event))) }
        case .customer(let id):
            // A session that is closing (QUIT, end of input, too slow) will not write anything emitted now: it does
            // not count as reaching the buyer, or the event would be lost instead of kept.
            var reached = false
            for session in sessionsByPrincipal[.customer(id)] ?? [] where session.isOpen {
                emit(.line(session, .event(event)))
                reached = true
            }
            // A gateway hears its buyers' events with the buyer named.
            if let gateway = customerGateway[id] {
                for session in gatewaySessions[gateway] ?? [] where session.isOpen {
                    emit(.line(session, .event(event, .forGateway(id))))
                    reached = true
                }
            }
            if !reached { kept.keep(event, for: id) }
        }
        guard watched, !watchers.isEmpty else { return }
        let audience: WatchAudience
        switch recipient {
        case .caller: audience = .caller(caller?.id.description ?? "none")
        case .agent(let id): audience = .agent(id)
        case .customer(let id): audience = .customer(id)
        case .supervisors: audience = .supervisors
        case .managers: audience = .managers
        }
        for session in watchers { emit(.line(session, .event(event, .watched(audience)))) }
    }

    /// Gives a buyer (or their gateway) the events kept while nobody was there to receive them.
    func giveKeptEvents(to customer: CustomerID) {
        for event in kept.take(for: customer) { deliver(event, to: .customer(customer), caller: nil, watched: false) }
    }
}

/// Events for buyers with no connection right now, kept in order until the buyer or its gateway comes back. Each
/// buyer's are bounded in bytes (`[server] kept_event_bytes`): beyond it the oldest go (their messages stay in
/// `HISTORY`).
struct KeptEvents {
    private struct Kept {
        var events = Deque<Event>()
        var bytes = 0
    }

    let bytesPerBuyer: Int
    private var byBuyer: [CustomerID: Kept] = [:]

    init(bytesPerBuyer: Int) {
        self.bytesPerBuyer = bytesPerBuyer
    }

    /// Roughly what an event costs kept: its text and the fixed part.
    static func size(of event: Event) -> Int {
        switch event {
        case .message(_, _, let text), .autoMessage(_, _, let text): 96 + text.utf8.count
        case .assigned(let notice): 160 + notice.firstMessage.utf8.count
        case .note(let note): 128 + note.text.utf8.count
        default: 96
        }
    }

    mutating func keep(_ event: Event, for customer: CustomerID) {
        let size = Self.size(of: event)
        var kept = byBuyer.removeValue(forKey: customer) ?? Kept()
        kept.events.append(event)
        kept.bytes += size
        while kept.bytes > bytesPerBuyer, let oldest = kept.events.popFirst() {
            kept.bytes -= Self.size(of: oldest)
        }
        byBuyer[customer] = kept
    }

    mutating func take(for customer: CustomerID) -> Deque<Event> {
        byBuyer.removeValue(forKey: customer)?.events ?? []
    }

    /// Every buyer's kept events (a restart that keeps the connections takes them along).
    var all: [CustomerID: [Event]] { byBuyer.mapValues { Array($0.events) } }
}

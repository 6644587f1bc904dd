import KefuCore
import KefuProtocol

/// Restarts that keep the connections: what the routing owner hands over, and how the next process takes it back.
extension RoutingLoop {
    /// Every session is frozen (or closing) and everything it asked for is committed and in its outbox: record who
    /// each session is, and let each connection go once its outbox is written.
    func handOverSessions() {
        var state = HandoverState()
        for (id, session) in sessions where !session.closing {
            state.sessions[id] = handedOver(session, id: id)
            session.outbox.handOver()
        }
        for (customer, lines) in undelivered { state.undelivered[customer.rawValue] = lines }
        for (customer, gateway) in customerGateway { state.customerGateways[customer.rawValue] = gateway }
        handover = state
        logger.info("sessions handed over", metadata: ["count": "\(state.sessions.count)"])
    }

    private func handedOver(_ session: Session, id: SessionID) -> HandedOverSession {
        var record = HandedOverSession(watching: session.watching)
        switch session.role {
        case .person(.customer(let customer))?:
            record.role = .customer
            record.id = customer.rawValue
        case .person(.agent(let agent))?:
            record.role = .agent
            record.id = agent.rawValue
            record.presence = core.presence(of: agent)?.rawValue
        case .person(.supervisor(let supervisor))?:
            record.role = managerSessions.contains(id) ? .manager : .supervisor
            record.id = supervisor.rawValue
        case .gateway(let gateway)?:
            record.role = .gateway
            record.id = gateway
        case nil:
            break
        }
        return record
    }

    /// A connection the previous process handed over: logged in as it was there, without LOGIN, without the replay
    /// a reconnecting buyer gets (it has seen everything), and for an agent a `connect` so it counts as connected
    /// again, with its presence as it was.
    func adopt(_ session: SessionID, outbox: Outbox, _ record: HandedOverSession) {
        sessions[session] = Session(outbox: outbox)
        guard let role = record.role, let id = record.id else { return }
        let sessionRole = SessionRole(role, id: id)
        let now = clock.now()
        if case .person(let principal) = sessionRole {
            let presence = record.presence.flatMap(Presence.init(rawValue:))
            // Away before connecting: connecting keeps an away agent away, and offers no chats meanwhile.
            if presence == .away { apply(core.handle(.setPresence(principal, .away), at: now), caller: nil, tag: nil) }
            let step = core.handle(.connect(principal), at: now)
            if case .refused(_, let message) = step.reply {
                // Removed from the configuration while kefud restarted: as a reload would have done.
                logger.notice("handed-over session refused", metadata: ["who": "\(principal)", "why": "\(message)"])
                closeNow(session, farewell: ServerLine.event("BYE", [("reason", "removed")]))
                return
            }
            sessionsByPrincipal[principal, default: []].insert(session)
            if role == .manager {
                managerSessions.insert(session)
            } else if role == .supervisor {
                supervisorSessions.insert(session)
            }
            sessions[session]?.role = sessionRole
            // No caller: the chats it holds are not announced again (`resumed=1`), it has them; new ones are.
            apply(step, caller: nil, tag: nil)
            if presence == .offline {
                apply(core.handle(.setPresence(principal, .offline), at: now), caller: nil, tag: nil)
            }
        } else {
            gatewaySessions[id, default: []].insert(session)
            sessions[session]?.role = sessionRole
        }
        if record.watching, role == .supervisor || role == .manager {
            sessions[session]?.watching = true
            watchers.insert(session)
        }
        logger.info("session taken over", metadata: ["session": "\(session)", "who": "\(sessionRole)"])
    }
}

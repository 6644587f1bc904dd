import KefuConfig
import KefuCore
import KefuProtocol

/// Restarts that keep the connections: what the routing owner hands over, and how the next process takes it back.
extension ShopOwner {
    /// Every session is frozen (or closing) and everything it asked for is committed and written: record who each
    /// session is, and let each connection go once what was written to it has reached the kernel.
    func carryOverSessions() -> RestartCarryOver.Sessions {
        var carried = RestartCarryOver.Sessions(shop: shop)
        for (id, session) in sessions where !session.closing {
            carried.sessions[id] = record(of: session)
            if let collector { session.link.carryOver(to: collector) }
        }
        for (customer, events) in kept.all { carried.kept.kept[customer.rawValue] = events }
        for (customer, gateway) in customerGateway { carried.kept.customerGateways[customer.rawValue] = gateway }
        logger.info("sessions handed over", metadata: ["count": "\(carried.sessions.count)"])
        return carried
    }

    private func record(of session: SessionState) -> RestartCarryOver.Session {
        var record = RestartCarryOver.Session(watching: session.watching)
        record.shop = shop == NodeConfiguration.defaultShop ? nil : shop
        switch session.role {
        case .person(.customer(let customer))?:
            record.role = .customer
            record.id = customer.rawValue
        case .person(.agent(let agent))?:
            record.role = .agent
            record.id = agent.rawValue
            record.presence = core.presence(of: agent)?.rawValue
        case .person(.supervisor(let supervisor))?:
            record.role = session.manager ? .manager : .supervisor
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
    func adopt(_ link: ConnectionLink, _ record: RestartCarryOver.Session) {
        let session = SessionState(id: link.session, link: link)
        sessions[link.session] = session
        guard let role = record.role, let id = record.id else { return }
        let sessionRole = SessionRole(role, id: id)
        let now = clock.now()
        if case .person(let principal) = sessionRole {
            let presence = record.presence.flatMap(Presence.init(rawValue:))
            // Away before connecting: connecting keeps an away agent away, and offers no chats meanwhile.
            if presence == .away { apply(self.step(.setPresence(principal, .away), at: now), caller: nil, tag: nil) }
            let step = self.step(.connect(principal), at: now)
            if case .refused(_, let message) = step.reply {
                // Removed from the configuration while kefud restarted: as a reload would have done.
                logger.notice("handed-over session refused", metadata: ["who": "\(principal)", "why": "\(message)"])
                closeNow(session, farewell: .bye(reason: .removed))
                return
            }
            insert(session, into: &sessionsByPrincipal[principal, default: []])
            if role == .manager {
                session.manager = true
                insert(session, into: &managerSessions)
            } else if role == .supervisor {
                insert(session, into: &supervisorSessions)
            }
            session.role = sessionRole
            // No caller: the chats it holds are not announced again (`resumed=1`), it has them; new ones are.
            apply(step, caller: nil, tag: nil)
            if presence == .offline {
                apply(self.step(.setPresence(principal, .offline), at: now), caller: nil, tag: nil)
            }
        } else {
            insert(session, into: &gatewaySessions[id, default: []])
            session.role = sessionRole
        }
        if record.watching, role == .supervisor || role == .manager {
            session.watching = true
            insert(session, into: &watchers)
        }
        logger.info("session taken over", metadata: ["session": "\(session.id)", "who": "\(sessionRole)"])
    }
}

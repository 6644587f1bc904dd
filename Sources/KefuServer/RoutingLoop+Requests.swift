import KefuCore
import KefuProtocol

/// Turning parsed client lines into core commands, with roles checked.
extension RoutingLoop {
    func handleRequest(_ session: SessionID, tag: String, _ parsed: Result<Request, ProtocolError>) {
        guard let state = sessions[session], !state.closing else { return }
        let request: Request
        switch parsed {
        case .failure(let error):
            return refuse(session, tag, error)
        case .success(let parsed):
            request = parsed
        }
        if shuttingDown { return refuse(session, tag, ProtocolError(.busy, "kefud is shutting down")) }
        switch request {
        case .ping:
            return emit(.line(session, ServerLine.ok(tag)))
        case .quit:
            emit(.line(session, ServerLine.ok(tag)))
            emit(.close(session))
            sessions[session]?.closing = true
            return
        case .login(let role, let id, let token):
            if let role = state.role {
                return refuse(session, tag, ProtocolError(.conflict, "already logged in as \(role)"))
            }
            return login(session, tag: tag, role: role, id: id, token: token)
        default:
            break
        }
        guard let role = state.role else { return refuse(session, tag, ProtocolError(.notLoggedIn, "LOGIN first")) }
        let command: Command
        do {
            command = try self.command(for: request, from: role, session: session)
        } catch {
            return refuse(session, tag, error)
        }
        apply(core.handle(command, at: clock.now()), caller: session, tag: tag)
    }

    func refuse(_ session: SessionID, _ tag: String, _ error: ProtocolError) {
        emit(.line(session, ServerLine.error(tag, error)))
    }

    /// The core command for a request. A gateway speaks for the buyer it names with `customer=`; nobody else may
    /// name one.
    func command(for request: Request, from role: SessionRole, session: SessionID) throws(ProtocolError) -> Command {
        func speaker(_ customer: String?) throws(ProtocolError) -> Principal {
            switch role {
            case .person(let principal):
                guard customer == nil else { throw ProtocolError(.badArgs, "customer= is for gateways only") }
                return principal
            case .gateway(let gateway):
                guard let customer else { throw ProtocolError(.badArgs, "a gateway names the buyer with customer=") }
                let id = CustomerID(customer)
                // A buyer with open chats brought by another gateway is that gateway's: no taking over its events.
                if let owner = customerGateway[id], owner != gateway,
                    !core.openConversations(where: { $0.customer == id && $0.gateway == owner }).isEmpty
                {
                    throw ProtocolError(.forbidden, "customer \(customer) is served through another gateway")
                }
                if customerGateway[id] != gateway {
                    customerGateway[id] = gateway
                    flushUndelivered(to: id)
                }
                return .customer(id)
            }
        }
        var person: Principal {
            get throws(ProtocolError) {
                guard case .person(let principal) = role else {
                    throw ProtocolError(.forbidden, "gateways open, send, close and read history only")
                }
                return principal
            }
        }
        switch request {
        case .open(let skill, let priority, let text, let store, let language, let customer):
            var gateway: String?
            if case .gateway(let id) = role { gateway = id }
            return .open(
                try speaker(customer), skill: Skill(skill), priority: Priority(priority), text: text, store: store,
                language: language, gateway: gateway
            )
        case .send(let conversation, let text, let customer, let automatic):
            if automatic { return .autoReply(try speaker(customer), ConversationID(conversation), text: text) }
            return .send(try speaker(customer), ConversationID(conversation), text: text)
        case .close(let conversation, let customer):
            return .close(try speaker(customer), ConversationID(conversation))
        case .history(let conversation, let customer):
            return .history(try speaker(customer), ConversationID(conversation))
        case .presence(let presence):
            return .setPresence(try person, Presence(presence))
        case .transfer(let conversation, let agent, let skill, let reason):
            let target: TransferTarget = agent.map { .agent(AgentID($0)) } ?? .skill(Skill(skill ?? ""))
            return .transfer(try person, ConversationID(conversation), to: target, reason: reason)
        case .note(let conversation, let text):
            return .note(try person, ConversationID(conversation), text: text)
        case .hold(let conversation, let reason):
            return .hold(try person, ConversationID(conversation), reason: reason)
        case .notes(let conversation):
            return .notes(try person, ConversationID(conversation))
        case .handover(let note):
            return .handover(try person, note: note)
        case .assign(let conversation, let agent):
            return .assign(try person, ConversationID(conversation), AgentID(agent))
        case .explain(let conversation):
            return .explain(try person, ConversationID(conversation))
        case .queue:
            return .queue(try person)
        case .agents:
            return .agents(try person)
        case .watch:
            guard case .supervisor = try person else { throw ProtocolError(.forbidden, "WATCH is for supervisors") }
            sessions[session]?.watching = true
            watchers.insert(session)
            return .tick
        case .login, .ping, .quit:
            return .tick  // handled before
        }
    }

    func login(_ session: SessionID, tag: String, role: LoginRole, id: String, token: String) {
        guard authenticator.authenticate(role: role, id: id, token: token) else {
            logger.notice("login refused", metadata: ["role": "\(role.rawValue)", "id": "\(id)"])
            return refuse(session, tag, ProtocolError(.authFailed, "unknown id or wrong token"))
        }
        let sessionRole = SessionRole(role, id: id)
        var step = Step()
        if case .person(let principal) = sessionRole {
            step = core.handle(.connect(principal), at: clock.now())
            if case .refused(let refusal, let message) = step.reply {
                return refuse(session, tag, ProtocolError(refusal.code, message))
            }
            sessionsByPrincipal[principal, default: []].insert(session)
            // Managers act as supervisors but hear only the ladder's manager rungs, not every supervisor event.
            if role == .manager {
                managerSessions.insert(session)
            } else if case .supervisor = principal {
                supervisorSessions.insert(session)
            }
        } else {
            gatewaySessions[id, default: []].insert(session)
        }
        sessions[session]?.role = sessionRole
        logger.info("logged in", metadata: ["session": "\(session)", "who": "\(sessionRole)"])
        var fields = [("role", role.rawValue), ("id", id)]
        if case .ok(let extra) = step.reply { fields += extra.map { ($0.key, $0.value) } }
        apply(step, caller: session, tag: tag, reply: ServerLine.ok(tag, fields))
        replayConversations(to: session, role: sessionRole)
    }

    /// A buyer or gateway that (re)connects hears where each open conversation stands, then every event it
    /// missed while away, in order: nothing sent while it was gone is lost.
    func replayConversations(to session: SessionID, role: SessionRole) {
        let customers: Set<CustomerID>
        switch role {
        case .person(.customer(let customer)): customers = [customer]
        case .gateway(let gateway): customers = Set(customerGateway.filter { $0.value == gateway }.keys)
        default: return
        }
        guard !customers.isEmpty else { return }
        for record in core.openConversations(where: { customers.contains($0.customer) }) {
            var fields = [
                ("conv", record.id.description), ("state", record.state.rawValue),
                ("agent", record.agent?.rawValue ?? "none"),
            ]
            if case .gateway = role { fields.append(("customer", record.customer.rawValue)) }
            emit(.line(session, ServerLine.event("CONV", fields)))
        }
        for customer in customers.sorted() { flushUndelivered(to: customer) }
    }

    func disconnect(_ session: SessionID) {
        guard let state = sessions.removeValue(forKey: session) else { return }
        supervisorSessions.remove(session)
        managerSessions.remove(session)
        watchers.remove(session)
        switch state.role {
        case .person(let principal)?:
            sessionsByPrincipal[principal]?.remove(session)
            if sessionsByPrincipal[principal]?.isEmpty == true { sessionsByPrincipal[principal] = nil }
            logger.info("disconnected", metadata: ["session": "\(session)", "who": "\(principal)"])
            apply(core.handle(.disconnect(principal), at: clock.now()), caller: nil, tag: nil)
        case .gateway(let gateway)?:
            gatewaySessions[gateway]?.remove(session)
            if gatewaySessions[gateway]?.isEmpty == true { gatewaySessions[gateway] = nil }
            logger.info("gateway disconnected", metadata: ["session": "\(session)", "gateway": "\(gateway)"])
        case nil:
            break
        }
    }
}

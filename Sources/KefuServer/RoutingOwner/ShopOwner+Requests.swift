import KefuConfig
import KefuCore
import KefuProtocol
import NIOCore

/// Turning parsed client lines into core commands, with roles checked, and answering them.
extension ShopOwner {
    /// What a gateway hears for any verb but OPEN, SEND, CLOSE and HISTORY.
    static let gatewaysOnly = "gateways open, send, close and read history only"

    func handleRequest(_ id: SessionID, _ client: ClientRequest) {
        guard let session = sessions[id], !session.closing else { return }
        let tag = client.tag
        let request: Request
        switch client.request {
        case .failure(let error):
            return refuse(session, tag, error)
        case .success(let parsed):
            request = parsed
        }
        if shuttingDown { return refuse(session, tag, ProtocolError(.busy, "kefud is shutting down")) }
        switch request {
        case .ping:
            return emit(.line(session, .ok(tag: tag, [])))
        case .quit:
            emit(.line(session, .ok(tag: tag, [])))
            emit(.close(session))
            session.closing = true
            return
        case .login(let role, let id, let token, let shop):
            if let role = session.role {
                return refuse(session, tag, ProtocolError(.conflict, "already logged in as \(role)"))
            }
            let wanted = shop ?? NodeConfiguration.defaultShop
            guard wanted == self.shop else {
                // Another shop's: its owner answers (every connection starts with shop default's owner).
                guard let owner = directory.owner(of: wanted) else {
                    // In a cluster the client is sent to the node that serves the shop (redirected, never proxied).
                    switch directory.location(of: wanted) {
                    case .servedBy(let node, let epoch):
                        emit(.line(session, .moved(shop: wanted, node: node, epoch: epoch)))
                        return refuse(session, tag, ProtocolError(.moved, "shop \(wanted) is served by \(node)"))
                    case .changingHands:
                        return refuse(
                            session, tag,
                            ProtocolError(.tryagain, "shop \(wanted) is changing hands; log in again in a moment"))
                    case nil:
                        return refuse(session, tag, ProtocolError(.notFound, "no shop \(wanted) on this node"))
                    }
                }
                return emit(.handOff(session, to: owner, login: client))
            }
            return login(session, tag: tag, role: role, id: id, token: token)
        default:
            break
        }
        guard let role = session.role else {
            return refuse(session, tag, ProtocolError(.notLoggedIn, "LOGIN first"))
        }
        /// A gateway hears the same text for every verb it may not use.
        func supervisorsOnly(_ verb: String) -> ProtocolError {
            if case .gateway = role { return ProtocolError(.forbidden, Self.gatewaysOnly) }
            return ProtocolError(.forbidden, "\(verb) is for supervisors")
        }
        switch request {
        case .board:
            guard case .person(.supervisor) = role else { return refuse(session, tag, supervisorsOnly("BOARD")) }
            return answerBoard(session, tag: tag)
        case .chats(let agent, let skill, let store, let unanswered):
            guard case .person(.supervisor) = role else { return refuse(session, tag, supervisorsOnly("CHATS")) }
            return answerChats(session, tag: tag, agent: agent, skill: skill, store: store, unanswered: unanswered)
        default:
            break
        }
        let command: Command
        do {
            command = try self.command(for: request, from: role, session: session)
        } catch {
            return refuse(session, tag, error)
        }
        var page = Page()
        if case .history(_, _, let asked) = request { page = asked }
        let now = clock.now()
        if outage != nil {
            // Nothing that must be written is done while the store cannot write (reads and listings still are).
            guard let step = stepWithoutWriting(command, at: now) else { return refuse(session, tag, unavailable) }
            return apply(step, caller: session, tag: tag, page: page, at: now)
        }
        // A message never routes a chat: only other commands are timed for kefud_routing_decision_seconds.
        if case .send = command {
            return apply(self.step(command, at: now), caller: session, tag: tag, page: page, at: now)
        }
        let started = NIODeadline.now()
        let step = self.step(command, at: now)
        let seconds = Double((NIODeadline.now() - started).nanoseconds) / 1e9
        apply(step, caller: session, tag: tag, page: page, coreSeconds: seconds, at: now)
    }

    func refuse(_ session: SessionState, _ tag: String, _ error: ProtocolError) {
        emit(.line(session, .error(tag: tag, error)))
    }

    /// The caller's completion (and data lines) for the core's reply.
    func answer(_ reply: Reply, to session: SessionState, tag: String, page: Page) {
        switch reply {
        case .ok(let fields):
            emit(.line(session, .ok(tag: tag, fields)))
        case .refused(let refusal, let message):
            emit(.line(session, .error(tag: tag, ProtocolError(refusal.code, message))))
        case .history(let conversation, let viewer, let verify):
            readHistory(conversation, viewer: viewer, verify: verify, page: page, session: session, tag: tag)
        case .fromStore(let query, let conversation, let viewer, let verify):
            readFromStore(query, conversation, viewer: viewer, verify: verify, session: session, tag: tag)
        case .queue(let entries, let more):
            emitListing(
                entries.map(OutboundLine.waiting), completion: .listed(tag: tag, count: entries.count, more: more),
                to: session)
        case .agents(let entries, let more):
            emitListing(
                entries.map(OutboundLine.agent), completion: .listed(tag: tag, count: entries.count, more: more),
                to: session)
        case .explanation(let decision):
            emitListing(OutboundLine.explaining(decision), completion: .explained(tag: tag, decision), to: session)
        case .notes(let notes):
            emitListing(notes.map(OutboundLine.note), completion: .listed(tag: tag, count: notes.count), to: session)
        }
    }

    /// The core command for a request. A gateway speaks for the buyer it names with `customer=`; nobody else may
    /// name one.
    func command(for request: Request, from role: SessionRole, session: SessionState) throws(ProtocolError) -> Command {
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
                    giveKeptEvents(to: id)
                }
                return .customer(id)
            }
        }
        var person: Principal {
            get throws(ProtocolError) {
                guard case .person(let principal) = role else {
                    throw ProtocolError(.forbidden, Self.gatewaysOnly)
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
        case .send(let conversation, let text, let customer, let automatic, let ref):
            if automatic {
                return .autoReply(try speaker(customer), ConversationID(conversation), text: text, ref: ref)
            }
            return .send(try speaker(customer), ConversationID(conversation), text: text, ref: ref)
        case .close(let conversation, let customer):
            return .close(try speaker(customer), ConversationID(conversation))
        case .rate(let conversation, let rating, let comment, let customer):
            return .rate(try speaker(customer), ConversationID(conversation), rating: rating, comment: comment)
        case .history(let conversation, let customer, _):
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
        case .queue(let page):
            return .queue(try person, page: ListingPage(after: page.after.map { Int($0) }, limit: page.limit))
        case .agents(let after, let limit):
            return .agents(try person, after: after.map { AgentID($0) }, limit: limit)
        case .watch:
            guard case .supervisor = try person else { throw ProtocolError(.forbidden, "WATCH is for supervisors") }
            if !session.watching {
                session.watching = true
                insert(session, into: &watchers)
            }
            return .tick
        case .due(let conversation):
            return .due(try person, ConversationID(conversation))
        case .login, .ping, .quit, .board, .chats:
            return .tick  // handled before
        }
    }

    func login(_ session: SessionState, tag: String, role: LoginRole, id: String, token: String) {
        let (address, login, now) = (session.link.peer, "\(shop)/\(role.rawValue)/\(id)", clock.now())
        func failed(throttled: Bool) {
            metrics.authFailure(role: role.rawValue)
            let failure = AuthFailure(
                address: address, role: role.rawValue, id: id, shop: shop, throttled: throttled, at: now)
            if loginGuard.recordsEach(failure) { journal.record(failure) }
        }
        if let block = loginGuard.blocked(address: address, login: login, at: now) {
            // Refused without looking at the token: a guesser learns nothing, and pays almost nothing of our CPU.
            failed(throttled: true)
            let scope: String
            switch block {
            case .login: scope = "login"
            case .address: scope = "address"
            }
            metrics.loginThrottled(scope: scope)
            let wait = max(1, (block.until - now).value / 1000)
            return refuse(
                session, tag,
                ProtocolError(.authFailed, "too many failed logins from this address; try again in \(wait) s"))
        }
        let nowSeconds = now.unixMilliseconds / 1000
        guard authenticator.authenticate(role: role, id: id, token: token, shop: shop, nowSeconds: nowSeconds) else {
            failed(throttled: false)
            if let block = loginGuard.failed(address: address, login: login, at: now) {
                logger.notice(
                    "logins throttled",
                    metadata: ["address": "\(address)", "login": "\(login)", "until": "\(block.until)"])
            }
            return refuse(session, tag, ProtocolError(.authFailed, "unknown id or wrong token"))
        }
        loginGuard.succeeded(address: address, login: login)
        let sessionRole = SessionRole(role, id: id)
        var step = Step()
        if case .person(let principal) = sessionRole {
            if outage != nil {
                guard let connected = stepWithoutWriting(.connect(principal), at: clock.now()) else {
                    return refuse(session, tag, unavailable)
                }
                step = connected
            } else {
                step = self.step(.connect(principal), at: clock.now())
            }
            if case .refused(let refusal, let message) = step.reply {
                return refuse(session, tag, ProtocolError(refusal.code, message))
            }
            insert(session, into: &sessionsByPrincipal[principal, default: []])
            // Managers act as supervisors but hear only the ladder's manager rungs, not every supervisor event.
            if role == .manager {
                session.manager = true
                insert(session, into: &managerSessions)
            } else if case .supervisor = principal {
                insert(session, into: &supervisorSessions)
            }
        } else {
            insert(session, into: &gatewaySessions[id, default: []])
        }
        session.role = sessionRole
        logger.info("logged in", metadata: ["session": "\(session.id)", "who": "\(sessionRole)"])
        var fields = [Field("role", role.rawValue), Field("id", id)]
        if case .ok(let extra) = step.reply { fields += extra }
        apply(step, caller: session, tag: tag, reply: .ok(tag: tag, fields))
        replayConversations(to: session, role: sessionRole)
    }

    /// A buyer or gateway that (re)connects hears where each open conversation stands, then every event it
    /// missed while away, in order: nothing sent while it was gone is lost.
    func replayConversations(to session: SessionState, role: SessionRole) {
        let customers: Set<CustomerID>
        var gatewayForm = false
        switch role {
        case .person(.customer(let customer)): customers = [customer]
        case .gateway(let gateway):
            customers = Set(customerGateway.filter { $0.value == gateway }.keys)
            gatewayForm = true
        default: return
        }
        guard !customers.isEmpty else { return }
        var lines: [OutboundLine] = []
        for record in core.openConversations(where: { customers.contains($0.customer) }) {
            lines.append(
                .conversation(
                    record.id, state: record.state, agent: record.agent,
                    customer: gatewayForm ? record.customer : nil))
        }
        emitListing(lines, completion: nil, to: session)
        for customer in customers.sorted() { giveKeptEvents(to: customer) }
    }

    func disconnect(_ id: SessionID) {
        guard let session = sessions.removeValue(forKey: id) else { return }
        session.gone = true
        session.longAnswer = nil
        session.deferred.removeAll()
        remove(session, from: &supervisorSessions)
        remove(session, from: &managerSessions)
        remove(session, from: &watchers)
        remove(session, from: &boardSessions)
        switch session.role {
        case .person(let principal)?:
            remove(session, from: &sessionsByPrincipal[principal, default: []])
            if sessionsByPrincipal[principal]?.isEmpty == true { sessionsByPrincipal[principal] = nil }
            logger.info("disconnected", metadata: ["session": "\(id)", "who": "\(principal)"])
            apply(self.step(.disconnect(principal), at: clock.now()), caller: nil, tag: nil)
        case .gateway(let gateway)?:
            remove(session, from: &gatewaySessions[gateway, default: []])
            if gatewaySessions[gateway]?.isEmpty == true { gatewaySessions[gateway] = nil }
            logger.info("gateway disconnected", metadata: ["session": "\(id)", "gateway": "\(gateway)"])
        case nil:
            break
        }
    }

    /// Keeps a list of sessions in session order (events reach a principal's sessions in the order they connected).
    func insert(_ session: SessionState, into list: inout [SessionState]) {
        guard !list.contains(where: { $0 === session }) else { return }
        let index = list.firstIndex { $0.id.rawValue > session.id.rawValue } ?? list.endIndex
        list.insert(session, at: index)
    }

    func remove(_ session: SessionState, from list: inout [SessionState]) {
        list.removeAll { $0 === session }
    }
}

extension Refusal {
    var code: ErrorCode {
        switch self {
        case .notFound: .notFound
        case .forbidden: .forbidden
        case .badArgs: .badArgs
        case .conflict: .conflict
        case .busy: .busy
        }
    }
}

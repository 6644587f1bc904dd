import DequeModule
import KefuCore
import KefuProtocol
import KefuStore
import Logging

/// The one owner of routing state. It takes inputs from its mailbox one at a time, runs them through the core,
/// hands records to the store, and releases replies and events only once the records behind them are committed:
/// nothing is shown to anyone that a crash could take back. It never awaits a client or the disk.
final class RoutingLoop {
    /// One line (or other output) waiting for the store before it may leave.
    enum Output {
        case line(SessionID, String)
        case breach(SLABreach)
        case close(SessionID)
    }

    /// Outputs that may leave once store job `ticket` (and every job before it) has finished.
    struct PendingBatch {
        var ticket: UInt64
        var outputs: [Output] = []
        /// A history read whose lines go first in this batch has not come back yet.
        var awaitingRead = false
    }

    struct Session {
        var outbox: Outbox
        var principal: Principal?
        var closing = false
    }

    private var core: RoutingCore
    private let store: ConversationStore
    private let mailbox: Mailbox
    private let clock: any WallClock
    private let authenticator: Authenticator
    private let notifier: any ServiceNotifier
    private let breaches: any BreachRecorder
    private let logger: Logger

    private var sessions: [SessionID: Session] = [:]
    private var sessionsByPrincipal: [Principal: Set<SessionID>] = [:]
    private var supervisorSessions: Set<SessionID> = []

    private var pending = Deque<PendingBatch>()
    /// Store jobs handed out so far, and how many have finished (they finish in order).
    private var issuedTicket: UInt64 = 0
    private var finishedTicket: UInt64 = 0

    private var timer: Task<Void, Never>?
    private var timerArmedFor: Instant?
    private var lastStatus = ""
    private var shuttingDown = false
    private var failed: StoreError?

    init(
        core: RoutingCore,
        store: ConversationStore,
        mailbox: Mailbox,
        clock: any WallClock,
        authenticator: Authenticator,
        notifier: any ServiceNotifier,
        breaches: any BreachRecorder,
        logger: Logger
    ) {
        self.core = core
        self.store = store
        self.mailbox = mailbox
        self.clock = clock
        self.authenticator = authenticator
        self.notifier = notifier
        self.breaches = breaches
        self.logger = logger
    }

    /// The live summary sent as `STATUS=`.
    var statusLine: String { core.status.line }

    /// Processes inputs until shutdown has flushed everything. Throws when the store failed to commit: the
    /// in-memory state is then ahead of the disk, and the honest thing is to stop and let systemd restart us.
    func run(_ inputs: AsyncStream<LoopInput>) async throws {
        rearmTimer()
        for await input in inputs {
            handle(input)
            if let failed { throw failed }
            if shuttingDown && finishedTicket == issuedTicket && pending.isEmpty {
                sayGoodbye()
                break
            }
            rearmTimer()
        }
        timer?.cancel()
    }

    private func handle(_ input: LoopInput) {
        switch input {
        case .connected(let session, let outbox):
            sessions[session] = Session(outbox: outbox)
            if shuttingDown { closeNow(session, farewell: ServerLine.event("BYE")) }
        case .request(let session, let tag, let request):
            handleRequest(session, tag: tag, request)
        case .inputEnded(let session):
            guard sessions[session] != nil else { return }
            sessions[session]?.closing = true
            emit(.close(session))
        case .disconnected(let session):
            disconnect(session)
        case .committed(let ticket, let failure):
            if let failure {
                logger.critical("store commit failed; stopping", metadata: ["error": "\(failure)"])
                self.failed = failure
                return
            }
            finished(ticket)
        case .historyRead(let ticket, let session, let tag, let result):
            historyRead(ticket: ticket, session: session, tag: tag, result)
        case .timer:
            timerArmedFor = nil
            apply(core.handle(.tick, at: clock.now()), caller: nil, tag: nil)
        case .housekeeping:
            notifier.watchdogPing()
            let status = statusLine
            if status != lastStatus {
                lastStatus = status
                notifier.status(status)
            }
        case .shutdown:
            shuttingDown = true
        }
    }

    // MARK: - Requests

    private func handleRequest(_ session: SessionID, tag: String, _ parsed: Result<Request, ProtocolError>) {
        guard let state = sessions[session], !state.closing else { return }
        let request: Request
        switch parsed {
        case .failure(let error):
            emit(.line(session, ServerLine.error(tag, error)))
            return
        case .success(let parsed):
            request = parsed
        }
        if shuttingDown {
            emit(.line(session, ServerLine.error(tag, ProtocolError(.busy, "kefud is shutting down"))))
            return
        }
        guard let principal = state.principal else {
            guard request.allowedBeforeLogin else {
                emit(.line(session, ServerLine.error(tag, ProtocolError(.notLoggedIn, "LOGIN first"))))
                return
            }
            handleAnonymous(session, tag: tag, request)
            return
        }
        let command: Command
        switch request {
        case .ping:
            emit(.line(session, ServerLine.ok(tag)))
            return
        case .quit:
            emit(.line(session, ServerLine.ok(tag)))
            emit(.close(session))
            sessions[session]?.closing = true
            return
        case .login:
            emit(.line(session, ServerLine.error(tag, ProtocolError(.conflict, "already logged in as \(principal)"))))
            return
        case .open(let skill, let priority, let text):
            command = .open(principal, skill: Skill(skill), priority: Priority(priority), text: text)
        case .send(let conversation, let text):
            command = .send(principal, ConversationID(conversation), text: text)
        case .close(let conversation):
            command = .close(principal, ConversationID(conversation))
        case .presence(let presence):
            command = .setPresence(principal, Presence(presence))
        case .history(let conversation):
            command = .history(principal, ConversationID(conversation))
        }
        apply(core.handle(command, at: clock.now()), caller: session, tag: tag)
    }

    private func handleAnonymous(_ session: SessionID, tag: String, _ request: Request) {
        switch request {
        case .ping:
            emit(.line(session, ServerLine.ok(tag)))
        case .quit:
            emit(.line(session, ServerLine.ok(tag)))
            emit(.close(session))
            sessions[session]?.closing = true
        case .login(let role, let id, let token):
            guard let principal = authenticator.authenticate(role: role, id: id, token: token) else {
                logger.notice("login refused", metadata: ["role": "\(role.rawValue)", "id": "\(id)"])
                emit(.line(session, ServerLine.error(tag, ProtocolError(.authFailed, "unknown id or wrong token"))))
                return
            }
            let step = core.handle(.connect(principal), at: clock.now())
            if case .refused(let refusal, let message) = step.reply {
                emit(.line(session, ServerLine.error(tag, ProtocolError(refusal.code, message))))
                return
            }
            sessions[session]?.principal = principal
            sessionsByPrincipal[principal, default: []].insert(session)
            if case .supervisor = principal { supervisorSessions.insert(session) }
            logger.info("logged in", metadata: ["session": "\(session)", "who": "\(principal)"])
            var fields = [("role", role.rawValue), ("id", id)]
            if case .ok(let extra) = step.reply { fields += extra.map { ($0.key, $0.value) } }
            apply(step, caller: session, tag: tag, reply: ServerLine.ok(tag, fields))
        default:
            emit(.line(session, ServerLine.error(tag, ProtocolError(.notLoggedIn, "LOGIN first"))))
        }
    }

    private func disconnect(_ session: SessionID) {
        guard let state = sessions.removeValue(forKey: session) else { return }
        supervisorSessions.remove(session)
        guard let principal = state.principal else { return }
        sessionsByPrincipal[principal]?.remove(session)
        if sessionsByPrincipal[principal]?.isEmpty == true { sessionsByPrincipal[principal] = nil }
        logger.info("disconnected", metadata: ["session": "\(session)", "who": "\(principal)"])
        apply(core.handle(.disconnect(principal), at: clock.now()), caller: nil, tag: nil)
    }

    // MARK: - Applying a step

    /// Persists the step's records, then queues its reply and events behind them.
    private func apply(_ step: Step, caller: SessionID?, tag: String?, reply: String? = nil) {
        let records = step.records
        if !records.isEmpty {
            issuedTicket += 1
            let ticket = issuedTicket
            let mailbox = self.mailbox
            store.enqueue(records) { result in
                switch result {
                case .success: mailbox.post(.committed(ticket: ticket, failure: nil))
                case .failure(let error): mailbox.post(.committed(ticket: ticket, failure: error))
                }
            }
        }
        if let caller, let tag {
            if let reply {
                emit(.line(caller, reply))
            } else {
                switch step.reply {
                case .ok(let fields):
                    emit(.line(caller, ServerLine.ok(tag, fields.map { ($0.key, $0.value) })))
                case .refused(let refusal, let message):
                    emit(.line(caller, ServerLine.error(tag, ProtocolError(refusal.code, message))))
                case .history(let conversation, let viewer, let verify):
                    readHistory(conversation, viewer: viewer, verifyOwnership: verify, session: caller, tag: tag)
                }
            }
        }
        for effect in step.effects {
            switch effect {
            case .deliver(let recipient, let event):
                let line = event.line
                for session in sessions(for: recipient, caller: caller) { emit(.line(session, line)) }
            case .breach(let breach):
                emit(.breach(breach))
            case .persist:
                break
            }
        }
    }

    private func sessions(for recipient: Recipient, caller: SessionID?) -> [SessionID] {
        switch recipient {
        case .caller: return caller.map { [$0] } ?? []
        case .agent(let id):
            return sessionsByPrincipal[.agent(id)].map { $0.sorted { $0.rawValue < $1.rawValue } } ?? []
        case .customer(let id):
            return sessionsByPrincipal[.customer(id)].map { $0.sorted { $0.rawValue < $1.rawValue } } ?? []
        case .supervisors: return supervisorSessions.sorted { $0.rawValue < $1.rawValue }
        }
    }

    /// History comes from the store, read after every write enqueued before it (same FIFO), so it includes
    /// everything already acknowledged.
    private func readHistory(
        _ conversation: ConversationID, viewer: Principal, verifyOwnership: Bool, session: SessionID, tag: String
    ) {
        issuedTicket += 1
        let ticket = issuedTicket
        pending.append(PendingBatch(ticket: ticket, awaitingRead: true))
        let mailbox = self.mailbox
        store.enqueueRead(
            { reader -> [MessageRecord]? in
                guard let record = try reader.conversation(conversation) else { return nil }
                if verifyOwnership {
                    switch viewer {
                    case .customer(let customer):
                        guard record.customer == customer else { return nil }
                    case .agent(let agent):
                        guard try reader.agentsWhoHeld(conversation).contains(agent) else { return nil }
                    case .supervisor:
                        break
                    }
                }
                return try reader.history(of: conversation)
            },
            completion: { result in
                mailbox.post(.historyRead(ticket: ticket, session: session, tag: tag, result))
            })
    }

    private func historyRead(
        ticket: UInt64, session: SessionID, tag: String, _ result: Result<[MessageRecord]?, StoreError>
    ) {
        var lines: [Output] = []
        switch result {
        case .success(let messages?):
            lines = messages.map { .line(session, $0.historyLine) }
            lines.append(.line(session, ServerLine.ok(tag, [("count", "\(messages.count)")])))
        case .success(nil):
            lines = [.line(session, ServerLine.error(tag, ProtocolError(.notFound, "no such conversation")))]
        case .failure(let error):
            logger.error("history read failed", metadata: ["error": "\(error)"])
            lines = [.line(session, ServerLine.error(tag, ProtocolError(.internal, "history unavailable")))]
        }
        if let index = pending.firstIndex(where: { $0.ticket == ticket }) {
            pending[index].outputs.insert(contentsOf: lines, at: 0)
            pending[index].awaitingRead = false
        }
        finished(ticket)
    }

    // MARK: - Releasing outputs

    /// Queues an output behind the latest store job, or sends it at once when nothing is outstanding.
    private func emit(_ output: Output) {
        if pending.isEmpty && finishedTicket == issuedTicket {
            deliver(output)
        } else if pending.last?.ticket == issuedTicket {
            pending[pending.count - 1].outputs.append(output)
        } else {
            pending.append(PendingBatch(ticket: issuedTicket, outputs: [output]))
        }
    }

    private func finished(_ ticket: UInt64) {
        finishedTicket = max(finishedTicket, ticket)
        while let first = pending.first, first.ticket <= finishedTicket, !first.awaitingRead {
            pending.removeFirst()
            first.outputs.forEach(deliver)
        }
    }

    private func deliver(_ output: Output) {
        switch output {
        case .line(let session, let line):
            guard let state = sessions[session] else { return }
            if state.outbox.send(line) == .full {
                logger.warning("client too slow: outbox full, closing", metadata: ["session": "\(session)"])
                sessions[session]?.closing = true
                state.outbox.close()
            }
        case .breach(let breach):
            breaches.record(breach)
        case .close(let session):
            sessions[session]?.outbox.close()
        }
    }

    private func closeNow(_ session: SessionID, farewell: String) {
        guard let state = sessions[session] else { return }
        _ = state.outbox.send(farewell)
        state.outbox.close()
        sessions[session]?.closing = true
    }

    private func sayGoodbye() {
        for session in sessions.keys.sorted(by: { $0.rawValue < $1.rawValue }) {
            closeNow(session, farewell: ServerLine.event("BYE"))
        }
    }

    // MARK: - The one timer

    /// One timer for the earliest deadline, however many conversations are open.
    private func rearmTimer() {
        let next = core.nextDeadline
        guard next != timerArmedFor else { return }
        timer?.cancel()
        timerArmedFor = next
        guard let next else { return }
        let delay = max(0, (next - clock.now()).value)
        let mailbox = self.mailbox
        timer = Task {
            if delay > 0 {
                do { try await Task.sleep(for: .milliseconds(delay)) } catch { return }
            }
            mailbox.post(.timer)
        }
    }
}

extension Priority {
    init(_ value: PriorityValue) {
        switch value {
        case .normal: self = .normal
        case .vip: self = .vip
        }
    }
}

extension Presence {
    init(_ value: PresenceValue) {
        switch value {
        case .online: self = .online
        case .away: self = .away
        case .offline: self = .offline
        }
    }
}

extension RoutingStatus {
    /// The live summary sent as `STATUS=`.
    var line: String { "\(agentsOnline) agents online, \(queued) queued, \(active) active" }
}

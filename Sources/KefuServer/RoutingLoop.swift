import DequeModule
import KefuConfig
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
        case autoAway(AgentAutoAway)
        case escalation(SLAEscalation)
        case notice(SLANotice)
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
        var role: SessionRole?
        var closing = false
        /// `WATCH`: a supervisor session that receives a copy of every event.
        var watching = false
        /// Handing over: its reader has stopped, every line it read has been handled.
        var frozen = false
    }

    /// Who a logged-in session is: a person, or a gateway speaking for many buyers.
    enum SessionRole: Equatable, CustomStringConvertible {
        case person(Principal)
        case gateway(String)

        /// Who a session is once logged in as `role` with `id` (a manager is a supervisor with more rungs).
        init(_ role: LoginRole, id: String) {
            switch role {
            case .customer: self = .person(.customer(CustomerID(id)))
            case .agent: self = .person(.agent(AgentID(id)))
            case .supervisor, .manager: self = .person(.supervisor(SupervisorID(id)))
            case .gateway: self = .gateway(id)
            }
        }

        var description: String {
            switch self {
            case .person(let principal): principal.description
            case .gateway(let id): "gateway \(id)"
            }
        }
    }

    var core: RoutingCore
    let store: ConversationStore
    let mailbox: Mailbox
    let clock: any WallClock
    /// Replaced by a reload: token changes apply to new logins.
    var authenticator: Authenticator
    let notifier: any ServiceNotifier
    let journal: any JournalRecorder
    /// Which breaches get a journald record each and which a summary (`[sla] breach_records_per_s`).
    var breachLimiter: BreachRateLimiter
    /// The same budget for the escalation ladder's records (a storm of breaches is a storm of first rungs too).
    var escalationLimiter: BreachRateLimiter
    /// Debug-level notices (warnings, rounds met) have a budget of their own, so that they can never crowd breach
    /// records out of journald's rate limit; beyond it they are counted in summaries.
    var noticeLimiter: BreachRateLimiter
    let logger: Logger
    /// Where the listener is, for `STATUS=` after a reload.
    let listening: String
    /// Why the last reload was rejected, kept in `STATUS=` until a reload succeeds.
    var rejectedReload: String?
    var invariantCheck = InvariantCheck()
    private var ticksSinceCheck = 0
    private var watchdogTriggered = false

    var sessions: [SessionID: Session] = [:]
    var sessionsByPrincipal: [Principal: Set<SessionID>] = [:]
    var supervisorSessions: Set<SessionID> = []
    /// Sessions logged in as `[[manager]]`: supervisors' powers, and the top of the escalation ladder.
    var managerSessions: Set<SessionID> = []
    var gatewaySessions: [String: Set<SessionID>] = [:]
    /// Which gateway speaks for a buyer (the one that last named them), so the buyer's events reach it.
    var customerGateway: [CustomerID: String] = [:]
    /// Events for buyers with no connection right now, given to them when they (or their gateway) come back.
    var undelivered: [CustomerID: [String]] = [:]
    var watchers: Set<SessionID> = []

    var pending = Deque<PendingBatch>()
    /// Store jobs handed out so far, and how many have finished (they finish in order).
    var issuedTicket: UInt64 = 0
    var finishedTicket: UInt64 = 0

    private var timer: Task<Void, Never>?
    private var timerArmedFor: Instant?
    private var lastStatus = ""
    var shuttingDown = false
    /// Stopping for a restart (``LoopInput/handOver``): connections go to systemd's store, nobody hears BYE.
    var handingOver = false
    /// Set once every session is frozen and everything is committed and released to the outboxes.
    var handover: HandoverState?
    private var failed: StoreError?

    init(
        core: RoutingCore,
        store: ConversationStore,
        mailbox: Mailbox,
        clock: any WallClock,
        authenticator: Authenticator,
        notifier: any ServiceNotifier,
        journal: any JournalRecorder,
        breachRecordsPerSecond: Int,
        logger: Logger,
        listening: String = "",
        takenOver: HandoverFile? = nil
    ) {
        self.core = core
        self.store = store
        self.mailbox = mailbox
        self.clock = clock
        self.authenticator = authenticator
        self.notifier = notifier
        self.journal = journal
        self.breachLimiter = BreachRateLimiter(recordsPerSecond: breachRecordsPerSecond)
        self.escalationLimiter = BreachRateLimiter(recordsPerSecond: breachRecordsPerSecond)
        self.escalationLimiter.kind = .escalations
        self.noticeLimiter = BreachRateLimiter(recordsPerSecond: breachRecordsPerSecond)
        self.noticeLimiter.kind = .notices
        self.logger = logger
        self.listening = listening
        // Buyers of open conversations brought by a gateway are that gateway's again after a restart.
        for record in core.openConversations(where: { $0.gateway != nil }) {
            customerGateway[record.customer] = record.gateway
        }
        // A restart that kept the connections keeps what buyers who were away have not been given yet, too.
        if let takenOver {
            for (customer, gateway) in takenOver.customerGateways where customerGateway[CustomerID(customer)] == nil {
                customerGateway[CustomerID(customer)] = gateway
            }
            for (customer, lines) in takenOver.undelivered { undelivered[CustomerID(customer)] = lines }
        }
    }

    /// The live summary sent as `STATUS=` (with a rejected reload's reason until one succeeds).
    var statusLine: String {
        (rejectedReload.map { "reload rejected, previous configuration in force: \($0); " } ?? "") + core.status.line
    }

    /// Processes inputs until shutdown has flushed everything. Throws when the store failed to commit: the
    /// in-memory state is then ahead of the disk, and the honest thing is to stop and let systemd restart us.
    /// Returns the sessions handed over when stopping for a restart, after the mailbox has ended.
    func run(_ inputs: AsyncStream<LoopInput>) async throws -> HandoverState? {
        // Breaches held for a summary were committed: they are written however the loop ends.
        defer { recordHeldBreaches() }
        // READY=1 went out with this summary (after "listening on ..."): keep that status until the floor changes.
        lastStatus = statusLine
        rearmTimer()
        for await input in inputs {
            if handover != nil {
                // Handed over: nothing changes any more. (Every accepted connection was announced before the
                // hand-over began; should one come after all the same, it is closed and its client reconnects.)
                switch input {
                case .connected(_, let outbox), .adopted(_, let outbox, _): outbox.close()
                default: break
                }
                continue
            }
            handle(input)
            if let failed { throw failed }
            if shuttingDown && finishedTicket == issuedTicket && pending.isEmpty {
                sayGoodbye()
                break
            }
            if handingOver && finishedTicket == issuedTicket && pending.isEmpty
                && sessions.values.allSatisfy({ $0.frozen || $0.closing })
            {
                handOverSessions()
                timer?.cancel()
                continue
            }
            rearmTimer()
        }
        timer?.cancel()
        return handover
    }

    private func handle(_ input: LoopInput) {
        switch input {
        case .connected(let session, let outbox):
            sessions[session] = Session(outbox: outbox)
            if shuttingDown { closeNow(session, farewell: ServerLine.event("BYE")) }
            if handingOver { outbox.freeze() }
        case .adopted(let session, let outbox, let handedOver):
            adopt(session, outbox: outbox, handedOver)
            if handingOver { outbox.freeze() }
        case .inputFrozen(let session):
            sessions[session]?.frozen = true
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
        case .storeRead(let ticket, let read):
            storeRead(ticket: ticket, read)
        case .timer:
            timerArmedFor = nil
            apply(core.handle(.tick, at: clock.now()), caller: nil, tag: nil)
        case .housekeeping:
            ticksSinceCheck += 1
            if ticksSinceCheck >= invariantCheck.everyTicks {
                ticksSinceCheck = 0
                let violations = invariantCheck.check(core)
                if !violations.isEmpty && !watchdogTriggered {
                    // Routing on in a bad state would misroute every chat after it: restart from the store instead.
                    logger.critical(
                        "routing invariants broken; asking systemd to restart kefud",
                        metadata: ["violations": "\(violations.prefix(10))", "count": "\(violations.count)"])
                    watchdogTriggered = true
                    notifier.watchdogTrigger()
                }
            }
            // Once triggered, no more pings: without WatchdogSec's trigger support the silence restarts it too.
            if !watchdogTriggered { notifier.watchdogPing() }
            recordHeldBreaches()
            let status = statusLine
            if status != lastStatus {
                lastStatus = status
                notifier.status(status)
            }
        case .shutdown:
            shuttingDown = true
        case .handOver:
            handingOver = true
            // Every line read so far is handled first; the readers say when they have posted their last one.
            for state in sessions.values { state.outbox.freeze() }
        case .reload(let outcome):
            reload(outcome)
        }
    }

    /// A configuration read again: the core routes by the new policy from this instant (agents removed are signed
    /// out, their chats placed again), new logins check the new tokens. One that could not be read changes nothing.
    private func reload(_ outcome: Result<KefuConfiguration, ConfigurationLoadError>) {
        switch outcome {
        case .success(let configuration):
            authenticator = Authenticator(configuration)
            breachLimiter.recordsPerSecond = configuration.sla.breachRecordsPerSecond
            escalationLimiter.recordsPerSecond = configuration.sla.breachRecordsPerSecond
            noticeLimiter.recordsPerSecond = configuration.sla.breachRecordsPerSecond
            apply(core.handle(.reconfigure(RoutingPolicy(configuration)), at: clock.now()), caller: nil, tag: nil)
            rejectedReload = nil
            logger.notice(
                "configuration reloaded",
                metadata: ["event": "config_reloaded", "agents": "\(configuration.agents.count)"])
        case .failure(let error):
            rejectedReload = error.description
            logger.error(
                "configuration reload rejected; the previous configuration stays in force",
                metadata: ["event": "config_rejected", "error": "\(error.description)"])
        }
        lastStatus = statusLine
        notifier.ready(status: "\(listening); \(statusLine)")
    }

    // MARK: - Applying a step

    /// Persists the step's records, then queues its reply and events behind them.
    func apply(_ step: Step, caller: SessionID?, tag: String?, reply: String? = nil) {
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
                    readFromStore(.history, conversation, viewer: viewer, verify: verify, session: caller, tag: tag)
                case .fromStore(let query, let conversation, let viewer, let verify):
                    readFromStore(
                        StoreRead(query), conversation, viewer: viewer, verify: verify, session: caller, tag: tag)
                case .listing(let lines, let fields):
                    for line in lines { emit(.line(caller, line.rendered)) }
                    emit(.line(caller, ServerLine.ok(tag, fields.map { ($0.key, $0.value) })))
                }
            }
        }
        for effect in step.effects {
            switch effect {
            case .deliver(let recipient, let event):
                deliverEvent(event.line, to: recipient, caller: caller)
            case .breach(let breach):
                emit(.breach(breach))
            case .autoAway(let away):
                emit(.autoAway(away))
            case .escalation(let escalation):
                emit(.escalation(escalation))
            case .slaNotice(let notice):
                emit(.notice(notice))
            case .signOut(let agent, let reason):
                // After the events that concern it (its chats revoked), the agent hears why and is disconnected.
                for session in sorted(sessionsByPrincipal[.agent(agent)]) {
                    emit(.line(session, ServerLine.event("BYE", [("reason", reason)])))
                    emit(.close(session))
                }
            case .persist:
                break
            }
        }
    }

    // MARK: - Releasing outputs

    /// Queues an output behind the latest store job, or sends it at once when nothing is outstanding.
    func emit(_ output: Output) {
        if pending.isEmpty && finishedTicket == issuedTicket {
            deliver(output)
        } else if pending.last?.ticket == issuedTicket {
            pending[pending.count - 1].outputs.append(output)
        } else {
            pending.append(PendingBatch(ticket: issuedTicket, outputs: [output]))
        }
    }

    func finished(_ ticket: UInt64) {
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
            if breachLimiter.admit(breach, at: clock.now()) { journal.record(breach) }
        case .autoAway(let away):
            journal.record(away)
        case .escalation(let escalation):
            if escalationLimiter.admit(escalation.breach, at: clock.now()) { journal.record(escalation) }
        case .notice(let notice):
            if noticeLimiter.admit(notice.facts, at: clock.now()) { journal.record(notice) }
        case .close(let session):
            sessions[session]?.outbox.close()
        }
    }

    /// Writes the summaries of breaches held back since the last time (once a second, and at the end).
    private func recordHeldBreaches() {
        for summary in breachLimiter.flush() + escalationLimiter.flush() + noticeLimiter.flush() {
            journal.record(summary)
        }
    }

    func closeNow(_ session: SessionID, farewell: String) {
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

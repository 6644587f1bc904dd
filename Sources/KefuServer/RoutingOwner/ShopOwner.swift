import KefuMetrics
import DequeModule
import KefuConfig
import KefuCore
import KefuProtocol
import KefuStore
import Logging
import NIOCore

/// The one owner of a shop's routing state, on one event loop. It takes its inputs one at a time, runs them through
/// the core, hands the records to the store, and releases replies and events only once the records behind them are
/// committed (``CommitGate``): nothing is shown to anyone that a crash could take back. It never waits for a client
/// or the disk.
///
/// A turn is one input. During a turn records gather into one open store job; the job goes to the store after the
/// inputs already queued on the loop (so a busy owner commits many inputs per job), and what a turn released goes to
/// each connection as one write.
final class ShopOwner {
    /// One output waiting for the store before it may leave.
    enum Output {
        case line(SessionState, OutboundLine)
        /// A long answer, written as the client drains it.
        case longAnswer(SessionState, LongAnswer)
        /// Close once everything before is written.
        case close(SessionState)
        /// Give the connection, not logged in, to the owner of the shop its `LOGIN` names, once everything before
        /// is written (that owner answers the `LOGIN`).
        case handOff(SessionState, to: OwnerLink, login: ClientRequest)
        case breach(SLABreach)
        case autoAway(AgentAutoAway)
        case escalation(SLAEscalation)
        case notice(SLANotice)
    }

    /// A connection as the owner knows it. A class: outputs refer to it, and a turn gathers its lines in `output`.
    final class SessionState {
        let id: SessionID
        let link: ConnectionLink
        var role: SessionRole?
        /// Logged in as `[[manager]]`.
        var manager = false
        /// QUIT, end of input, BYE: lines emitted from now on are not written.
        var closing = false
        /// Disconnected: outputs still waiting for it are dropped.
        var gone = false
        /// `WATCH`: a supervisor session that receives a copy of every event.
        var watching = false
        /// `BOARD`: the board lines this session was last sent, by key (what the next push compares with).
        var board: [String: OutboundLine] = [:]
        /// Handing over: its reader has stopped, every line it read has been handled.
        var frozen = false
        /// What this turn released for it, written at the end of the turn.
        var output: ByteBuffer?
        var answered = 0
        var after = ClientConnection.AfterDelivery.keepGoing
        var dirty = false
        /// A long answer being written; later outputs wait in `deferred` until it is complete.
        var longAnswer: LongAnswer?
        var deferred = Deque<Output>()

        init(id: SessionID, link: ConnectionLink) {
            self.id = id
            self.link = link
        }

        /// Whether lines emitted to the session now will still be written to it.
        var isOpen: Bool { !closing && !gone }
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

    let loop: any EventLoop
    /// The shop whose routing state this is (`LOGIN ... shop=`).
    let shop: String
    /// The node's other shops' owners, to hand a `LOGIN ... shop=` for one of them to.
    let directory: ShopDirectory
    /// Sessions handed to another shop's owner whose connection may still post here before it hears so: what it
    /// posts goes on to that owner (until the connection says it has moved, ``OwnerInput/movedAway(_:)``).
    var handedOff: [SessionID: OwnerLink] = [:]
    var core: RoutingCore
    let store: any RecordStore
    let clock: any WallClock
    /// Replaced by a reload: token changes apply to new logins.
    var authenticator: Authenticator
    let notifier: any ServiceNotifier
    let journal: any JournalRecorder
    let logger: Logger
    /// The shop's series of `/metrics`, counted from each step's effects.
    let metrics: ShopMetrics
    /// The shop's day so far (rounds, ratings, arrivals), for the board and `/metrics`.
    var today: DayTally
    /// Which breaches get a journald record each and which a summary (`[sla] breach_records_per_s`).
    var breachLimiter: BreachRateLimiter
    /// The same budget for the escalation ladder's records (a storm of breaches is a storm of first rungs too).
    var escalationLimiter: BreachRateLimiter
    /// Debug-level notices (warnings, rounds met) have a budget of their own, so that they can never crowd breach
    /// records out of journald's rate limit; beyond it they are counted in summaries.
    var noticeLimiter: BreachRateLimiter
    /// Why the last reload was rejected, kept in `STATUS=` until a reload succeeds.
    var rejectedReload: String?
    var invariantCheck = InvariantCheck()
    /// Where a stop that says BYE leaves what was kept for away buyers (nil: nowhere, as in a cluster).
    var keptAtStop: RestartCarryOver.KeptAtStop?
    /// The node's failed-login throttle (shared by every shop's owner: an address's failures count across shops).
    var loginGuard = LoginGuard()
    private var ticksSinceCheck = 0
    private var watchdogTriggered = false

    var sessions: [SessionID: SessionState] = [:]
    /// Each principal's sessions, in session order.
    var sessionsByPrincipal: [Principal: [SessionState]] = [:]
    var supervisorSessions: [SessionState] = []
    /// Sessions logged in as `[[manager]]`: supervisors' powers, and the top of the escalation ladder.
    var managerSessions: [SessionState] = []
    var gatewaySessions: [String: [SessionState]] = [:]
    var watchers: [SessionState] = []
    /// Sessions that asked for `BOARD`: they get its changes every housekeeping tick.
    var boardSessions: [SessionState] = []
    /// Which gateway speaks for a buyer (the one that last named them), so the buyer's events reach it.
    var customerGateway: [CustomerID: String] = [:]
    /// Events for buyers with no connection right now, given to them when they (or their gateway) come back.
    var kept: KeptEvents

    var gate = CommitGate<Output>()
    /// The inputs the core took since the last store job (``InputJournal``), when the shop keeps a journal.
    var inputs = InputJournal()
    /// `[replay] keep_days` was set when the owner started (its run's restore point is in the journal).
    var recordsInputs = false
    /// Records of the store job still being gathered, and its ticket.
    private var openRecords: [Record] = []
    private var openTicket: UInt64?
    /// The records of each job the store has not reported yet: a job that fails while the store is out is retried.
    var jobsInFlight: [UInt64: [Record]] = [:]
    /// The store cannot write now (see ``StoreOutage``).
    var outage: StoreOutage?
    /// The step being applied has records to commit: its outputs wait for them.
    var stepWrites = false
    private var dirtySessions: [SessionState] = []

    private var timer: Scheduled<Void>?
    private var timerArmedFor: Instant?
    private var housekeepingTask: RepeatedTask?
    private var lastStatus = ""
    var shuttingDown = false
    /// What every session hears when the owner stops: `* BYE`, or in a cluster `* MOVED` (``OwnerInput/relinquish``).
    private var farewell = OutboundLine.bye(reason: nil)
    /// In a cluster, a failed commit does not end the node: the owner stops serving the shop (answers nothing more,
    /// shows nothing that was not committed) and tells the node, which gives the shop up. Nil: the node stops.
    var onStoreFailure: (@Sendable (String) -> Void)?
    /// A commit failed and `onStoreFailure` was told: waiting for ``OwnerInput/relinquish``.
    private var stalled = false
    /// Stopping for a restart (``OwnerInput/carryOver``): connections go to systemd's store, nobody hears BYE.
    var carryingOver = false
    /// Where the connections go when handed over.
    var collector: RestartCarryOver.Collector?
    /// The shop's retention purge (`[retention]`): started with the owner, told of reloads, stopped at its end. It runs
    /// on its own task and the store's queue, never on this loop.
    var retention: RetentionSweeper?
    /// Completed when the owner is done: with the sessions to hand over when stopping for a restart.
    let done: EventLoopPromise<RestartCarryOver.Sessions?>
    private var ended = false

    init(
        shop: String = NodeConfiguration.defaultShop,
        directory: ShopDirectory = ShopDirectory(),
        loop: any EventLoop,
        core: RoutingCore,
        store: any RecordStore,
        clock: any WallClock,
        authenticator: Authenticator,
        notifier: any ServiceNotifier,
        journal: any JournalRecorder,
        breachRecordsPerSecond: Int,
        keptEventBytes: Int,
        metrics: ShopMetrics,
        logger: Logger,
        carried: RestartCarryOver.Kept? = nil
    ) {
        self.shop = shop
        self.directory = directory
        self.loop = loop
        self.core = core
        self.store = store
        self.clock = clock
        self.authenticator = authenticator
        self.notifier = notifier
        self.journal = journal
        self.breachLimiter = BreachRateLimiter(recordsPerSecond: breachRecordsPerSecond)
        self.escalationLimiter = BreachRateLimiter(recordsPerSecond: breachRecordsPerSecond)
        self.escalationLimiter.kind = .escalations
        self.noticeLimiter = BreachRateLimiter(recordsPerSecond: breachRecordsPerSecond)
        self.noticeLimiter.kind = .notices
        self.kept = KeptEvents(bytesPerBuyer: keptEventBytes)
        self.logger = logger
        self.metrics = metrics
        self.today = DayTally(calendar: core.policy.calendar, at: clock.now())
        self.done = loop.makePromise()
        // Buyers of open conversations brought by a gateway are that gateway's again after a restart.
        for record in core.openConversations(where: { $0.gateway != nil }) {
            customerGateway[record.customer] = record.gateway
        }
        // A restart that kept the connections keeps what buyers who were away have not been given yet, too.
        if let carried {
            for (customer, gateway) in carried.customerGateways where customerGateway[CustomerID(customer)] == nil {
                customerGateway[CustomerID(customer)] = gateway
            }
            for (customer, events) in carried.kept {
                for event in events { kept.keep(event, for: CustomerID(customer)) }
            }
        }
    }

    /// The owner as connections, the store and timers reach it.
    var link: OwnerLink { OwnerLink(owner: NIOLoopBound(self, eventLoop: loop), shop: shop) }

    /// The live summary sent as `STATUS=` (with a rejected reload's reason until one succeeds).
    var statusLine: String {
        outageStatus
            + (rejectedReload.map { "reload rejected, previous configuration in force: \($0); " } ?? "")
            + core.status.line
    }

    /// Says READY=1 and starts the timers.
    func start(housekeepingEvery period: TimeAmount) {
        sayReady()
        let owner = link.owner
        // Today so far, read before any write of this owner (the store keeps the order): the live count adds the rest.
        let since = today.calendar.startOfDay(containing: clock.now())
        store.enqueueRead({ try $0.dayRecords(since: since) }) { result in
            guard case .success(let day) = result else { return }
            owner.eventLoop.execute {
                owner.value.today.seed(rounds: day.rounds, surveys: day.surveys, openings: day.openings)
            }
        }
        housekeepingTask = loop.scheduleRepeatedTask(initialDelay: period, delay: period) { _ in
            owner.value.handle(.housekeeping)
        }
        rearmTimer()
        retention?.start()
    }

    // MARK: - A turn

    func handle(_ input: OwnerInput) {
        guard !ended else {
            // Done: nothing changes any more. A connection that arrives after all the same is closed; its client
            // reconnects.
            switch input {
            case .connected(let link), .adopted(let link, _), .handedIn(let link, _): link.close()
            default: break
            }
            return
        }
        if !handedOff.isEmpty, let id = input.connection, let next = handedOff[id] {
            // The connection went to another shop's owner and has not heard so yet.
            if case .movedAway(let id) = input {
                handedOff[id] = nil
            } else {
                next.post(input)
            }
            return
        }
        if stalled {
            // The shop is being given up after a failed commit: nothing more is taken in.
            switch input {
            case .connected, .handedIn, .adopted, .disconnected, .relinquish, .abort, .shutdown: break
            default: return
            }
        }
        switch input {
        case .connected(let link):
            connect(link)
        case .handedIn(let link, let login):
            connect(link)
            if let session = sessions[link.session], !session.closing { handleRequest(link.session, login) }
        case .movedAway:
            break
        case .adopted(let link, let carried):
            adopt(link, carried)
            if carryingOver { link.freeze() }
        case .requests(let id, let requests):
            for request in requests { handleRequest(id, request) }
        case .frozen(let id):
            sessions[id]?.frozen = true
        case .inputEnded(let id):
            guard let session = sessions[id] else { break }
            session.closing = true
            emit(.close(session))
        case .disconnected(let id):
            disconnect(id)
        case .drained(let id):
            if let session = sessions[id] { continueLongAnswer(session) }
        case .committed(let ticket, let failure):
            if stalled { return }
            let records = jobsInFlight.removeValue(forKey: ticket) ?? []
            if let failure, onStoreFailure == nil, failure.mayClear {
                return storeFailed(ticket, records, failure)
            }
            if failure == nil, outage != nil {
                return storeCommittedDuringOutage(ticket)
            }
            if let failure {
                if let onStoreFailure {
                    logger.error("store commit failed; giving the shop up", metadata: ["error": "\(failure)"])
                    stalled = true
                    onStoreFailure(shop)
                    return
                }
                logger.critical("store commit failed; stopping", metadata: ["error": "\(failure)"])
                return stopAfterStoreFailure(failure)
            }
            release(gate.finish(ticket))
        case .retryStore:
            retryStore()
        case .storeRetried(let failure):
            storeRetried(failure)
        case .storeRead(let ticket, let session, let tag, let answer):
            storeAnswered(ticket, session: session, tag: tag, answer)
        case .historyPage(let id, let page):
            historyPageCame(id, page)
        case .timer:
            let now = clock.now()
            if let armed = timerArmedFor { metrics.timerFired(late: now - armed) }
            timerArmedFor = nil
            apply(step(.tick, at: now), caller: nil, tag: nil)
        case .housekeeping:
            housekeeping()
        case .shutdown:
            shuttingDown = true
            if stalled {
                return sayGoodbyeAndEnd()
            }
        case .carryOver(let collector):
            carryingOver = true
            self.collector = collector
            // Every line read so far is handled first; the connections say when they have posted their last one.
            // Those the next process cannot take (WebSockets) are told to reconnect and closed.
            for session in sessions.values {
                if session.link.carriesOver {
                    session.link.freeze()
                } else {
                    closeNow(session, farewell: .bye(reason: .restart))
                }
            }
        case .reload(let outcome):
            reload(outcome)
        case .abort:
            end(.success(nil))
            return
        case .relinquish(let farewell, let now):
            self.farewell = farewell
            shuttingDown = true
            if stalled || now {
                // Nothing behind the failed commit may be shown: the sessions hear the farewell and close now.
                return sayGoodbyeAndEnd()
            }
        }
        if stalled { return }
        endTurn()
    }

    private func connect(_ link: ConnectionLink) {
        let session = SessionState(id: link.session, link: link)
        sessions[link.session] = session
        if shuttingDown || stalled { closeNow(session, farewell: farewell) }
        if carryingOver { link.freeze() }
    }

    /// After each input: the open store job is sent off (after the inputs already queued), what the turn released
    /// is written, the timer follows the earliest deadline, and a stop completes once everything has left.
    private func endTurn() {
        if openTicket == nil && journalNeedsFlush(housekeeping: false) { openJournalJob() }
        if openTicket != nil && !flushScheduled {
            flushScheduled = true
            let owner = link.owner
            loop.execute { owner.value.sendOpenJob() }
        }
        writeReleased()
        guard !ended else { return }
        if shuttingDown && openTicket == nil && gate.isClear {
            return sayGoodbyeAndEnd()
        }
        if carryingOver && openTicket == nil && gate.isClear && sessions.values.allSatisfy({ $0.frozen || $0.closing })
        {
            let carried = carryOverSessions()
            end(.success(carried))
            return
        }
        rearmTimer()
    }

    private var flushScheduled = false

    /// A store job for the journal alone: inputs that wrote nothing are committed without waiting for one that does.
    private func openJournalJob() {
        openTicket = gate.issue()
    }

    /// Hands the gathered records to the store as one job; its outputs leave when the store reports it.
    private func sendOpenJob() {
        flushScheduled = false
        guard let ticket = openTicket else { return }
        if let journal = takeJournal() { openRecords.append(journal) }
        let records = openRecords
        openRecords = []
        openTicket = nil
        if outage != nil {
            holdDuringOutage(ticket, records)
            return endTurn()
        }
        jobsInFlight[ticket] = records
        let link = self.link
        let (commits, handedAt) = (metrics.storeCommit, NIODeadline.now())
        store.enqueue(records) { result in
            commits.record(Double((NIODeadline.now() - handedAt).nanoseconds) / 1e9)
            switch result {
            case .success: link.post(.committed(ticket: ticket, failure: nil))
            case .failure(let error): link.post(.committed(ticket: ticket, failure: error))
            }
        }
        endTurn()
    }

    /// A read must see every write issued before it: the open job goes to the store first.
    func sendOpenJobBeforeRead() {
        if openTicket != nil { sendOpenJob() }
    }

    /// A failure nothing will clear: the process ends with it (systemd restarts kefud, which recovers from the store).
    func stopAfterStoreFailure(_ failure: StoreError) {
        end(.failure(failure))
    }

    /// `STATUS=` now, rather than at the next housekeeping.
    func updateStatus() {
        let status = statusLine
        if status != lastStatus {
            lastStatus = status
            notifier.status(status)
        }
    }

    private func end(_ result: Result<RestartCarryOver.Sessions?, any Error>) {
        guard !ended else { return }
        ended = true
        timer?.cancel()
        housekeepingTask?.cancel()
        retention?.stop()
        // Breaches held for a summary were committed: they are written however the owner ends.
        recordHeldBreaches()
        // The shop leaves this node (a stop, or in a cluster its lease): its series leave `/metrics` with it.
        metrics.remove()
        done.completeWith(result)
    }

    /// Sets the shop's gauges of `/metrics` from the state now (a scrape).
    func refreshMetrics() {
        guard !ended else { return }
        var connections = ["customer": 0, "agent": 0, "supervisor": 0, "manager": 0, "gateway": 0]
        for session in sessions.values where session.isOpen {
            switch session.role {
            case .person(.customer)?: connections["customer"]! += 1
            case .person(.agent)?: connections["agent"]! += 1
            case .person(.supervisor)?: connections[session.manager ? "manager" : "supervisor"]! += 1
            case .gateway?: connections["gateway"]! += 1
            case nil: break
            }
        }
        let now = clock.now()
        today.roll(to: now)
        metrics.refresh(core.readings(at: now), connections: connections, today: today)
    }

    // MARK: - Applying a step

    /// Persists the step's records, then queues its reply and events behind them.
    func apply(
        _ step: Step, caller: SessionState?, tag: String?, reply: OutboundLine? = nil, page: Page = Page(),
        coreSeconds: Double? = nil, at now: Instant? = nil
    ) {
        metrics.observe(step.effects, coreSeconds: coreSeconds)
        var hasRecords = false
        var dayFacts = false
        for effect in step.effects {
            guard case .persist(let record) = effect else { continue }
            if !dayFacts, DayTally.counts(record) { dayFacts = true }
            if !hasRecords {
                hasRecords = true
                if openTicket == nil { openTicket = gate.issue() }
            }
            openRecords.append(record)
        }
        // Most steps (a message in a running round) change nothing the day counts: no walk of the effects for them.
        if dayFacts { today.observe(step.effects, at: now ?? clock.now()) }
        stepWrites = hasRecords
        defer { stepWrites = false }
        if let caller, let tag {
            if let reply {
                emit(.line(caller, reply))
            } else {
                answer(step.reply, to: caller, tag: tag, page: page)
            }
        }
        for effect in step.effects {
            switch effect {
            case .deliver(let recipient, let event):
                deliver(event, to: recipient, caller: caller)
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
                for session in sessionsByPrincipal[.agent(agent)] ?? [] {
                    emit(.line(session, .bye(reason: reason)))
                    emit(.close(session))
                }
            case .persist:
                break
            }
        }
    }

    // MARK: - Releasing outputs

    /// Queues an output behind the store jobs still outstanding, or releases it at once when there are none.
    func emit(_ output: Output) {
        // During a store outage what writes nothing (refusals, listings, reads) is not held behind jobs that cannot
        // commit; what a writing step emits is.
        if outage != nil, !stepWrites { return release(output) }
        if let now = gate.emit(output) { release(now) }
    }

    func release(_ outputs: [Output]) {
        for output in outputs { release(output) }
    }

    func release(_ output: Output) {
        switch output {
        case .line(let session, let line):
            guard !session.gone else { return }
            guard session.longAnswer == nil else { return wait(output, behindAnswerOf: session) }
            write(line, to: session)
        case .longAnswer(let session, let answer):
            guard !session.gone else { return }
            guard session.longAnswer == nil else { return wait(output, behindAnswerOf: session) }
            session.longAnswer = answer
            continueLongAnswer(session)
        case .close(let session):
            guard !session.gone else { return }
            guard session.longAnswer == nil else { return wait(output, behindAnswerOf: session) }
            session.after = .close
            markDirty(session)
        case .handOff(let session, let next, let login):
            guard session.isOpen else { return }
            guard session.longAnswer == nil else { return wait(output, behindAnswerOf: session) }
            handOff(session, to: next, login: login)
        case .breach(let breach):
            if breachLimiter.admit(breach, at: clock.now()) { journal.record(breach) }
        case .autoAway(let away):
            journal.record(away)
        case .escalation(let escalation):
            if escalationLimiter.admit(escalation.breach, at: clock.now()) { journal.record(escalation) }
        case .notice(let notice):
            if noticeLimiter.admit(notice.facts, at: clock.now()) { journal.record(notice) }
        }
    }

    /// Most outputs that may wait behind one session's long answer; a client that lets more pile up is not reading it.
    static let deferredLimit = 100_000

    private func wait(_ output: Output, behindAnswerOf session: SessionState) {
        session.deferred.append(output)
        if session.deferred.count > Self.deferredLimit {
            logger.warning(
                "client too slow: closing", metadata: ["session": "\(session.id)", "why": "not reading a long answer"])
            metrics.slowClient()
            session.closing = true
            session.link.close()
        }
    }

    /// Gathers a line for the session; the turn writes it.
    func write(_ line: OutboundLine, to session: SessionState) {
        if session.output == nil { session.output = ByteBufferAllocator().buffer(capacity: 256) }
        line.write(to: &session.output!)
        if line.isCompletion { session.answered += 1 }
        if case .error(_, let error) = line { metrics.protocolError(code: error.code.rawValue) }
        markDirty(session)
    }

    func markDirty(_ session: SessionState) {
        if !session.dirty {
            session.dirty = true
            dirtySessions.append(session)
        }
    }

    /// One write per connection for everything the turn released to it. Connections on other loops first: their
    /// loops wake up while this one writes to its own (a relayed message reaches the agent sooner).
    private func writeReleased() {
        guard !dirtySessions.isEmpty else { return }
        for session in dirtySessions where !session.link.loop.inEventLoop { deliverReleased(to: session) }
        for session in dirtySessions where session.dirty { deliverReleased(to: session) }
        dirtySessions.removeAll(keepingCapacity: true)
    }

    private func deliverReleased(to session: SessionState) {
        session.dirty = false
        guard !session.gone else { return }
        let bytes = session.output ?? ByteBuffer()
        session.link.deliver(bytes, answered: session.answered, after: session.after)
        if session.after == .close { session.closing = true }
        session.output = nil
        session.answered = 0
        session.after = .keepGoing
    }

    /// What was released to the session is written now, then its connection goes to `next`'s owner: first that
    /// owner hears of it (with the `LOGIN`), then the connection is told to post there; the connection sends nothing
    /// else meanwhile (it holds its lines until the `LOGIN` is answered), and whatever it posted here before it heard
    /// goes on to `next` after the `LOGIN`.
    private func handOff(_ session: SessionState, to next: OwnerLink, login: ClientRequest) {
        if session.dirty {
            session.link.deliver(session.output ?? ByteBuffer(), answered: session.answered, after: session.after)
            session.output = nil
            session.answered = 0
        }
        sessions[session.id] = nil
        session.gone = true
        handedOff[session.id] = next
        logger.debug("session handed to its shop", metadata: ["session": "\(session.id)", "shop": "\(next.shop)"])
        next.post(.handedIn(session.link, login))
        session.link.rebind(to: next)
    }

    /// Writes the summaries of breaches held back since the last time (once a second, and at the end).
    private func recordHeldBreaches() {
        for summary in breachLimiter.flush() + escalationLimiter.flush() + noticeLimiter.flush() {
            journal.record(summary)
        }
    }

    /// Writes `farewell` now, ahead of anything waiting for the store, and closes.
    func closeNow(_ session: SessionState, farewell: OutboundLine) {
        guard !session.gone, !session.closing else { return }
        session.longAnswer = nil
        session.deferred.removeAll()
        write(farewell, to: session)
        session.after = .close
        session.closing = true
    }

    /// Every session hears the farewell and closes, and the owner is done.
    private func sayGoodbyeAndEnd() {
        for session in sessions.values.sorted(by: { $0.id.rawValue < $1.id.rawValue }) {
            closeNow(session, farewell: farewell)
        }
        writeReleased()
        // Events kept for away buyers outlive the process: the next start gives them out.
        if let keptAtStop {
            var carried = RestartCarryOver.Kept()
            for (customer, events) in kept.all { carried.kept[customer.rawValue] = events }
            for (customer, gateway) in customerGateway { carried.customerGateways[customer.rawValue] = gateway }
            keptAtStop.deposit(shop, carried)
        }
        end(.success(nil))
    }

    // MARK: - Periodic work

    private func housekeeping() {
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
        // Whichever owner comes first lists the refused logins the last second held back.
        if let summary = loginGuard.summary(at: clock.now()) { journal.record(summary) }
        // Once triggered, no more pings: without WatchdogSec's trigger support the silence restarts it too.
        if !watchdogTriggered { notifier.watchdogPing() }
        recordHeldBreaches()
        pushBoard()
        updateStatus()
        if openTicket == nil && journalNeedsFlush(housekeeping: true) { openJournalJob() }
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
            apply(step(.reconfigure(RoutingPolicy(configuration)), at: clock.now()), caller: nil, tag: nil)
            retention?.update(configuration.retention, journal: configuration.replay)
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
        sayReady()
    }

    /// READY=1 with the address in the status, so ops (and tests) can see where a port-0 listener landed; it stands
    /// until the floor changes. The summary housekeeping compares with is taken in the same turn: a floor changed
    /// since the listener opened (a socket-activated first client logged in) is in READY's status, not lost.
    private func sayReady() {
        lastStatus = statusLine
        notifier.ready(status: lastStatus)
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
        let owner = link.owner
        timer = loop.scheduleTask(in: .milliseconds(delay)) { owner.value.handle(.timer) }
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

import KefuCore

/// A recorded stretch of a day replayed under other rules (`kefuctl replay --with-config`): what would yesterday have
/// looked like with `min_level = 3` for complaints, a 60-second sticky wait, two more agents from 20:00?
///
/// What is **recorded** and replayed as it happened: buyers' arrivals (each `OPEN` at its instant), their messages,
/// closes and ratings; agents' logins, presence and logouts (for agents the record knows). What is **modelled**: every
/// agent's answers, each after a delay drawn (seeded, reproducible) from that agent's own answer delays in the record
/// (agents with none: from everyone's); agents the new rules add, who log in and out by the shifts given; and a chat an
/// agent closed in the record, which closes at the same instant whoever holds it then (with the buyer's leave, as it
/// were, when it is still waiting); an agent the core sets away for letting chats breach comes back a minute later
/// (the record's own returns come at their instants too). Supervisors' moves (`ASSIGN`, transfers, notes, holds) belong to the recorded floor
/// and are left out, as are reloads: the new rules hold for the whole stretch.
///
/// The recorded side is the exact replay of the record (the same figures the daemon's day had). The modelled run starts
/// where the record's run started (the owner's start), under the new rules, so the state at `from` is the new rules'
/// own; the figures of both cover `from`…`to`.
public struct ModelledReplay: Sendable {
    /// An agent the new rules add: online from `start` to `end` (minutes after local midnight) on every day of the
    /// stretch.
    public struct Shift: Sendable, Equatable {
        public var agent: AgentID
        public var start: Int
        public var end: Int

        public init(agent: AgentID, start: Int, end: Int) {
            self.agent = agent
            self.start = start
            self.end = end
        }

        /// `erin=20:00-24:00`.
        public init?(_ text: String) {
            let parts = text.split(separator: "=", maxSplits: 1)
            guard parts.count == 2, !parts[0].isEmpty else { return nil }
            let times = parts[1].split(separator: "-")
            func minutes(_ clock: Substring) -> Int? {
                let hm = clock.split(separator: ":").compactMap { Int($0) }
                guard hm.count == 2, (0...24).contains(hm[0]), (0...59).contains(hm[1]) else { return nil }
                let value = hm[0] * 60 + hm[1]
                return value <= 24 * 60 ? value : nil
            }
            guard times.count == 2, let start = minutes(times[0]), let end = minutes(times[1]), start < end else {
                return nil
            }
            self.init(agent: AgentID(String(parts[0])), start: start, end: end)
        }
    }

    /// Both runs' figures, and what was recorded and what modelled.
    public struct Outcome: Sendable {
        public var recorded: DayFigures
        public var replayed: DayFigures
        /// The recorded run replayed exactly (its first difference, if this kefud decides otherwise than the daemon).
        public var verdict: ExactReplay.Verdict
        /// Inputs replayed as recorded, and answers modelled, in the stretch.
        public var buyerInputs = 0
        public var agentInputs = 0
        public var modelledAnswers = 0
        /// Recorded answer delays the model drew from, by agent.
        public var answerSamples: [AgentID: Int] = [:]
        /// Agents who followed a shift from the command line.
        public var shiftAgents: [AgentID] = []
        /// Recorded inputs left out (supervisors' moves, listings, reloads, agents' answers).
        public var leftOut = 0

        /// What is recorded and what modelled, as lines for the report.
        public var provenance: [String] {
            [
                "recorded: \(buyerInputs) buyer inputs (arrivals, messages, closes, ratings) and \(agentInputs) agent "
                    + "logins, presence changes and logouts, replayed at their instants",
                "modelled: \(modelledAnswers) agent answers, delays drawn from each agent's recorded ones ("
                    + answerSamples.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }.joined(separator: ", ")
                    + "); chats the record's agents closed close at the same instants",
                shiftAgents.isEmpty
                    ? "no agent added by the new rules" : "by the given shifts: " + shiftAgents.map(\.rawValue).joined(separator: ", "),
                "left out: \(leftOut) recorded inputs (agents' answers, supervisors' moves, listings, reloads)",
            ]
        }
    }

    /// How long an agent set away for breaches stays away in the modelled run (as in a simulation).
    static let comeBackAfter = Milliseconds.seconds(60)

    public var policy: RoutingPolicy
    public var shifts: [Shift]
    public var seed: UInt64
    public var from: Instant
    public var to: Instant
    /// The shop's local time (shifts, and the figures' hours): the rules' calendar, at this offset from UTC when the
    /// rules name no time zone of their own (no `[business_hours]`).
    public var local: BusinessCalendar

    public init(
        policy: RoutingPolicy, from: Instant, to: Instant, shifts: [Shift] = [], seed: UInt64 = 1,
        utcOffsetMinutes: Int? = nil
    ) {
        self.policy = policy
        self.from = from
        self.to = to
        self.shifts = shifts
        self.seed = seed
        local = policy.calendar
        if let utcOffsetMinutes, local.offsetChanges.isEmpty, local == .always {
            local.utcOffsetMinutes = utcOffsetMinutes
        }
    }

    /// A recorded input as the modelled floor takes it.
    private enum Replayed {
        /// An `OPEN` whose recorded conversation id is known: the modelled one is learnt when it runs.
        case open(Command, recorded: ConversationID)
        /// A buyer's or an agent's input about a recorded conversation: translated to the modelled one when it runs.
        case about(ConversationID, Command)
        /// An input that names no conversation (logins, presence).
        case plain(Command)
    }

    public func run(_ chunks: [InputJournal.Chunk]) throws(InputJournal.ReadError) -> Outcome {
        // The record, exactly: its figures, its conversations' ids, each agent's answer delays, and the inputs to replay.
        var recordedRun = RecordedRun(chunks)
        var start: RestorePoint?
        var recordedPolicy: RoutingPolicy?
        var peek = RecordedRun(chunks)
        while let moment = try peek.next() {
            if case .restore(let point) = moment {
                start = point
                recordedPolicy = point.policy
                break
            }
        }
        guard let start, let recordedPolicy else {
            throw InputJournal.ReadError(offset: 0, message: "no restore point: the journal holds no run start")
        }
        var recordedOutcome = DayOutcome(calendar: local, from: from, to: to, agents: recordedPolicy.agents)
        var inputs: [(at: Instant, input: Replayed)] = []
        var recordedDelays = RecordedDelays()
        var leftOut = 0
        var (buyerInputs, agentInputs) = (0, 0)
        let verdict = try ExactReplay(from: from, to: to).run(&recordedRun) { at, command, step in
            recordedOutcome.observe(FloorStep(at: at, command: command, step: step))
            recordedDelays.observe(step)
            guard !(step.reply.isRefusal) else { return }
            switch command {
            case .open:
                if let id = step.reply.conversation {
                    inputs.append((at, .open(command, recorded: id)))
                    if at >= from { buyerInputs += 1 }
                }
            case .send(.customer, let id, _, _), .autoReply(.customer, let id, _, _), .close(.customer, let id),
                .rate(.customer, let id, _, _):
                inputs.append((at, .about(id, command)))
                if at >= from { buyerInputs += 1 }
            case .close(.agent, let id):
                // Closed by its agent in the record: at the same instant here, by the buyer's leave.
                if let buyer = step.effects.closedCustomer(id) {
                    inputs.append((at, .about(id, .close(.customer(buyer), id))))
                }
            case .connect(let who), .disconnect(let who):
                inputs.append((at, .plain(command)))
                if at >= from, !who.isCustomer { agentInputs += 1 }
            case .setPresence:
                inputs.append((at, .plain(command)))
                if at >= from { agentInputs += 1 }
            default:
                if at >= from { leftOut += 1 }
            }
        }

        // The modelled floor: the new rules from the run's start, buyers as recorded, agents' answers drawn.
        var point = start
        point.policy = policy
        var run = FloorRun(core: RoutingCore.restored(from: point).core)
        let delays = recordedDelays.answers
        let everyDelay = recordedDelays.allAnswers
        var agents = ModelledAgents(
            seed: seed, answerDelay: .samples(delays, fallback: everyDelay.isEmpty ? [.seconds(30)] : everyDelay))
        var replayedOutcome = DayOutcome(calendar: local, from: from, to: to, agents: policy.agents)
        let known = Set(recordedPolicy.agents.map(\.id))
        let staffed = Set(policy.agents.map(\.id))
        let added = shifts.filter { !known.contains($0.agent) && staffed.contains($0.agent) }
        for shift in added {
            for day in local.localDays(from: start.at, to: to) {
                let on = local.instant(localDay: day, minutes: shift.start)
                let off = local.instant(localDay: day, minutes: shift.end)
                guard off > start.at else { continue }
                run.schedule(.connect(.agent(shift.agent)), at: max(on, start.at))
                run.schedule(.setPresence(.agent(shift.agent), .online), at: max(on, start.at))
                run.schedule(.setPresence(.agent(shift.agent), .offline), at: off)
                run.schedule(.disconnect(.agent(shift.agent)), at: off)
            }
        }
        var modelledIDs: [ConversationID: ConversationID] = [:]
        var opening: [ConversationID] = []
        var modelledAnswers = 0
        func take(_ step: FloorStep) {
            if case .open = step.command, !opening.isEmpty {
                let recorded = opening.removeFirst()
                if let id = step.step.reply.conversation { modelledIDs[recorded] = id }
            }
            if case .send(.agent, _, _, _) = step.command, step.at >= from, !step.step.reply.isRefusal {
                modelledAnswers += 1
            }
            agents.react(to: step, run: &run)
            replayedOutcome.observe(step)
            for effect in step.step.effects {
                if case .autoAway(let away) = effect {
                    run.schedule(.setPresence(.agent(away.agent), .online), at: step.at + Self.comeBackAfter)
                }
            }
        }
        for (at, input) in inputs {
            guard at <= to else { break }
            while let step = run.next(until: at + Milliseconds(-1)) { take(step) }
            switch input {
            case .open(let command, let recorded):
                opening.append(recorded)
                run.schedule(command, at: at)
            case .about(let recorded, let command):
                // A conversation the new rules never opened (refused as busy) has nothing to say.
                guard let id = modelledIDs[recorded] else { continue }
                run.schedule(command.about(id), at: at)
            case .plain(let command):
                run.schedule(command, at: at)
            }
        }
        while let step = run.next(until: to) { take(step) }

        var outcome = Outcome(
            recorded: recordedOutcome.figures(at: to), replayed: replayedOutcome.figures(at: to), verdict: verdict)
        outcome.buyerInputs = buyerInputs
        outcome.agentInputs = agentInputs
        outcome.modelledAnswers = modelledAnswers
        outcome.answerSamples = delays.mapValues(\.count)
        outcome.shiftAgents = added.map(\.agent)
        outcome.leftOut = leftOut
        return outcome
    }
}

extension Reply {
    var isRefusal: Bool { if case .refused = self { true } else { false } }

    /// The conversation an `OPEN`'s `OK conv=<n>` names.
    public var conversation: ConversationID? {
        guard case .ok(let fields) = self, let value = fields.first(where: { $0.key == "conv" })?.value,
            let id = Int64(value)
        else { return nil }
        return ConversationID(id)
    }
}

extension [Effect] {
    /// The buyer of a conversation a step closed.
    func closedCustomer(_ id: ConversationID) -> CustomerID? {
        for effect in self {
            if case .persist(.conversation(let record)) = effect, record.id == id { return record.customer }
        }
        return nil
    }
}

extension Command {
    /// The same input about another conversation id.
    func about(_ id: ConversationID) -> Command {
        switch self {
        case .send(let who, _, let text, let ref): .send(who, id, text: text, ref: ref)
        case .autoReply(let who, _, let text, let ref): .autoReply(who, id, text: text, ref: ref)
        case .close(let who, _): .close(who, id)
        case .rate(let who, _, let rating, let comment): .rate(who, id, rating: rating, comment: comment)
        default: self
        }
    }
}

extension BusinessCalendar {
    /// The local days (see `localDay(of:)`) from the one holding `from` to the one holding `to`.
    func localDays(from: Instant, to: Instant) -> ClosedRange<Int64> {
        localDay(of: from)...max(localDay(of: from), localDay(of: to))
    }

    /// `minutes` after the local midnight that starts `localDay`.
    func instant(localDay day: Int64, minutes: Int) -> Instant {
        instant(ofLocal: day * 86_400_000 + Int64(minutes) * 60_000)
    }
}

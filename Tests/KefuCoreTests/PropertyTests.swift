import Foundation
import KefuCore
import PropertyBased
import Testing

// Property-based tests: random teams and random sequences of commands (CommandGenerators.swift), checked after
// every step through the public API only. A failure shrinks to a short sequence and prints it as a transcript,
// with the seed to replay it (`@Test(.fixedSeed("..."))`).

@Suite("Routing properties over random floors")
struct PropertyTests {
    /// Scenarios per property, tuned so that the suite stays within a few seconds on two cores in debug builds.
    /// `KEFU_PROPERTY_COUNT=5000 swift test --filter PropertyTests` searches harder.
    static let count = ProcessInfo.processInfo.environment["KEFU_PROPERTY_COUNT"].flatMap { Int($0) } ?? 100

    /// After every step: `invariantViolations()` is empty; the reply is the one the state before called for and
    /// renders as one line; records and events are well formed and never mention a closed conversation; the public
    /// inspection agrees (each open conversation queued or held by one agent, nobody over capacity, no idle
    /// capacity while a matching conversation waits, serving order); breaches come at or after their deadline,
    /// once, and never late.
    @Test func everyStepKeepsTheFloorSound() async {
        await propertyCheck(count: Self.count, input: scenarios()) { scenario in
            if let problem = Audit.firstProblem(in: scenario) { Issue.record("\(problem)") }
        }
    }

    /// The same actions on a fresh core give the same commands, replies and effects, in the same order: nothing
    /// depends on hash order or on anything but the commands and their instants.
    @Test func replayingTheSameCommandsGivesTheSameEffects() async {
        await propertyCheck(count: Self.count, input: scenarios()) { scenario in
            let first = Transcript(scenario)
            let second = Transcript(scenario)
            let shared = min(first.entries.count, second.entries.count)
            if let index = (0..<shared).first(where: { first.entries[$0] != second.entries[$0] }) {
                Issue.record(
                    """
                    replay diverges at step \(index): \(describe(first.entries[index].move))
                    first:  \(first.entries[index].step)
                    second: \(second.entries[index].step)
                    """)
            } else if first.entries.count != second.entries.count {
                Issue.record("replay ran \(second.entries.count) commands, the first run \(first.entries.count)")
            }
        }
    }

    /// After every step, a new core restored from the persisted records (last per conversation, closed dropped)
    /// has the live core's waiting order, holders, records and earliest running deadline, and repairs nothing.
    @Test func restoringThePersistedRecordsRebuildsTheQueueAndTheHolders() async {
        await propertyCheck(count: Self.count, input: scenarios()) { scenario in
            if let problem = RestoreAudit.firstProblem(in: scenario) { Issue.record("\(problem)") }
        }
    }
}

// MARK: - Coverage of the generator

/// Guards the generator itself: over a fixed seed, the random floors must reach the cases the properties are about
/// (breaches and their reassignments, requeues, long vip queues, full agents, every refusal, every closer...), so a
/// change that makes them unreachable fails here instead of silently weakening every property.
@Test func randomFloorsReachTheInterestingCases() {
    var rng = Xoshiro(seed: (1, 2, 3, 4))
    var seen: [String: Int] = [:]
    for _ in 0..<200 {
        let scenario = Scenario.random(steps: 1...300, using: &rng)
        var driver = Driver(team: scenario.team)
        for action in scenario.actions {
            guard let move = driver.move(for: action) else { continue }
            let step = driver.perform(move)
            guard case .command(let command) = move else {
                seen["restart", default: 0] += 1
                continue
            }
            for name in Coverage.cases(command, step, driver) { seen[name, default: 0] += 1 }
        }
    }
    for name in Coverage.expected { #expect(seen[name, default: 0] > 0, "the generator never reached \(name)") }
}

/// Names for the situations a step shows.
enum Coverage {
    static let expected = [
        "breach", "breach of a queued conversation", "reassigned on breach", "requeued on offline",
        "vip queued", "three waiting", "agent full", "resumed on reconnect", "store verifies history",
        "closed by customer", "closed by agent", "closed by supervisor",
        "refused not-found", "refused forbidden", "refused bad-args", "deadline fired inside a command", "restart",
        "reload", "removed agent's chats moved", "breach on reload", "silent buyer closed", "response breach",
        "SLA warning",
    ]

    static func cases(_ command: Command, _ step: Step, _ driver: Driver) -> [String] {
        var names: [String] = []
        for effect in step.effects {
            switch effect {
            case .breach(let breach):
                names.append(breach.agent == nil ? "breach of a queued conversation" : "breach")
                if case .reconfigure = command { names.append("breach on reload") }
                if breach.sla == .response { names.append("response breach") }
                if command != .tick { names.append("deadline fired inside a command") }
            case .persist(.assignment(let assignment)) where assignment.reason == .firstResponse:
                names.append("reassigned on breach")
            case .persist(.assignment(let assignment)) where assignment.reason == .removed:
                names.append("removed agent's chats moved")
            case .deliver(_, .closed(_, by: .system)):
                names.append("silent buyer closed")
            case .deliver(_, .slaWarning):
                names.append("SLA warning")
            case .persist(.assignment(let assignment)) where assignment.agent == nil && assignment.reason == .offline:
                names.append("requeued on offline")
            case .deliver(_, .queued(let id, _, _, _)) where driver.core.conversation(id)?.priority == .vip:
                names.append("vip queued")
            case .deliver(.caller, .assigned(let notice)) where notice.resumed:
                names.append("resumed on reconnect")
            default:
                break
            }
        }
        switch (command, step.reply) {
        case (.reconfigure, _):
            names.append("reload")
        case (.close(let who, _), .ok):
            switch who {
            case .customer: names.append("closed by customer")
            case .agent: names.append("closed by agent")
            case .supervisor: names.append("closed by supervisor")
            }
        case (_, .refused(let code, _)):
            names.append("refused \(code.rawValue)")
        case (_, .history(_, _, verifyOwnership: true)):
            names.append("store verifies history")
        default:
            break
        }
        if driver.core.waiting.count >= 3 { names.append("three waiting") }
        if driver.team.policy.agents.contains(where: { driver.core.held(by: $0.id).count == $0.maxChats }) {
            names.append("agent full")
        }
        return names
    }
}

// MARK: - Serving order

/// Whether waiting conversation `a` must be served before `b`: by arrival, a vip counting as `vip_boost_s`
/// earlier (aging, so vips go first without starving normal chats), then the lower id.
func servesFirst(
    _ a: ConversationRecord, before b: ConversationRecord, policy: RoutingPolicy, at now: Instant
) -> Bool {
    func effective(_ record: ConversationRecord) -> Int64 {
        record.openedAt.unixMilliseconds - (record.priority == .vip ? policy.rules.vipBoost.value : 0)
    }
    if effective(a) != effective(b) { return effective(a) < effective(b) }
    return a.id < b.id
}

// MARK: - Every step, checked

/// Runs a scenario and checks each step; stops at the first step with a problem so a failure reads as one story.
enum Audit {
    static func firstProblem(in scenario: Scenario) -> String? {
        var driver = Driver(team: scenario.team)
        var referee = Referee(team: scenario.team)
        for (index, action) in scenario.actions.enumerated() {
            guard let move = driver.move(for: action) else { continue }
            let expected = referee.willApply(move, to: driver.core, at: driver.now)
            let step = driver.perform(move)
            let problems = referee.judge(move, expected: expected, step: step, core: driver.core, at: driver.now)
            if !problems.isEmpty {
                let clock = driver.now - Driver.start
                return """
                    step \(index) at t+\(clock)ms: \(describe(move)) -> \(describe(step.reply))
                    problems:
                      \(problems.joined(separator: "\n  "))
                    effects of that step:
                      \(step.effects.map { "\($0)" }.joined(separator: "\n  "))
                    """
            }
        }
        return nil
    }
}

/// What a reply must be, decided from the state just before the command applies.
enum ExpectedReply {
    case exactly(Reply)
    case refusal(Refusal)
    /// Commands the generator does not produce yet: only their effects are judged.
    case unmodelled
}

/// Keeps what the steps so far imply (opened, answered, breached and closed conversations, agents' sessions) and
/// judges each new step against it and against the core's public inspection.
struct Referee {
    let team: TeamSpec
    /// The rules in force (reloads replace them).
    private(set) var policy: RoutingPolicy
    private var nextID: Int64 = 1
    /// Each open conversation's first-response deadline: opening + the limit, re-counted by a reload while it runs.
    private var dueAt: [ConversationID: Instant] = [:]
    /// Deadlines as they were before the reload this step applies: records and breaches of deadlines that fell due
    /// before the reload (they fire first) still carry them.
    private var dueBeforeReload: [ConversationID: Instant] = [:]
    /// Each open conversation's response round as the steps imply it, and as it was before this step's reload.
    private var rounds: [ConversationID: RoundState] = [:]
    private var roundsBeforeReload: [ConversationID: RoundState] = [:]
    /// Rounds that breached, `conversation/round`: each breaches at most once.
    private var breachedRounds: Set<String> = []
    /// Rounds whose holder was warned, `conversation/round`: at most once each.
    private var warnedRounds: Set<String> = []
    /// The rules before the reload this step applies (assignments made by deadlines that fired first follow them).
    private var policyBeforeReload: RoutingPolicy?
    /// Chats an agent kept when a reload lowered its limit below its load: it may be over the limit with them.
    private var keptOverLimit: Set<ConversationID> = []
    private var openedAt: [ConversationID: Instant] = [:]
    private var open: Set<ConversationID> = []
    private var closed: Set<ConversationID> = []
    private var answered: Set<ConversationID> = []
    private var breached: Set<ConversationID> = []
    private var lastSeq: [ConversationID: Int] = [:]
    private var sessions: [AgentID: Int] = [:]
    /// Each agent's working state as its last presence record said.
    private var lastPresence: [AgentID: Presence] = [:]
    /// Agents who could take work just before the current command.
    private var availableBefore: Set<AgentID> = []

    init(team: TeamSpec) {
        self.team = team
        self.policy = team.policy
    }

    // MARK: Replies

    /// Notes who is available before `move` applies and returns the reply it must get.
    mutating func willApply(_ move: Move, to core: RoutingCore, at now: Instant) -> ExpectedReply {
        availableBefore = Set(policy.agents.map(\.id).filter { isAvailable($0, in: core) })
        guard case .command(let command) = move else { return .exactly(.ok([])) }
        return expectedReply(to: command, in: core, at: now)
    }

    /// The reply `command` must get. Deadlines due by `now` fire before the command applies, so when one is due
    /// the expectation is taken from a copy of the core that has fired them.
    func expectedReply(to command: Command, in live: RoutingCore, at now: Instant) -> ExpectedReply {
        var core = live
        if let due = core.nextDeadline, due <= now { _ = core.handle(.tick, at: now) }
        switch command {
        case .tick, .disconnect, .reconfigure:
            return .exactly(.ok([]))
        case .rate, .due:
            return .unmodelled
        case .connect(let who):
            guard case .agent(let id) = who else { return .exactly(.ok([])) }
            guard let presence = core.presence(of: id) else { return .refusal(.forbidden) }
            // Logging in means coming to work; an agent who was away stays away.
            return .exactly(.ok([Field("presence", (presence == .offline ? .online : presence).rawValue)]))
        case .setPresence(let who, let presence):
            guard case .agent(let id) = who, core.presence(of: id) != nil else { return .refusal(.forbidden) }
            return .exactly(.ok([Field("presence", presence.rawValue)]))
        case .open(let who, let skill, _, let text, _, _, _):
            guard case .customer = who else { return .refusal(.forbidden) }
            guard policy.knownSkills.contains(skill), !text.isEmpty else { return .refusal(.badArgs) }
            return .exactly(.ok([Field("conv", "\(nextID)")]))
        case .autoReply(let who, let id, let text, _):
            guard !text.isEmpty else { return .refusal(.badArgs) }
            guard let record = core.conversation(id) else {
                if case .agent = who { return .refusal(.notFound) }
                return .refusal(who.isCustomer ? .badArgs : .forbidden)
            }
            switch who {
            case .customer: return .refusal(.badArgs)
            case .supervisor: return .refusal(.forbidden)
            case .agent:
                guard Self.takesPart(who, in: record) else { return .refusal(.notFound) }
                return .exactly(.ok([Field("seq", "\(record.messageCount + 1)")]))
            }
        case .send(let who, let id, let text, _):
            guard !text.isEmpty else { return .refusal(.badArgs) }
            guard let record = core.conversation(id) else { return .refusal(.notFound) }
            if case .supervisor = who { return .refusal(.forbidden) }
            guard Self.takesPart(who, in: record) else { return .refusal(.notFound) }
            return .exactly(.ok([Field("seq", "\(record.messageCount + 1)")]))
        case .close(let who, let id):
            guard let record = core.conversation(id) else { return .refusal(.notFound) }
            if case .supervisor = who { return .exactly(.ok([])) }
            return Self.takesPart(who, in: record) ? .exactly(.ok([])) : .refusal(.notFound)
        case .history(let who, let id):
            let record = core.conversation(id)
            switch who {
            case .supervisor:
                return .exactly(.history(id, viewer: who, verifyOwnership: false))
            case .customer:
                guard let record else { return .exactly(.history(id, viewer: who, verifyOwnership: true)) }
                return Self.takesPart(who, in: record)
                    ? .exactly(.history(id, viewer: who, verifyOwnership: false)) : .refusal(.notFound)
            case .agent:
                let known = record.map { Self.takesPart(who, in: $0) } ?? false
                return .exactly(.history(id, viewer: who, verifyOwnership: !known))
            }
        case .transfer, .note, .notes, .handover, .assign, .explain, .queue, .agents, .hold:
            return .unmodelled
        }
    }

    /// The conversation's own customer, or the agent holding it.
    static func takesPart(_ who: Principal, in record: ConversationRecord) -> Bool {
        switch who {
        case .customer(let customer): customer == record.customer
        case .agent(let agent): agent == record.agent
        case .supervisor: false
        }
    }

    func replyProblems(_ reply: Reply, expected: ExpectedReply) -> [String] {
        switch (expected, reply) {
        case (.exactly(let want), _) where want == reply:
            return Self.shapeProblems(reply)
        case (.refusal(let code), .refused(let got, _)) where got == code:
            return Self.shapeProblems(reply)
        case (.unmodelled, _):
            return Self.shapeProblems(reply)
        default:
            return ["reply \(describe(reply)), expected \(expected)"]
        }
    }

    /// A reply must render as one protocol line: keys are words, values and texts have no line breaks.
    static func shapeProblems(_ reply: Reply) -> [String] {
        switch reply {
        case .ok(let fields):
            return fields.compactMap { field in
                let keyOK = !field.key.isEmpty && field.key.allSatisfy { $0.isLetter || $0 == "_" }
                let valueOK = !field.value.isEmpty && !field.value.contains { $0.isWhitespace || $0 == "=" }
                return keyOK && valueOK ? nil : "malformed field \(field.key)=\(field.value)"
            }
        case .refused(_, let text):
            let malformed = text.isEmpty || text.contains(where: \.isNewline)
            return malformed ? ["malformed refusal text \(text.debugDescription)"] : []
        case .history, .fromStore:
            return []
        case .queue, .agents, .explanation, .notes:
            // Typed: KefuProtocol frames every value of a listing when it renders it.
            return []
        }
    }

    // MARK: Steps

    /// Everything that must hold after `step`, which answered `move` at `now`.
    mutating func judge(
        _ move: Move, expected: ExpectedReply, step: Step, core: RoutingCore, at now: Instant
    ) -> [String] {
        var problems = core.invariantViolations(at: now).map { "invariantViolations: \($0)" }
        problems += replyProblems(step.reply, expected: expected)
        guard case .command(let command) = move else {
            // A restart loses every session; with the same agents configured nothing needs repair, and deadlines
            // that passed while the clock moved silently fire at the next command, not in the restore.
            sessions = [:]
            lastPresence = [:]  // a new process: nobody is at work until they log in again
            if !step.effects.isEmpty { problems.append("restore repaired something: \(step.effects)") }
            return problems + stateProblems(core, at: now, deadlinesMayBeDue: true)
        }
        let closedBefore = closed
        dueBeforeReload = [:]
        roundsBeforeReload = [:]
        policyBeforeReload = nil
        note(command, reply: step.reply, core: core, at: now)
        problems += effectProblems(step.effects, command: command, closedBefore: closedBefore, core: core, at: now)
        // Answered only now: a breach due at this instant fired before the answer, within the same step.
        if case .send(.agent, let id, _, _) = command, case .ok = step.reply {
            answered.insert(id)
            rounds[id]?.start = nil
            rounds[id]?.due = nil
            rounds[id]?.breached = false
        }
        problems += stateProblems(core, at: now, deadlinesMayBeDue: false)
        return problems
    }

    /// Updates what the referee knows from the command and its reply.
    private mutating func note(_ command: Command, reply: Reply, core: RoutingCore, at now: Instant) {
        guard case .ok = reply else { return }
        switch command {
        case .open:
            let id = ConversationID(nextID)
            nextID += 1
            openedAt[id] = now
            dueAt[id] = now + policy.firstResponse
            rounds[id] = RoundState(number: 1, start: now, due: now + policy.firstResponse)
            open.insert(id)
            lastSeq[id] = 0
        case .reconfigure(let newPolicy):
            policyBeforeReload = policy
            policy = newPolicy
            // A removed agent's sessions are ended by the daemon.
            let configured = Set(newPolicy.agents.map(\.id))
            for agent in sessions.keys where !configured.contains(agent) { sessions[agent] = nil }
            // Running clocks count to the new limit (one already due fired before the reload applied).
            for id in open {
                guard var round = rounds[id], let start = round.start, let due = round.due, !round.breached, due > now
                else { continue }
                roundsBeforeReload[id] = round
                round.due = start + newPolicy.limit(ofRound: round.number)
                rounds[id] = round
                if round.number == 1 {
                    dueBeforeReload[id] = dueAt[id]
                    dueAt[id] = round.due
                }
            }
            for profile in newPolicy.agents where core.held(by: profile.id).count > profile.maxChats {
                keptOverLimit.formUnion(core.held(by: profile.id))
            }
        case .connect(.agent(let id)) where core.presence(of: id) != nil:
            sessions[id, default: 0] += 1
        case .disconnect(.agent(let id)) where core.presence(of: id) != nil:
            sessions[id] = max(0, sessions[id, default: 0] - 1)
        case .send(.customer, let id, _, _):
            // A buyer message after an answer starts the next round.
            if var round = rounds[id], round.start == nil {
                round = RoundState(number: round.number + 1, start: now, due: now + policy.response)
                rounds[id] = round
            }
        case .close(_, let id):
            open.remove(id)
            closed.insert(id)
        default:
            break
        }
    }

    private func isAvailable(_ agent: AgentID, in core: RoutingCore) -> Bool {
        core.presence(of: agent) == .online && sessions[agent, default: 0] > 0
    }

    private func level(of agent: AgentID, in skill: Skill) -> Int {
        [policy, policyBeforeReload].compactMap { $0?.agents.first { $0.id == agent }?.level(in: skill) }.max() ?? 0
    }

    /// Checks each effect: well-formed records and events, nothing about a closed conversation, breaches due and
    /// once only, assignments only to agents who may take them.
    private mutating func effectProblems(
        _ effects: [Effect], command: Command, closedBefore: Set<ConversationID>, core: RoutingCore, at now: Instant
    ) -> [String] {
        var problems: [String] = []
        for effect in effects {
            // A survey's rating concerns a conversation closed earlier: that is what it is for.
            if let id = effect.conversation, closedBefore.contains(id), !effect.isRating {
                problems.append("closed conversation \(id) reappears: \(effect)")
            }
            switch effect {
            case .persist(.conversation(let record)):
                problems += recordProblems(record)
                // Closed by the daemon (a silent buyer): the conversation is gone like any other closed one. (A close
                // command that succeeded has already been noted.)
                if record.state == .closed, open.contains(record.id) {
                    if record.closedAt != now { problems.append("system close of \(record.id) stamped wrong") }
                    open.remove(record.id)
                    closed.insert(record.id)
                }
            case .persist(.message(let message)):
                let expected = lastSeq[message.conversation, default: 0] + 1
                if message.seq != expected { problems.append("message seq \(message.seq), expected \(expected)") }
                if message.at != now { problems.append("message stamped \(message.at) at \(now)") }
                lastSeq[message.conversation] = message.seq
            case .persist(.assignment(let assignment)):
                if assignment.at != now { problems.append("assignment stamped \(assignment.at) at \(now)") }
                // Only a supervisor's force gives a chat to an agent who does not serve its store or language
                // (under the rules before or after this step's reload).
                if let agent = assignment.agent, assignment.reason != .forced,
                    let record = core.conversation(assignment.conversation)
                {
                    let profiles = [policy, policyBeforeReload].compactMap { $0?.agents.first { $0.id == agent } }
                    let serves = profiles.contains {
                        $0.serves(store: record.store) && record.language.map($0.speaks(language:)) ?? true
                    }
                    if !serves {
                        problems.append(
                            "\(agent) was given \(record.id) (store \(show(record.store)), language "
                                + "\(show(record.language))) by \(assignment.reason.rawValue)")
                    }
                }
            case .deliver(let recipient, let event):
                problems += eventProblems(event, to: recipient, command: command, core: core)
            case .breach(let breach):
                problems += breachProblems(breach, at: now)
            case .persist(.note), .persist(.journal), .autoAway, .escalation:
                break
            case .persist(.presence(let change)):
                // Stamped with the step's instant, and only for a change of the agent's working state.
                if change.at != now { problems.append("presence of \(change.agent) stamped \(change.at) at \(now)") }
                if lastPresence[change.agent, default: .offline] == change.presence {
                    problems.append("presence of \(change.agent) recorded without a change: \(change.presence)")
                }
                lastPresence[change.agent] = change.presence
            case .persist(.rating(let survey)):
                // Asked only at the close of its conversation, in the same step.
                if survey.rating == nil, survey.requestedAt != now || !closed.contains(survey.conversation) {
                    problems.append("survey of \(survey.conversation) not sent at its close: \(survey)")
                }
            case .slaNotice(let notice):
                // A round met was answered within its limit (in business time); a warning comes before the deadline.
                let facts = notice.facts
                if facts.at != now { problems.append("SLA notice stamped \(facts.at) at \(now)") }
                switch notice.kind {
                case .met:
                    if (facts.businessWaited ?? facts.waited) > facts.threshold || notice.left != nil {
                        problems.append("round met late: \(notice)")
                    }
                case .warning:
                    if (notice.left?.value ?? 0) <= 0 { problems.append("warning with no time left: \(notice)") }
                }
            case .persist(.round(let round)):
                if round.answeredAt.map({ $0 != now }) ?? false {
                    problems.append("round answered at \(now): \(round)")
                }
                if round.closedAt.map({ $0 != now }) ?? false { problems.append("round closed at \(now): \(round)") }
                if round.dueAt <= round.startedAt { problems.append("round due before it started: \(round)") }
            case .signOut(let agent, _):
                guard case .reconfigure(let policy) = command, !policy.agents.contains(where: { $0.id == agent }) else {
                    problems.append("\(agent) signed out by \(describe(command))")
                    break
                }
            }
        }
        return problems
    }

    private func recordProblems(_ record: ConversationRecord) -> [String] {
        var problems: [String] = []
        // A closed record keeps its last holder (the store checks history access against it).
        if record.state != .closed, (record.state == .assigned) != (record.agent != nil) {
            problems.append("record \(record.id) is \(record.state) with agent \(show(record.agent))")
        }
        if (record.state == .closed) != (record.closedAt != nil) {
            problems.append("record \(record.id) is \(record.state) with closedAt \(show(record.closedAt))")
        }
        if record.openedAt != openedAt[record.id] {
            problems.append("record \(record.id) openedAt \(record.openedAt), opened at \(show(openedAt[record.id]))")
        }
        if record.firstResponseDueAt != dueAt[record.id] && record.firstResponseDueAt != dueBeforeReload[record.id] {
            problems.append("record \(record.id) due \(record.firstResponseDueAt), not \(show(dueAt[record.id]))")
        }
        // (The round fields are checked against the referee's model after the step, in `clockProblems`.)
        if let started = record.roundStartedAt, record.roundDueAt.map({ $0 <= started }) ?? true {
            problems.append("record \(record.id) round \(record.round) from \(started) due \(show(record.roundDueAt))")
        }
        if let at = record.breachedAt, at < record.firstResponseDueAt {
            problems.append("record \(record.id) breached at \(at) before its deadline \(record.firstResponseDueAt)")
        }
        if record.messageCount < 1 { problems.append("record \(record.id) has \(record.messageCount) messages") }
        return problems
    }

    private mutating func eventProblems(
        _ event: Event, to recipient: Recipient, command: Command, core: RoutingCore
    ) -> [String] {
        switch event {
        case .queued(let id, let position, _, _) where position < 1:
            return ["conversation \(id) queued at position \(position)"]
        case .slaWarning(let id, let sla, let left):
            var problems: [String] = []
            guard case .agent = recipient else { return ["SLA-WARN of \(id) sent to \(recipient)"] }
            guard let round = rounds[id], round.start != nil, !round.breached else {
                return ["SLA-WARN of \(id) with no round waiting"]
            }
            if sla != (round.number == 1 ? .firstResponse : .response) {
                problems.append("SLA-WARN of \(id) as \(sla)")
            }
            if left.value <= 0 { problems.append("SLA-WARN of \(id) with \(left) left") }
            if !warnedRounds.insert("\(id)/\(round.number)").inserted {
                problems.append("second SLA-WARN of \(id) round \(round.number)")
            }
            return problems
        case .assigned(let notice) where notice.resumed:
            guard case .connect = command, recipient == .caller else {
                return ["resumed assignment of \(notice.conversation) to \(recipient) on \(describe(command))"]
            }
            return []
        case .assigned(let notice):
            guard case .agent(let agent) = recipient else { return ["assignment sent to \(recipient)"] }
            var problems: [String] = []
            // A supervisor's forced assignment may go to any connected agent, skilled or not, even over its limit.
            if notice.via == .forced { return notice.waited.value < 0 ? ["negative wait in \(notice)"] : [] }
            // Deadlines fire before the command applies, so an agent the command then takes away may get work.
            if !isAvailable(agent, in: core) && !availableBefore.contains(agent) {
                problems.append("\(notice.conversation) assigned to unavailable \(agent)")
            }
            // Once widened, agents of the skill's fallback skills may serve too.
            let fallback = policy.rule(for: notice.skill).fallback.map { level(of: agent, in: $0) }.max() ?? 0
            if level(of: agent, in: notice.skill) < 1 && fallback < 1 {
                problems.append("\(notice.conversation) of \(notice.skill) assigned to \(agent) who lacks the skill")
            }
            if notice.waited.value < 0 { problems.append("negative wait in \(notice)") }
            return problems
        default:
            return []
        }
    }

    private mutating func breachProblems(_ breach: SLABreach, at now: Instant) -> [String] {
        var problems: [String] = []
        let id = breach.conversation
        guard openedAt[id] != nil, var round = rounds[id] else { return ["breach of unknown conversation \(id)"] }
        // A deadline due before this step's reload fired first, under the limit it had then.
        if let before = roundsBeforeReload[id], let start = before.start, let due = before.due,
            breach.threshold == due - start
        {
            round.due = due
        }
        guard let start = round.start, let deadline = round.due else {
            return ["breach of \(id) round \(breach.round), which was answered"]
        }
        if breach.round != round.number {
            problems.append("breach of \(id) round \(breach.round), not \(round.number)")
        }
        if breach.sla != (round.number == 1 ? .firstResponse : .response) {
            problems.append("breach of \(id) round \(round.number) as \(breach.sla)")
        }
        if breach.at != now { problems.append("breach of \(id) stamped \(breach.at) at \(now)") }
        if breach.at < deadline { problems.append("breach of \(id) at \(breach.at) before its deadline \(deadline)") }
        if !breachedRounds.insert("\(id)/\(breach.round)").inserted {
            problems.append("second breach of \(id) round \(breach.round)")
        }
        if breach.threshold != deadline - start {
            problems.append("breach of \(id) with threshold \(breach.threshold)")
        }
        if breach.waited != breach.at - start { problems.append("breach of \(id) waited \(breach.waited)") }
        rounds[id]?.breached = true
        if breach.round == 1 { breached.insert(id) }
        return problems
    }

    /// Checks the state through the public inspection: each open conversation queued or held by exactly one agent,
    /// nobody over capacity, no idle capacity while a matching conversation waits, serving order, SLA clocks.
    private func stateProblems(_ core: RoutingCore, at now: Instant, deadlinesMayBeDue: Bool) -> [String] {
        var problems: [String] = []
        var placed: [ConversationID: String] = [:]
        let waiting = core.waiting.compactMap { id -> ConversationRecord? in
            if let other = placed.updateValue("queue", forKey: id) { problems.append("\(id) twice: \(other), queue") }
            guard let record = core.conversation(id), record.state == .queued, record.agent == nil else {
                problems.append("waiting \(id) is not an open queued record: \(show(core.conversation(id)))")
                return nil
            }
            return record
        }
        var held = 0
        for profile in policy.agents {
            let holds = core.held(by: profile.id)
            held += holds.count
            // Only a supervisor's forced assignment may put an agent over its limit.
            // After a restart the decision is only in the store: an unknown one may have been forced.
            let forced = holds.contains { id in
                guard !keptOverLimit.contains(id), let rule = core.decision(for: id)?.rule else { return true }
                if case .forced = rule { return true } else { return false }
            }
            if holds.count > profile.maxChats && !forced {
                problems.append("\(profile.id) holds \(holds.count) > \(profile.maxChats)")
            }
            for id in holds {
                if let other = placed.updateValue("\(profile.id)", forKey: id) {
                    problems.append("\(id) held by \(profile.id) and also in \(other)")
                }
                let record = core.conversation(id)
                if record?.state != .assigned || record?.agent != profile.id {
                    problems.append("\(id) held by \(profile.id) but its record is \(show(record))")
                }
            }
            // Whether a waiting chat could go to this agent now depends on levels, widening, stores, wrap-ups,
            // reservations and transfers: `invariantViolations(at:)` checks it with the very verdict routing uses.
        }
        for id in open where placed[id] == nil { problems.append("open conversation \(id) is neither queued nor held") }
        for id in placed.keys where !open.contains(id) { problems.append("\(id) is placed but not open") }
        for id in closed where core.conversation(id) != nil {
            problems.append("closed conversation \(id) is open again")
        }
        for (a, b) in zip(waiting, waiting.dropFirst()) where !servesFirst(a, before: b, policy: policy, at: now) {
            problems.append(
                "waiting order: \(a.id) (\(a.priority), \(a.openedAt)) before \(b.id) (\(b.priority), \(b.openedAt))")
        }
        problems += clockProblems(core, at: now, deadlinesMayBeDue: deadlinesMayBeDue)
        let status = core.status
        let online = policy.agents.count { isAvailable($0.id, in: core) }
        if status.agentsOnline != online || status.queued != waiting.count || status.active != held {
            problems.append("status \(status), expected online \(online) queued \(waiting.count) active \(held)")
        }
        return problems
    }

    /// Response clocks: each conversation's round is the one the steps imply; a passed deadline has fired; the first
    /// answer and the first-response breach match what the steps said; the next armed deadline is not later than
    /// the earliest one still running.
    private func clockProblems(_ core: RoutingCore, at now: Instant, deadlinesMayBeDue: Bool) -> [String] {
        var problems: [String] = []
        var earliest: Instant?
        for id in open {
            guard let record = core.conversation(id) else { continue }
            if (record.firstRespondedAt != nil) != answered.contains(id) {
                problems.append("\(id) firstRespondedAt \(show(record.firstRespondedAt)) mismatch")
            }
            if (record.breachedAt != nil) != breached.contains(id) {
                problems.append("\(id) breachedAt \(show(record.breachedAt)) without a breach effect")
            }
            if record.firstResponseDueAt != dueAt[id] {
                problems.append("\(id) first response due \(record.firstResponseDueAt), not \(show(dueAt[id]))")
            }
            if let round = rounds[id],
                record.round != round.number || record.roundStartedAt != round.start || record.roundDueAt != round.due
                    || (record.roundBreachedAt != nil) != round.breached
            {
                problems.append(
                    "\(id) round \(record.round) from \(show(record.roundStartedAt)) due \(show(record.roundDueAt)) "
                        + "breached \(show(record.roundBreachedAt)); expected \(round)")
            }
            guard record.roundStartedAt != nil, record.roundBreachedAt == nil, let due = record.roundDueAt else {
                continue
            }
            if due <= now && !deadlinesMayBeDue {
                problems.append("\(id) passed its round \(record.round) deadline \(due) at \(now) without a breach")
            }
            earliest = min(earliest ?? due, due)
        }
        if let earliest, core.nextDeadline.map({ $0 > earliest }) ?? true {
            problems.append("next deadline \(show(core.nextDeadline)) misses \(earliest)")
        }
        if let next = core.nextDeadline, next <= now, !deadlinesMayBeDue {
            problems.append("deadline \(next) still armed at \(now)")
        }
        return problems
    }
}

/// An optional value for a message, `nil` spelled out.
func show<Value>(_ value: Value?) -> String {
    value.map { "\($0)" } ?? "nil"
}

extension Effect {
    /// The conversation an effect is about.
    var conversation: ConversationID? {
        switch self {
        case .persist(.conversation(let record)): record.id
        case .persist(.message(let message)): message.conversation
        case .persist(.assignment(let assignment)): assignment.conversation
        case .persist(.note(let note)): note.conversation
        case .persist(.round(let round)): round.conversation
        case .persist(.rating(let rating)): rating.conversation
        case .persist(.presence), .persist(.journal): nil
        case .breach(let breach): breach.conversation
        case .autoAway, .signOut: nil
        case .escalation(let escalation): escalation.breach.conversation
        case .slaNotice(let notice): notice.facts.conversation
        case .deliver(_, let event):
            switch event {
            case .queued(let id, _, _, _), .joined(let id, _), .message(let id, _, _), .revoked(let id, _),
                .autoMessage(let id, _, _),
                .escalated(let id, _, _, _, _), .closed(let id, _), .slaWarning(let id, _, _):
                id
            case .assigned(let notice): notice.conversation
            case .note(let note): note.conversation
            case .ratingRequest(let id, _, _): id
            case .presence, .agentAway: nil
            }
        }
    }

    var isRating: Bool { if case .persist(.rating) = self { true } else { false } }
}

// MARK: - Determinism

/// Every command a scenario issued, with its instant and its outcome.
struct Transcript {
    struct Entry: Equatable {
        var move: Move
        var at: Instant
        var step: Step
    }

    var entries: [Entry] = []

    init(_ scenario: Scenario) {
        var driver = Driver(team: scenario.team)
        for action in scenario.actions {
            guard let move = driver.move(for: action) else { continue }
            entries.append(Entry(move: move, at: driver.now, step: driver.perform(move)))
        }
    }
}

// MARK: - Restore

/// Replays a scenario while folding its persisted records as the store would (last record per conversation wins,
/// closed ones dropped), and after each step restores a fresh core from them and compares it with the live one.
enum RestoreAudit {
    static func firstProblem(in scenario: Scenario) -> String? {
        var driver = Driver(team: scenario.team)
        for (index, action) in scenario.actions.enumerated() {
            guard let move = driver.move(for: action) else { continue }
            _ = driver.perform(move)
            // The driver folds the persisted records as the store does (see `Driver.store`).
            let records = driver.stored.values.sorted { $0.id < $1.id }
            let problems = compare(
                driver.core, restoring: records, driver.lastAssignedAt, team: driver.team, at: driver.now
            )
            if !problems.isEmpty {
                return "after step \(index) (\(describe(move))):\n  " + problems.joined(separator: "\n  ")
            }
        }
        return nil
    }

    static func compare(
        _ live: RoutingCore, restoring records: [ConversationRecord], _ lastAssignedAt: [AgentID: Instant],
        team: TeamSpec, at now: Instant
    ) -> [String] {
        var restored = RoutingCore(policy: team.policy)
        let step = restored.restore(records, lastAssignedAt: lastAssignedAt, at: now)
        var problems = restored.invariantViolations().map { "restored core: \($0)" }
        // Every agent is still configured, so nothing needs repair.
        if step != Step(reply: .ok([]), effects: []) { problems.append("restore repaired something: \(step)") }
        if restored.waiting != live.waiting {
            problems.append("waiting: restored \(restored.waiting), live \(live.waiting)")
        }
        for profile in team.policy.agents where restored.held(by: profile.id) != live.held(by: profile.id) {
            problems.append(
                "\(profile.id) holds \(restored.held(by: profile.id)) restored, \(live.held(by: profile.id)) live")
        }
        var earliest: Instant?
        for record in records {
            let current = live.conversation(record.id)
            if restored.conversation(record.id) != current {
                problems.append("record \(record.id): stored \(record), live \(show(current))")
            }
            if record.roundStartedAt != nil, record.roundBreachedAt == nil, let due = record.roundDueAt {
                earliest = min(earliest ?? due, due)
            }
            // Widening steps still ahead are deadlines too.
            // So are the rungs of the escalation ladder a breached round has not reached.
            if record.roundStartedAt != nil, let breachedAt = record.roundBreachedAt {
                for (index, step) in team.policy.escalation.enumerated() where index + 1 > record.roundEscalationLevel {
                    earliest = min(earliest ?? breachedAt + step.after, breachedAt + step.after)
                }
            }
            // So are a silent buyer's warning still ahead and close.
            if let since = record.buyerIdleSince, let limit = team.policy.customerIdleClose {
                let close = since + limit
                let warn = close + Milliseconds(-min(60_000, limit.value / 2))
                earliest = min(earliest ?? close, close)
                if warn > now { earliest = min(earliest ?? warn, warn) }
            }
            // So are warnings still ahead.
            if let start = record.roundStartedAt, let due = record.roundDueAt, record.roundBreachedAt == nil,
                let warnAt = team.policy.warning(start: start, due: due), warnAt > now
            {
                earliest = min(earliest ?? warnAt, warnAt)
            }
            if let widen = team.policy.rule(for: record.skill).widenAfter {
                for step in [record.openedAt + widen, record.openedAt + Milliseconds(widen.value * 2)] where step > now
                {
                    earliest = min(earliest ?? step, step)
                }
            }
        }
        if restored.nextDeadline != earliest {
            problems.append("restored next deadline \(show(restored.nextDeadline)), expected \(show(earliest))")
        }
        return problems
    }
}

/// A conversation's response round as the referee expects it.
struct RoundState: CustomStringConvertible {
    var number: Int
    /// When the round waiting for an answer started; nil when the last buyer message is answered.
    var start: Instant?
    var due: Instant?
    var breached = false

    var description: String { "round \(number) from \(show(start)) due \(show(due)) breached \(breached)" }
}

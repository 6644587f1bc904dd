import FuzzSupport
import KefuCore
import KefuProtocol
import KefuReplay

// The routing core fed a floor and a story decoded from the fuzzer's bytes: first the team and the rules (agents with
// skills, levels, limits, stores and languages; skill rules, SLA limits and policies, business hours, the ladder,
// surveys, auto-replies), then commands one after another: logins and drops, presence, opens (by buyers and gateways),
// messages, canned replies, closes, transfers, notes, holds, handovers, forced assignments, listings, ratings, reloads
// that change the team, restarts restored from what was persisted, and clock jumps with or without a timer tick. Any
// party may send any command about any conversation (the protocol layer does not stop a buyer from naming another's).
//
// Checked after every command (and at every restart, that the core restored from the persisted records waits, holds
// and has each conversation as the live core did, repairing nothing):
// - `invariantViolations(at:)` is empty (one holder per conversation, queue and holders agree, nobody over the limit
//   unless forced, no free agent while a conversation it could take waits, ...);
// - after a timer tick no deadline is left due (the server arms its one timer for `nextDeadline`);
// - a refusal's code is one the protocol has, and the reply and every event render as one line each, in every form
//   (to the person, to a gateway, to a watching supervisor).
// At the end, the story's input journal (kept as kefud keeps it: restore points at the start and at each restart, every
// input with the decisions it made, rows cut anywhere) replays with its own rules to exactly the same decisions.

let start = Instant(unixMilliseconds: 1_700_000_000_000)
let skills = ["s1", "s2", "s3", "s4"].map { Skill($0) }
let customers = ["c1", "c2", "c3", "c4", "c5"].map { CustomerID($0) }
let texts = ["m", "", "a\nb", "x y :z", "亲,在吗", "\\", "\r", String(repeating: "长", count: 300)]
let stores: [String?] = [nil, "tmall", "jd", "pdd"]
let languages: [String?] = [nil, "zh", "en"]
let spans = [0, 1, 500, 999, 1_000, 1_001, 2_000, 5_000, 30_000, 60_000, 120_000, 600_000, 3_600_000, 86_400_000]
    .map { Milliseconds(Int64($0)) }

/// The team as configured now (reloads change it).
struct Team {
    var agents: [AgentProfile]

    static func decode(_ input: inout ByteReader) -> Team {
        let skillCount = 1 + input.below(4)
        let agents = (0..<(1 + input.below(6))).map { index -> AgentProfile in
            var levels: [Skill: Int] = [:]
            for skill in skills.prefix(skillCount) {
                let level = input.below(6)
                if level > 0 { levels[skill] = level }
            }
            if levels.isEmpty { levels[skills[0]] = 1 + input.below(5) }
            return AgentProfile(
                id: AgentID("a\(index + 1)"), name: "agent \(index + 1)", maxChats: 1 + input.below(4), skills: levels,
                stores: input.pick([nil, ["tmall"], ["jd"], ["tmall", "jd"]]),
                languages: input.pick([nil, ["zh"], ["en"]]))
        }
        return Team(agents: agents)
    }
}

func decodePolicy(_ input: inout ByteReader, team: Team) -> RoutingPolicy {
    var rules = RoutingRules()
    rules.stickyWindow = input.pick([Milliseconds(0), Milliseconds(10_000), .seconds(72 * 3600)])
    rules.stickyWait = input.pick([Milliseconds(0), Milliseconds(2_000)])
    rules.vipBoost = input.pick([Milliseconds(0), Milliseconds(5_000), .seconds(600)])
    rules.wrapUp = input.pick([Milliseconds(0), Milliseconds(1_000)])
    rules.reconnectGrace = input.pick([Milliseconds(0), Milliseconds(3_000), .seconds(60)])
    rules.autoAwayBreaches = input.below(3)
    rules.autoAwayWindow = input.pick([Milliseconds(1_000), .seconds(600)])
    let limits = [0, 1, 1_000, 5_000, 30_000, 120_000].map { Milliseconds(Int64($0)) }
    let skillCount = Set(team.agents.flatMap { $0.skills.keys }).count
    var policy = RoutingPolicy(
        firstResponse: input.pick(limits), response: input.pick([nil] + limits),
        warnBefore: input.pick([nil, Milliseconds(0), Milliseconds(500), Milliseconds(10_000)]), agents: team.agents,
        skillRules: [
            SkillRule(
                skill: skills[0], minLevel: 1 + input.below(5),
                widenAfter: input.pick([nil, Milliseconds(1), Milliseconds(2_000), Milliseconds(60_000)]),
                fallback: skillCount > 1 && input.bool() ? [skills[1]] : [], maxQueue: input.pick([nil, 1, 3]))
        ],
        rules: rules,
        autoReplies: AutoReplies(greeting: input.pick([nil, "欢迎光临"]), queued: input.pick([nil, "请稍候"])))
    policy.maxReassign = input.below(4)
    policy.customerIdleClose = input.pick([nil, Milliseconds(5_000), .seconds(300)])
    policy.resolution = input.pick([nil, Milliseconds(10_000)])
    policy.satisfaction = input.pick([nil, SatisfactionSurvey(), SatisfactionSurvey(expiresAfter: Milliseconds(5_000))])
    switch input.below(3) {
    case 1:
        policy.escalation = [
            EscalationStep(after: Milliseconds(0), actions: [.supervisor]),
            EscalationStep(after: Milliseconds(1_000), actions: [.reassign, .manager]),
        ]
    case 2: policy.escalation = [EscalationStep(after: Milliseconds(2_000), actions: [.reassign])]
    default: break
    }
    if input.bool() {
        policy.slaPolicies = [
            SLAPolicy(
                skill: input.pick([nil, skills[0]]), store: input.pick([nil, "tmall"]),
                priority: input.pick([nil, Priority.vip]), firstResponse: input.pick(limits),
                response: input.pick([nil, Milliseconds(3_000)]), resolution: input.pick([nil, Milliseconds(20_000)]),
                warnBefore: input.pick([nil, Milliseconds(0), Milliseconds(1_000)]),
                calendar: input.pick([nil, BusinessCalendar(utcOffsetMinutes: 0, opens: 0, closes: 12 * 60)]))
        ]
    }
    switch input.below(3) {
    case 1: policy.calendar = BusinessCalendar(closedWeekdays: [7])
    case 2:
        // One-minute days, a closed weekday and a holiday, and a zone that changes its offset.
        policy.calendar = BusinessCalendar(
            utcOffsetMinutes: -300,
            offsetChanges: [.init(at: start + Milliseconds(3_600_000), minutes: -240)], opens: 600, closes: 601,
            closedWeekdays: [3], holidays: [19_675])
        policy.autoReplies.outOfHours = "休息中"
    default: break
    }
    return policy
}

/// What the store would hold, folded from the persisted records as the store does (what a restart restores from).
struct Store {
    var rows: [ConversationID: ConversationRecord] = [:]
    var lastMessages: [ConversationID: (seq: Int, answeredAt: Instant?)] = [:]
    var lastAssignedAt: [AgentID: Instant] = [:]
    var nextID = ConversationID(1)

    mutating func fold(_ records: [Record]) {
        for record in records {
            switch record {
            case .conversation(let conversation):
                rows[conversation.id] = conversation.state == .closed ? nil : conversation
                if conversation.id >= nextID { nextID = ConversationID(conversation.id.rawValue + 1) }
            case .assignment(let assignment):
                if let agent = assignment.agent { lastAssignedAt[agent] = assignment.at }
            case .message(let message):
                var last = lastMessages[message.conversation] ?? (0, nil)
                last.seq = message.seq
                switch message.sender {
                case .customer: last.answeredAt = nil
                case .agent where !message.automatic: last.answeredAt = message.at
                default: break
                }
                lastMessages[message.conversation] = last
            case .note, .round, .rating, .presence, .journal:
                break
            }
        }
    }

    /// The open conversations as recovery reads them: each row caught up with its messages.
    var recovered: [ConversationRecord] {
        rows.values.map { row in
            var record = row
            if let last = lastMessages[row.id] { record.catchUp(lastSeq: last.seq, lastAgentAnswerAt: last.answeredAt) }
            return record
        }.sorted { $0.id < $1.id }
    }
}

struct Story {
    var input: ByteReader
    var team: Team
    var core: RoutingCore
    var store = Store()
    var now = start
    /// Conversations opened, in order (closed ones stay: commands about them must be refused harmlessly).
    var opened: [ConversationID] = []
    var counter = 0
    /// The story as kefud records it (restore points and inputs with their decisions), replayed at the end.
    var journal = InputJournal()
    var chunks: [InputJournal.Chunk] = []

    init(_ bytes: [UInt8]) {
        input = ByteReader(bytes)
        team = Team.decode(&input)
        let point = RestorePoint(
            policy: decodePolicy(&input, team: team), at: start, nextConversationID: ConversationID(1))
        core = RoutingCore.restored(from: point).core
        journal.record(point)
    }

    /// Ends the journal's current row (a store job), as the daemon's rows end wherever its jobs did.
    mutating func endRow() {
        if let chunk = journal.take() { chunks.append(chunk) }
    }

    mutating func agent() -> AgentID {
        input.below(8) == 7 ? AgentID("ghost") : team.agents[input.below(team.agents.count)].id
    }

    mutating func text() -> String {
        counter += 1
        let choice = input.below(texts.count + 4)
        return choice < texts.count ? texts[choice] : "m\(counter)"
    }

    /// A conversation: mostly one opened so far, sometimes one never opened.
    mutating func conversation() -> ConversationID {
        let choice = input.below(opened.count + 1)
        return choice < opened.count
            ? opened[opened.count - 1 - choice] : ConversationID(Int64(opened.count + 1 + input.below(3)))
    }

    /// Who sends a command about `id`: the party it concerns, or anybody at all.
    mutating func party(for id: ConversationID, _ role: Closer) -> Principal {
        let record = core.conversation(id)
        switch input.below(6) {
        case 0: return .customer(input.pick(customers))
        case 1: return .agent(agent())
        case 2: return .supervisor(input.pick([SupervisorID("lead"), SupervisorID("boss")]))
        default:
            switch role {
            case .customer: return .customer(record?.customer ?? input.pick(customers))
            case .agent: return .agent(record?.agent ?? agent())
            case .supervisor, .system: return .supervisor("lead")
            }
        }
    }

    mutating func anyone() -> Principal {
        switch input.below(3) {
        case 0: .customer(input.pick(customers))
        case 1: .agent(agent())
        default: .supervisor("lead")
        }
    }

    /// The next step: a command, a restart, or the clock moving without a tick; nil at the end of the input.
    mutating func next() -> Move? {
        guard !input.isAtEnd else { return nil }
        switch input.below(28) {
        case 0, 1: return .command(.connect(.agent(agent())))
        case 2: return .command(.disconnect(.agent(agent())))
        case 3: return .command(.connect(anyone()))
        case 4: return .command(.disconnect(anyone()))
        case 5:
            return .command(
                .setPresence(input.below(4) == 0 ? anyone() : .agent(agent()), input.pick(Presence.allCases)))
        case 6, 7, 8:
            let principal: Principal = input.below(8) == 0 ? anyone() : .customer(input.pick(customers))
            return .command(
                .open(
                    principal, skill: input.below(6) == 0 ? "nosuch" : input.pick(skills),
                    priority: input.pick(Priority.allCases),
                    text: text(), store: input.pick(stores), language: input.pick(languages),
                    gateway: input.pick([nil, "tmall-bridge"])))
        case 9, 10:
            let id = conversation()
            return .command(.send(party(for: id, .customer), id, text: text(), ref: input.pick([nil, "r1", "r2"])))
        case 11, 12:
            let id = conversation()
            return .command(.send(party(for: id, .agent), id, text: text(), ref: input.pick([nil, "r1", "r2"])))
        case 13:
            let id = conversation()
            return .command(.autoReply(party(for: id, .agent), id, text: text(), ref: input.pick([nil, "r1"])))
        case 14:
            let id = conversation()
            return .command(.close(party(for: id, input.pick([Closer.customer, .agent, .supervisor])), id))
        case 15:
            let id = conversation()
            return .command(input.bool() ? .history(anyone(), id) : .explain(anyone(), id))
        case 16:
            let id = conversation()
            let target: TransferTarget =
                input.bool() ? .agent(agent()) : .skill(input.below(5) == 0 ? "nosuch" : input.pick(skills))
            return .command(.transfer(party(for: id, .agent), id, to: target, reason: text()))
        case 17:
            let id = conversation()
            return .command(
                input.bool() ? .note(party(for: id, .agent), id, text: text()) : .notes(party(for: id, .agent), id))
        case 18:
            let id = conversation()
            return .command(.hold(party(for: id, .agent), id, reason: text()))
        case 19: return .command(.handover(.agent(agent()), note: input.pick([nil, "交接", "a\nb"])))
        case 20:
            let id = conversation()
            return .command(.assign(party(for: id, .supervisor), id, agent()))
        case 21:
            let page = ListingPage(after: input.pick([nil, 0, 1, 3]), limit: input.pick([nil, 1, 2, 10_000]))
            return .command(
                input.bool()
                    ? .queue(anyone(), page: page)
                    : .agents(anyone(), after: input.pick([nil, "a1", "a3", "zz"]), limit: page.limit))
        case 22:
            let id = conversation()
            return input.bool()
                ? .command(.due(anyone(), id))
                : .command(
                    .rate(
                        party(for: id, .customer), id, rating: input.within(0...6),
                        comment: input.pick([nil, "好", "a\nb"])))
        case 23:
            now = now + input.pick(spans)
            return .clock
        case 24, 25:
            now = now + input.pick(spans)
            return .command(.tick)
        case 26:
            return .command(.reconfigure(reloaded()))
        default:
            return .restart
        }
    }

    /// The team and rules after a reload that changes one thing.
    mutating func reloaded() -> RoutingPolicy {
        var policy = core.policy
        var agents = team.agents
        let index = input.below(agents.count)
        switch input.below(6) {
        case 0: agents[index].maxChats = 1 + input.below(4)
        case 1:
            let skill = input.pick(skills)
            let level = input.below(6)
            agents[index].skills[skill] = level == 0 ? nil : level
            if agents[index].skills.isEmpty { agents[index].skills[skill] = 1 }
        case 2 where agents.count > 1: agents.remove(at: index)
        case 3:
            agents.append(
                AgentProfile(
                    id: AgentID("a\(agents.count + 1 + input.below(3))"), name: "new", maxChats: 1 + input.below(4),
                    skills: [input.pick(skills): 1 + input.below(5)]))
            agents = Array(Dictionary(agents.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first }).values)
                .sorted { $0.id < $1.id }
        case 4: policy.firstResponse = input.pick([Milliseconds(1), Milliseconds(1_000), Milliseconds(60_000)])
        default: policy.rules.wrapUp = input.pick([Milliseconds(0), Milliseconds(1_000)])
        }
        team.agents = agents
        policy.agents = agents
        return policy
    }

    mutating func perform(_ move: Move) -> (Command?, Step?) {
        switch move {
        case .command(let command):
            let step = core.handle(command, at: now)
            journal.record(command, at: now, step: step)
            if journal.byteCount >= 100 { endRow() }
            store.fold(step.records)
            if case .open = command, case .ok(let fields) = step.reply,
                let conv = fields.first(where: { $0.key == "conv" }).flatMap({ Int64($0.value) })
            {
                opened.append(ConversationID(conv))
            }
            return (command, step)
        case .restart:
            // As kefud starts: the next id from the store, every open conversation restored; sessions are gone.
            let live = core
            let records = store.recovered
            let point = RestorePoint(
                policy: live.policy, at: now, nextConversationID: store.nextID, openConversations: records,
                lastAssignedAt: store.lastAssignedAt)
            let (restored, step) = RoutingCore.restored(from: point)
            core = restored
            endRow()
            journal.record(point)
            // What was persisted is the live state: the restored core waits and holds as the live one did, has each
            // conversation as it was, and repairs nothing (every holder is still configured).
            var problems: [String] = []
            if !step.effects.isEmpty { problems.append("restore repaired something: \(step.effects)") }
            if core.waiting != live.waiting {
                problems.append("waiting: restored \(core.waiting), live \(live.waiting)")
            }
            for profile in live.policy.agents where core.held(by: profile.id) != live.held(by: profile.id) {
                problems.append(
                    "\(profile.id) holds \(core.held(by: profile.id)) restored, \(live.held(by: profile.id)) live")
            }
            for record in records where core.conversation(record.id) != live.conversation(record.id) {
                problems.append(
                    "conversation \(record.id): restored \(String(describing: core.conversation(record.id))), "
                        + "live \(String(describing: live.conversation(record.id)))")
            }
            if live.openConversations(where: { _ in true }).map(\.id) != records.map(\.id) {
                problems.append(
                    "open: live \(live.openConversations(where: { _ in true }).map(\.id)), stored \(records.map(\.id))")
            }
            guard problems.isEmpty else {
                fatalError("a restart does not restore the state: \(problems.joined(separator: "; "))")
            }
            store.fold(step.records)
            return (nil, step)
        case .clock:
            return (nil, nil)
        }
    }
}

enum Move {
    case command(Command)
    case restart
    /// The clock moved; the next command finds the deadlines due.
    case clock
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzCore(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    var story = Story(fuzzInput(data, size))
    var steps = 0
    while let move = story.next() {
        steps += 1
        let (command, step) = story.perform(move)
        // The clock moved without the core hearing of it (no command yet): it is checked at the next command's
        // instant, as the server only acts on time through commands and ticks. (Checked at the new instant, a
        // chat whose skill widened meanwhile would wait beside agents who may now take it: not a fault.)
        if case .clock = move { continue }
        let problems = story.core.invariantViolations(at: story.now)
        guard problems.isEmpty else {
            fatalError("step \(steps) (\(move)) broke the invariants: \(problems.joined(separator: "; "))")
        }
        if case .tick = command, let next = story.core.nextDeadline, next <= story.now {
            fatalError("step \(steps): after a tick at \(story.now) a deadline at \(next) is still due")
        }
        if let step { check(step, after: move) }
    }
    // The recorded story, replayed with its own rules from its restore points, decides exactly as it did.
    story.endRow()
    var recorded = RecordedRun(story.chunks)
    do {
        let verdict = try ExactReplay(from: start, to: story.now).run(&recorded)
        if let difference = verdict.firstDifference { fatalError("the story's journal replays otherwise: \(difference)") }
    } catch {
        fatalError("the story's journal cannot be read: \(error)")
    }
    return 0
}

/// The reply and every event render as one line each, in every form; refusals use the protocol's codes.
func check(_ step: Step, after move: Move) {
    var lines: [OutboundLine] = []
    switch step.reply {
    case .ok(let fields): lines.append(.ok(tag: "t", fields))
    case .refused(let refusal, let text):
        guard let code = ErrorCode(rawValue: refusal.rawValue) else {
            fatalError("\(move) refused with \(refusal), which is no protocol error code")
        }
        lines.append(.error(tag: "t", ProtocolError(code, text)))
    case .queue(let entries, _): lines += entries.map { .waiting($0) }
    case .agents(let entries, _): lines += entries.map { .agent($0) }
    case .explanation(let decision): lines += OutboundLine.explaining(decision)
    case .notes(let notes): lines += notes.map { .note($0) }
    case .history, .fromStore: break
    }
    for effect in step.effects {
        guard case .deliver(_, let event) = effect else { continue }
        lines += [.event(event), .event(event, .forGateway("c1")), .event(event, .watched(.supervisors))]
    }
    for line in lines {
        let rendered = line.rendered
        guard !rendered.utf8.contains(UInt8(ascii: "\n")), !rendered.utf8.contains(UInt8(ascii: "\r")) else {
            fatalError("\(move) made a line that is not one line: \(rendered.debugDescription)")
        }
    }
}

runFuzzer(fuzzCore)

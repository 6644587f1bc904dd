import KefuCore
import PropertyBased

// Random floors for the property tests: a team, then a sequence of actions. Everything that knows which commands
// exist lives in this file (`Action`, `ActionKind`, `Driver.move(for:)`, `Scenario.simplified`, `describe`), so a
// new command is added here once and every property picks it up.

// MARK: - Team

/// A small random team: agents `a1...`, skills `s1...`, one supervisor `lead`.
struct TeamSpec: Sendable, Hashable, CustomStringConvertible {
    var firstResponseMs: Int64
    var skillCount: Int
    var agents: [AgentSpec]

    static let supervisor = SupervisorID("lead")

    static func agentID(_ index: Int) -> AgentID { AgentID("a\(index + 1)") }
    static func skill(_ index: Int) -> Skill { Skill("s\(index + 1)") }
    static func customer(_ index: Int) -> CustomerID { CustomerID("c\(index + 1)") }

    var policy: RoutingPolicy {
        var policy = RoutingPolicy(
            firstResponse: Milliseconds(firstResponseMs),
            agents: agents.indices.filter { !agents[$0].removed }.map { index in
                let spec = agents[index]
                var skills: [Skill: Int] = [:]
                for (skill, level) in spec.levels.enumerated() where level > 0 { skills[Self.skill(skill)] = level }
                // Every third agent serves only tmall, so store coverage is exercised without a wider spec.
                return AgentProfile(
                    id: Self.agentID(index), name: "agent \(index + 1)", maxChats: spec.maxChats, skills: skills,
                    stores: index % 3 == 1 ? ["tmall"] : nil
                )
            },
            // s1 is seniors-first and widens (to fallback s2) within the breach window; the rest take the defaults.
            skillRules: [
                SkillRule(
                    skill: Self.skill(0), minLevel: 2, widenAfter: Milliseconds(firstResponseMs / 2),
                    fallback: skillCount > 1 ? [Self.skill(1)] : []
                )
            ],
            rules: Self.rules,
            autoReplies: AutoReplies(greeting: "欢迎光临", queued: "请稍候")
        )
        // Silent buyers are closed within a scenario's time span, so idle closes happen too.
        policy.customerIdleClose = .seconds(300)
        return policy
    }

    /// Short windows, so that sticky waits, wrap-ups, grace periods and auto-away all happen in a scenario.
    static var rules: RoutingRules {
        var rules = RoutingRules()
        rules.stickyWait = Milliseconds(2_000)
        rules.wrapUp = Milliseconds(1_000)
        rules.reconnectGrace = Milliseconds(3_000)
        rules.vipBoost = Milliseconds(5_000)
        return rules
    }

    /// Stores an `OPEN` may name (index 2: none).
    static let stores = ["tmall", "jd"]

    /// The agent an action's index names (indices wrap, so shrinking the team keeps actions meaningful).
    func agent(_ index: Int) -> AgentID { Self.agentID(index % agents.count) }

    var description: String {
        let members = agents.indices.map { index in
            let skills = agents[index].levels.enumerated().filter { $0.element > 0 }
                .map { "s\($0.offset + 1):\($0.element)" }.joined(separator: ",")
            return "a\(index + 1)(max \(agents[index].maxChats); \(skills))"
        }
        return "first_response=\(firstResponseMs)ms " + members.joined(separator: " ")
    }
}

/// One agent of a `TeamSpec`: reception limit and a level per skill index (0 = lacks the skill).
struct AgentSpec: Sendable, Hashable {
    var maxChats: Int
    var levels: [Int]
    /// Taken out of the configuration by a reload (kept in the spec so every other agent keeps its id).
    var removed = false
}

// MARK: - Actions

/// One thing that happens on the floor, described relative to the state it meets so that a sequence stays
/// meaningful when the shrinker drops earlier steps: `pick` chooses among the conversations open at that moment.
enum Action: Sendable, Hashable {
    case open(customer: Int, skill: Int, vip: Bool)
    /// The picked conversation's customer writes.
    case customerSend(pick: Int)
    /// The picked conversation's holder answers (a non-holder when it is still queued: refused).
    case agentSend(pick: Int)
    /// The picked conversation's holder sends a canned reply (`auto=1`): no human answer.
    case agentAutoReply(pick: Int)
    case close(pick: Int, by: Closer)
    case presence(agent: Int, Presence)
    case connect(agent: Int)
    case disconnect(agent: Int)
    /// The clock moves; with `tick` the server's timer fires now, otherwise the next command finds the deadlines due.
    case advance(ms: Int64, tick: Bool)
    /// A command the core must refuse or answer without changing routing.
    case stray(Stray, pick: Int)
    /// The picked conversation's holder passes it on, to an agent or to a skill.
    case transfer(pick: Int, toAgent: Int?, toSkill: Int)
    /// The picked conversation's holder writes an internal note.
    case note(pick: Int)
    /// An agent ends its shift.
    case handover(agent: Int)
    /// A supervisor forces the picked conversation onto an agent.
    case assign(pick: Int, agent: Int)
    /// A customer opens naming a store (index into `TeamSpec.stores`).
    case openInStore(customer: Int, skill: Int, store: Int)
    /// The daemon restarts: a new core restored from the records persisted so far. Sessions are gone.
    case restart
    /// The configuration is reloaded with one change.
    case reload(Reload)
}

/// One change a reload brings (agent indices wrap like every other action's).
enum Reload: Sendable, Hashable {
    case capacity(agent: Int, maxChats: Int)
    /// Level 0 takes the skill away.
    case level(agent: Int, skill: Int, level: Int)
    /// Removes a configured agent, or configures a removed one again (with its former skills).
    case toggleAgent(agent: Int)
    /// A new agent with one skill.
    case addAgent(skill: Int, level: Int, maxChats: Int)
    case firstResponse(seconds: Int64)

    /// The team after the change.
    func applied(to team: TeamSpec) -> TeamSpec {
        var team = team
        switch self {
        case .capacity(let agent, let maxChats):
            team.agents[agent % team.agents.count].maxChats = maxChats
        case .level(let agent, let skill, let level):
            team.agents[agent % team.agents.count].levels[skill % team.skillCount] = level
        case .toggleAgent(let agent):
            team.agents[agent % team.agents.count].removed.toggle()
        case .addAgent(let skill, let level, let maxChats):
            var levels = Array(repeating: 0, count: team.skillCount)
            levels[skill % team.skillCount] = level
            team.agents.append(AgentSpec(maxChats: maxChats, levels: levels))
        case .firstResponse(let seconds):
            team.firstResponseMs = seconds * 1000
        }
        return team
    }
}

/// Wrong or odd commands, to check that refusals are well formed and harmless.
enum Stray: Sendable, Hashable, CaseIterable {
    case openByAgent, openEmptyText, openUnknownSkill
    case sendByStranger, sendBySupervisor, sendEmptyText, sendToUnknownID
    case closeByOtherAgent
    case historyByCustomer, historyByAgent, historyBySupervisor
    case connectUnknownAgent, presenceByCustomer, disconnectCustomer
    /// Commands on a conversation that was closed earlier: it must stay gone.
    case closedCustomerSend, closedAgentSend, closedCustomerClose, closedSupervisorClose
}

/// The kinds of action with the weight each is drawn with.
enum ActionKind: CaseIterable {
    case open, customerSend, agentSend, agentAutoReply, close, presence, connect, disconnect, smallAdvance,
        largeAdvance, stray
    case transfer, note, handover, assign, openInStore
    case restart, reload

    var weight: Int {
        switch self {
        case .open: 20
        case .customerSend: 6
        case .agentSend: 14
        case .agentAutoReply: 4
        case .close: 12
        case .presence: 6
        case .connect: 7
        case .disconnect: 4
        case .smallAdvance: 12
        case .largeAdvance: 5
        case .stray: 6
        case .transfer: 4
        case .note: 2
        case .handover: 1
        case .assign: 2
        case .openInStore: 5
        case .restart: 1
        case .reload: 2
        }
    }

    static let totalWeight = allCases.reduce(0) { $0 + $1.weight }

    static func random<R: RandomNumberGenerator>(using rng: inout R) -> ActionKind {
        var roll = Int.random(in: 0..<totalWeight, using: &rng)
        for kind in allCases {
            if roll < kind.weight { return kind }
            roll -= kind.weight
        }
        return .open
    }

    /// Customers come from a small pool so that one buyer often has several chats.
    static let customerPool = 5
    /// Picks wrap around the open conversations; a small range keeps the shrunk values readable.
    static let pickRange = 0...15

    func draw<R: RandomNumberGenerator>(team: TeamSpec, using rng: inout R) -> Action {
        let pick = Int.random(in: Self.pickRange, using: &rng)
        let agent = Int.random(in: 0..<team.agents.count, using: &rng)
        switch self {
        case .open:
            return .open(
                customer: Int.random(in: 0..<Self.customerPool, using: &rng),
                skill: Int.random(in: 0..<team.skillCount, using: &rng),
                vip: Int.random(in: 0..<4, using: &rng) == 0
            )
        case .customerSend: return .customerSend(pick: pick)
        case .agentSend: return .agentSend(pick: pick)
        case .agentAutoReply: return .agentAutoReply(pick: pick)
        case .close:
            let closers: [Closer] = [.customer, .customer, .agent, .agent, .supervisor]
            return .close(pick: pick, by: closers.randomElement(using: &rng)!)
        case .presence:
            let choices: [Presence] = [.online, .online, .away, .offline]
            return .presence(agent: agent, choices.randomElement(using: &rng)!)
        case .connect: return .connect(agent: agent)
        case .disconnect: return .disconnect(agent: agent)
        case .smallAdvance:
            return .advance(ms: Int64.random(in: 0...5_000, using: &rng), tick: Bool.random(using: &rng))
        case .largeAdvance:
            // Up to twice the threshold, so first-response breaches and their reassignments happen often.
            let span = Int64.random(in: 0...(2 * team.firstResponseMs), using: &rng)
            return .advance(ms: span, tick: Int.random(in: 0..<4, using: &rng) != 0)
        case .stray:
            return .stray(Stray.allCases.randomElement(using: &rng)!, pick: pick)
        case .transfer:
            let toAgent = Bool.random(using: &rng) ? agent : nil
            return .transfer(pick: pick, toAgent: toAgent, toSkill: Int.random(in: 0..<team.skillCount, using: &rng))
        case .note: return .note(pick: pick)
        case .handover: return .handover(agent: agent)
        case .assign: return .assign(pick: pick, agent: agent)
        case .openInStore:
            return .openInStore(
                customer: Int.random(in: 0..<Self.customerPool, using: &rng),
                skill: Int.random(in: 0..<team.skillCount, using: &rng),
                store: Int.random(in: 0...TeamSpec.stores.count, using: &rng)
            )
        case .restart:
            return .restart
        case .reload:
            let skill = Int.random(in: 0..<team.skillCount, using: &rng)
            switch Int.random(in: 0..<5, using: &rng) {
            case 0: return .reload(.capacity(agent: agent, maxChats: Int.random(in: 1...4, using: &rng)))
            case 1: return .reload(.level(agent: agent, skill: skill, level: Int.random(in: 0...5, using: &rng)))
            case 2: return .reload(.toggleAgent(agent: agent))
            case 3:
                let level = Int.random(in: 1...5, using: &rng)
                return .reload(.addAgent(skill: skill, level: level, maxChats: Int.random(in: 1...4, using: &rng)))
            default: return .reload(.firstResponse(seconds: Int64.random(in: 1...300, using: &rng)))
            }
        }
    }
}

// MARK: - Scenario and its generator

/// A team and what happens to it. Printed as the resolved commands with their replies, so a shrunk failure reads
/// like a transcript.
struct Scenario: Sendable, Hashable, CustomStringConvertible {
    var team: TeamSpec
    var actions: [Action]

    static func random<R: RandomNumberGenerator>(steps: ClosedRange<Int>, using rng: inout R) -> Scenario {
        let skillCount = Int.random(in: 1...4, using: &rng)
        let agents = (0..<Int.random(in: 2...8, using: &rng)).map { _ in
            var levels = (0..<skillCount).map { _ in
                Int.random(in: 0..<10, using: &rng) < 6 ? Int.random(in: 1...5, using: &rng) : 0
            }
            if levels.allSatisfy({ $0 == 0 }) {
                levels[Int.random(in: 0..<skillCount, using: &rng)] = Int.random(in: 1...5, using: &rng)
            }
            return AgentSpec(maxChats: Int.random(in: 1...4, using: &rng), levels: levels)
        }
        let team = TeamSpec(
            firstResponseMs: Int64.random(in: 1...300, using: &rng) * 1000, skillCount: skillCount, agents: agents
        )
        let actions = (0..<Int.random(in: steps, using: &rng)).map { _ in
            ActionKind.random(using: &rng).draw(team: team, using: &rng)
        }
        return Scenario(team: team, actions: actions)
    }

    var description: String {
        var driver = Driver(team: team)
        var lines = ["team \(team)"]
        for (index, action) in actions.enumerated() {
            guard let move = driver.move(for: action) else {
                lines.append("  \(index): \(action) (nothing to do)")
                continue
            }
            let clock = driver.now - Driver.start
            let step = driver.perform(move)
            lines.append("  \(index): t+\(clock)ms \(describe(move)) -> \(describe(step.reply))")
        }
        return lines.joined(separator: "\n")
    }
}

/// Random scenarios of 1...`maxSteps` actions over random small teams, shrinking to fewer actions, a smaller team
/// and simpler values.
func scenarios(maxSteps: Int = 300) -> Generator<Scenario, AnySequence<Scenario>> {
    Generator(
        run: { rng in Scenario.random(steps: 1...maxSteps, using: &rng) },
        shrink: { $0.simpler }
    )
}

// MARK: - Shrinking

extension Scenario {
    /// Candidates, each strictly smaller (fewer actions; else fewer agents or skills; else smaller numbers), most
    /// shrunk first: big chunks of actions, then single actions, then the team, then each action's values.
    var simpler: AnySequence<Scenario> {
        var edits: [Edit] = []
        var size = actions.count / 2
        while size >= 1 {
            for start in stride(from: 0, to: actions.count, by: size) {
                edits.append(.drop(start..<min(actions.count, start + size)))
            }
            size = size == 1 ? 0 : max(1, size / 2)
        }
        // Two clock moves in a row become one, so a shrunk failure keeps its timing with fewer steps.
        for index in actions.indices.dropLast() {
            if case .advance = actions[index], case .advance = actions[index + 1] {
                edits.append(.mergeAdvances(index))
            }
        }
        if team.agents.count > 1 { edits += team.agents.indices.map { .dropAgent($0) } }
        if team.skillCount > 1 { edits.append(.dropLastSkill) }
        edits += team.agents.indices.map { .simplifyAgent($0) }
        if team.firstResponseMs > 1000 { edits.append(.shorterThreshold) }
        edits += actions.indices.map { .simplifyAction($0) }
        // An edit that changes nothing (an action already as simple as it gets) must not be offered: the shrinker
        // would take it as progress and loop.
        return AnySequence(edits.lazy.map { self.applying($0) }.filter { $0 != self })
    }

    enum Edit: Sendable {
        case drop(Range<Int>)
        case mergeAdvances(Int)
        case dropAgent(Int)
        case dropLastSkill
        case simplifyAgent(Int)
        case shorterThreshold
        case simplifyAction(Int)
    }

    func applying(_ edit: Edit) -> Scenario {
        var result = self
        switch edit {
        case .drop(let range):
            result.actions.removeSubrange(range)
        case .mergeAdvances(let index):
            if case .advance(let first, _) = actions[index], case .advance(let second, let tick) = actions[index + 1] {
                result.actions.replaceSubrange(index...index + 1, with: [.advance(ms: first + second, tick: tick)])
            }
        case .dropAgent(let index):
            result.team.agents.remove(at: index)
        case .dropLastSkill:
            result.team.skillCount -= 1
            for index in result.team.agents.indices { result.team.agents[index].levels.removeLast() }
            result.actions = result.actions.map { action in
                if case .open(let customer, let skill, let vip) = action {
                    return .open(customer: customer, skill: min(skill, result.team.skillCount - 1), vip: vip)
                }
                return action
            }
        case .simplifyAgent(let index):
            var agent = result.team.agents[index]
            // Lower the reception limit, else bring levels to 1. Unchanged specs are filtered out below.
            if agent.maxChats > 1 {
                agent.maxChats -= 1
            } else {
                agent.levels = agent.levels.map { min($0, 1) }
            }
            result.team.agents[index] = agent
        case .shorterThreshold:
            result.team.firstResponseMs = max(1000, result.team.firstResponseMs / 2 / 1000 * 1000)
        case .simplifyAction(let index):
            result.actions[index] = Self.simplified(result.actions[index])
        }
        return result
    }

    /// A simpler form of an action (smaller numbers, normal priority, a customer closing, a tick); the same action
    /// when it is already as simple as it gets.
    static func simplified(_ action: Action) -> Action {
        switch action {
        case .open(let customer, let skill, let vip):
            if vip { return .open(customer: customer, skill: skill, vip: false) }
            if customer > 0 { return .open(customer: 0, skill: skill, vip: vip) }
            return .open(customer: customer, skill: skill / 2, vip: vip)
        case .customerSend(let pick): return .customerSend(pick: pick / 2)
        case .agentSend(let pick): return .agentSend(pick: pick / 2)
        case .agentAutoReply(let pick): return .agentSend(pick: pick)
        case .close(let pick, let by):
            return pick > 0 ? .close(pick: pick / 2, by: by) : .close(pick: 0, by: .customer)
        case .presence(let agent, let presence): return .presence(agent: agent / 2, presence)
        case .connect(let agent): return .connect(agent: agent / 2)
        case .disconnect(let agent): return .disconnect(agent: agent / 2)
        case .advance(let ms, let tick):
            return tick ? .advance(ms: ms / 2, tick: tick) : .advance(ms: ms, tick: true)
        case .stray(let stray, let pick): return .stray(stray, pick: pick / 2)
        case .transfer(let pick, let toAgent, let toSkill):
            return .transfer(pick: pick / 2, toAgent: toAgent.map { $0 / 2 }, toSkill: toSkill / 2)
        case .note(let pick): return .note(pick: pick / 2)
        case .handover(let agent): return .handover(agent: agent / 2)
        case .assign(let pick, let agent): return .assign(pick: pick / 2, agent: agent / 2)
        case .openInStore(let customer, let skill, _): return .open(customer: customer, skill: skill, vip: false)
        case .restart: return .restart
        case .reload(let reload):
            switch reload {
            case .capacity(let agent, let maxChats): return .reload(.capacity(agent: agent / 2, maxChats: maxChats))
            case .level(let agent, let skill, let level):
                return .reload(.level(agent: agent / 2, skill: skill / 2, level: level))
            case .toggleAgent(let agent): return .reload(.toggleAgent(agent: agent / 2))
            case .addAgent(let skill, let level, let maxChats):
                return .reload(.addAgent(skill: skill / 2, level: level, maxChats: maxChats))
            case .firstResponse(let seconds): return .reload(.firstResponse(seconds: max(1, seconds / 2)))
            }
        }
    }
}

// MARK: - Driving a core

/// What the driver does for an action: a command to the core, or a restart that rebuilds the core from what it
/// persisted, as the daemon does when it starts again.
enum Move: Equatable {
    case command(Command)
    case restart
}

/// Turns actions into commands against a live core and keeps what the actions refer to: the clock, the
/// conversations open in opening order, the last record of each closed one, and what the store would hold.
struct Driver {
    static let start = Instant(unixMilliseconds: 1_700_000_000_000)

    /// The team as configured now (reloads change it).
    private(set) var team: TeamSpec
    var core: RoutingCore
    var now = Driver.start
    private(set) var open: [ConversationID] = []
    private(set) var closed: [ConversationID: ConversationRecord] = [:]
    /// The store: last record of each open conversation, last assignment instant of each agent, next id.
    private var storedRows: [ConversationID: ConversationRecord] = [:]
    /// Per conversation, the last message's seq and the time of the agent's latest human message since the buyer's.
    private var lastMessages: [ConversationID: (seq: Int, answeredAt: Instant?)] = [:]
    private(set) var lastAssignedAt: [AgentID: Instant] = [:]

    /// The open conversations as recovery reads them: each stored row caught up with its messages, as the store does.
    var stored: [ConversationID: ConversationRecord] {
        storedRows.mapValues { row in
            var record = row
            if let last = lastMessages[row.id] { record.catchUp(lastSeq: last.seq, lastAgentAnswerAt: last.answeredAt) }
            return record
        }
    }
    private(set) var nextID = ConversationID(1)
    private var texts = 0

    init(team: TeamSpec) {
        self.team = team
        self.core = RoutingCore(policy: team.policy)
    }

    /// What an action stands for now; nil when it only moves the clock or has nothing to act on.
    mutating func move(for action: Action) -> Move? {
        if case .restart = action { return .restart }
        return command(for: action).map(Move.command)
    }

    private mutating func command(for action: Action) -> Command? {
        switch action {
        case .open(let customer, let skill, let vip):
            return .open(
                .customer(TeamSpec.customer(customer)), skill: TeamSpec.skill(skill % team.skillCount),
                priority: vip ? .vip : .normal, text: nextText()
            )
        case .customerSend(let pick):
            guard let record = openRecord(pick) else { return nil }
            return .send(.customer(record.customer), record.id, text: nextText())
        case .agentSend(let pick):
            guard let record = openRecord(pick) else { return nil }
            return .send(.agent(record.agent ?? team.agent(pick)), record.id, text: nextText())
        case .agentAutoReply(let pick):
            guard let record = openRecord(pick) else { return nil }
            return .autoReply(.agent(record.agent ?? team.agent(pick)), record.id, text: nextText())
        case .close(let pick, let by):
            guard let record = openRecord(pick) else { return nil }
            switch by {
            case .customer: return .close(.customer(record.customer), record.id)
            case .agent: return .close(.agent(record.agent ?? team.agent(pick)), record.id)
            case .supervisor, .system: return .close(.supervisor(TeamSpec.supervisor), record.id)
            }
        case .presence(let agent, let presence):
            return .setPresence(.agent(team.agent(agent)), presence)
        case .connect(let agent):
            return .connect(.agent(team.agent(agent)))
        case .disconnect(let agent):
            return .disconnect(.agent(team.agent(agent)))
        case .advance(let ms, let tick):
            now = now + Milliseconds(ms)
            return tick ? .tick : nil
        case .stray(let stray, let pick):
            return strayCommand(stray, pick: pick)
        case .transfer(let pick, let toAgent, let toSkill):
            guard let record = openRecord(pick), let holder = record.agent else { return nil }
            let target: TransferTarget =
                toAgent.map { .agent(team.agent($0)) }
                ?? .skill(TeamSpec.skill(toSkill % team.skillCount))
            return .transfer(.agent(holder), record.id, to: target, reason: nextText())
        case .note(let pick):
            guard let record = openRecord(pick), let holder = record.agent else { return nil }
            return .note(.agent(holder), record.id, text: nextText())
        case .handover(let agent):
            return .handover(.agent(team.agent(agent)), note: nextText())
        case .assign(let pick, let agent):
            guard let record = openRecord(pick) else { return nil }
            return .assign(.supervisor(TeamSpec.supervisor), record.id, team.agent(agent))
        case .openInStore(let customer, let skill, let store):
            return .open(
                .customer(TeamSpec.customer(customer)), skill: TeamSpec.skill(skill % team.skillCount),
                priority: .normal, text: nextText(), store: store < TeamSpec.stores.count ? TeamSpec.stores[store] : nil
            )
        case .restart:
            return nil
        case .reload(let reload):
            team = reload.applied(to: team)
            return .reconfigure(team.policy)
        }
    }

    /// Applies a move at the current instant and notes opened and closed conversations and persisted records.
    mutating func perform(_ move: Move) -> Step {
        switch move {
        case .command(let command):
            let step = perform(command)
            store(step.records)
            return step
        case .restart:
            // As the daemon does: the next id comes from the store, so ids of closed conversations are not reused.
            core = RoutingCore(policy: team.policy, nextConversationID: nextID)
            return core.restore(stored.values.sorted { $0.id < $1.id }, lastAssignedAt: lastAssignedAt, at: now)
        }
    }

    /// Folds persisted records as the store does: the last record per conversation wins, closed ones leave.
    private mutating func store(_ records: [Record]) {
        for record in records {
            switch record {
            case .conversation(let conversation):
                storedRows[conversation.id] = conversation.state == .closed ? nil : conversation
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

    private mutating func perform(_ command: Command) -> Step {
        var before: ConversationRecord?
        if case .close(_, let id) = command { before = core.conversation(id) }
        let step = core.handle(command, at: now)
        switch (command, step.reply) {
        case (.open, .ok(let fields)):
            if let conv = fields.first(where: { $0.key == "conv" }), let raw = Int64(conv.value) {
                open.append(ConversationID(raw))
            }
        case (.close(_, let id), .ok):
            if let before {
                open.removeAll { $0 == id }
                closed[id] = before
            }
        default:
            break
        }
        return step
    }

    private func openRecord(_ pick: Int) -> ConversationRecord? {
        guard !open.isEmpty else { return nil }
        return core.conversation(open[pick % open.count])
    }

    private func closedRecord(_ pick: Int) -> ConversationRecord? {
        guard !closed.isEmpty else { return nil }
        let ids = closed.keys.sorted()
        return closed[ids[pick % ids.count]]
    }

    private mutating func nextText() -> String {
        texts += 1
        return "m\(texts)"
    }

    private mutating func strayCommand(_ stray: Stray, pick: Int) -> Command? {
        let lead = Principal.supervisor(TeamSpec.supervisor)
        switch stray {
        case .openByAgent:
            return .open(.agent(team.agent(pick)), skill: TeamSpec.skill(0), priority: .normal, text: nextText())
        case .openEmptyText:
            return .open(.customer(TeamSpec.customer(pick)), skill: TeamSpec.skill(0), priority: .vip, text: "")
        case .openUnknownSkill:
            return .open(.customer(TeamSpec.customer(pick)), skill: "nosuch", priority: .normal, text: nextText())
        case .sendByStranger, .sendBySupervisor, .sendEmptyText, .closeByOtherAgent,
            .historyByCustomer, .historyByAgent, .historyBySupervisor:
            guard let record = openRecord(pick) else { return nil }
            return strayOnOpen(stray, record, pick: pick, lead: lead)
        case .sendToUnknownID:
            return .send(.customer(TeamSpec.customer(pick)), ConversationID(1_000_000), text: nextText())
        case .connectUnknownAgent:
            return .connect(.agent("ghost"))
        case .presenceByCustomer:
            return .setPresence(.customer(TeamSpec.customer(pick)), .online)
        case .disconnectCustomer:
            return .disconnect(.customer(TeamSpec.customer(pick)))
        case .closedCustomerSend, .closedAgentSend, .closedCustomerClose, .closedSupervisorClose:
            guard let record = closedRecord(pick) else { return nil }
            let agent = Principal.agent(record.agent ?? team.agent(pick))
            switch stray {
            case .closedCustomerSend: return .send(.customer(record.customer), record.id, text: nextText())
            case .closedAgentSend: return .send(agent, record.id, text: nextText())
            case .closedCustomerClose: return .close(.customer(record.customer), record.id)
            default: return .close(lead, record.id)
            }
        }
    }

    private mutating func strayOnOpen(
        _ stray: Stray, _ record: ConversationRecord, pick: Int, lead: Principal
    ) -> Command? {
        // Some agent other than the holder, when the team has one.
        let others = team.agents.indices.map(TeamSpec.agentID).filter { $0 != record.agent }
        let other = others.isEmpty ? nil : others[pick % others.count]
        switch stray {
        case .sendByStranger: return .send(.customer("stranger"), record.id, text: nextText())
        case .sendBySupervisor: return .send(lead, record.id, text: nextText())
        case .sendEmptyText: return .send(.customer(record.customer), record.id, text: "")
        case .closeByOtherAgent: return other.map { .close(.agent($0), record.id) }
        case .historyByCustomer: return .history(.customer(TeamSpec.customer(pick)), record.id)
        case .historyByAgent: return .history(.agent(team.agent(pick)), record.id)
        default: return .history(lead, record.id)
        }
    }
}

// MARK: - Rendering

/// A move in a short, transcript-like form.
func describe(_ move: Move) -> String {
    switch move {
    case .command(let command): describe(command)
    case .restart: "restart: restore from the store"
    }
}

/// A command in a short, transcript-like form.
func describe(_ command: Command) -> String {
    switch command {
    case .connect(let who): "connect \(who)"
    case .disconnect(let who): "disconnect \(who)"
    case .setPresence(let who, let presence): "presence \(presence.rawValue) by \(who)"
    case .open(let who, let skill, let priority, let text, let store, let language, _):
        "open \(skill) \(priority.rawValue)\(store.map { " store=\($0)" } ?? "")\(language.map { " lang=\($0)" } ?? "")"
            + " by \(who) :\(text)"
    case .send(let who, let id, let text, _): "send #\(id) by \(who) :\(text)"
    case .autoReply(let who, let id, let text, _): "send #\(id) auto=1 by \(who) :\(text)"
    case .close(let who, let id): "close #\(id) by \(who)"
    case .history(let who, let id): "history #\(id) by \(who)"
    case .transfer(let who, let id, let target, let reason): "transfer #\(id) to \(target) by \(who) :\(reason)"
    case .note(let who, let id, let text): "note #\(id) by \(who) :\(text)"
    case .notes(let who, let id): "notes #\(id) by \(who)"
    case .hold(let who, let id, let reason): "hold #\(id) by \(who) :\(reason)"
    case .handover(let who, let note): "handover by \(who) :\(note ?? "")"
    case .assign(let who, let id, let agent): "assign #\(id) to \(agent) by \(who)"
    case .explain(let who, let id): "explain #\(id) by \(who)"
    case .queue(let who, _): "queue by \(who)"
    case .agents(let who, _, _): "agents by \(who)"
    case .tick: "tick"
    case .due(let who, let id): "due #\(id) by \(who)"
    case .rate(let who, let id, let rating, let comment): "rate #\(id) \(rating) by \(who) :\(comment ?? "")"
    case .reconfigure(let policy):
        "reload: first_response=\(policy.firstResponse)ms "
            + policy.agents.map { agent in
                let skills = agent.skills.sorted { $0.key < $1.key }.map { "\($0.key):\($0.value)" }
                return "\(agent.id)(max \(agent.maxChats); \(skills.joined(separator: ",")))"
            }.joined(separator: " ")
    }
}

/// A reply in the protocol's words.
func describe(_ reply: Reply) -> String {
    switch reply {
    case .ok(let fields): (["OK"] + fields.map { "\($0.key)=\($0.value)" }).joined(separator: " ")
    case .refused(let code, let text): "ERR \(code.rawValue) :\(text)"
    case .history(let id, let viewer, let verify): "HISTORY #\(id) for \(viewer)\(verify ? " (store verifies)" : "")"
    case .fromStore(let query, let id, let viewer, _): "\(query) of #\(id) from the store for \(viewer)"
    case .queue(let entries, let more): "QUEUE of \(entries.count)\(more.map { $0 ? ", more" : ", no more" } ?? "")"
    case .agents(let entries, let more): "AGENTS of \(entries.count)\(more.map { $0 ? ", more" : ", no more" } ?? "")"
    case .explanation(let decision): "EXPLAIN #\(decision.conversation): \(decision.rule.text)"
    case .notes(let notes): "NOTES, \(notes.count)"
    }
}

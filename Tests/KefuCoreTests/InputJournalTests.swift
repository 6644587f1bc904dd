import KefuCore
import Testing

/// The input journal keeps every command the core can take, with its instant, and reads it back as the same command —
/// except texts, kept only as given or not (a replay reads a given text as "·").
@Suite struct InputJournalTests {
    let buyer = Principal.customer("b1")
    let agent = Principal.agent("alice")
    let lead = Principal.supervisor("lead")
    let c7 = ConversationID(7)

    var everyCommand: [Command] {
        var policy = RoutingPolicy(
            firstResponse: .seconds(120), response: .seconds(180),
            agents: [AgentProfile(id: "alice", name: "Alice", maxChats: 3, skills: ["refund": 3])])
        policy.skillRules["refund"] = SkillRule(skill: "refund", minLevel: 2, widenAfter: .seconds(60), fallback: ["presales"])
        return [
            .connect(buyer), .disconnect(agent), .setPresence(agent, .away), .setPresence(agent, .online),
            .setPresence(agent, .offline),
            .open(buyer, skill: "refund", priority: .vip, text: "·", store: "tmall", language: "zh", gateway: "gw"),
            .open(buyer, skill: "售后", priority: .normal, text: "", store: nil, language: nil, gateway: nil),
            .send(agent, c7, text: "·", ref: "r-1.a:b"), .send(buyer, ConversationID(300_000), text: "", ref: nil),
            .close(buyer, c7), .history(lead, c7),
            .transfer(agent, c7, to: .agent("bob"), reason: "·"), .transfer(agent, c7, to: .skill("refund"), reason: ""),
            .note(agent, c7, text: "·"), .notes(lead, c7), .handover(agent, note: nil), .handover(agent, note: "·"),
            .handover(agent, note: ""), .assign(lead, c7, "bob"), .explain(lead, c7),
            .queue(lead, page: ListingPage()), .queue(lead, page: ListingPage(after: 20, limit: 5)),
            .agents(lead, after: nil, limit: nil), .agents(lead, after: "bob", limit: 10),
            .autoReply(agent, c7, text: "·", ref: nil), .hold(agent, c7, reason: "·"), .tick, .due(agent, c7),
            .rate(buyer, c7, rating: 5, comment: nil), .rate(buyer, c7, rating: -3, comment: "·"),
            .reconfigure(policy),
        ]
    }

    @Test func everyCommandReadsBackAsTheSameCommandAtItsInstant() throws {
        var journal = InputJournal()
        var instant = Instant(unixMilliseconds: 1_796_054_400_000)
        var written: [InputJournal.Entry] = []
        for (index, command) in everyCommand.enumerated() {
            // Steps forward and, once, back (a wall clock set back): the entry keeps its instant either way.
            instant = instant + Milliseconds(index == 5 ? -1500 : Int64(index) * 997)
            journal.record(command, at: instant, step: Step())
            written.append(.input(command, at: instant))
        }
        let chunk = try taken(&journal)
        #expect(chunk.entries == written.count)
        #expect(!chunk.startsRun)
        #expect(try entries(of: chunk) == written)
        let again = journal.take()
        #expect(journal.isEmpty && again == nil)
    }

    @Test func textsAreKeptOnlyAsGivenOrNot() throws {
        var journal = InputJournal()
        let at = Instant(unixMilliseconds: 1000)
        journal.record(.send(buyer, c7, text: "我的快递到哪了？订单 123456", ref: nil), at: at, step: Step())
        journal.record(.note(agent, c7, text: ""), at: at, step: Step())
        let chunk = try taken(&journal)
        #expect(
            try entries(of: chunk) == [
                .input(.send(buyer, c7, text: InputJournal.keptOutText, ref: nil), at: at),
                .input(.note(agent, c7, text: ""), at: at),
            ])
        // Kept out: a message costs the same few bytes whatever its length.
        var short = InputJournal()
        short.record(.send(buyer, c7, text: "?", ref: nil), at: at, step: Step())
        short.record(.note(agent, c7, text: ""), at: at, step: Step())
        #expect(try taken(&short).bytes.count == chunk.bytes.count)
    }

    @Test func aStepsAssignmentsBreachesAndEscalationsFollowItsInput() throws {
        var policy = RoutingPolicy(
            firstResponse: .seconds(60), response: .seconds(60),
            agents: [AgentProfile(id: "alice", name: "Alice", maxChats: 1, skills: ["refund": 3])])
        policy.escalation = [EscalationStep(after: Milliseconds(0), actions: [.supervisor])]
        var core = RoutingCore(policy: policy)
        var journal = InputJournal()
        let t0 = Instant(unixMilliseconds: 1_000_000)
        var decided: [[InputJournal.Decision]] = []
        for (command, at) in [
            (Command.connect(agent), t0), (.setPresence(agent, .online), t0),
            (.open(buyer, skill: "refund", priority: .normal, text: "hi"), t0 + .seconds(1)),
            (.tick, t0 + .seconds(62)),
        ] {
            let step = core.handle(command, at: at)
            journal.record(command, at: at, step: step)
            decided.append(InputJournal.Decision.of(step))
        }
        let c1 = ConversationID(1)
        #expect(decided[2] == [.assigned(c1, agent: "alice", reason: .routed)])
        #expect(decided[3].contains(.breached(c1, round: 1, sla: .firstResponse)))
        #expect(decided[3].contains(.escalated(c1, round: 1, level: 1)))
        let read = try entries(of: try taken(&journal))
        // Inputs in order, each followed by its decisions when it made any.
        #expect(read.count == 6)
        #expect(read[3] == .decisions(decided[2]))
        #expect(read[5] == .decisions(decided[3]))
    }

    @Test func aRestorePointStartsARunAndRebuildsTheSameCore() throws {
        let policy = RoutingPolicy(
            firstResponse: .seconds(120), response: .seconds(180),
            agents: [AgentProfile(id: "alice", name: "Alice", maxChats: 2, skills: ["refund": 3])])
        var live = RoutingCore(policy: policy)
        let t0 = Instant(unixMilliseconds: 5_000_000)
        var records: [Record] = []
        for command in [
            Command.open(buyer, skill: "refund", priority: .vip, text: "where is it", store: "tmall"),
            .open(.customer("b2"), skill: "refund", priority: .normal, text: "refund please"),
        ] {
            records += live.handle(command, at: t0).records
        }
        let open = records.compactMap { if case .conversation(let c) = $0 { c } else { nil } }
        let point = RestorePoint(
            policy: policy, at: t0 + .seconds(5), nextConversationID: ConversationID(3),
            openConversations: [open[0], open[1]].sorted { $0.id < $1.id },
            lastAssignedAt: ["alice": t0], notes: [:],
            returningBuyers: ["b9": RestorePoint.ReturningBuyer(agent: "alice", closedAt: t0)],
            sentRefs: [ConversationID(1): [RoutingCore.SentRef(author: "b1", ref: "m1"): 1]])
        var journal = InputJournal()
        journal.record(point)
        journal.record(.tick, at: t0 + .seconds(6), step: Step())
        let chunk = try taken(&journal)
        #expect(chunk.startsRun)
        let read = try entries(of: chunk)
        #expect(read == [.restore(point), .input(.tick, at: t0 + .seconds(6))])
        guard case .restore(let back) = read[0] else { return }
        var fromJournal = RoutingCore.restored(from: back).core
        var fromPoint = RoutingCore.restored(from: point).core
        let login = [Command.connect(agent), .setPresence(agent, .online)]
        let a = login.map { fromJournal.handle($0, at: t0 + .seconds(7)) }
        let b = login.map { fromPoint.handle($0, at: t0 + .seconds(7)) }
        #expect(a == b)
        // The vip waited ahead and is given first.
        #expect(a.flatMap(InputJournal.Decision.of).first == .assigned(ConversationID(1), agent: "alice", reason: .routed))
    }

    @Test func anUndoneCommandLeavesNoEntry() throws {
        var journal = InputJournal()
        let at = Instant(unixMilliseconds: 42)
        journal.record(.tick, at: at, step: Step())
        let mark = journal.mark
        journal.record(.close(buyer, c7), at: at + .seconds(1), step: Step())
        journal.rollBack(to: mark)
        journal.record(.history(buyer, c7), at: at + .seconds(2), step: Step())
        #expect(
            try entries(of: try taken(&journal)) == [
                .input(.tick, at: at), .input(.history(buyer, c7), at: at + .seconds(2)),
            ])
    }

    @Test func aDamagedChunkIsAnErrorNotACrash() {
        var journal = InputJournal()
        journal.record(.open(buyer, skill: "refund", priority: .normal, text: "·"), at: Instant(unixMilliseconds: 9), step: Step())
        guard var chunk = journal.take() else {
            Issue.record("no chunk")
            return
        }
        for cut in 1..<chunk.bytes.count {
            var damaged = chunk
            damaged.bytes.removeLast(cut)
            #expect(throws: InputJournal.ReadError.self) { _ = try entries(of: damaged) }
        }
        chunk.bytes[1] = 250
        #expect(throws: InputJournal.ReadError.self) { _ = try entries(of: chunk) }
    }

    private func taken(_ journal: inout InputJournal) throws -> InputJournal.Chunk {
        let chunk = journal.take()
        return try #require(chunk)
    }

    private func entries(of chunk: InputJournal.Chunk) throws -> [InputJournal.Entry] {
        var reader = InputJournal.Reader(chunk)
        var entries: [InputJournal.Entry] = []
        while let entry = try reader.next() { entries.append(entry) }
        return entries
    }
}

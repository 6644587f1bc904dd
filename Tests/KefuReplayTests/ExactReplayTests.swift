import KefuCore
import KefuReplay
import Testing

/// A shop's day as the daemon runs it — a restore point, inputs through the core, each noted in the journal with its
/// decisions — replayed with the same rules decides the same, decision for decision; with a change, the first input
/// that decides otherwise is named.
@Suite struct ExactReplayTests {
    static let t0 = Instant(unixMilliseconds: 1_796_054_400_000)

    static var policy: RoutingPolicy {
        var policy = RoutingPolicy(
            firstResponse: .seconds(60), response: .seconds(90),
            agents: [
                AgentProfile(id: "alice", name: "Alice", maxChats: 2, skills: ["refund": 3, "presales": 1]),
                AgentProfile(id: "bob", name: "Bob", maxChats: 1, skills: ["presales": 3]),
            ])
        policy.escalation = [EscalationStep(after: Milliseconds(0), actions: [.supervisor])]
        return policy
    }

    /// The daemon's side: a core started from a restore point, every input noted as `ShopOwner.step` notes it.
    struct Daemon {
        var core: RoutingCore
        var journal = InputJournal()
        var chunks: [InputJournal.Chunk] = []
        var decisions = 0

        init(_ point: RestorePoint) {
            core = RoutingCore.restored(from: point).core
            journal.record(point)
        }

        mutating func run(_ command: Command, at: Instant) {
            let step = core.handle(command, at: at)
            decisions += InputJournal.Decision.of(step).count
            journal.record(command, at: at, step: step)
            // A store job now and then: rows end wherever the owner's jobs did.
            if journal.byteCount > 64, let chunk = journal.take() { chunks.append(chunk) }
        }

        /// A restart: the next run starts from the open conversations.
        mutating func restart(at: Instant, policy: RoutingPolicy) {
            if let chunk = journal.take() { chunks.append(chunk) }
            let point = RestorePoint(
                policy: policy, at: at, nextConversationID: ConversationID(1000),
                openConversations: core.openConversations { _ in true })
            core = RoutingCore.restored(from: point).core
            journal.record(point)
        }

        mutating func rows() -> [InputJournal.Chunk] {
            if let chunk = journal.take() { chunks.append(chunk) }
            return chunks
        }
    }

    /// A morning: agents log in, buyers open chats and write, some are answered late (breaches, escalations), a
    /// restart in the middle, the afternoon goes on.
    static func morning() -> (rows: [InputJournal.Chunk], decisions: Int) {
        var daemon = Daemon(RestorePoint(policy: policy, at: t0, nextConversationID: ConversationID(1)))
        let alice = Principal.agent("alice")
        let bob = Principal.agent("bob")
        var at = t0
        func later(_ seconds: Int64) -> Instant {
            at = at + .seconds(Double(seconds))
            return at
        }
        daemon.run(.connect(alice), at: later(1))
        daemon.run(.setPresence(alice, .online), at: later(1))
        for n in 1...6 {
            let buyer = Principal.customer(CustomerID("b\(n)"))
            daemon.run(.open(buyer, skill: n % 2 == 0 ? "refund" : "presales", priority: n == 5 ? .vip : .normal, text: "·"), at: later(7))
        }
        daemon.run(.connect(bob), at: later(3))
        daemon.run(.setPresence(bob, .online), at: later(1))
        daemon.run(.send(alice, ConversationID(1), text: "·"), at: later(20))
        daemon.run(.tick, at: later(70))  // the rest breach and escalate
        daemon.run(.close(alice, ConversationID(1)), at: later(5))
        daemon.run(.send(.customer("b2"), ConversationID(2), text: "·"), at: later(2))
        daemon.restart(at: later(30), policy: policy)
        daemon.run(.connect(alice), at: later(1))
        daemon.run(.connect(bob), at: later(0))
        daemon.run(.setPresence(alice, .online), at: later(1))
        daemon.run(.setPresence(bob, .online), at: later(0))
        daemon.run(.queue(.supervisor("lead"), page: ListingPage()), at: later(1))
        for n in 7...9 {
            daemon.run(.open(.customer(CustomerID("b\(n)")), skill: "presales", priority: .normal, text: "·"), at: later(11))
        }
        daemon.run(.tick, at: later(200))
        return (daemon.rows(), daemon.decisions)
    }

    @Test func theSameRulesDecideTheSameDecisionForDecisionAcrossARestart() throws {
        let (rows, decisions) = Self.morning()
        #expect(decisions >= 10)
        var run = RecordedRun(rows)
        var steps = 0
        let verdict = try ExactReplay(from: Self.t0, to: Self.t0 + .seconds(3600)).run(&run) { _, _, _ in steps += 1 }
        #expect(verdict.identical, "\(verdict.firstDifference.map(\.description) ?? "")")
        #expect(verdict.decisions == decisions)
        #expect(verdict.restarts == 2)
        #expect(steps == verdict.inputs + 2)
    }

    @Test func aWindowComparesOnlyItsOwnDecisionsButBuildsOnEverythingBefore() throws {
        let (rows, _) = Self.morning()
        var all = RecordedRun(rows)
        let whole = try ExactReplay(from: Self.t0, to: Self.t0 + .seconds(3600)).run(&all)
        var later = RecordedRun(rows)
        let afternoon = try ExactReplay(from: Self.t0 + .seconds(200), to: Self.t0 + .seconds(3600)).run(&later)
        #expect(afternoon.identical)
        #expect(afternoon.inputs == whole.inputs)
        #expect(afternoon.inputsInWindow < whole.inputsInWindow)
        #expect(afternoon.decisions < whole.decisions)
    }

    @Test func aCoreThatDecidesOtherwiseIsCaughtAtTheFirstDifferentInput() throws {
        var (rows, _) = Self.morning()
        // The journal says the daemon started with bob as able as alice: the replay's alice takes what bob got.
        var tampered = RecordedRun(rows)
        var moments: [RecordedRun.Moment] = []
        while let moment = try tampered.next() { moments.append(moment) }
        guard case .restore(var point) = moments[0] else {
            Issue.record("no restore point first")
            return
        }
        point.policy.agents[1].maxChats = 0
        var journal = InputJournal()
        journal.record(point)
        for moment in moments.dropFirst() {
            switch moment {
            case .restore(let point): journal.record(point)
            case .input(let command, let at, let decided):
                // Re-noted with the decisions the daemon made (a Step whose effects say so).
                journal.record(command, at: at, step: Self.step(deciding: decided))
            }
        }
        rows = [journal.take()!]
        var run = RecordedRun(rows)
        let verdict = try ExactReplay(from: Self.t0, to: Self.t0 + .seconds(3600)).run(&run)
        let difference = try #require(verdict.firstDifference)
        #expect(!verdict.identical)
        #expect(difference.recorded.contains { if case .assigned(_, "bob", _) = $0 { true } else { false } })
        #expect(difference.description.contains("first difference at input \(difference.input)"))
    }

    /// A step that made exactly these decisions (for re-noting a journal by hand).
    static func step(deciding decisions: [InputJournal.Decision]) -> Step {
        Step(
            effects: decisions.map { decision in
                switch decision {
                case .assigned(let conversation, let agent, let reason):
                    .persist(.assignment(AssignmentRecord(conversation: conversation, agent: agent, at: t0, reason: reason)))
                case .breached(let conversation, let round, let sla):
                    .breach(
                        SLABreach(
                            sla: sla, conversation: conversation, round: round, customer: "x", agent: nil, skill: "s",
                            priority: .normal, waited: Milliseconds(0), threshold: Milliseconds(0), at: t0))
                case .escalated(let conversation, let round, let level):
                    .escalation(
                        SLAEscalation(
                            breach: SLABreach(
                                sla: .response, conversation: conversation, round: round, customer: "x", agent: nil,
                                skill: "s", priority: .normal, waited: Milliseconds(0), threshold: Milliseconds(0), at: t0),
                            level: level, actions: [], reassignedTo: nil, at: t0))
                }
            })
    }
}

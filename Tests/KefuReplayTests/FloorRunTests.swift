import KefuCore
import KefuReplay
import Testing

/// The run hands the core its commands in time order and ticks at deadlines in between, as kefud's timer does.
@Suite struct FloorRunTests {
    @Test func aBreachFiresAtItsDeadlineInstant() {
        // Nobody online: the conversation waits, and its 120 s first-response round breaches at 10:02:00 exactly,
        // though the next command comes only at 10:30.
        var run = FloorRun(
            core: RoutingCore(
                policy: Floor.quietPolicy(agents: [
                    AgentProfile(id: "alice", name: "Alice", maxChats: 1, skills: ["presales": 3])
                ])))
        run.schedule(.open(.customer("b1"), skill: "presales", priority: .normal, text: "在吗"), at: Floor.at(10))
        run.schedule(.connect(.agent("alice")), at: Floor.at(10, 30))
        var none: ModelledAgents? = nil
        let steps = Floor.drive(&run, until: Floor.at(11), agents: &none)
        let breach = try! #require(
            steps.first { $0.step.effects.contains { if case .breach = $0 { true } else { false } } })
        #expect(breach.command == .tick)
        #expect(breach.at == Floor.at(10, 2))
        #expect(steps.contains { $0.command == .connect(.agent("alice")) && $0.at == Floor.at(10, 30) })
        #expect(steps.map(\.at) == steps.map(\.at).sorted())
    }

    @Test func commandsAtOneInstantRunInTheOrderScheduled() {
        var run = FloorRun(core: RoutingCore(policy: Floor.quietPolicy()))
        run.schedule(.open(.customer("b1"), skill: "presales", priority: .normal, text: "一"), at: Floor.at(9))
        run.schedule(.open(.customer("b2"), skill: "presales", priority: .normal, text: "二"), at: Floor.at(9))
        let first = run.next(until: Floor.at(9))
        let second = run.next(until: Floor.at(9))
        #expect(first?.command == .open(.customer("b1"), skill: "presales", priority: .normal, text: "一"))
        #expect(second?.command == .open(.customer("b2"), skill: "presales", priority: .normal, text: "二"))
        #expect(run.next(until: Floor.at(9)) == nil)  // the next deadline (a breach) is after `end`
    }

    @Test func aCancelledCommandNeverRuns() {
        var run = FloorRun(core: RoutingCore(policy: Floor.quietPolicy()))
        let ticket = run.schedule(
            .open(.customer("b1"), skill: "presales", priority: .normal, text: "在吗"), at: Floor.at(9))
        run.cancel(ticket)
        #expect(run.next(until: Floor.at(23)) == nil)
    }
}

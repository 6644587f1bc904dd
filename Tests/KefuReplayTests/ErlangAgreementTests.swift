import KefuCore
import KefuReplay
import Testing

/// The check against theory: one skill, one chat per agent, Poisson arrivals, exponential handling, agents
/// answering the instant they take a chat (so no breach, warning or auto-away can move a chat): the real core with
/// modelled buyers and agents must wait as Erlang C says.
@Suite struct ErlangAgreementTests {
    static let agents = 5
    static let handling = 300.0
    static let perHour = 42.0  // A = 42/h × 300 s = 3.5 Erlangs on 5 agents: C ≈ 0.378, mean wait ≈ 75.6 s

    static func simulate(days: Int, seed: UInt64) -> DayFigures {
        var simulation = Simulation(
            policy: Floor.quietPolicy(firstResponse: .seconds(86_400)), day: Floor.midnight,
            arrivals: Floor.steady("presales", perHour: perHour), maxChats: 1, level: 3,
            answerDelay: .fixed(Milliseconds(0)), handling: .exponential(mean: .seconds(handling)), seed: seed)
        simulation.days = days
        return simulation.run(staffing: ["presales": [agents]])
    }

    @Test func waitingAgreesWithErlangC() {
        let erlang = ErlangC(servers: Self.agents, arrivalRate: Self.perHour / 3600, meanHandling: Self.handling)
        let figures = Self.simulate(days: 40, seed: 2026).whole
        let waiting = try! #require(figures.probabilityOfWaiting)
        let meanWait = Double(try! #require(figures.queueWaitMean).value) / 1000
        print("Erlang C check: \(figures.conversations) conversations")
        print("P(wait) \(waiting) vs \(erlang.probabilityOfWaiting)")
        print("mean wait \(meanWait) s vs \(erlang.meanWait) s")
        #expect(abs(waiting - erlang.probabilityOfWaiting) <= 0.02)
        #expect(abs(meanWait - erlang.meanWait) / erlang.meanWait <= 0.05)
    }
}

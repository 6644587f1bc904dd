import Foundation
import KefuCore
import KefuReplay
import Testing

/// Where chats held in parallel (`max_chats` 3) make Erlang C wrong, either way it is read, and the simulation
/// right: 90 buyers an hour, chats lasting 300 s, agents answering in 20 s one buyer at a time, buyers writing
/// again 60 s after each answer (the README has the table this prints).
@Suite struct ParallelChatsTests {
    static let perHour = 90.0
    static let handling = 300.0

    static func simulate(agents: Int) -> DayFigures.Figures {
        var simulation = Simulation(
            policy: Floor.quietPolicy(firstResponse: .seconds(86_400)), day: Floor.midnight,
            arrivals: Floor.steady("presales", perHour: perHour), maxChats: 3, level: 3,
            answerDelay: .exponential(mean: .seconds(20)), handling: .exponential(mean: .seconds(handling)),
            buyerThinks: .exponential(mean: .seconds(60)), seed: 5)
        simulation.days = 2
        return simulation.run(staffing: ["presales": [agents]]).whole
    }

    /// Erlang C with each chat slot a server (3 per agent), the chat's handling.
    static func chatsAsServers(_ agents: Int) -> ErlangC {
        ErlangC(servers: 3 * agents, arrivalRate: perHour / 3600, meanHandling: handling)
    }

    /// Erlang C with each agent a server, the chat's handling (what a voice-centre tool does).
    static func agentsAsServers(_ agents: Int) -> ErlangC {
        ErlangC(servers: agents, arrivalRate: perHour / 3600, meanHandling: handling)
    }

    @Test func agentsAsServersStaffsTwiceTheFloor() {
        // 7.5 Erlangs of chats: read with agents as servers, 3 or 4 agents are hopeless and 90 % in 3 minutes needs
        // 10; on the core, 4 agents holding 3 chats each answer nearly every round in time.
        let needed = ErlangC.servers(
            reaching: 0.9, within: 180, arrivalRate: Self.perHour / 3600, meanHandling: Self.handling)
        #expect(needed == 10)
        #expect(!Self.agentsAsServers(4).isStable)
        let four = Self.simulate(agents: 4)
        print(Self.row(4, four))
        #expect(four.responseRate! >= 0.9)
    }

    @Test func chatsAsServersMissesTheBusyFloor() {
        // Three agents, 9 slots, 83 % of them busy: each agent types for three buyers at once, so answers come later
        // and chats last longer than their handling; Erlang C on chat slots sees none of it.
        let three = Self.simulate(agents: 3)
        let erlang = Self.chatsAsServers(3)
        print(Self.row(3, three))
        #expect(three.probabilityOfWaiting! > erlang.probabilityOfWaiting + 0.05)
        let meanWait = Double(three.queueWaitMean!.value) / 1000
        #expect(meanWait > 1.5 * erlang.meanWait)
    }

    /// The numbers, as the README shows them.
    static func row(_ agents: Int, _ figures: DayFigures.Figures) -> String {
        let slots = chatsAsServers(agents)
        let people = agentsAsServers(agents)
        return String(
            format: "N=%d | Erlang C, chats as servers: P(wait) %.1f%%, mean wait %.0f s, taken within 3 min %.1f%% | "
                + "agents as servers: P(wait) %.1f%% | simulated: P(wait) %.1f%%, mean wait %.0f s, "
                + "3-min rate %.1f%%, first response p90 %.0f s, occupancy %.1f%%",
            agents, slots.probabilityOfWaiting * 100, slots.meanWait, slots.serviceLevel(within: 180) * 100,
            people.probabilityOfWaiting * 100, figures.probabilityOfWaiting! * 100,
            Double(figures.queueWaitMean!.value) / 1000, figures.responseRate! * 100,
            Double(figures.firstResponseP90!.value) / 1000, figures.occupancy! * 100)
    }
}

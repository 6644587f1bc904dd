import KefuCore
import KefuReplay
import Testing

/// The day's figures of a crafted morning, counted by hand.
@Suite struct DayOutcomeTests {
    static let alice = AgentProfile(id: "alice", name: "Alice", maxChats: 2, skills: ["presales": 3])

    /// alice (2 chats) from 10:00. c1 10:00 answered in 60 s, the buyer writes at 10:02, answered in 110 s, closed
    /// 10:10; c2 10:00:30 answered in 240 s (breached), closed 10:20; c3 10:05 waits for alice's free slot until
    /// 10:10, answered 10:10:30 (330 s, breached), closed 10:30; c4 10:40, the buyer leaves after 60 s unanswered.
    static func steps() -> [FloorStep] {
        var run = FloorRun(core: RoutingCore(policy: Floor.quietPolicy(agents: [alice])))
        func open(_ buyer: String, _ at: Instant) {
            run.schedule(.open(.customer(CustomerID(buyer)), skill: "presales", priority: .normal, text: "在吗"), at: at)
        }
        func say(_ who: Principal, _ conversation: Int64, _ at: Instant) {
            run.schedule(.send(who, ConversationID(conversation), text: "…"), at: at)
        }
        run.schedule(.connect(.agent("alice")), at: Floor.at(10))
        open("b1", Floor.at(10))
        open("b2", Floor.at(10, 0, 30))
        say(.agent("alice"), 1, Floor.at(10, 1))
        say(.customer("b1"), 1, Floor.at(10, 2))
        say(.agent("alice"), 1, Floor.at(10, 3, 50))
        say(.agent("alice"), 2, Floor.at(10, 4, 30))
        open("b3", Floor.at(10, 5))
        run.schedule(.close(.agent("alice"), ConversationID(1)), at: Floor.at(10, 10))
        say(.agent("alice"), 3, Floor.at(10, 10, 30))
        run.schedule(.close(.agent("alice"), ConversationID(2)), at: Floor.at(10, 20))
        run.schedule(.close(.agent("alice"), ConversationID(3)), at: Floor.at(10, 30))
        open("b4", Floor.at(10, 40))
        run.schedule(.close(.customer("b4"), ConversationID(4)), at: Floor.at(10, 41))
        var none: ModelledAgents? = nil
        let steps = Floor.drive(&run, until: Floor.at(12), agents: &none)
        for step in steps { if case .refused(_, let why) = step.step.reply { Issue.record("refused: \(why)") } }
        return steps
    }

    @Test func aCraftedMorningCountsExactly() {
        var outcome = DayOutcome(calendar: .always, from: Floor.at(10), to: Floor.at(12), agents: [Self.alice])
        for step in Self.steps() { outcome.observe(step) }
        let figures = outcome.figures(at: Floor.at(12))
        let day = figures.whole
        #expect(day.conversations == 4)
        // c1's two rounds in time, c2 and c3 late; c4's buyer left after 60 s: not a round the rate counts.
        #expect(day.rounds == 4)
        #expect(day.answeredInTime == 2)
        #expect(day.responseRate == 0.5)
        #expect(day.firstResponseP50 == .seconds(240))  // of 60, 240, 330 s
        #expect(day.firstResponseP90 == .seconds(330))
        #expect(day.breaches == 2)
        #expect(day.escalations == 2)  // each breach takes the ladder's first step
        #expect(day.waitedInQueue == 1)
        #expect(day.queueWaitP50 == Milliseconds(0))  // of 0, 0, 0, 300 s
        #expect(day.queueWaitP90 == .seconds(300))
        #expect(day.queueWaitLongest == .seconds(300))
        #expect(day.queueWaitMean == .seconds(75))
        #expect(day.chats == 4)
        #expect(day.chatsByAgent == ["alice": 4])
        #expect(day.agentsOnline == 1)
        // Busy: c1 600 s + c2 1170 s + c3 1200 s + c4 60 s = 3030 slot-seconds, of 2 h × 2 slots online.
        #expect(day.busySlotTime == .seconds(3030))
        #expect(day.capacityTime == .seconds(14_400))
        #expect(abs(day.occupancy! - 3030.0 / 14_400) < 1e-12)
        #expect(abs(day.waitingMean - 300.0 / 7200) < 1e-12)  // c3's 5 minutes in the queue
        #expect(day.waitingPeak == 1)

        #expect(figures.hours.map(\.localHour) == [10, 11])
        let ten = figures.hours[0].figures
        #expect(ten.conversations == 4 && ten.responseRate == 0.5)
        #expect(abs(ten.occupancy! - 3030.0 / 7200) < 1e-12)
        #expect(abs(ten.waitingMean - 300.0 / 3600) < 1e-12)
        let eleven = figures.hours[1].figures
        #expect(eleven.conversations == 0 && eleven.responseRate == nil && eleven.occupancy == 0)
        #expect(eleven.waitingPeak == 0)
        #expect(figures.skills.keys.sorted() == ["presales"])
        #expect(figures.skills["presales"]?.responseRate == 0.5)
    }

    @Test func stillWaitingAtTheEndCountsUntilTheEnd() {
        // Stopped at 10:06: c3 has waited 60 s and is still waiting; its round, under 3 minutes, is not decided.
        var outcome = DayOutcome(calendar: .always, from: Floor.at(10), to: Floor.at(12), agents: [Self.alice])
        for step in Self.steps() where step.at <= Floor.at(10, 6) { outcome.observe(step) }
        let day = outcome.figures(at: Floor.at(10, 6)).whole
        #expect(day.conversations == 3)
        #expect(day.queueWaitLongest == .seconds(60))
        #expect(day.rounds == 3)  // c1's two, c2's
        #expect(day.answeredInTime == 2)
        #expect(day.waitingPeak == 1)
    }
}

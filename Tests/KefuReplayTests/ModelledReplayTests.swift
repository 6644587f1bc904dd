import KefuCore
import KefuReplay
import KefuTestSupport
import Testing

/// A recorded day replayed under other rules: buyers as recorded, answers modelled from the agents' recorded delays.
/// The direction of a change must be the expected one on a crafted day, and a seed gives the same replay every time.
@Suite struct ModelledReplayTests {
    static func profile(_ id: AgentID, _ maxChats: Int, _ skills: [Skill: Int]) -> AgentProfile {
        AgentProfile(id: id, name: id.rawValue, maxChats: maxChats, skills: skills)
    }

    /// The demo team of deploy/kefud.toml.
    static var demo: RoutingPolicy {
        RoutingPolicy(
            firstResponse: .seconds(120), response: .seconds(180),
            agents: [
                profile("alice", 5, ["presales": 3, "logistics": 2]),
                profile("bob", 5, ["presales": 2, "refund": 3, "returns": 3]),
                profile("carol", 3, ["refund": 4, "complaint": 5, "returns": 2]),
            ])
    }

    static let day = RecordedDay.demo(policy: demo)

    func replay(_ policy: RoutingPolicy, shifts: [ModelledReplay.Shift] = [], seed: UInt64 = 1) throws
        -> ModelledReplay.Outcome
    {
        try ModelledReplay(
            policy: policy, from: Self.day.start, to: Self.day.end, shifts: shifts, seed: seed, utcOffsetMinutes: 480
        ).run(Self.day.chunks)
    }

    @Test func theRecordItselfReplaysExactly() throws {
        let outcome = try replay(Self.demo)
        #expect(outcome.verdict.identical)
        #expect(outcome.recorded.whole.conversations == 162)
        #expect(outcome.buyerInputs > outcome.recorded.whole.conversations)
        #expect(outcome.answerSamples.keys.sorted() == ["alice", "bob", "carol"])
    }

    @Test func oneMoreAgentInTheEveningShortensTheWaits() throws {
        var more = Self.demo
        more.agents.append(Self.profile("erin", 5, ["presales": 3, "logistics": 2, "refund": 2, "returns": 2]))
        let outcome = try replay(more, shifts: [ModelledReplay.Shift(agent: "erin", start: 17 * 60, end: 24 * 60)])
        #expect(outcome.shiftAgents == ["erin"])
        let (recorded, replayed) = (outcome.recorded.whole, outcome.replayed.whole)
        #expect(replayed.conversations == recorded.conversations)
        #expect(try #require(replayed.queueWaitP90) < #require(recorded.queueWaitP90))
        #expect(replayed.waitingMean < recorded.waitingMean)
        #expect(try #require(replayed.responseRate) > #require(recorded.responseRate))
        #expect(replayed.chatsByAgent["erin", default: 0] > 0)
        // Hours before erin's shift are the record's, give or take the modelled answers.
        let morning = try #require(outcome.replayed.hours.first { $0.localHour == 10 })
        #expect(morning.figures.chatsByAgent["erin"] == nil)
    }

    @Test func oneAgentFewerLengthensThem() throws {
        var fewer = Self.demo
        fewer.agents.removeAll { $0.id == "carol" }
        let outcome = try replay(fewer)
        let (recorded, replayed) = (outcome.recorded.whole, outcome.replayed.whole)
        // More chats wait, and longer on the mean (the longest waits are the evening's logistics chats with nobody to
        // take them, with carol or without).
        #expect(replayed.waitedInQueue > recorded.waitedInQueue)
        #expect(try #require(replayed.queueWaitMean) > #require(recorded.queueWaitMean))
        #expect(replayed.waitingMean > recorded.waitingMean)
        // carol's recorded logins are refused (she is not in the new rules): nobody answers as her.
        #expect(replayed.chatsByAgent["carol"] == nil)
    }

    @Test func aSeedGivesTheSameReplayEveryTime() throws {
        var more = Self.demo
        more.agents[0].maxChats = 8
        let first = try replay(more, seed: 42)
        let second = try replay(more, seed: 42)
        #expect(first.replayed == second.replayed)
        #expect(first.modelledAnswers == second.modelledAnswers)
    }

    @Test func shiftsAreReadAsAgentAndLocalTimes() {
        #expect(ModelledReplay.Shift("erin=20:00-24:00") == ModelledReplay.Shift(agent: "erin", start: 1200, end: 1440))
        #expect(ModelledReplay.Shift("erin=09:30-18:00")?.start == 570)
        for bad in ["erin", "=09:00-10:00", "erin=10:00-09:00", "erin=25:00-26:00", "erin=9-10", "erin=09:00"] {
            #expect(ModelledReplay.Shift(bad) == nil, "\(bad)")
        }
    }
}

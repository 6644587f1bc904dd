import KefuCore
import Testing

/// Today's numbers for the board and `/metrics`: each round once, under its last version; ratings under the agent
/// credited; a restart's stored records never override what was counted live; midnight starts over.
@Suite("The day tally")
struct DayTallyTests {
    /// 2026-12-01 00:00 in Asia/Shanghai.
    static let midnight = Instant(unixMilliseconds: 1_796_054_400_000)
    static let shanghai = BusinessCalendar(utcOffsetMinutes: 480, opens: 0, closes: 24 * 60)

    static func round(
        _ conversation: Int64, _ number: Int = 1, agent: AgentID?, startedAt: Instant, answeredAt: Instant? = nil,
        breachedAt: Instant? = nil, store: String? = "tmall"
    ) -> RoundRecord {
        var round = RoundRecord(
            conversation: ConversationID(conversation), round: number, startedAt: startedAt,
            dueAt: startedAt + .seconds(120), answeredAt: answeredAt, breachedAt: breachedAt, agent: agent,
            skill: "presales", store: store)
        round.businessWaited = round.waited
        return round
    }

    @Test func aRoundWrittenSeveralTimesCountsOnceUnderItsLastVersion() {
        var tally = DayTally(calendar: Self.shanghai, at: Self.midnight + .seconds(3600 * 9))
        let start = Self.midnight + .seconds(3600 * 9)
        tally.add(.round(Self.round(1, agent: "alice", startedAt: start)))
        tally.add(.round(Self.round(1, agent: "alice", startedAt: start, breachedAt: start + .seconds(120))))
        // The ladder moved it to bob, who answered late.
        tally.add(
            .round(
                Self.round(1, agent: "bob", startedAt: start, answeredAt: start + .seconds(150), breachedAt: start + .seconds(120))))
        tally.add(.round(Self.round(2, agent: "alice", startedAt: start, answeredAt: start + .seconds(30))))
        #expect(tally.shop.rounds == 2 && tally.shop.met == 1 && tally.shop.breached == 1)
        #expect(tally.agents["alice"]?.rounds == 1 && tally.agents["alice"]?.met == 1)
        #expect(tally.agents["bob"]?.breached == 1)
        #expect(tally.shop.rate == 0.5)
        #expect(tally.firstResponse(percentile: 0.5) == 30_000)
        #expect(tally.firstResponse(percentile: 0.9) == 150_000)
        // A rating replaces the survey's earlier version, under the agent credited.
        let survey = RatingRecord(
            conversation: ConversationID(2), customer: "b", agent: "alice", skill: "presales", store: "tmall",
            requestedAt: start + .seconds(60), expiresAt: start + .seconds(86_400))
        var rated = survey
        rated.rating = 4
        tally.add(.rating(survey))
        tally.add(.rating(rated))
        #expect(tally.agents["alice"]?.stars == [0, 0, 0, 1, 0])
        #expect(tally.stores["tmall"]?.meanRating == 4)
    }

    @Test func arrivalsAreCountedByLocalHourAndMidnightStartsOver() {
        var tally = DayTally(calendar: Self.shanghai, at: Self.midnight)
        tally.addArrival(at: Self.midnight + .seconds(3600 * 20 + 59))
        tally.addArrival(at: Self.midnight + .seconds(3600 * 20 + 3599))
        tally.addArrival(at: Self.midnight + .seconds(-1))  // yesterday: not today's
        #expect(tally.arrivals[20] == 2 && tally.arrivals.reduce(0, +) == 2)
        tally.roll(to: Self.midnight + .seconds(86_400))
        #expect(tally.arrivals.reduce(0, +) == 0 && tally.shop.rounds == 0)
    }

    @Test func storedRecordsReadAfterAStartNeverOverrideWhatWasCountedLive() {
        let start = Self.midnight + .seconds(3600 * 10)
        var tally = DayTally(calendar: Self.shanghai, at: start)
        // Live: round 1 of conversation 5 answered in time, after the restart.
        tally.add(.round(Self.round(5, agent: "alice", startedAt: start, answeredAt: start + .seconds(40))))
        // The store, read a moment late, still has it running; and one more round of the morning.
        tally.seed(
            rounds: [
                Self.round(5, agent: "alice", startedAt: start),
                Self.round(6, agent: "bob", startedAt: start + .seconds(-600), breachedAt: start + .seconds(-480)),
            ],
            surveys: [], openings: [start + .seconds(-600)])
        #expect(tally.shop.rounds == 2 && tally.shop.met == 1 && tally.shop.breached == 1)
        #expect(tally.arrivals[9] == 1)
    }
}

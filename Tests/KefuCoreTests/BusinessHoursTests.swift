import KefuCore
import Testing

/// Business hours: SLA clocks run only inside the shop's hours (Asia/Shanghai, 08:00–23:00 by default).
@Suite("Business hours")
struct BusinessHoursTests {
    /// 2026-11-24 (a Tuesday) at hh:mm in Shanghai (UTC+8).
    static func shanghai(_ hour: Int, _ minute: Int, dayOffset: Int = 0) -> Instant {
        // 2026-11-24 00:00 UTC is day 20_781 since 1970-01-01.
        let utcMidnight = Int64(20_781 + dayOffset) * 86_400_000
        return Instant(unixMilliseconds: utcMidnight + Int64((hour - 8) * 60 + minute) * 60_000)
    }

    let calendar = BusinessCalendar()

    @Test func aRoundAcrossMidnightCountsOnlyTheOpenMinutes() {
        let start = Self.shanghai(22, 59)
        let answered = Self.shanghai(8, 1, dayOffset: 1)
        // One minute before the 23:00 close, one after the 08:00 opening.
        #expect(calendar.elapsed(from: start, to: answered) == .seconds(120))
        #expect(calendar.adding(.seconds(120), to: start) == answered)
        #expect(!calendar.isBusinessTime(Self.shanghai(23, 0)))
        #expect(calendar.isBusinessTime(Self.shanghai(8, 0)))
    }

    /// A shop in New York: 2026-03-08 02:00 EST the clocks spring forward to EDT (07:00 UTC), and on 2026-11-01
    /// 02:00 EDT they fall back (06:00 UTC). Opening hours follow the local clock across both.
    @Test func hoursFollowTheZonesDaylightSavingTime() {
        let newYork = BusinessCalendar(
            utcOffsetMinutes: -300,
            offsetChanges: [
                .init(at: Instant(unixMilliseconds: 1_772_953_200_000), minutes: -240),  // 2026-03-08 07:00 UTC
                .init(at: Instant(unixMilliseconds: 1_793_512_800_000), minutes: -300),  // 2026-11-01 06:00 UTC
            ])
        func utc(_ day: Int, _ hour: Int, _ minute: Int) -> Instant {  // day since 1970-01-01, UTC time
            Instant(unixMilliseconds: (Int64(day) * 86_400 + Int64(hour * 3600 + minute * 60)) * 1000)
        }
        // Saturday 2026-03-07 (day 20_519) 22:59 EST = 03:59 UTC on the 8th; Sunday 08:01 EDT = 12:01 UTC.
        let saturdayNight = utc(20_520, 3, 59)
        let sundayMorning = utc(20_520, 12, 1)
        #expect(newYork.elapsed(from: saturdayNight, to: sundayMorning) == .seconds(120))
        #expect(newYork.adding(.seconds(120), to: saturdayNight) == sundayMorning)
        #expect(newYork.isBusinessTime(utc(20_520, 12, 0)))  // 08:00 EDT
        #expect(!newYork.isBusinessTime(utc(20_520, 11, 59)))  // 07:59 EDT (12:59 would be 07:59 EST)
        // Back to EST: Sunday 2026-11-01 (day 20_758) opens at 08:00 EST = 13:00 UTC.
        #expect(!newYork.isBusinessTime(utc(20_758, 12, 30)))
        #expect(newYork.isBusinessTime(utc(20_758, 13, 0)))
        // Before the first switch: EST, 08:00 = 13:00 UTC on 2026-01-05 (day 20_458).
        #expect(newYork.isBusinessTime(utc(20_458, 13, 0)))
        #expect(!newYork.isBusinessTime(utc(20_458, 12, 59)))
    }

    @Test func weekendsAndHolidaysHaveNoHours() {
        // Closed on Sunday (7) and on Wednesday 2026-11-25 (day 20_782).
        let shop = BusinessCalendar(closedWeekdays: [7], holidays: [20_782])
        let tuesdayEvening = Self.shanghai(22, 58)
        // Tuesday 2 min, Wednesday closed, Thursday from 08:00: 3 min of business time land at Thursday 08:01.
        #expect(shop.adding(.seconds(180), to: tuesdayEvening) == Self.shanghai(8, 1, dayOffset: 2))
        #expect(!shop.isBusinessTime(Self.shanghai(12, 0, dayOffset: 1)))
        // Sunday 2026-11-29 is closed too.
        #expect(!shop.isBusinessTime(Self.shanghai(12, 0, dayOffset: 5)))
        #expect(shop.isBusinessTime(Self.shanghai(12, 0, dayOffset: 6)))
    }

    @Test func aChatOpenedAtNightBreachesOnlyAfterTheShopOpensAndReportsItsBusinessWait() {
        let team = [agent("alice", ["presales": 3])]
        var policy = RoutingPolicy(firstResponse: .seconds(180), warnBefore: Milliseconds(0), agents: team)
        policy.calendar = calendar
        policy.customerIdleClose = nil
        policy.autoReplies.outOfHours = "小店营业时间 08:00-23:00,上班后第一时间回复您"
        var floor = Floor(policy: policy)
        floor.now = Self.shanghai(22, 59)
        let id = floor.open("c1", "presales")
        let notice = "小店营业时间 08:00-23:00,上班后第一时间回复您"
        // 22:59 is inside the hours: no out-of-hours reply.
        #expect(!events(floor.log, to: .customer("c1")).contains(.autoMessage(id, from: .system, text: notice)))
        #expect(floor.core.conversation(id)?.firstResponseDueAt == Self.shanghai(8, 2, dayOffset: 1))
        floor.now = Self.shanghai(8, 1, dayOffset: 1)
        #expect(breaches(floor.run(.tick).effects).isEmpty)
        floor.now = Self.shanghai(8, 2, dayOffset: 1)
        let breach = breaches(floor.run(.tick).effects)
        #expect(breach.first?.threshold == .seconds(180))
        #expect(breach.first?.businessWaited == .seconds(180))
        #expect(breach.first?.waited == floor.now - Self.shanghai(22, 59))

        floor.now = Self.shanghai(23, 30, dayOffset: 1)
        let late = floor.open("c2", "presales")
        #expect(events(floor.log, to: .customer("c2")).contains(.autoMessage(late, from: .system, text: notice)))
    }
}

@Suite("Hold in business time")
struct HoldInBusinessTimeTests {
    @Test func theTimeAHoldPausesIsBusinessTime() {
        let team = [agent("alice", ["presales": 3])]
        var policy = RoutingPolicy(firstResponse: .seconds(180), warnBefore: Milliseconds(0), agents: team)
        policy.calendar = BusinessCalendar()
        policy.customerIdleClose = nil
        var floor = Floor(policy: policy)
        floor.login("alice")
        floor.now = BusinessHoursTests.shanghai(22, 59)
        let id = floor.open("c1", "presales")  // due at 08:02 the next day: 3 minutes of business time
        floor.now = BusinessHoursTests.shanghai(23, 30)
        // Still 2 minutes of business time left, though 8.5 hours of wall time remain.
        #expect(
            floor.run(.hold(.agent("alice"), id, reason: "等仓库")).reply
                == .ok([Field("conv", "1"), Field("paused_ms", "120000")]))
    }
}

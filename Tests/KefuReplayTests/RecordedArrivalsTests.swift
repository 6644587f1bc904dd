import KefuCore
import KefuReplay
import KefuTestSupport
import Testing

/// `kefuctl simulate --recorded-day`: a recorded day's arrivals, counted from the journal's `OPEN`s per skill and
/// quarter hour of the shop's local day.
@Suite struct RecordedArrivalsTests {
    @Test func aRecordedDaysOpensAreItsArrivalsPerQuarterHourAndSkill() throws {
        let day = ModelledReplayTests.day
        var shanghai = BusinessCalendar.always
        shanghai.utcOffsetMinutes = 480
        let curve = try ArrivalCurve.recorded(day.chunks, midnight: day.midnight, calendar: shanghai)
        let perHour = (0..<24).map { hour in curve.skills.reduce(0.0) { $0 + curve.hourly($1, hour: hour) } }
        // RecordedDay.demo's arrivals: 6 at 09:00 … 24 at 20:00, nothing at night.
        #expect(perHour[9] == 6 && perHour[20] == 24 && perHour[22] == 12)
        #expect(perHour[0] == 0 && perHour[23] == 0)
        #expect(perHour.reduce(0, +) == 162)
        #expect(Set(curve.skills) == ["presales", "logistics", "refund", "returns"])
        // The day before and after hold none of them.
        let before = try ArrivalCurve.recorded(day.chunks, midnight: day.midnight + .seconds(-86_400), calendar: shanghai)
        #expect(before.skills.isEmpty)
        // A sale day: the same buyers three times over.
        #expect(curve.scaled(by: 3).hourly("presales", hour: 20) == 3 * curve.hourly("presales", hour: 20))
    }
}

import KefuCore

extension ArrivalCurve {
    /// The arrivals of a recorded day (`kefuctl simulate --recorded-day`): every `OPEN` in the shop's input journal
    /// between `midnight` and the next, counted per skill in its 15-minute slot of `calendar`'s local day — buyers who
    /// came, whether or not the shop could take them (an `OPEN` refused as busy is demand too).
    public static func recorded(
        _ chunks: [InputJournal.Chunk], midnight: Instant, calendar: BusinessCalendar
    ) throws(InputJournal.ReadError) -> ArrivalCurve {
        let end = midnight + .seconds(86_400)
        var counts: [Skill: [Int]] = [:]
        var run = RecordedRun(chunks)
        while let moment = try run.next() {
            guard case .input(.open(.customer, let skill, _, _, _, _, _), let at, _) = moment, at >= midnight, at < end
            else { continue }
            let local = at.unixMilliseconds + calendar.offset(at: at) - (midnight.unixMilliseconds + calendar.offset(at: midnight))
            let slot = min(Int(local / slotLength.value), slotsPerDay - 1)
            counts[skill, default: [Int](repeating: 0, count: slotsPerDay)][max(0, slot)] += 1
        }
        return ArrivalCurve(counts: counts)
    }
}

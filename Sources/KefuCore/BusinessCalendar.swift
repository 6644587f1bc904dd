/// When SLA clocks run: the shop's opening hours in its time zone, minus closed weekdays and holidays. The
/// platforms count response times only inside them (08:00–23:00 by default), so a round that starts at 22:59 and is
/// answered at 08:01 the next day waited two minutes. Pure arithmetic on instants: the time zone is an offset from
/// UTC and the instants at which it changes (daylight saving time), resolved from its name when the configuration is
/// read (China has no daylight saving time: no changes).
public struct BusinessCalendar: Sendable, Equatable, Codable {
    /// Minutes east of UTC (Asia/Shanghai: 480), before the first of `offsetChanges`.
    public var utcOffsetMinutes: Int
    /// From `at` on, the offset is `minutes` (in order of `at`): a zone's daylight saving time switches.
    public var offsetChanges: [OffsetChange]

    public struct OffsetChange: Sendable, Equatable, Codable {
        public var at: Instant
        public var minutes: Int

        public init(at: Instant, minutes: Int) {
            self.at = at
            self.minutes = minutes
        }
    }
    /// Opening and closing minute of the day, local time (`opens < closes`).
    public var opens: Int
    public var closes: Int
    /// Weekdays without business hours, 1 = Monday ... 7 = Sunday.
    public var closedWeekdays: Set<Int>
    /// Days without business hours, as days since 1970-01-01 in local time.
    public var holidays: Set<Int>

    public init(
        utcOffsetMinutes: Int = 480, offsetChanges: [OffsetChange] = [], opens: Int = 8 * 60, closes: Int = 23 * 60,
        closedWeekdays: Set<Int> = [], holidays: Set<Int> = []
    ) {
        self.utcOffsetMinutes = utcOffsetMinutes
        self.offsetChanges = offsetChanges.sorted { $0.at < $1.at }
        self.opens = opens
        self.closes = closes
        self.closedWeekdays = closedWeekdays
        self.holidays = holidays
    }

    /// Clocks that never stop (no `[business_hours]`).
    public static let always = BusinessCalendar(utcOffsetMinutes: 0, opens: 0, closes: 24 * 60)

    /// Every day is open all day (whatever the zone): business time is wall-clock time. Checked field by field, not
    /// by comparing with `.always` (a global's lazy initialization and two set comparisons on every clock armed).
    var runsAlways: Bool { opens == 0 && closes == 24 * 60 && closedWeekdays.isEmpty && holidays.isEmpty }

    private static let day: Int64 = 86_400_000

    /// The zone's offset from UTC at an instant, in milliseconds.
    public func offset(at instant: Instant) -> Int64 {
        guard !offsetChanges.isEmpty, instant >= offsetChanges[0].at else { return Int64(utcOffsetMinutes) * 60_000 }
        // The last change at or before the instant.
        var low = 0
        var high = offsetChanges.count - 1
        while low < high {
            let middle = (low + high + 1) / 2
            if offsetChanges[middle].at <= instant { low = middle } else { high = middle - 1 }
        }
        return Int64(offsetChanges[low].minutes) * 60_000
    }

    /// The instant a local wall-clock time (milliseconds since 1970-01-01 00:00 local) falls at. A local time the
    /// spring-forward switch skips falls an hour later; one the fall-back switch repeats falls at its first passing
    /// or its second, whichever the offsets give (business hours do not start between 01:00 and 03:00 in practice).
    public func instant(ofLocal local: Int64) -> Instant {
        let first = offset(at: Instant(unixMilliseconds: local - Int64(utcOffsetMinutes) * 60_000))
        let second = offset(at: Instant(unixMilliseconds: local - first))
        return Instant(unixMilliseconds: local - second)
    }

    /// The instant the local day of `instant` began (local midnight).
    public func startOfDay(containing moment: Instant) -> Instant {
        instant(ofLocal: localDay(of: moment) * Self.day)
    }

    /// The local day number of an instant.
    public func localDay(of instant: Instant) -> Int64 {
        let local = instant.unixMilliseconds + offset(at: instant)
        return local >= 0 ? local / Self.day : (local - Self.day + 1) / Self.day
    }

    /// Whether a local day has business hours (1970-01-01 was a Thursday).
    func isOpen(day: Int64) -> Bool {
        let weekday = Int(((day % 7) + 7 + 3) % 7) + 1  // 1 = Monday
        return !closedWeekdays.contains(weekday) && !holidays.contains(Int(day))
    }

    /// A local day's business interval as instants.
    func hours(of day: Int64) -> (Instant, Instant) {
        let midnight = day * Self.day
        return (instant(ofLocal: midnight + Int64(opens) * 60_000), instant(ofLocal: midnight + Int64(closes) * 60_000))
    }

    /// Whether clocks run at this instant.
    public func isBusinessTime(_ instant: Instant) -> Bool {
        let day = localDay(of: instant)
        guard isOpen(day: day) else { return false }
        let (start, end) = hours(of: day)
        return instant >= start && instant < end
    }

    /// The instant at which `span` of business time has passed since `start`.
    public func adding(_ span: Milliseconds, to start: Instant) -> Instant {
        if runsAlways { return start + span }
        var left = span.value
        var day = localDay(of: start)
        // Bounded: a calendar with no open day at all would never end a clock; give up after ten years.
        for _ in 0..<3660 {
            if isOpen(day: day) {
                let (open, close) = hours(of: day)
                let from = max(open, start)
                if from < close {
                    let available = (close - from).value
                    if left <= available { return from + Milliseconds(left) }
                    left -= available
                }
            }
            day += 1
        }
        return start + span
    }

    /// Business time between two instants.
    public func elapsed(from start: Instant, to end: Instant) -> Milliseconds {
        guard end > start else { return Milliseconds(0) }
        if runsAlways { return end - start }
        var total: Int64 = 0
        var day = localDay(of: start)
        let last = localDay(of: end)
        while day <= last {
            if isOpen(day: day) {
                let (open, close) = hours(of: day)
                let from = max(open, start)
                let to = min(close, end)
                if to > from { total += (to - from).value }
            }
            day += 1
        }
        return Milliseconds(total)
    }
}

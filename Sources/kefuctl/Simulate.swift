import ArgumentParser
import Foundation
import KefuConfig
import KefuCore
import KefuReplay
import KefuStore

/// Staffs a day that has not happened: the shop's rules (its configuration) on the real routing core, with modelled
/// buyers arriving as a curve says and generated agents answering and closing, searched hour by hour for the fewest
/// agents per skill that keep the 3-minute response rate at the target.
struct Simulate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "simulate",
        abstract: "Find the fewest agents per skill and hour that keep the 3-minute response rate at a target.",
        discussion: """
            --arrivals is a CSV of arrivals per 15 minutes per skill: a header start,skill,arrivals, then lines like \
            09:15,presales,12 (start HH:MM local, on a quarter hour). The configuration gives the SLA rules, skill \
            rules, ladder and business hours; its agents give the generated agents' max_chats and level per skill \
            unless --max-chats and --level say. Buyers arrive as a Poisson process within each slot, write again \
            --think-s after each answer until the agent closes; agents answer one buyer at a time after --answer-s \
            and close --handling-s after taking a chat (exponential draws, seeded: the same --seed gives the same \
            plan). Instead of --arrivals, --recorded-day takes a day's arrivals from the shop's input journal \
            ([replay] keep_days; the store found as kefuctl replay finds it), times --factor, and the agents answer and \
            close as that day's did (delays drawn from the day's own) unless --answer-s and --handling-s say.
            """
    )

    @Option(help: "CSV of arrivals per 15 minutes per skill (start,skill,arrivals).")
    var arrivals: String?

    @Option(help: "Instead of --arrivals: the arrivals of this recorded day (YYYY-MM-DD) from the shop's journal.")
    var recordedDay: String?

    @OptionGroup(title: "With --recorded-day, where the journal is") var journal: JournalLocation

    @Option(help: "The shop's configuration file (kefud.toml or a shop's file).")
    var config: String

    @Option(help: "The 3-minute response rate to keep every hour at (0-1).")
    var target = 0.9

    @Option(help: "Multiply every arrival count (a sale day: 3).")
    var factor = 1.0

    @Option(
        help: "The generated agents' reception limit (default: the configured agents' median for the skill, else 3).")
    var maxChats: Int?

    @Option(
        help:
            "The generated agents' level (default: the configured agents' median for the skill, at least min_level)."
    )
    var level: Int?

    @Option(
        help: "Mean seconds an agent takes to answer a buyer's message (exponential; default 20, or with --recorded-day the day's own answer delays).")
    var answerS: Double?

    @Option(
        help: "Mean seconds from taking a chat to closing it (exponential; default 300, or with --recorded-day the day's own handling times).")
    var handlingS: Double?

    @Option(help: "Mean seconds a buyer takes to write again after an answer (exponential); 0: buyers write once.")
    var thinkS = 60.0

    @Option(help: "The most agents of one skill in one hour.")
    var maxAgents = 100

    @Option(help: "The seed of the modelled buyers and agents.")
    var seed: UInt64 = 1

    @Option(
        help: "The day simulated, YYYY-MM-DD (its weekday and holidays matter to business hours); default tomorrow.")
    var date: String?

    @Option(help: "The shop's offset from UTC when its configuration has no [business_hours], e.g. +08:00.")
    var utcOffset = "+08:00"

    @Option(help: "table, csv or svg.")
    var format = "table"

    @Option(help: "Write the output to this file instead of standard output.")
    var output: String?

    func validate() throws {
        guard (0...1).contains(target) else { throw ValidationError("--target must be between 0 and 1") }
        guard ["table", "csv", "svg"].contains(format) else {
            throw ValidationError("--format must be table, csv or svg")
        }
        guard factor >= 0, (answerS ?? 0) >= 0, (handlingS ?? 1) > 0, thinkS >= 0 else {
            throw ValidationError("--factor, --answer-s and --think-s must be 0 or more, --handling-s more than 0")
        }
        if let maxChats, maxChats < 1 { throw ValidationError("--max-chats must be 1 or more") }
        if let level, !(1...5).contains(level) { throw ValidationError("--level must be 1 to 5") }
        guard maxAgents >= 1 else { throw ValidationError("--max-agents must be 1 or more") }
        guard (arrivals == nil) != (recordedDay == nil) else {
            throw ValidationError("give the arrivals: --arrivals FILE.csv or --recorded-day YYYY-MM-DD")
        }
    }

    func run() async throws {
        var policy = RoutingPolicy(try KefuConfiguration.load(path: config))
        // A shop without `[business_hours]` counts its hours in `--utc-offset`'s time, as `kefuctl replay` does (its
        // clocks run around the clock either way: only where a local day and hour begin changes).
        if policy.calendar == .always { policy.calendar.utcOffsetMinutes = try ReplayCommand.offsetMinutes(utcOffset) }
        let (recorded, delays) = try await arrivalCurve(calendar: policy.calendar)
        let curve = recorded.scaled(by: factor)
        let day = try Self.startOfDay(date, in: policy.calendar)
        // Given means are exponential draws; a recorded day's own delays are drawn from as they were.
        let answerDelay: DelayModel =
            if let answerS { .exponential(mean: .seconds(answerS)) } else if let delays, !delays.allAnswers.isEmpty {
                .samples([:], fallback: delays.allAnswers)
            } else { .exponential(mean: .seconds(20)) }
        let handling: DelayModel =
            if let handlingS { .exponential(mean: .seconds(handlingS)) } else if let delays, !delays.handling.isEmpty {
                .samples([:], fallback: delays.handling)
            } else { .exponential(mean: .seconds(300)) }
        var simulation = Simulation(
            policy: policy, day: day, arrivals: curve, maxChats: maxChats ?? 3, level: level ?? 3,
            answerDelay: answerDelay, handling: handling,
            buyerThinks: thinkS > 0 ? .exponential(mean: .seconds(thinkS)) : nil, seed: seed)
        for skill in curve.skills {
            let configured = policy.agents.filter { $0.level(in: skill) >= 1 }
            let minLevel = policy.rule(for: skill).minLevel
            if maxChats == nil, let median = Self.median(configured.map(\.maxChats)) {
                simulation.maxChatsBySkill[skill] = median
            }
            simulation.levelBySkill[skill] = max(
                level ?? Self.median(configured.map { $0.level(in: skill) }) ?? 3, minLevel)
        }
        let plan = StaffingPlan.find(for: simulation, target: target, maxAgents: maxAgents)
        let title = "Staffing for \(date ?? "tomorrow"): \(Int((target * 100).rounded()))% answered within 3 minutes"
        let result: String
        switch format {
        case "csv": result = OutcomeReport.csv(plan: plan)
        case "svg": result = OutcomeReport.svg([(label: "plan", figures: plan.figures)], title: title, target: target)
        default: result = OutcomeReport.table(plan: plan)
        }
        if let output {
            do {
                try result.write(toFile: output, atomically: true, encoding: .utf8)
            } catch {
                throw ConfigError(file: output, message: "cannot write the file: \(error.localizedDescription)")
            }
        } else {
            print(result, terminator: "")
        }
    }

    /// The arrivals: the CSV, or the recorded day's `OPEN`s with its agents' answer delays and handling times.
    private func arrivalCurve(calendar: BusinessCalendar) async throws -> (ArrivalCurve, RecordedDelays?) {
        if let arrivals {
            let text: String
            do {
                text = try String(contentsOfFile: arrivals, encoding: .utf8)
            } catch {
                throw ConfigError(file: arrivals, message: "cannot read the file: \(error.localizedDescription)")
            }
            return (try ArrivalCurve.parse(text, file: arrivals), nil)
        }
        let midnight = try Self.startOfDay(recordedDay, in: calendar)
        let next = midnight + .seconds(86_400)
        let rows = try await journal.rows(from: midnight, to: next)
        let curve = try ArrivalCurve.recorded(rows.chunks, midnight: midnight, calendar: calendar)
        guard !curve.skills.isEmpty else {
            throw ValidationError("shop \(journal.shop)'s journal holds no arrival on \(recordedDay ?? "")")
        }
        return (curve, try RecordedDelays.of(rows.chunks, from: midnight, to: next))
    }

    /// The local midnight of `date` (or of tomorrow) in the shop's time zone.
    private static func startOfDay(_ date: String?, in calendar: BusinessCalendar) throws -> Instant {
        guard let date else {
            let now = Instant(unixMilliseconds: Int64(Date().timeIntervalSince1970 * 1000))
            return calendar.startOfDay(containing: now + .seconds(86_400))
        }
        let parts = date.split(separator: "-").compactMap { Int($0) }
        guard parts.count == 3, (1...12).contains(parts[1]), (1...31).contains(parts[2]) else {
            throw ValidationError("expected a day as YYYY-MM-DD (found \(date))")
        }
        // Days since 1970-01-01 of a civil date (Howard Hinnant's days_from_civil).
        let (y, m, d) = (parts[1] <= 2 ? parts[0] - 1 : parts[0], parts[1], parts[2])
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let dayOfYear = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        let days = Int64(era * 146_097 + dayOfEra - 719_468)
        let noon = Instant(
            unixMilliseconds: days * 86_400_000 + 43_200_000
                - calendar.offset(at: Instant(unixMilliseconds: days * 86_400_000)))
        return calendar.startOfDay(containing: noon)
    }

    private static func median(_ values: [Int]) -> Int? {
        values.isEmpty ? nil : values.sorted()[(values.count - 1) / 2]
    }
}

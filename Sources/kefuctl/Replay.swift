import ArgumentParser
import Foundation
import KefuConfig
import KefuCore
import KefuReplay
import KefuStore

/// `kefuctl replay`: a recorded stretch of a shop's day run through the routing core again, offline — with its own
/// rules, to check that this kefud decides exactly as the one that ran it; with another configuration, to see what
/// the day would have been.
struct ReplayCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "replay",
        abstract: "Replay a recorded stretch of a shop's day through the routing core, offline.",
        discussion: """
            Reads the shop's input journal ([replay] keep_days) from its store: SQLite under the state directory, or \
            the cluster's PostgreSQL. Without --config the recorded rules are used and every assignment, breach \
            and escalation must come out as recorded: it prints "identical: N decisions" or the first input that \
            decided otherwise (exit status 1). With --config, buyers come as recorded and agents answer after delays \
            drawn from their recorded ones; the recorded and replayed day are shown side by side. (The store is found \
            from --state-dir, --node-config or --postgres: --config names the rules to replay with.)
            """)

    @OptionGroup var journal: JournalLocation

    @Option(help: "Start: YYYY-MM-DD, YYYY-MM-DDTHH:MM[:SS] (local, see --utc-offset; or with Z/±HH:MM) or Unix ms.")
    var from: String

    @Option(help: "End (same forms). Default: now.")
    var to: String?

    @Option(help: "The shop's offset from UTC for times without one, e.g. +08:00.")
    var utcOffset = "+08:00"

    @Option(help: "Replay under this shop configuration instead of the recorded one (buyers as recorded, answers modelled).")
    var config: String?

    @Option(
        parsing: .singleValue,
        help: "An agent the new configuration adds, online daily from-to local: erin=20:00-24:00 (repeatable).")
    var shift: [String] = []

    @Option(help: "Seed of the modelled answer delays (the same seed gives the same replay).")
    var seed: UInt64 = 1

    @Option(help: "table (side by side, per hour and skill), csv (UTF-8), or svg (a chart of both runs).")
    var format = "table"

    @Option(help: "Write the table, CSV or SVG to this file instead of standard output.")
    var output: String?

    func run() async throws {
        let offset = try Self.offsetMinutes(utcOffset)
        let start = try Self.instant(from, offsetMinutes: offset)
        let end = try to.map { try Self.instant($0, offsetMinutes: offset) } ?? Self.now()
        guard start < end else { throw ValidationError("--from must be before --to") }
        let rows = try await journal.rows(from: start, to: end)
        guard rows.runStart != nil else {
            throw ValidationError(
                "shop \(journal.shop) has no input journal before \(Self.time(end, offsetMinutes: offset)) "
                    + "([replay] keep_days is 0, or it was purged)")
        }
        if rows.startsAfterFrom, let runStart = rows.runStart {
            print("note: the journal begins at \(Self.time(runStart, offsetMinutes: offset)) (kefud started then)")
        }
        if let config {
            return try modelled(rows, configuration: config, from: start, to: end, offset: offset)
        }
        var run = RecordedRun(rows.chunks)
        let began = ContinuousClock.now
        let verdict = try ExactReplay(from: start, to: end).run(&run)
        let took = ContinuousClock.now - began
        print("shop: \(journal.shop)")
        print("window: \(Self.time(start, offsetMinutes: offset)) – \(Self.time(end, offsetMinutes: offset))")
        print(
            "inputs: \(verdict.inputsInWindow) in the window (\(verdict.inputs) replayed from the run's start), "
                + "restarts in the window: \(verdict.restarts), replayed in \(Self.milliseconds(took)) ms")
        if let difference = verdict.firstDifference {
            print(difference.description)
            throw ExitCode(1)
        }
        print("identical: \(verdict.decisions) decisions")
    }

    /// `--config`: the recorded stretch under other rules, side by side with the record.
    private func modelled(
        _ rows: JournalReading.Rows, configuration path: String, from start: Instant, to end: Instant, offset: Int
    ) throws {
        guard ["table", "csv", "svg"].contains(format) else { throw ValidationError("--format is table, csv or svg") }
        let configuration = try KefuConfiguration.load(path: path)
        var shifts: [ModelledReplay.Shift] = []
        for text in shift {
            guard let shift = ModelledReplay.Shift(text) else {
                throw ValidationError("--shift: expected agent=HH:MM-HH:MM (e.g. erin=20:00-24:00), got \(text)")
            }
            guard configuration.agents.contains(where: { $0.id == shift.agent.rawValue }) else {
                throw ValidationError("--shift: \(path) has no agent \(shift.agent)")
            }
            shifts.append(shift)
        }
        let replay = ModelledReplay(
            policy: RoutingPolicy(configuration), from: start, to: end, shifts: shifts, seed: seed,
            utcOffsetMinutes: offset)
        let outcome = try replay.run(rows.chunks)
        let runs: [OutcomeReport.Run] = [("recorded", outcome.recorded), ("replayed", outcome.replayed)]
        let window = "\(Self.time(start, offsetMinutes: offset)) – \(Self.time(end, offsetMinutes: offset))"
        let text: String
        switch format {
        case "csv": text = OutcomeReport.csv(runs)
        case "svg":
            let rules = URL(fileURLWithPath: path).lastPathComponent
            text = OutcomeReport.svg(runs, title: "shop \(journal.shop), \(window): recorded vs \(rules)")
        default:
            var lines = ["shop: \(journal.shop)", "window: \(window)", "rules: recorded vs \(path) (seed \(seed))"]
            lines += outcome.provenance
            if let difference = outcome.verdict.firstDifference {
                lines.append("warning: this kefud does not replay the record exactly; \(difference)")
            }
            text = lines.joined(separator: "\n") + "\n\n" + OutcomeReport.table(runs)
        }
        if let output {
            try text.write(toFile: output, atomically: true, encoding: .utf8)
            print("written: \(output)")
        } else {
            print(text, terminator: text.hasSuffix("\n") ? "" : "\n")
        }
    }

    // MARK: - Times

    static func milliseconds(_ duration: Duration) -> String {
        let (seconds, attoseconds) = duration.components
        return String(format: "%.1f", Double(seconds) * 1000 + Double(attoseconds) / 1e15)
    }

    static func now() -> Instant {
        Instant(unixMilliseconds: Int64((Date().timeIntervalSince1970 * 1000).rounded()))
    }

    /// `+08:00`, `-05:30`, `Z` → minutes east of UTC.
    static func offsetMinutes(_ text: String) throws -> Int {
        if text == "Z" || text == "+00:00" { return 0 }
        let sign: Int = text.hasPrefix("-") ? -1 : 1
        let digits = text.dropFirst().split(separator: ":").compactMap { Int($0) }
        guard text.first == "+" || text.first == "-", digits.count == 2, (0...14).contains(digits[0]),
            (0...59).contains(digits[1])
        else {
            throw ValidationError("expected an offset like +08:00, got \(text)")
        }
        return sign * (digits[0] * 60 + digits[1])
    }

    /// A time as the options take it (see `--from`).
    static func instant(_ text: String, offsetMinutes: Int) throws -> Instant {
        if let milliseconds = Int64(text), milliseconds > 100_000_000_000 {
            return Instant(unixMilliseconds: milliseconds)
        }
        var rest = Substring(text)
        var offset = offsetMinutes
        if rest.hasSuffix("Z") {
            offset = 0
            rest = rest.dropLast()
        } else if rest.count > 16, let sign = rest.dropFirst(16).lastIndex(where: { $0 == "+" || $0 == "-" }) {
            offset = try Self.offsetMinutes(String(rest[sign...]))
            rest = rest[..<sign]
        }
        let halves = rest.split(separator: "T", omittingEmptySubsequences: false)
        let day = halves[0].split(separator: "-").compactMap { Int($0) }
        let clock = halves.count > 1 ? halves[1].split(separator: ":").compactMap { Int($0) } : [0, 0]
        guard halves.count <= 2, day.count == 3, (1...12).contains(day[1]), (1...31).contains(day[2]),
            (2...3).contains(clock.count), (0...23).contains(clock[0]), (0...59).contains(clock[1]),
            clock.count == 2 || (0...59).contains(clock[2])
        else {
            throw ValidationError("expected a time like 2026-12-07T09:30 (or 2026-12-07, or Unix ms), got \(text)")
        }
        var components = DateComponents()
        (components.year, components.month, components.day) = (day[0], day[1], day[2])
        (components.hour, components.minute, components.second) = (clock[0], clock[1], clock.count > 2 ? clock[2] : 0)
        components.timeZone = TimeZone(secondsFromGMT: offset * 60)
        let calendar = Calendar(identifier: .gregorian)
        guard let date = calendar.date(from: components),
            calendar.dateComponents(in: components.timeZone!, from: date).day == day[2]
        else {
            throw ValidationError("no such time: \(text)")
        }
        return Instant(unixMilliseconds: Int64((date.timeIntervalSince1970 * 1000).rounded()))
    }

    /// `2026-12-07 09:30:00` in the shop's local time.
    static func time(_ instant: Instant, offsetMinutes: Int) -> String {
        let date = Date(timeIntervalSince1970: Double(instant.unixMilliseconds) / 1000)
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(secondsFromGMT: offsetMinutes * 60)
        formatter.dateFormat = "yyyy-MM-dd HH:mm:ss"
        return formatter.string(from: date)
    }
}

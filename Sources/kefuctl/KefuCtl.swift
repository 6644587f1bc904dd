import ArgumentParser
import Crypto
import Foundation
import KefuCluster
import KefuCore
import KefuStore

/// Ops command line for kefud.
@main
struct KefuCtl: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kefuctl",
        abstract: "Operate a kefud chat router.",
        subcommands: [
            HashToken.self, SignBuyer.self, Report.self, PurgeCommand.self, BackupCommand.self, ShopCommand.self,
            ClusterCommand.self, ReplayCommand.self, Simulate.self,
        ]
    )
}

/// Prints the SHA-256 hex of a login token, as `token_sha256` in the configuration expects it.
struct HashToken: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "hash-token",
        abstract: "Print the SHA-256 hex of a token for the config's token_sha256 keys."
    )

    @Argument(help: "The token. Use - to read it from standard input (keeps it out of shell history).")
    var token: String

    func run() throws {
        var secret = token
        if token == "-" {
            guard let line = readLine(strippingNewline: true) else {
                throw ValidationError("no token on standard input")
            }
            secret = line
        }
        guard !secret.isEmpty else { throw ValidationError("the token is empty") }
        print(
            SHA256.hash(data: Array(secret.utf8)).map { byte in
                let hex = String(byte, radix: 16)
                return byte < 16 ? "0" + hex : hex
            }.joined())
    }
}

/// The response score the platforms keep, from kefud's store: per agent, skill, store or day, the rounds answered by
/// a human in time (met), those whose deadline passed (breached), the rate, and the mean answer time in business
/// hours. Reads the store read-only, so it runs beside a serving kefud.
struct Report: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "The share of response rounds answered in time (--by), or a sheet a day (--layout), as a table or CSV."
    )

    @Option(help: "kefud's state directory (the one holding kefu.sqlite).")
    var stateDir = "./var"

    @Option(help: "The shop whose rounds to count ([server] shops_dir); default: the main configuration's team.")
    var shop = "default"

    @Option(help: "Group by agent, skill, store or day.")
    var by = "day"

    @Option(help: "Only rounds that started on or after this day (YYYY-MM-DD, local).")
    var since: String?

    @Option(help: "Only rounds that started before this day (YYYY-MM-DD, local).")
    var until: String?

    @Option(help: "The time zone days are counted in.")
    var timeZone = "Asia/Shanghai"

    @Option(
        help: "A sheet instead of --by: agent-day, conversation, skill-day or store-day (a row per day or conversation).")
    var layout: String?

    @Option(help: "table (aligned, for a terminal) or csv (UTF-8, for Excel).")
    var format = "table"

    @Flag(help: "CSV without the byte-order mark zh-CN Excel needs (for tools that mind it).")
    var noBom = false

    /// A cluster's shop: its records are in PostgreSQL (`--postgres` or `--config`), not under `--state-dir`.
    @OptionGroup var cluster: ClusterDatabase

    func run() async throws {
        guard let zone = TimeZone(identifier: timeZone) else { throw ValidationError("unknown time zone \(timeZone)") }
        guard format == "table" || format == "csv" else { throw ValidationError("--format is table or csv") }
        let offset = zone.secondsFromGMT(for: Date()) / 60
        let directory = ConversationStore.directory(of: shop, in: stateDir)
        let from = try since.map { try Self.instant(of: $0, offset: offset) }
        let sheet: DayReport.Sheet
        if let layout {
            guard let layout = DayReport.Layout(rawValue: layout) else {
                throw ValidationError(
                    "--layout is one of \(DayReport.Layout.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            // Time online runs until --until, or now.
            let now = Instant(unixMilliseconds: Int64((Date().timeIntervalSince1970 * 1000).rounded()))
            let until = try until.map { try Self.instant(of: $0, offset: offset) } ?? now
            if cluster.postgres != nil || cluster.config != nil {
                sheet = try await ClusterDayReport.read(
                    try cluster.url(), shop: shop, layout: layout, from: from, until: until, utcOffsetMinutes: offset,
                    logger: cluster.logger)
            } else {
                sheet = try DayReport.read(
                    directory: directory, layout: layout, from: from, until: until, utcOffsetMinutes: offset,
                    shop: shop)
            }
        } else {
            guard let grouping = ResponseReport.Grouping(rawValue: by) else {
                throw ValidationError(
                    "--by is one of \(ResponseReport.Grouping.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            let rows = try ResponseReport.read(
                directory: directory, by: grouping, from: from,
                until: try until.map { try Self.instant(of: $0, offset: offset) }, utcOffsetMinutes: offset)
            sheet = Self.sheet(rows, by: grouping)
        }
        if format == "csv" {
            FileHandle.standardOutput.write(Data(DayReport.csv(sheet, byteOrderMark: !noBom).utf8))
        } else {
            print(DayReport.table(sheet))
        }
    }

    /// Midnight of a local day.
    static func instant(of date: String, offset: Int) throws -> Instant {
        let parts = date.split(separator: "-").compactMap { Int($0) }
        guard parts.count == 3, (1...12).contains(parts[1]), (1...31).contains(parts[2]) else {
            throw ValidationError("expected a date like 2026-11-24, got \(date)")
        }
        var components = DateComponents()
        (components.year, components.month, components.day) = (parts[0], parts[1], parts[2])
        components.timeZone = TimeZone(secondsFromGMT: offset * 60)
        guard let day = Calendar(identifier: .gregorian).date(from: components) else {
            throw ValidationError("no such day: \(date)")
        }
        return Instant(unixMilliseconds: Int64((day.timeIntervalSince1970 * 1000).rounded()))
    }

    /// Columns: the group, met, breached, closed unanswered, rate, mean answer time.
    static func sheet(_ rows: [ResponseReport.Row], by grouping: ResponseReport.Grouping) -> DayReport.Sheet {
        let header = [grouping.rawValue, "met", "breached", "closed", "rate", "mean_answer_s"]
        let lines = rows.map { row in
            [
                row.group, "\(row.met)", "\(row.breached)", "\(row.closedUnanswered)",
                row.rate.map { String(format: "%.1f%%", $0 * 100) } ?? "-",
                row.meanAnsweredWait.map { String(format: "%.1f", Double($0.value) / 1000) } ?? "-",
            ]
        }
        return DayReport.Sheet(header: header, rows: lines)
    }
}

import Foundation
import KefuCore

/// Runs side by side (recorded vs replayed, or a plan): a table for a terminal, CSV for a spreadsheet, an SVG
/// chart of waiting conversations and the 3-minute rate per hour.
public enum OutcomeReport {
    public typealias Run = (label: String, figures: DayFigures)

    // MARK: - Table

    /// The whole window metric by metric, then per hour and per skill the rate, first response p50, queue wait p90,
    /// waiting conversations (mean) and occupancy; one column (group) per run.
    public static func table(_ runs: [Run]) -> String {
        var rows: [[String]] = [["whole window"] + runs.map(\.label)]
        let metrics: [(String, (DayFigures.Figures) -> String)] = [
            ("conversations", { "\($0.conversations)" }),
            ("3-min response rate", { percent($0.responseRate) }),
            ("rounds (in 3 min)", { "\($0.rounds) (\($0.answeredInTime))" }),
            ("first response p50", { seconds($0.firstResponseP50) }),
            ("first response p90", { seconds($0.firstResponseP90) }),
            ("breaches", { "\($0.breaches)" }),
            ("escalations", { "\($0.escalations)" }),
            ("waited in queue", { "\($0.waitedInQueue) (\(percent($0.probabilityOfWaiting)))" }),
            ("queue wait p50", { seconds($0.queueWaitP50) }),
            ("queue wait p90", { seconds($0.queueWaitP90) }),
            ("queue wait longest", { seconds($0.queueWaitLongest) }),
            ("chats per agent", { number($0.chatsPerAgent) }),
            ("occupancy", { percent($0.occupancy) }),
            ("waiting (mean / peak)", { String(format: "%.1f / %d", $0.waitingMean, $0.waitingPeak) }),
        ]
        for (name, value) in metrics { rows.append([name] + runs.map { value($0.figures.whole) }) }
        var text = aligned(rows)

        let columns = ["rate", "fr p50", "qw p90", "waiting", "occ"]
        func cells(_ figures: DayFigures.Figures?) -> [String] {
            guard let figures else { return columns.map { _ in "-" } }
            return [
                percent(figures.responseRate), seconds(figures.firstResponseP50), seconds(figures.queueWaitP90),
                String(format: "%.1f", figures.waitingMean), percent(figures.occupancy),
            ]
        }
        var header = ["hour"]
        for run in runs { header += columns.map { runs.count > 1 ? "\(run.label) \($0)" : $0 } }
        var hourly = [header]
        for (index, hour) in (runs.first?.figures.hours ?? []).enumerated() {
            hourly.append(
                [String(format: "%02d:00", hour.localHour)]
                    + runs.flatMap {
                        cells($0.figures.hours.indices.contains(index) ? $0.figures.hours[index].figures : nil)
                    })
        }
        text += "\n" + aligned(hourly)
        var bySkill = [["skill"] + header.dropFirst()]
        for skill in Set(runs.flatMap { $0.figures.skills.keys }).sorted() {
            bySkill.append([skill.name] + runs.flatMap { cells($0.figures.skills[skill]) })
        }
        text += "\n" + aligned(bySkill)
        return text
    }

    /// A staffing plan: agents per skill per hour beside the predicted rate, waits and occupancy.
    public static func table(plan: StaffingPlan) -> String {
        let skills = plan.agents.keys.sorted()
        var rows = [
            ["hour"] + skills.map { "agents \($0.name)" } + ["arrivals", "rate", "qw p50", "qw p90", "waiting", "occ"]
        ]
        for (index, hour) in plan.figures.hours.enumerated() {
            let figures = hour.figures
            rows.append(
                [String(format: "%02d:00", hour.localHour)] + skills.map { "\(plan.agents[$0]![index])" } + [
                    "\(figures.conversations)", percent(figures.responseRate), seconds(figures.queueWaitP50),
                    seconds(figures.queueWaitP90), String(format: "%.1f", figures.waitingMean),
                    percent(figures.occupancy),
                ])
        }
        let whole = plan.figures.whole
        var text = aligned(rows)
        let verdict =
            plan.meetsTarget
            ? "every hour meets it"
            : "below it in hours " + plan.hoursBelowTarget.map { String(format: "%02d", $0) }.joined(separator: ", ")
        let agentHours = plan.agents.values.reduce(0) { $0 + $1.reduce(0, +) }
        text += "target \(percent(plan.target)): predicted \(percent(whole.responseRate)) over the day, \(verdict); "
        text += "\(agentHours) agent-hours\n"
        return text
    }

    // MARK: - CSV

    static let csvColumns = [
        "conversations", "rounds", "answered_in_3min", "response_rate", "first_response_p50_s", "first_response_p90_s",
        "breaches", "escalations", "waited_in_queue", "queue_wait_p50_s", "queue_wait_p90_s", "queue_wait_longest_s",
        "queue_wait_mean_s", "chats", "agents_online", "chats_per_agent", "occupancy", "waiting_mean", "waiting_peak",
    ]

    /// A header row, then per run a row for the whole window (`scope` day), one per hour and one per skill. RFC 4180
    /// (fields quoted when they must be, CRLF line ends), UTF-8; rates and occupancy as fractions, times in seconds.
    public static func csv(_ runs: [Run]) -> String {
        var lines = [(["run", "scope", "key"] + csvColumns).joined(separator: ",")]
        for run in runs {
            lines.append(csvRow([run.label, "day", "all"], run.figures.whole))
            for hour in run.figures.hours {
                lines.append(csvRow([run.label, "hour", String(format: "%02d:00", hour.localHour)], hour.figures))
            }
            for skill in run.figures.skills.keys.sorted() {
                lines.append(csvRow([run.label, "skill", skill.name], run.figures.skills[skill]!))
            }
        }
        return lines.joined(separator: "\r\n") + "\r\n"
    }

    /// A plan: per hour the agents of each skill and the predicted figures.
    public static func csv(plan: StaffingPlan) -> String {
        let skills = plan.agents.keys.sorted()
        var lines = [
            (["hour"] + skills.map { "agents_\($0.name)" } + csvColumns).map(CSVText.field).joined(separator: ",")
        ]
        for (index, hour) in plan.figures.hours.enumerated() {
            let lead = [String(format: "%02d:00", hour.localHour)] + skills.map { "\(plan.agents[$0]![index])" }
            lines.append(csvRow(lead, hour.figures))
        }
        return lines.joined(separator: "\r\n") + "\r\n"
    }

    private static func csvRow(_ lead: [String], _ figures: DayFigures.Figures) -> String {
        func optional(_ value: Double?) -> String { value.map { String(format: "%.4f", $0) } ?? "" }
        func time(_ value: Milliseconds?) -> String {
            value.map { String(format: "%.3f", Double($0.value) / 1000) } ?? ""
        }
        let values = [
            "\(figures.conversations)", "\(figures.rounds)", "\(figures.answeredInTime)",
            optional(figures.responseRate),
            time(figures.firstResponseP50), time(figures.firstResponseP90), "\(figures.breaches)",
            "\(figures.escalations)",
            "\(figures.waitedInQueue)", time(figures.queueWaitP50), time(figures.queueWaitP90),
            time(figures.queueWaitLongest), time(figures.queueWaitMean), "\(figures.chats)", "\(figures.agentsOnline)",
            optional(figures.chatsPerAgent), optional(figures.occupancy), String(format: "%.3f", figures.waitingMean),
            "\(figures.waitingPeak)",
        ]
        return (lead + values).map(CSVText.field).joined(separator: ",")
    }

    // MARK: - SVG

    private static let colors = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b"]

    /// One chart: per hour, each run's waiting conversations (time-weighted mean) as bars on the left axis and its
    /// 3-minute response rate as a line on the right axis (0–100 %); a legend names the runs. Standalone SVG 1.1, a
    /// generic font family (nothing to fetch). `target`: a dashed line at that rate.
    public static func svg(_ runs: [Run], title: String, target: Double? = nil) -> String {
        let width = 960.0
        let height = 440.0
        let left = 60.0
        let right = 60.0
        let top = 50.0
        let bottom = 70.0
        let plotWidth = width - left - right
        let plotHeight = height - top - bottom
        let hours = runs.map(\.figures.hours.count).max() ?? 0
        let slot = plotWidth / Double(max(hours, 1))
        let most = runs.flatMap { $0.figures.hours.map(\.figures.waitingMean) }.max() ?? 0
        let scale = niceCeiling(max(most, 1))
        var svg = """
            <?xml version="1.0" encoding="UTF-8"?>
            <svg xmlns="http://www.w3.org/2000/svg" version="1.1" width="\(Int(width))" height="\(Int(height))" \
            viewBox="0 0 \(Int(width)) \(Int(height))" font-family="sans-serif" font-size="12">
            <title>\(escape(title))</title>
            <rect x="0" y="0" width="\(Int(width))" height="\(Int(height))" fill="#ffffff"/>
            <text x="\(Int(width / 2))" y="24" text-anchor="middle" font-size="16">\(escape(title))</text>

            """
        // Axes and grid.
        for tick in 0...4 {
            let y = top + plotHeight * (1 - Double(tick) / 4)
            svg += line(left, y, left + plotWidth, y, stroke: "#dddddd")
            svg += text(left - 6, y + 4, format(scale * Double(tick) / 4), anchor: "end")
            svg += text(left + plotWidth + 6, y + 4, "\(tick * 25)%", anchor: "start")
        }
        svg += line(left, top, left, top + plotHeight, stroke: "#333333")
        svg += line(left + plotWidth, top, left + plotWidth, top + plotHeight, stroke: "#333333")
        svg += text(16, top + plotHeight / 2, "waiting conversations (mean)", anchor: "middle", rotate: true)
        svg += text(width - 16, top + plotHeight / 2, "3-minute response rate", anchor: "middle", rotate: true)
        if let first = runs.first {
            for (index, hour) in first.figures.hours.enumerated() where hours <= 24 || index % 2 == 0 {
                svg += text(
                    left + slot * (Double(index) + 0.5), top + plotHeight + 16, String(format: "%02d", hour.localHour),
                    anchor: "middle")
            }
        }
        svg += text(left + plotWidth / 2, top + plotHeight + 34, "local hour", anchor: "middle")
        if let target, (0...1).contains(target) {
            let y = top + plotHeight * (1 - target)
            svg +=
                String(format: "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"", left, y, left + plotWidth, y)
                + " stroke=\"#555555\" stroke-width=\"1\" stroke-dasharray=\"6 4\"/>\n"
            svg += text(left + plotWidth - 4, y - 4, "target \(percent(target))", anchor: "end")
        }
        // Bars, grouped per hour.
        let barWidth = slot * 0.8 / Double(max(runs.count, 1))
        for (number, run) in runs.enumerated() {
            let color = colors[number % colors.count]
            for (index, hour) in run.figures.hours.enumerated() {
                let value = hour.figures.waitingMean
                let barHeight = plotHeight * value / scale
                let x = left + slot * Double(index) + slot * 0.1 + barWidth * Double(number)
                svg +=
                    String(
                        format: "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\"",
                        x, top + plotHeight - barHeight, barWidth, barHeight)
                    + " fill=\"\(color)\" fill-opacity=\"0.45\"/>\n"
            }
        }
        // Rate lines (an hour without rounds breaks the line).
        for (number, run) in runs.enumerated() {
            let color = colors[number % colors.count]
            var segments: [[String]] = [[]]
            for (index, hour) in run.figures.hours.enumerated() {
                guard let rate = hour.figures.responseRate else {
                    segments.append([])
                    continue
                }
                let point = String(
                    format: "%.1f,%.1f", left + slot * (Double(index) + 0.5), top + plotHeight * (1 - rate))
                segments[segments.count - 1].append(point)
            }
            for points in segments where !points.isEmpty {
                svg += "<polyline points=\"\(points.joined(separator: " "))\""
                svg += " fill=\"none\" stroke=\"\(color)\" stroke-width=\"2\"/>\n"
                for point in points {
                    let xy = point.split(separator: ",")
                    svg += "<circle cx=\"\(xy[0])\" cy=\"\(xy[1])\" r=\"2.5\" fill=\"\(color)\"/>\n"
                }
            }
        }
        // Legend.
        var x = left
        let y = height - 12
        for (number, run) in runs.enumerated() {
            let color = colors[number % colors.count]
            svg +=
                String(format: "<rect x=\"%.1f\" y=\"%.1f\" width=\"12\" height=\"12\"", x, y - 10)
                + " fill=\"\(color)\" fill-opacity=\"0.45\"/>\n"
            svg += line(x + 16, y - 4, x + 34, y - 4, stroke: color, width: 2)
            let label = "\(run.label): waiting (bars), 3-min rate (line)"
            svg += text(x + 40, y, label, anchor: "start")
            x += 48 + Double(label.count) * 6.5
        }
        svg += "</svg>\n"
        return svg
    }

    // MARK: - Formatting

    static func percent(_ value: Double?) -> String { value.map { String(format: "%.1f%%", $0 * 100) } ?? "-" }

    static func seconds(_ value: Milliseconds?) -> String {
        guard let value else { return "-" }
        let s = Double(value.value) / 1000
        return s < 600 ? String(format: "%.0fs", s) : String(format: "%.1fm", s / 60)
    }

    static func number(_ value: Double?) -> String { value.map { String(format: "%.1f", $0) } ?? "-" }

    /// Columns padded to their widest cell (by characters: CJK skill names align as well as a terminal allows).
    static func aligned(_ rows: [[String]]) -> String {
        let columns = rows.map(\.count).max() ?? 0
        let widths = (0..<columns).map { column in rows.map { column < $0.count ? $0[column].count : 0 }.max() ?? 0 }
        return rows.map { row in
            row.enumerated().map { index, cell in
                let pad = String(repeating: " ", count: widths[index] - cell.count)
                return index == 0 ? cell + pad : pad + cell
            }.joined(separator: "  ")
        }.joined(separator: "\n") + "\n"
    }

    private static func niceCeiling(_ value: Double) -> Double {
        let magnitude = pow(10, floor(log10(value)))
        for step in [1.0, 2.0, 2.5, 5.0, 10.0] where step * magnitude >= value { return step * magnitude }
        return 10 * magnitude
    }

    private static func format(_ value: Double) -> String {
        value == value.rounded() ? String(Int(value)) : String(format: "%.1f", value)
    }

    private static func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }

    private static func line(_ x1: Double, _ y1: Double, _ x2: Double, _ y2: Double, stroke: String, width: Double = 1)
        -> String
    {
        String(format: "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"", x1, y1, x2, y2)
            + " stroke=\"\(stroke)\" stroke-width=\"\(format(width))\"/>\n"
    }

    private static func text(_ x: Double, _ y: Double, _ content: String, anchor: String, rotate: Bool = false)
        -> String
    {
        let turn = rotate ? String(format: " transform=\"rotate(-90 %.1f %.1f)\"", x, y) : ""
        return String(format: "<text x=\"%.1f\" y=\"%.1f\"", x, y) + " text-anchor=\"\(anchor)\"" + turn
            + ">\(escape(content))</text>\n"
    }
}

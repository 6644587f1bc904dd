import Foundation
import KefuCore
import KefuReplay
import Testing

#if canImport(FoundationXML)
    import FoundationXML
#endif

/// The side-by-side outputs: an SVG that parses, a CSV that reads back.
@Suite struct OutcomeReportTests {
    static func runs() -> [OutcomeReport.Run] {
        var outcome = DayOutcome(
            calendar: .always, from: Floor.at(10), to: Floor.at(12), agents: [DayOutcomeTests.alice])
        for step in DayOutcomeTests.steps() { outcome.observe(step) }
        let recorded = outcome.figures(at: Floor.at(12))
        var shorter = recorded
        shorter.hours.removeLast()
        // Labels a spreadsheet must get back whole: a comma, a quote, Chinese.
        return [(label: "recorded, 12-01", figures: recorded), (label: "回放 \"min_level=3\"", figures: shorter)]
    }

    @Test func theSVGIsWellFormedWithALegendForEachRun() throws {
        let svg = OutcomeReport.svg(Self.runs(), title: "Waiting & rate <demo>")
        let parser = XMLParser(data: Data(svg.utf8))
        final class Collector: NSObject, XMLParserDelegate {
            var elements: [String] = []
            var texts: [String] = []
            func parser(
                _ parser: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?,
                attributes: [String: String] = [:]
            ) { elements.append(name) }
            func parser(_ parser: XMLParser, foundCharacters string: String) { texts.append(string) }
        }
        let collector = Collector()
        parser.delegate = collector
        #expect(parser.parse(), "\(parser.parserError.map { "\($0)" } ?? "")")
        #expect(collector.elements.first == "svg")
        #expect(collector.elements.contains("polyline"))
        let text = collector.texts.joined()
        #expect(text.contains("Waiting & rate <demo>"))
        #expect(text.contains("recorded, 12-01"))
        #expect(text.contains("回放 \"min_level=3\""))
        #expect(!svg.contains("@font-face") && !svg.contains("url("))
    }

    @Test func theCSVReadsBack() throws {
        let runs = Self.runs()
        let csv = OutcomeReport.csv(runs)
        let rows = Self.parse(csv)
        #expect(rows.first?.prefix(4) == ["run", "scope", "key", "conversations"])
        #expect(rows.allSatisfy { $0.count == rows[0].count })
        // Per run: the day, each hour, each skill.
        #expect(rows.count == 1 + (1 + 2 + 1) + (1 + 1 + 1))
        let column = Dictionary(uniqueKeysWithValues: rows[0].enumerated().map { ($1, $0) })
        let ten = try #require(rows.first { $0[0] == "recorded, 12-01" && $0[1] == "hour" && $0[2] == "10:00" })
        #expect(ten[column["conversations"]!] == "4")
        #expect(ten[column["response_rate"]!] == "0.5000")
        #expect(ten[column["queue_wait_p90_s"]!] == "300.000")
        #expect(rows.contains { $0[0] == "回放 \"min_level=3\"" && $0[1] == "skill" && $0[2] == "presales" })
        #expect(csv.hasSuffix("\r\n"))
    }

    @Test func theTableNamesEveryRun() {
        let table = OutcomeReport.table(Self.runs())
        #expect(table.contains("recorded, 12-01"))
        #expect(table.contains("3-min response rate"))
        #expect(table.contains("50.0%"))
    }

    /// RFC 4180, as a spreadsheet reads it: quoted fields may hold commas, quotes (doubled) and line breaks.
    static func parse(_ text: String) -> [[String]] {
        var rows: [[String]] = []
        var row: [String] = []
        var field = ""
        var quoted = false
        var characters = Array(text)[...]
        while let character = characters.popFirst() {
            if quoted {
                if character == "\"" {
                    if characters.first == "\"" {
                        field.append("\"")
                        characters.removeFirst()
                    } else {
                        quoted = false
                    }
                } else {
                    field.append(character)
                }
            } else if character == "\"" {
                quoted = true
            } else if character == "," {
                row.append(field)
                field = ""
            } else if character == "\r\n" || character == "\n" {
                row.append(field)
                rows.append(row)
                row = []
                field = ""
            } else {
                field.append(character)
            }
        }
        return rows
    }
}

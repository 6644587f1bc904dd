import Foundation
import KefuCore
import KefuTestSupport
import Testing

@testable import KefuStore

/// The sheets `kefuctl report --layout` writes, from a day scripted through the real routing core into a real store,
/// read back with Python's csv module (an independent parser, as Excel is).
@Suite("Day reports")
struct DayReportTests {
    /// The sheet as CSV, parsed by Python's csv module: the header and rows as dictionaries, and whether the file
    /// began with the UTF-8 byte-order mark.
    static func parsed(_ csv: String) async throws -> (bom: Bool, rows: [[String: String]]) {
        let directory = try TemporaryDirectory(prefix: "kefu-csv")
        let path = directory.path + "/sheet.csv"
        try Data(csv.utf8).write(to: URL(fileURLWithPath: path))
        let script = """
            import csv, json, sys
            raw = open(sys.argv[1], 'rb').read()
            with open(sys.argv[1], newline='', encoding='utf-8-sig') as f:
                rows = list(csv.DictReader(f))
            print(json.dumps({'bom': raw.startswith(b'\\xef\\xbb\\xbf'), 'rows': rows}, ensure_ascii=False))
            """
        let result = try await runCommand("/usr/bin/python3", ["-c", script, path])
        try #require(result.status == 0, "python3: \(result.errorOutput)")
        let json = try JSONSerialization.jsonObject(with: Data(result.output.utf8)) as? [String: Any]
        return (json?["bom"] as? Bool ?? false, json?["rows"] as? [[String: String]] ?? [])
    }

    static func sheet(_ layout: DayReport.Layout, bom: Bool = true) async throws -> (bom: Bool, rows: [[String: String]]) {
        try await withTemporaryDirectory { directory in
            let store = try openStore(directory)
            try await store.commit(ScriptedDay.records())
            await store.shutdown()
            let sheet = try DayReport.read(
                directory: directory, layout: layout, from: ScriptedDay.local(0, 0), until: ScriptedDay.local(24, 0), utcOffsetMinutes: 480)
            return try await parsed(DayReport.csv(sheet, byteOrderMark: bom))
        }
    }

    @Test func anAgentDayHasLoginsPresenceWorkAndRatingsOfThatDay() async throws {
        let (bom, rows) = try await Self.sheet(.agentDay)
        #expect(bom)
        #expect(rows.map { $0["agent"] } == ["alice", "bob"])
        let alice = try #require(rows.first)
        let expected: [String: String] = [
            "date": "2026-12-01", "first_login": "2026-12-01 09:00:00", "last_logout": "2026-12-01 20:30:00",
            // 09:00–12:00, 13:00–18:00, 19:00–20:30 online; 12:00–13:00 away.
            "online_s": "34200", "away_s": "3600",
            "buyers_served": "2", "conversations": "2", "buyer_messages": "3", "agent_messages": "2",
            "answer_ratio": "0.67", "transfers_in": "0", "transfers_out": "1", "avg_conversation_s": "900.0",
            "rounds": "2", "rounds_met": "1", "rounds_breached": "1", "response_rate_pct": "50.0",
            "answered_within_180s": "1", "rate_180s_pct": "50.0", "first_response_avg_s": "30.0",
            "first_response_p90_s": "30.0", "response_avg_s": "135.0", "warned_rounds": "1", "escalated_rounds": "1",
            "csat_requests": "1",
            "ratings": "1", "rating_1": "0", "rating_5": "1", "csat_pct": "100.0", "dsat_pct": "0.0",
        ]
        for (column, value) in expected { #expect(alice[column] == value, "alice \(column)") }
        let bob = try #require(rows.last)
        let expectedBob: [String: String] = [
            "first_login": "2026-12-01 13:29:00", "last_logout": "2026-12-01 14:00:00", "online_s": "1820",
            "away_s": "40", "conversations": "1", "transfers_in": "1", "transfers_out": "0", "agent_messages": "1",
            "rounds": "1", "rounds_met": "1", "first_response_avg_s": "60.0", "warned_rounds": "0", "csat_requests": "1",
            "ratings": "0",
            "csat_pct": "",
        ]
        for (column, value) in expectedBob { #expect(bob[column] == value, "bob \(column)") }
    }

    @Test func aConversationSheetHasOneRowPerConversationWithItsHoldersAndRating() async throws {
        let (_, rows) = try await Self.sheet(.conversation, bom: false)
        #expect(rows.count == 2)
        let first = rows[0]
        #expect(first["conversation"] == "1")
        #expect(first["store"] == "tmall")
        #expect(first["buyer"] == "buyer-1")
        #expect(first["opened"] == "2026-12-01 09:05:00")
        #expect(first["queue_wait_s"] == "0.0")
        #expect(first["agents"] == "alice")
        #expect(first["first_response_s"] == "30.0")
        #expect(first["rounds"] == "2")
        #expect(first["late_rounds"] == "1")
        #expect(first["closed_by"] == "agent")
        #expect(first["rating"] == "5")
        #expect(first["comment"] == "回复快, \"很专业\"")  // a comma and quotes survive the round trip
        let second = rows[1]
        #expect(second["agents"] == "alice > bob")
        #expect(second["transfers"] == "1")
        #expect(second["rating"] == "")
    }

    @Test func skillAndStoreDaysSumTheSameRounds() async throws {
        let (_, skills) = try await Self.sheet(.skillDay)
        #expect(skills.count == 1)
        #expect(skills.first?["skill"] == "presales")
        #expect(skills.first?["conversations"] == "2")
        #expect(skills.first?["rounds"] == "3")
        #expect(skills.first?["rounds_met"] == "2")
        #expect(skills.first?["rounds_breached"] == "1")
        #expect(skills.first?["response_rate_pct"] == "66.7")
        let (_, stores) = try await Self.sheet(.storeDay)
        #expect(stores.map { $0["store"] } == ["jd", "tmall"])
        #expect(stores.map { $0["rounds"] } == ["1", "2"])
        #expect(stores.map { $0["ratings"] } == ["0", "1"])
    }

    @Test func withoutTheMarkTheFileStartsWithTheHeader() {
        let sheet = DayReport.Sheet(header: ["date", "agent"], rows: [["2026-12-01", "小王"]])
        #expect(DayReport.csv(sheet, byteOrderMark: false) == "date,agent\r\n2026-12-01,小王\r\n")
        #expect(DayReport.csv(sheet).unicodeScalars.first == "\u{FEFF}")
    }
}

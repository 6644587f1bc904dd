import Foundation
import KefuTestSupport
import Testing

@testable import KefuServer

/// `GET /metrics` of a serving daemon after scripted traffic: Prometheus's own checker accepts it, and its numbers
/// are those the line protocol shows (`QUEUE`, `AGENTS`) and the script made.
@Suite("kefud's /metrics")
struct MetricsEndpointTests {
    @Test func afterScriptedTrafficTheNumbersAgreeWithQueueAndAgentsAndPromtoolAcceptsThem() async throws {
        let daemon = try await TestDaemon.start(testConfiguration(extra: "[http]\nlisten = \"127.0.0.1:0\"\n"))
        let port = try #require(daemon.daemon.boundHTTPPort)
        let lead = try await daemon.supervisor()
        let alice = try await daemon.agent("alice", Secrets.alice)
        let bob = try await daemon.agent("bob", Secrets.bob)
        let first = try await daemon.customer("buyer-1")
        #expect(try await first.completion("o OPEN presales :在吗?") == "o OK conv=1")
        try await alice.expect("* ASSIGNED conv=1")  // level 3 beats bob's 2
        #expect(try await alice.completion("a SEND 1 :您好,在的 😊").hasPrefix("a OK"))
        try await first.expect("* MSG conv=1 from=agent")
        let second = try await daemon.customer("buyer-2")
        #expect(try await second.completion("o OPEN complaint :东西坏了") == "o OK conv=2")  // carol is away: it waits
        #expect(try await second.completion("x FROB").hasPrefix("x ERR"))
        let stranger = try await daemon.connect()
        #expect(try await stranger.completion("l LOGIN agent carol wrong-token").hasPrefix("l ERR auth-failed"))

        let queue = try await lead.command("q QUEUE")
        let agents = try await lead.command("g AGENTS")
        let response = try await httpGet(port, "/metrics")
        #expect(response.hasPrefix("HTTP/1.1 200 OK"))
        #expect(response.contains("Content-Type: text/plain; version=0.0.4; charset=utf-8"))
        let body = String(response[response.range(of: "\r\n\r\n")!.upperBound...])
        let metrics = Samples(body)

        // What QUEUE and AGENTS show, the gauges show.
        let waiting = queue.filter { $0.hasPrefix("* WAITING") }
        #expect(waiting.count == 1)
        #expect(metrics["kefud_conversations_waiting", ["shop": "default", "skill": "complaint"]] == Double(waiting.count))
        #expect(metrics["kefud_conversations_waiting", ["shop": "default", "skill": "presales"]] == 0)
        let online = agents.filter { $0.contains(" presence=online") && $0.contains(" connected=1") }
        #expect(online.count == 2)
        #expect(metrics["kefud_agents", ["shop": "default", "state": "online"]] == Double(online.count))
        #expect(metrics["kefud_agents", ["shop": "default", "state": "offline"]] == 1)
        #expect(metrics["kefud_agent_slots", ["shop": "default"]] == 10)
        #expect(metrics["kefud_agent_slots_used", ["shop": "default"]] == 1)
        #expect(metrics["kefud_conversations_active", ["shop": "default", "skill": "presales"]] == 1)
        #expect(metrics["kefud_connections", ["shop": "default", "role": "customer"]] == 2)
        #expect(metrics["kefud_connections", ["shop": "default", "role": "agent"]] == 2)
        #expect(metrics["kefud_connections", ["shop": "default", "role": "supervisor"]] == 1)
        // What the script did, the counters count.
        #expect(metrics["kefud_conversations_opened_total", ["shop": "default", "skill": "presales"]] == 1)
        #expect(metrics["kefud_conversations_opened_total", ["shop": "default", "skill": "complaint"]] == 1)
        #expect(metrics["kefud_messages_total", ["shop": "default", "sender": "customer"]] == 2)
        #expect(metrics["kefud_messages_total", ["shop": "default", "sender": "agent"]] == 1)
        #expect(metrics["kefud_rounds_total", ["shop": "default", "result": "met"]] == 1)
        #expect(metrics["kefud_first_response_seconds_count", ["shop": "default", "skill": "presales"]] == 1)
        #expect(metrics["kefud_first_response_seconds_bucket", ["shop": "default", "skill": "presales", "le": "5.0"]] == 1)
        #expect(metrics["kefud_response_rate_today_ratio", ["shop": "default"]] == 1)
        #expect(metrics["kefud_auth_failures_total", ["role": "agent"]] == 1)
        #expect(metrics["kefud_protocol_errors_total", ["code": "auth-failed"]] == 1)
        #expect((metrics["kefud_store_commit_seconds_count", ["shop": "default"]] ?? 0) >= 1)
        #expect(metrics["kefud_build_info", ["version": KefuVersion.current]] == 1)

        // Prometheus's own checker (Debian's `prometheus`, installed by `make test`).
        let promtool = "/usr/bin/promtool"
        try #require(
            FileManager.default.isExecutableFile(atPath: promtool),
            "promtool is missing: `make test-deps` installs Debian's prometheus package")
        let file = try TemporaryDirectory(prefix: "kefu-metrics")
        let path = file.path + "/metrics.txt"
        try body.write(toFile: path, atomically: true, encoding: .utf8)
        let check = try await runCommand("/bin/sh", ["-c", "\(promtool) check metrics < \(path)"])
        #expect(check.status == 0, "promtool: \(check.output)\(check.errorOutput)")
        #expect(check.output.isEmpty && check.errorOutput.isEmpty, "promtool: \(check.output)\(check.errorOutput)")

        for client in [lead, alice, bob, first, second, stranger] { await client.close() }
        try await daemon.stop()
    }

    @Test func todaysResponseRateSurvivesARestart() async throws {
        let state = try TemporaryDirectory(prefix: "kefu-metrics-restart")
        let toml = testConfiguration(extra: "[http]\nlisten = \"127.0.0.1:0\"\n")
        let before = try await TestDaemon.start(toml, stateDirectory: state.path)
        let alice = try await before.agent("alice", Secrets.alice)
        let buyer = try await before.customer("buyer-1")
        #expect(try await buyer.completion("o OPEN presales :在吗?") == "o OK conv=1")
        try await alice.expect("* ASSIGNED conv=1")
        #expect(try await alice.completion("a SEND 1 :在的").hasPrefix("a OK"))  // round 1 met
        #expect(try await buyer.completion("m SEND 1 :发货了吗").hasPrefix("m OK"))  // round 2 runs on
        await alice.close()
        await buyer.close()
        try await before.stop()

        let after = try await TestDaemon.start(toml, stateDirectory: state.path)
        let port = try #require(after.daemon.boundHTTPPort)
        // The store's count arrives on the owner's loop after it starts: a scrape may come first.
        var rate: Double?
        for _ in 0..<50 {
            rate = Samples(try await httpGet(port, "/metrics"))["kefud_response_rate_today_ratio", ["shop": "default"]]
            if rate == 1 { break }
            try await Task.sleep(for: .milliseconds(20))
        }
        #expect(rate == 1)
        try await after.stop()
    }

    /// A day's CSV (`kefuctl report --layout skill-day --format csv`, read from the store), `/metrics` and the
    /// supervisor board (`BOARD`, both counted live) say the same of the same traffic.
    @Test func aDaysCSVTheBoardAndMetricsAgreeOnTheSameTraffic() async throws {
        // Only the logistics chat has a 1 s first response: the two answered at once keep theirs on a loaded machine.
        let toml = testConfiguration(
            firstResponseSeconds: 60,
            extra: "[http]\nlisten = \"127.0.0.1:0\"\n\n[[sla.policy]]\nskill = \"logistics\"\nfirst_response_s = 1\n")
        let daemon = try await TestDaemon.start(toml)
        let port = try #require(daemon.daemon.boundHTTPPort)
        let alice = try await daemon.agent("alice", Secrets.alice)
        var buyers: [LineClient] = []
        // Three chats: two answered at once and rated 5 and 2, one left to breach its 1 s first response.
        for (index, skill) in ["presales", "presales", "logistics"].enumerated() {
            let buyer = try await daemon.customer("buyer-\(index)")
            #expect(try await buyer.completion("o OPEN \(skill) :你好") == "o OK conv=\(index + 1)")
            try await alice.expect("* ASSIGNED conv=\(index + 1)")
            buyers.append(buyer)
        }
        for conversation in [1, 2] {
            #expect(try await alice.completion("a SEND \(conversation) :在的").hasPrefix("a OK"))
            #expect(try await alice.completion("c CLOSE \(conversation)") == "c OK")
        }
        try await buyers[0].expect("* CSAT-REQUEST conv=1")
        #expect(try await buyers[0].completion("r RATE 1 5") == "r OK conv=1 rating=5")
        try await buyers[1].expect("* CSAT-REQUEST conv=2")
        #expect(try await buyers[1].completion("r RATE 2 2 :太慢") == "r OK conv=2 rating=2")
        // conv 3's warning (at 0.56 s) may have come while alice waited for a completion above, which skips events:
        // its breach, which follows it, is what the test waits for.
        let lead = try await daemon.supervisor()
        for _ in 0..<500 where daemon.breaches.all.isEmpty { try await Task.sleep(for: .milliseconds(20)) }
        #expect(daemon.breaches.all.count == 1)

        let metrics = Samples(String(try await httpGet(port, "/metrics").split(separator: "\r\n\r\n", maxSplits: 1).last ?? ""))
        guard let kefuctl = findExecutable(named: "kefuctl") else { throw KefudProcess.NotBuilt() }
        let today = Self.shanghaiDay(Date())
        let report = try await runCommand(
            kefuctl,
            ["report", "--state-dir", daemon.stateDirectory, "--layout", "skill-day", "--format", "csv", "--since", today])
        #expect(report.status == 0, "\(report.errorOutput)")
        #expect(report.output.hasPrefix("\u{FEFF}date,skill,"))
        let lines = report.output.dropFirst().split(separator: "\r\n").map { $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init) }
        let header = try #require(lines.first)
        let rows = lines.dropFirst().map { Dictionary(uniqueKeysWithValues: zip(header, $0)) }
        func total(_ column: String) -> Double { rows.reduce(0) { $0 + (Double($1[column] ?? "") ?? 0) } }
        for skill in ["presales", "logistics"] {
            let row = rows.first { $0["skill"] == skill }
            #expect(Double(row?["conversations"] ?? "") == metrics["kefud_conversations_opened_total", ["shop": "default", "skill": skill]])
        }
        #expect(total("rounds_met") == metrics["kefud_rounds_total", ["shop": "default", "result": "met"]])
        #expect(total("rounds_breached") == metrics["kefud_rounds_total", ["shop": "default", "result": "breached"]])
        #expect(total("rounds_breached") == 1)
        #expect(total("csat_requests") == metrics["kefud_csat_requests_total", ["shop": "default"]])
        for star in 1...5 {
            #expect(
                total("rating_\(star)")
                    == (metrics["kefud_csat_ratings_total", ["shop": "default", "rating": "\(star)"]] ?? 0))
        }
        #expect(total("rating_5") == 1 && total("rating_2") == 1)
        let rate = try #require(metrics["kefud_response_rate_today_ratio", ["shop": "default"]])
        #expect(abs(total("rounds_met") / (total("rounds_met") + total("rounds_breached")) - rate) < 1e-9)
        // The board.
        let board = try await lead.command("b BOARD").map(SupervisorBoardTests.fields)
        let shop = try #require(board.first { $0["kind"] == "SHOP" })
        #expect(Double(shop["met_today"] ?? "") == total("rounds_met"))
        #expect(Double(shop["breached_today"] ?? "") == total("rounds_breached"))
        #expect(shop["rate_today"] == String(format: "%.4f", rate))
        #expect(Double(shop["ratings_today"] ?? "") == total("ratings"))
        #expect(Double(shop["good_today"] ?? "") == total("rating_4") + total("rating_5"))
        #expect(Double(shop["bad_today"] ?? "") == total("rating_1") + total("rating_2"))
        let arrivals = board.first { $0["kind"] == "HOURS" }?["arrivals"]?.split(separator: ",").compactMap { Double($0) }
        #expect(arrivals?.reduce(0, +) == total("conversations"))
        let aliceRow = try #require(board.first { $0["kind"] == "AGENT" && $0["agent"] == "alice" })
        #expect(aliceRow["met_today"] == "2" && aliceRow["breached_today"] == "1" && aliceRow["ratings_today"] == "2", "\(aliceRow)")
        for client in buyers + [alice, lead] { await client.close() }
        try await daemon.stop()
    }

    /// Today in Asia/Shanghai (kefuctl's default time zone), `YYYY-MM-DD`.
    static func shanghaiDay(_ date: Date) -> String {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "Asia/Shanghai")!
        let parts = calendar.dateComponents([.year, .month, .day], from: date)
        return String(format: "%04d-%02d-%02d", parts.year!, parts.month!, parts.day!)
    }

    @Test func aHeadRequestGetsTheHeadersOnlyAndMetricsAreOnlyForGetAndHead() async throws {
        let daemon = try await TestDaemon.start(testConfiguration(extra: "[http]\nlisten = \"127.0.0.1:0\"\n"))
        let port = try #require(daemon.daemon.boundHTTPPort)
        let head = try await httpExchange(port, "HEAD /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        #expect(head.hasPrefix("HTTP/1.1 200 OK"))
        #expect(head.hasSuffix("\r\n\r\n"))
        let post = try await httpExchange(port, "POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        #expect(post.hasPrefix("HTTP/1.1 405"))
        try await daemon.stop()
    }
}

/// Samples of a text exposition by name and labels (comments skipped).
struct Samples {
    private var values: [String: Double] = [:]

    init(_ text: String) {
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            guard let space = line.lastIndex(of: " ") else { continue }
            values[Self.key(String(line[..<space]))] = Double(line[line.index(after: space)...])
        }
    }

    subscript(name: String, labels: [String: String]) -> Double? {
        values[name + "{" + labels.sorted { $0.key < $1.key }.map { "\($0.key)=\"\($0.value)\"" }.joined(separator: ",") + "}"]
    }

    /// `name{b="2",a="1"}` as `name{a="1",b="2"}` (label order is the writer's).
    private static func key(_ series: String) -> String {
        guard let brace = series.firstIndex(of: "{") else { return series + "{}" }
        let inner = series[series.index(after: brace)..<series.index(before: series.endIndex)]
        let pairs = inner.split(separator: ",").map(String.init).sorted()
        return series[..<brace] + "{" + pairs.joined(separator: ",") + "}"
    }
}

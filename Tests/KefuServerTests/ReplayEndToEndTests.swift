import Foundation
import KefuConfig
import KefuCore
import KefuServer
import KefuStore
import KefuTestSupport
import Logging
import Testing

/// The real kefud records its shop's inputs ([replay] keep_days) through a day with breaches, escalations, a reload and
/// a `kill -9`; `kefuctl replay` (another process) runs them through the core again and finds every decision the same.
@Suite("Replay end to end")
struct ReplayEndToEndTests {
    static let configuration = testConfiguration(firstResponseSeconds: 1, responseSeconds: 1)

    /// Logs in as an agent.
    static func agent(_ port: Int, _ id: String, _ secret: String) async throws -> LineClient {
        let client = try await LineClient.connect(port: port)
        #expect(try await client.completion("l LOGIN agent \(id) \(secret)").hasPrefix("l OK"))
        return client
    }

    static func buyer(_ port: Int, _ id: String) async throws -> LineClient {
        let client = try await LineClient.connect(port: port)
        #expect(try await client.completion("l LOGIN customer \(id) shop-gateway-secret").hasPrefix("l OK"))
        return client
    }

    @Test func aRecordedDayReplaysIdenticallyAcrossAReloadAndAKill() async throws {
        guard let kefuctl = findExecutable(named: "kefuctl") else { throw KefudProcess.NotBuilt() }
        let directory = try TemporaryDirectory(prefix: "kefud-replay")
        let config = try writeConfiguration(Self.configuration, in: directory)
        let state = directory.path + "/var"
        let arguments = ["--config", config, "--state-dir", state]
        let began = SystemWallClock().now()

        // Morning: alice takes four chats, answers two; the other two breach and climb the ladder.
        let first = try KefudProcess(arguments: arguments, workingDirectory: directory.path)
        try await first.waitUntilReady()
        let lead = try await LineClient.connect(port: first.port)
        #expect(try await lead.completion("l LOGIN supervisor lead lead-secret").hasPrefix("l OK"))
        let alice = try await Self.agent(first.port, "alice", "alice-secret")
        var buyers: [LineClient] = []
        for n in 1...4 {
            let buyer = try await Self.buyer(first.port, "b\(n)")
            #expect(try await buyer.completion("o OPEN presales :第\(n)个问题") == "o OK conv=\(n)")
            try await alice.expect("* ASSIGNED conv=\(n) ")
            buyers.append(buyer)
        }
        #expect(try await alice.completion("s SEND 1 :您好").hasPrefix("s OK"))
        #expect(try await alice.completion("s SEND 2 :在的").hasPrefix("s OK"))
        try await lead.expect("* ESCALATED conv=3 ")
        try await lead.expect("* ESCALATED conv=4 ")
        // The buyer writes again (a new round), with a ref it will resend after the kill.
        #expect(try await buyers[0].completion("s SEND 1 ref=m-1 :什么时候发货").hasPrefix("s OK"))

        // A reload in the middle of the day: bob joins presales at level 3.
        _ = try writeConfiguration(
            Self.configuration.replacingOccurrences(
                of: "skills = { presales = 2, refund = 3, returns = 3 }",
                with: "skills = { presales = 3, refund = 3, returns = 3 }"), in: directory)
        first.signal(SIGHUP)
        #expect(await first.waitForNotification("RELOADING=1"))
        #expect(await first.waitForNotification("READY=1"))
        let bob = try await Self.agent(first.port, "bob", "bob-secret")
        let fifth = try await Self.buyer(first.port, "b5")
        #expect(try await fifth.completion("o OPEN presales :还有货吗") == "o OK conv=5")
        try await bob.expect("* ASSIGNED conv=5 ")
        #expect(try await bob.completion("s SEND 5 :有的").hasPrefix("s OK"))
        var acknowledged = 0
        for n in 1...20 {
            #expect(try await fifth.completion("s\(n) SEND 5 :消息\(n)").hasPrefix("s\(n) OK"))
            acknowledged += 1
        }

        first.signal(SIGKILL)
        #expect(await first.waitForExit() != nil)

        // Afternoon on a new process: the run starts again from the store.
        let second = try KefudProcess(arguments: arguments, workingDirectory: directory.path)
        try await second.waitUntilReady()
        let aliceAgain = try await Self.agent(second.port, "alice", "alice-secret")
        let bobAgain = try await Self.agent(second.port, "bob", "bob-secret")
        let sixth = try await Self.buyer(second.port, "b6")
        #expect(try await sixth.completion("o OPEN presales :发票怎么开") == "o OK conv=6")
        let buyerBack = try await Self.buyer(second.port, "b1")
        #expect(try await buyerBack.completion("r SEND 1 ref=m-1 :什么时候发货").hasSuffix("duplicate=1"))
        #expect(try await aliceAgain.completion("s SEND 1 :明天").hasPrefix("s OK"))
        _ = bobAgain
        try await Task.sleep(for: .milliseconds(1500))  // conv 6's first response breaches on the real clock
        #expect(try await sixth.completion("c CLOSE 6") == "c OK")
        second.signal(SIGTERM)
        #expect(await second.waitForExit() == 0)
        let ended = SystemWallClock().now()

        // The journal survived the kill: every message acknowledged before it is there.
        let rows = try JournalReading.read(directory: state, from: began, to: ended)
        #expect(rows.chunks.filter(\.startsRun).count == 2)
        let run = RecordedRunEntries(rows.chunks)
        let sends = try run.commands().filter {
            if case .send(.customer("b5"), _, _, _) = $0 { true } else { false }
        }
        #expect(sends.count == acknowledged)

        let replay = try await runCommand(
            kefuctl,
            ["replay", "--state-dir", state, "--from", "\(began.unixMilliseconds - 60_000)",
             "--to", "\(ended.unixMilliseconds + 1000)"])
        #expect(replay.status == 0, "\(replay.output)\n\(replay.errorOutput)")
        let identical = replay.output.split(separator: "\n").first { $0.hasPrefix("identical: ") }
        let decisions = identical.flatMap { Int($0.dropFirst("identical: ".count).prefix { $0.isNumber }) } ?? 0
        // 6 chats given, 3 first responses breached (conv 3, 4, 6), 2 escalations at least.
        #expect(decisions >= 11, "\(replay.output)")
        #expect(replay.output.contains("restarts in the window: 2"), "\(replay.output)")
    }
}

extension ReplayEndToEndTests {
    /// The README's worked example: yesterday's demo traffic (deploy/kefud.toml's team, a scripted day recorded through
    /// the core as kefud records it, in a real store), replayed by `kefuctl replay` with one more agent in the evening.
    /// The outputs are kept in `.build/test-artifacts/replay/` (the README shows them).
    @Test func yesterdaysDemoTrafficReplayedWithOneMoreAgent() async throws {
        guard let kefuctl = findExecutable(named: "kefuctl") else { throw KefudProcess.NotBuilt() }
        let demo = try String(
            contentsOf: packageRoot.appendingPathComponent("deploy/kefud.toml"), encoding: .utf8)
        let day = RecordedDay.demo(policy: RoutingPolicy(try KefuConfiguration.parse(demo, file: "kefud.toml")))
        let directory = try TemporaryDirectory(prefix: "kefu-replay-demo")
        let state = directory.path + "/var"
        let store = try ConversationStore(directory: state, logger: Logger(label: "test"))
        try await store.commit(day.records + day.chunks.map { .journal($0) })
        await store.shutdown()
        let erin = demo + """

            [[agent]]
            id = "erin"
            name = "Erin"
            token_sha256 = "0c848abb03307b06cf70cd4e29c157dc81af5e94ab3eb1d0c59a120269572376"
            max_chats = 5
            skills = { presales = 3, logistics = 2, refund = 2, returns = 2 }
            """
        let withErin = try writeConfiguration(erin, in: directory, name: "with-erin.toml")
        let artifacts = packageRoot.appendingPathComponent(".build/test-artifacts/replay").path
        try FileManager.default.createDirectory(atPath: artifacts, withIntermediateDirectories: true)
        let common = ["replay", "--state-dir", state, "--from", "2026-12-06", "--to", "2026-12-07"]

        // With the recorded rules: identical.
        let exact = try await runCommand(kefuctl, common)
        #expect(exact.status == 0, "\(exact.output)\(exact.errorOutput)")
        let decided = exact.output.split(separator: "\n").first { $0.hasPrefix("identical: ") }
        #expect((decided.flatMap { Int($0.dropFirst("identical: ".count).prefix { $0.isNumber }) } ?? 0) > 100, "\(exact.output)")
        try exact.output.write(toFile: artifacts + "/identical.txt", atomically: true, encoding: .utf8)

        let modelled = common + ["--config", withErin, "--shift", "erin=17:00-24:00"]
        let table = try await runCommand(kefuctl, modelled)
        #expect(table.status == 0, "\(table.output)\(table.errorOutput)")
        #expect(table.output.contains("recorded: "), "\(table.output)")
        #expect(table.output.contains("by the given shifts: erin"), "\(table.output)")
        let conversations = table.output.split(separator: "\n").first { $0.hasPrefix("conversations ") }
        #expect(conversations?.split(separator: " ") == ["conversations", "162", "162"], "\(table.output)")
        try table.output.write(toFile: artifacts + "/with-erin.txt", atomically: true, encoding: .utf8)
        for format in ["svg", "csv"] {
            let file = artifacts + "/with-erin.\(format)"
            let result = try await runCommand(kefuctl, modelled + ["--format", format, "--output", file])
            #expect(result.status == 0, "\(result.output)\(result.errorOutput)")
        }
        let svg = try String(contentsOfFile: artifacts + "/with-erin.svg", encoding: .utf8)
        #expect(svg.hasPrefix("<svg") || svg.hasPrefix("<?xml"))
        #expect(svg.contains("recorded") && svg.contains("replayed"))
        let csv = try String(contentsOfFile: artifacts + "/with-erin.csv", encoding: .utf8)
        #expect(csv.contains("recorded") && csv.contains("replayed"))

        // The same day staffed for a sale at twice its traffic: arrivals, answer delays and handling times from the
        // journal (`simulate --recorded-day`).
        let demoFile = try writeConfiguration(demo, in: directory, name: "demo.toml")
        let plan = try await runCommand(
            kefuctl,
            ["simulate", "--recorded-day", "2026-12-06", "--factor", "2", "--state-dir", state, "--config", demoFile,
             "--target", "0.9", "--date", "2026-12-07"])
        #expect(plan.status == 0, "\(plan.output)\(plan.errorOutput)")
        #expect(plan.output.contains("agent-hours"), "\(plan.output)")
        try plan.output.write(toFile: artifacts + "/sale-from-recorded-day.txt", atomically: true, encoding: .utf8)
        let empty = try await runCommand(
            kefuctl, ["simulate", "--recorded-day", "2026-11-06", "--state-dir", state, "--config", demoFile])
        #expect(empty.status != 0 && empty.errorOutput.contains("holds no arrival"), "\(empty.errorOutput)")

        // A shift for an agent the configuration lacks, and a bad time, are refused with the reason.
        let unknown = try await runCommand(kefuctl, common + ["--config", withErin, "--shift", "zoe=17:00-24:00"])
        #expect(unknown.status != 0 && unknown.errorOutput.contains("has no agent zoe"), "\(unknown.errorOutput)")
        let badTime = try await runCommand(kefuctl, ["replay", "--state-dir", state, "--from", "2026-13-01"])
        #expect(badTime.status != 0 && badTime.errorOutput.contains("expected a time like"), "\(badTime.errorOutput)")
    }
}

/// The commands of journal rows, in order (restore points and decisions left out).
struct RecordedRunEntries {
    let chunks: [InputJournal.Chunk]

    init(_ chunks: [InputJournal.Chunk]) { self.chunks = chunks }

    func commands() throws -> [Command] {
        var commands: [Command] = []
        for chunk in chunks {
            var reader = InputJournal.Reader(chunk)
            while let entry = try reader.next() {
                if case .input(let command, _) = entry { commands.append(command) }
            }
        }
        return commands
    }
}

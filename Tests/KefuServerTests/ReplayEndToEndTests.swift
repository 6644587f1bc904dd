import Foundation
import KefuCore
import KefuServer
import KefuStore
import KefuTestSupport
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

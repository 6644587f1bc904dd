import Foundation
import KefuConfig
import KefuCore
import KefuServer
import KefuStore
import KefuTestSupport
import Logging
import Synchronization
import Testing

/// The system's clock, moved on by whole days when a test says so: "two days later" without waiting two days.
final class ShiftedClock: WallClock {
    private let offset = Atomic<Int64>(0)

    func now() -> Instant { SystemWallClock().now() + Milliseconds(offset.load(ordering: .relaxed)) }

    func advance(days: Int64) { offset.add(days * 86_400_000, ordering: .relaxed) }
}

/// `[retention]` in a serving daemon, `kefuctl purge`, and `kefuctl backup` of a kefud under load restored into a
/// fresh state directory.
@Suite("Retention and backups end to end")
struct RetentionEndToEndTests {
    /// Passes every 300 ms instead of hourly.
    static let quickly = RetentionSchedule(firstPass: .milliseconds(200), every: .milliseconds(300), pause: .milliseconds(10))

    static let retention = "[retention]\nclosed_after_days = 1\n"

    /// An answer without the events that came meanwhile: its data lines and its completion.
    static func answerLines(_ lines: [String]) -> [String] {
        lines.filter { !$0.hasPrefix("* ") || $0.hasPrefix("* HISTORY ") || $0.hasPrefix("* NOTE ") }
    }

    /// Asks `HISTORY <conversation>` until its completion says `purged=1`, for at most `seconds`; its last answer.
    static func waitForPurge(
        of conversation: Int, asking client: LineClient, seconds: Int = 10
    ) async throws -> [String] {
        let deadline = ContinuousClock.now + .seconds(seconds)
        while true {
            let answer = Self.answerLines(try await client.command("w HISTORY \(conversation)"))
            if answer.last?.contains("purged=1") == true || ContinuousClock.now >= deadline { return answer }
            try await Task.sleep(for: .milliseconds(100))
        }
    }

    /// A buyer's chat with alice, a note and a close: conversation `id`.
    static func chat(_ daemon: TestDaemon, buyer: String, alice: LineClient, id: Int) async throws -> LineClient {
        let client = try await daemon.customer(buyer)
        #expect(try await client.completion("o OPEN presales :我的电话是13800138000") == "o OK conv=\(id)")
        try await alice.expect("* ASSIGNED conv=\(id) ")
        #expect(try await alice.completion("s SEND \(id) :好的,已记下").hasPrefix("s OK seq="))
        #expect(try await alice.completion("n NOTE \(id) :地址: 上海市徐汇区") == "n OK seq=1")
        #expect(try await client.completion("c CLOSE \(id)") == "c OK")
        return client
    }

    @Test func aServingDaemonPurgesOnItsOwnAndHistorySaysSo() async throws {
        let clock = ShiftedClock()
        let daemon = try await TestDaemon.start(
            testConfiguration(extra: Self.retention), clock: clock, retentionSchedule: Self.quickly)
        let alice = try await daemon.agent("alice", Secrets.alice)
        let buyer = try await Self.chat(daemon, buyer: "buyer-1", alice: alice, id: 1)
        let waiting = try await daemon.customer("buyer-2")
        #expect(try await waiting.completion("o OPEN presales :还在吗") == "o OK conv=2")
        let before = Self.answerLines(try await alice.command("h HISTORY 1"))
        #expect(before.last == "h OK count=2")
        #expect(before.first?.hasSuffix(":我的电话是13800138000") == true)

        // Closed less than a day ago: passes come and go, nothing goes.
        try await Task.sleep(for: .milliseconds(800))
        #expect(Self.answerLines(try await alice.command("h HISTORY 1")) == before)

        clock.advance(days: 2)
        let purged = try await Self.waitForPurge(of: 1, asking: alice)
        #expect(purged == ["w OK count=0 purged=1"])
        #expect(Self.answerLines(try await alice.command("n NOTES 1")) == ["n OK count=0 purged=1"])
        #expect(Self.answerLines(try await buyer.command("h HISTORY 1")) == ["h OK count=0 purged=1"])
        #expect(Self.answerLines(try await buyer.command("h HISTORY 1 after=0 limit=10")) == ["h OK count=0 more=0 purged=1"])
        // Still open: untouched.
        let open = Self.answerLines(try await waiting.command("h HISTORY 2"))
        #expect(open.first?.hasSuffix(":还在吗") == true && open.last == "h OK count=1", "\(open)")
        // EXPLAIN reads the changes of hands, which stay.
        let supervisor = try await daemon.supervisor()
        #expect(Self.answerLines(try await supervisor.command("e EXPLAIN 1")).last?.hasPrefix("e OK") == true)
        try await daemon.stop()
    }

    @Test func aReloadTurnsRetentionOn() async throws {
        let clock = ShiftedClock()
        let daemon = try await TestDaemon.start(testConfiguration(), clock: clock, retentionSchedule: Self.quickly)
        let alice = try await daemon.agent("alice", Secrets.alice)
        _ = try await Self.chat(daemon, buyer: "buyer-1", alice: alice, id: 1)
        clock.advance(days: 400)
        try await Task.sleep(for: .milliseconds(800))
        // Off by default: kept for ever.
        #expect(Self.answerLines(try await alice.command("h HISTORY 1")).last == "h OK count=2")

        daemon.daemon.reload(
            node: .success(try NodeConfiguration.parse(testConfiguration(extra: Self.retention), file: "test.toml")))
        #expect(try await Self.waitForPurge(of: 1, asking: alice).last == "w OK count=0 purged=1")
        try await daemon.stop()
    }

    /// The real binary, on a state directory holding old conversations: its own pass (10 s after the start) purges
    /// what is older than `closed_after_days`, with one log line; `kefuctl purge` beside it purges on demand.
    @Test func kefudPurgesOldConversationsAfterItsStartAndKefuctlPurgesBesideIt() async throws {
        guard let kefuctl = findExecutable(named: "kefuctl") else { throw KefudProcess.NotBuilt() }
        let directory = try TemporaryDirectory(prefix: "kefud-retention")
        let state = directory.path + "/var"
        let day: Int64 = 86_400_000
        let now = SystemWallClock().now()
        func closedAgo(_ id: Int64, _ milliseconds: Int64) -> [Record] {
            [
                .conversation(
                    conversation(
                        id, state: .closed, agent: "alice", closedAt: now + Milliseconds(-milliseconds),
                        firstMessage: "我的电话是13800138000")),
                .message(message(id, 1, "我的电话是13800138000")), .message(message(id, 2, "好的", sender: .agent)),
                .message(message(id, 3, "谢谢")), .note(note(id, 1, "地址: 上海市徐汇区")),
            ]
        }
        let store = try ConversationStore(
            directory: state, logger: Logger(label: "test") { _ in SwiftLogNoOpLogHandler() })
        // 1: 40 days ago (kefud's own pass, closed_after_days = 30); 2: 3 days ago (kefuctl's); 3: an hour ago.
        try await store.commit(closedAgo(1, 40 * day) + closedAgo(2, 3 * day) + closedAgo(3, 3_600_000))
        await store.shutdown()
        let config = try writeConfiguration(
            testConfiguration(server: "state_dir = \"\(state)\"", extra: "[retention]\nclosed_after_days = 30\n"),
            in: directory)

        let dryRun = try await runCommand(kefuctl, ["purge", "--dry-run", "--config", config])
        #expect(dryRun.status == 0, "\(dryRun.errorOutput)")
        #expect(dryRun.output.contains("conversations: 1\nmessages: 3\nnotes: 1\n"), "\(dryRun.output)")
        #expect(dryRun.output.contains("dry run: nothing changed"))

        let kefud = try KefudProcess(arguments: ["--config", config], workingDirectory: directory.path)
        try await kefud.waitUntilReady()
        let deadline = ContinuousClock.now + .seconds(40)
        while !kefud.output.contains("retention purge"), ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(200))
        }
        let line = kefud.output.split(separator: "\n").first { $0.contains("retention purge") } ?? ""
        #expect(line.contains("conversations=1"), "\(kefud.output)")
        #expect(line.contains("messages=3") && line.contains("notes=1"), "\(line)")
        #expect(line.contains("event=retention_purge"), "\(line)")

        let lead = try await LineClient.connect(port: kefud.port)
        #expect(try await lead.completion("l LOGIN supervisor lead lead-secret").hasPrefix("l OK"))
        #expect(Self.answerLines(try await lead.command("h HISTORY 1")) == ["h OK count=0 purged=1"])
        #expect(Self.answerLines(try await lead.command("h HISTORY 2")).last == "h OK count=3")

        // Beside the running kefud: conversation 2 (3 days) goes, 3 (an hour) stays.
        let purge = try await runCommand(kefuctl, ["purge", "--config", config, "--older-than-days", "2"])
        #expect(purge.status == 0, "\(purge.errorOutput)")
        #expect(purge.output.contains("purged conversations: 1\npurged messages: 3\npurged notes: 1\n"), "\(purge.output)")
        #expect(Self.answerLines(try await lead.command("h HISTORY 2")) == ["h OK count=0 purged=1"])
        #expect(Self.answerLines(try await lead.command("n NOTES 2")) == ["n OK count=0 purged=1"])
        let kept = Self.answerLines(try await lead.command("h HISTORY 3"))
        #expect(kept.last == "h OK count=3" && kept.first?.hasSuffix(":我的电话是13800138000") == true, "\(kept)")
        let after = try await runCommand(kefuctl, ["purge", "--dry-run", "--config", config, "--older-than-days", "2"])
        #expect(after.output.contains("conversations: 0\nmessages: 0\nnotes: 0\n"), "\(after.output)")

        kefud.signal(SIGTERM)
        #expect(await kefud.waitForExit() == 0)
    }

    @Test func kefuctlSaysWhatIsWrongInsteadOfGuessing() async throws {
        guard let kefuctl = findExecutable(named: "kefuctl") else { throw KefudProcess.NotBuilt() }
        let directory = try TemporaryDirectory(prefix: "kefuctl-retention")
        let config = try writeConfiguration(testConfiguration(), in: directory)
        let off = try await runCommand(kefuctl, ["purge", "--dry-run", "--config", config])
        #expect(off.status != 0)
        #expect(off.errorOutput.contains("retention is off for shop default"), "\(off.errorOutput)")
        let noStore = try await runCommand(
            kefuctl, ["backup", directory.path + "/copy.sqlite", "--state-dir", directory.path + "/nothing"])
        #expect(noStore.status != 0)
        #expect(!FileManager.default.fileExists(atPath: directory.path + "/copy.sqlite"))
        let cluster = try writeConfiguration(
            """
            [server]
            listen = "127.0.0.1:0"
            [cluster]
            postgres = "postgresql://kefu@127.0.0.1:1/kefu"
            node = "n1"
            advertise = "127.0.0.1:7390"
            """, in: directory, name: "node.toml")
        let pgBackup = try await runCommand(kefuctl, ["backup", directory.path + "/copy.sqlite", "--config", cluster])
        #expect(pgBackup.status != 0)
        #expect(pgBackup.errorOutput.contains("pg_dump"), "\(pgBackup.errorOutput)")
        let pgPurge = try await runCommand(kefuctl, ["purge", "--config", cluster, "--older-than-days", "30"])
        #expect(pgPurge.status != 0)
        #expect(pgPurge.errorOutput.contains("the node serving shop default purges it"), "\(pgPurge.errorOutput)")
    }

    /// Issue #14: a backup taken under load, restored into a fresh state directory, starts a kefud that has every
    /// message acknowledged before the backup began.
    @Test func aBackupTakenUnderLoadRestoresEveryMessageAcknowledgedBeforeIt() async throws {
        guard let kefuctl = findExecutable(named: "kefuctl") else { throw KefudProcess.NotBuilt() }
        let directory = try TemporaryDirectory(prefix: "kefud-backup")
        let config = try writeConfiguration(testConfiguration(), in: directory)
        let kefud = try KefudProcess(
            arguments: ["--config", config, "--state-dir", directory.path + "/var"], workingDirectory: directory.path)
        try await kefud.waitUntilReady()

        struct Acknowledged: Sendable {
            var conversation: Int
            var seq: Int
            var text: String
            var at: ContinuousClock.Instant
        }
        final class Load: Sendable {
            let acknowledged = Mutex<[Acknowledged]>([])
            let sending = Atomic(true)
        }
        let load = Load()
        let port = kefud.port
        let buyers = (1...4).map { index in
            Task {
                let client = try await LineClient.connect(port: port)
                #expect(try await client.completion("l LOGIN customer load-\(index) shop-gateway-secret").hasPrefix("l OK"))
                let opened = try await client.completion("o OPEN presales :开始 \(index)")
                let conversation = try #require(field("conv", in: opened).flatMap { Int($0) })
                var count = 0
                while load.sending.load(ordering: .relaxed) {
                    count += 1
                    let text = "买家\(index)的第\(count)条"
                    let reply = try await client.completion("s SEND \(conversation) :\(text)")
                    let seq = try #require(field("seq", in: reply).flatMap { Int($0) }, "\(reply)")
                    let record = Acknowledged(conversation: conversation, seq: seq, text: text, at: .now)
                    load.acknowledged.withLock { $0.append(record) }
                }
                await client.close()
                return conversation
            }
        }
        // Under load: the buyers have been sending for a while when the backup begins, and go on until it has ended.
        while load.acknowledged.withLock({ $0.count }) < 200 { try await Task.sleep(for: .milliseconds(20)) }
        let began = ContinuousClock.now
        let copy = directory.path + "/kefu-backup.sqlite"
        let backup = try await runCommand(kefuctl, ["backup", copy, "--state-dir", directory.path + "/var"])
        let ended = ContinuousClock.now
        try await Task.sleep(for: .milliseconds(300))
        load.sending.store(false, ordering: .relaxed)
        var conversations: [Int] = []
        for buyer in buyers { conversations.append(try await buyer.value) }
        #expect(backup.status == 0, "\(backup.errorOutput)")
        #expect(backup.output.contains("bytes: "), "\(backup.output)")
        #expect(backup.output.contains("last message: conversation="), "\(backup.output)")
        let all = load.acknowledged.withLock { $0 }
        let before = all.filter { $0.at < began }
        #expect(before.count >= 200)
        #expect(all.contains { $0.at > ended }, "the load went on after the backup")
        // A second backup to the same file is refused: the copy stays as it was.
        let again = try await runCommand(kefuctl, ["backup", copy, "--state-dir", directory.path + "/var"])
        #expect(again.status != 0)
        #expect(again.errorOutput.contains("never overwrites"), "\(again.errorOutput)")
        kefud.signal(SIGTERM)
        #expect(await kefud.waitForExit() == 0)

        // Restored: the file alone as kefu.sqlite of a fresh state directory, and a kefud started on it.
        let restored = try TemporaryDirectory(prefix: "kefud-restored")
        try FileManager.default.createDirectory(atPath: restored.path + "/var", withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: copy, toPath: restored.path + "/var/kefu.sqlite")
        let second = try KefudProcess(
            arguments: ["--config", config, "--state-dir", restored.path + "/var"], workingDirectory: restored.path)
        try await second.waitUntilReady()
        let lead = try await LineClient.connect(port: second.port)
        #expect(try await lead.completion("l LOGIN supervisor lead lead-secret").hasPrefix("l OK"))
        for conversation in conversations {
            let history = try await lead.command("h HISTORY \(conversation)", timeout: .seconds(15))
            let lines = history.filter { $0.hasPrefix("* HISTORY ") }
            var texts: [Int: String] = [:]
            for line in lines {
                guard let seq = field("seq", in: line).flatMap({ Int($0) }),
                    let colon = line.range(of: " :")
                else { continue }
                texts[seq] = String(line[colon.upperBound...])
            }
            // A consistent copy: the conversation's messages from the first up to one commit, with no hole.
            #expect(texts.keys.sorted() == Array(1...(texts.keys.max() ?? 0)), "conversation \(conversation)")
            for message in before where message.conversation == conversation {
                #expect(texts[message.seq] == message.text, "conversation \(conversation) seq \(message.seq)")
            }
        }
        second.signal(SIGTERM)
        #expect(await second.waitForExit() == 0)
    }
}

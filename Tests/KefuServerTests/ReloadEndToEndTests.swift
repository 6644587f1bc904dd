import KefuConfig
import KefuCore
import KefuServer
import KefuSystemd
import KefuTestSupport
import Synchronization
import Testing

/// What the daemon told its service manager, in order.
final class RecordingNotifier: ServiceNotifier {
    private let log = Mutex<[String]>([])

    func ready(status: String) { log.withLock { $0.append("READY \(status)") } }
    func status(_ text: String) { log.withLock { $0.append("STATUS \(text)") } }
    func stopping() { log.withLock { $0.append("STOPPING") } }
    func reloading() { log.withLock { $0.append("RELOADING") } }
    func watchdogPing() { log.withLock { $0.append("WATCHDOG=1") } }
    func watchdogTrigger() { log.withLock { $0.append("WATCHDOG=trigger") } }
    func extendTimeout(by duration: Duration) { log.withLock { $0.append("EXTEND \(duration)") } }
    var watchdogInterval: Duration? { nil }

    var messages: [String] { log.withLock { $0 } }
}

@Suite("Reload over TCP: new rules without dropping anyone")
struct ReloadEndToEndTests {
    @Test func aReloadSignsOutRemovedAgentsMovesTheirChatsAndLetsNewOnesIn() async throws {
        let notifier = RecordingNotifier()
        let daemon = try await TestDaemon.start(notifier: notifier)
        let alice = try await daemon.agent("alice", Secrets.alice)
        let bob = try await daemon.agent("bob", Secrets.bob)
        let buyer = try await daemon.customer("buyer-1")
        #expect(try await buyer.completion("o OPEN presales :在吗") == "o OK conv=1")
        _ = try await alice.expect("* ASSIGNED conv=1 ")  // level 3 beats bob's 2

        // alice leaves the roster; dave (with alice's former token) joins.
        let reloaded = testConfiguration().replacingOccurrences(of: #"id = "alice""#, with: #"id = "dave""#)
        daemon.daemon.reload(.success(try KefuConfiguration.parse(reloaded, file: "reloaded.toml")))

        #expect(try await alice.expect("* REVOKED conv=1") == "* REVOKED conv=1 reason=removed")
        #expect(try await alice.next() == "* BYE reason=removed")
        #expect(await alice.isClosedByServer())
        _ = try await bob.expect("* ASSIGNED conv=1 ")
        // bob's connection was never dropped; the buyer's neither.
        #expect(try await bob.completion("p PING") == "p OK")
        #expect(try await buyer.completion("p PING") == "p OK")
        // Token changes apply to new logins: alice is gone, dave logs in.
        let again = try await daemon.connect()
        #expect(try await again.completion("l LOGIN agent alice alice-secret").hasPrefix("l ERR auth-failed"))
        let dave = try await daemon.agent("dave", Secrets.alice)
        #expect(try await dave.completion("p PING") == "p OK")
        #expect(notifier.messages.contains("RELOADING"))
        let reloading = try #require(notifier.messages.lastIndex(of: "RELOADING"))
        #expect(notifier.messages[(reloading + 1)...].contains { $0.hasPrefix("READY listening on 127.0.0.1:") })
        try await daemon.stop()
    }

    @Test func anUnreadableConfigurationKeepsThePreviousOneAndSaysWhy() async throws {
        let notifier = RecordingNotifier()
        let daemon = try await TestDaemon.start(notifier: notifier)
        let bob = try await daemon.agent("bob", Secrets.bob)
        let broken = Result<KefuConfiguration, any Error> {
            try KefuConfiguration.parse("[sla]\nfirst_response_s = -1\n", file: "/etc/kefu/kefud.toml")
        }
        guard case .failure = broken else {
            Issue.record("the broken configuration parsed")
            return
        }
        daemon.daemon.reload(broken)
        #expect(try await bob.completion("p PING") == "p OK")  // applied after the reload: nothing changed for bob
        let ready = notifier.messages.last { $0.hasPrefix("READY") } ?? ""
        #expect(ready.contains("reload rejected, previous configuration in force: /etc/kefu/kefud.toml:2:"))
        // The old roster still logs in.
        let carol = try await daemon.agent("carol", Secrets.carol)
        #expect(try await carol.completion("p PING") == "p OK")
        try await daemon.stop()
    }
}

@Suite("Auto-replies over TCP")
struct AutoReplyEndToEndTests {
    @Test func greetingQueueMessageAndCannedRepliesAreMarkedAutoAndKeptInTheHistory() async throws {
        let daemon = try await TestDaemon.start(
            testConfiguration(
                extra: """
                    [auto_reply]
                    greeting = "亲,欢迎光临小店"
                    queued = "当前排队人数较多,请稍候"
                    """))
        let alice = try await daemon.agent("alice", Secrets.alice)
        let buyer = try await daemon.customer("buyer-auto")
        #expect(try await buyer.completion("o OPEN presales :在吗") == "o OK conv=1")
        #expect(try await buyer.next() == "* JOINED conv=1 agent=alice")
        #expect(try await buyer.next() == "* MSG conv=1 from=system auto=1 :亲,欢迎光临小店")
        _ = try await alice.expect("* ASSIGNED conv=1 ")
        #expect(try await alice.completion("a SEND 1 auto=1 :亲,稍等哦") == "a OK seq=3")
        #expect(try await buyer.next() == "* MSG conv=1 from=agent auto=1 :亲,稍等哦")
        let history = try await buyer.command("h HISTORY 1")
        #expect(history.count == 4)
        #expect(history[1].hasPrefix("* HISTORY conv=1 seq=2 from=system at="))
        #expect(history[1].hasSuffix(" auto=1 :亲,欢迎光临小店"))
        #expect(history[2].hasPrefix("* HISTORY conv=1 seq=3 from=agent at="))
        #expect(history[2].hasSuffix(" auto=1 :亲,稍等哦"))
        // A buyer nobody can serve now hears the queue message after the greeting.
        let other = try await daemon.customer("buyer-wait")
        #expect(try await other.completion("o OPEN complaint :投诉") == "o OK conv=2")
        #expect(try await other.next() == "* QUEUED conv=2 position=1 offline=1")
        #expect(try await other.next() == "* MSG conv=2 from=system auto=1 :亲,欢迎光临小店")
        #expect(try await other.next() == "* MSG conv=2 from=system auto=1 :当前排队人数较多,请稍候")
        try await daemon.stop()
    }
}

@Suite("Escalation records")
struct EscalationRecordTests {
    @Test func priorityClimbsWithTheLadderAndTheRecordNamesItsLevel() {
        let breach = SLABreach(
            sla: .response, conversation: ConversationID(7), round: 2, customer: "b1", agent: "alice", skill: "refund",
            store: "tmall", priority: .vip, waited: .seconds(2000), threshold: .seconds(180),
            at: Instant(unixMilliseconds: 1)
        )
        let priorities = [1, 2, 3, 4].map { level in
            JournaldRecorder.journalRecord(
                for: SLAEscalation(
                    breach: breach, level: level, actions: [.supervisor], reassignedTo: nil, at: breach.at
                )
            ).priority
        }
        #expect(priorities == [4, 3, 2, 2])
        let record = JournaldRecorder.journalRecord(
            for: SLAEscalation(
                breach: breach, level: 1, actions: [.reassign, .supervisor], reassignedTo: "bob", at: breach.at
            ))
        let fields = Dictionary(uniqueKeysWithValues: record.fields.map { ($0.name, $0.value) })
        #expect(record.messageID == SystemdMessageID.slaEscalation)
        #expect(fields["KEFU_EVENT"] == "sla_escalation")
        #expect(fields["KEFU_ESCALATION_LEVEL"] == "1")
        #expect(fields["KEFU_ESCALATION_ACTIONS"] == "reassign,supervisor")
        #expect(fields["KEFU_REASSIGNED_TO"] == "bob")
        #expect(fields["KEFU_ROUND"] == "2")
        #expect(fields["KEFU_SLA"] == "response")
        #expect(record.message.hasPrefix("SLA escalation level 1: conversation 7"))
    }
}

@Suite("Escalation ladder over TCP")
struct EscalationEndToEndTests {
    @Test func supervisorsHearTheFirstRungAndManagersTheirOwn() async throws {
        let daemon = try await TestDaemon.start(
            testConfiguration(
                firstResponseSeconds: 0.5,
                extra: """
                    [[escalation]]
                    after_s = 0
                    actions = ["reassign", "supervisor"]

                    [[escalation]]
                    after_s = 0.5
                    actions = ["manager"]

                    [[manager]]
                    id = "boss"
                    token_sha256 = "\(Secrets.carol.1)"
                    """))
        let lead = try await daemon.supervisor()
        let boss = try await daemon.connect()
        #expect(try await boss.completion("m LOGIN manager boss carol-secret") == "m OK role=manager id=boss")
        let alice = try await daemon.agent("alice", Secrets.alice)
        let buyer = try await daemon.customer("buyer-ladder")
        #expect(try await buyer.completion("o OPEN presales :在吗") == "o OK conv=1")
        _ = try await alice.expect("* ASSIGNED conv=1 ")
        let first = try await lead.expect("* ESCALATED conv=1 ")
        #expect(first.hasPrefix("* ESCALATED conv=1 reason=first-response agent=alice waited_ms="))
        #expect(first.hasSuffix(" level=1"))
        let second = try await boss.expect("* ESCALATED conv=1 ")
        #expect(second.hasSuffix(" level=2"))
        // Managers act as supervisors: they may list the queue and agents.
        #expect(try await boss.completion("q QUEUE") == "q OK count=0")
        try await expectNothingPending([lead])
        #expect(daemon.breaches.escalations.map(\.level) == [1, 2])
        try await daemon.stop()
    }
}

@Suite("Escalation storm")
struct EscalationStormTests {
    @Test func escalationRecordsBeyondTheBudgetAreSummarisedAsEscalations() {
        var limiter = BreachRateLimiter(recordsPerSecond: 2)
        limiter.kind = .escalations
        let at = Instant(unixMilliseconds: 1_700_000_000_000)
        let admitted = (1...5).map { id in
            limiter.admit(
                SLABreach(
                    sla: .firstResponse, conversation: ConversationID(Int64(id)), customer: "b", agent: nil,
                    skill: "presales", priority: .normal, waited: .seconds(120), threshold: .seconds(120), at: at),
                at: at)
        }
        #expect(admitted == [true, true, false, false, false])
        let summaries = limiter.flush()
        #expect(summaries.map(\.conversations) == [[3, 4, 5].map { ConversationID($0) }])
        let record = JournaldRecorder.journalRecord(for: summaries[0])
        #expect(record.messageID == SystemdMessageID.slaEscalation)
        #expect(record.fields.contains(JournalField("KEFU_EVENT", "sla_escalation_summary")))
        #expect(record.message.hasPrefix("SLA escalation storm: 3 escalation records"))
    }
}

@Suite("Watchdog")
struct WatchdogTriggerTests {
    @Test func aBrokenInvariantTriggersTheWatchdogOnceAndStopsThePings() async throws {
        let notifier = RecordingNotifier()
        // The check runs every housekeeping tick here, and reports a violation from the second check on.
        let checks = Mutex(0)
        let check = InvariantCheck(everyTicks: 1) { core in
            let count = checks.withLock { value in
                value += 1
                return value
            }
            return count >= 2 ? ["a conversation held by two agents"] : core.invariantViolations()
        }
        let daemon = try await TestDaemon.start(notifier: notifier, invariantCheck: check)
        let deadline = ContinuousClock.now + .seconds(10)
        while !notifier.messages.contains("WATCHDOG=trigger"), ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(100))
        }
        let messages = notifier.messages
        let trigger = try #require(messages.firstIndex(of: "WATCHDOG=trigger"))
        #expect(messages[..<trigger].contains("WATCHDOG=1"))  // healthy ticks pinged
        try await Task.sleep(for: .seconds(2.5))
        let after = notifier.messages[(trigger + 1)...]
        #expect(!after.contains("WATCHDOG=1"))
        #expect(!after.contains("WATCHDOG=trigger"))
        try await daemon.stop()
    }
}

import Foundation
import KefuTestSupport
import Testing

/// SLA breaches as ops find them: real journald, real kefud, read back with `journalctl -o json` by field.
@Suite("Breaches in journald", .serialized)
struct JournaldBreachTests {
    @Test func aBreachIsOneJournaldEntryWithEveryField() async throws {
        guard await JournaldHarness.isRunningForTest() else { return }
        let (kefud, customer) = try await BreachingKefud.start(prefix: "jbuyer")

        let entries = await JournaldHarness.query(
            ["KEFU_EVENT=sla_breach", "KEFU_CUSTOMER=\(customer)"], timeout: .seconds(10)
        )
        try #require(entries.count == 1, "journal entries: \(entries); kefud output: \(kefud.output)")
        let entry = entries[0]
        #expect(entry["MESSAGE_ID"] == "2b625ba6808041c28aec6c92bc372662")
        #expect(entry["PRIORITY"] == "4")
        #expect(entry["SYSLOG_IDENTIFIER"] == "kefud")
        #expect(entry["KEFU_SLA"] == "first_response")
        #expect(entry["KEFU_CONVERSATION"] == "1")
        #expect(entry["KEFU_AGENT"] == "alice")
        #expect(entry["KEFU_SKILL"] == "logistics")
        #expect(entry["KEFU_THRESHOLD_MS"] == "1500")
        #expect(entry["KEFU_SHOP"] == "default")
        #expect(Int(entry["KEFU_WAITED_MS"] ?? "") ?? 0 >= 1500)
        #expect(
            entry["MESSAGE"]?.hasPrefix("SLA breach: conversation 1 (customer \(customer), skill logistics)") == true)
        kefud.signal(SIGTERM)
        #expect(await kefud.waitForExit() == 0)
    }

    @Test func aLaterRoundBreachNamesItsRoundStoreAndBusinessTime() async throws {
        guard await JournaldHarness.isRunningForTest() else { return }
        let directory = try TemporaryDirectory(prefix: "kefud-journal-round")
        let config = try writeConfiguration(
            testConfiguration(firstResponseSeconds: 60, responseSeconds: 1.5), in: directory)
        let kefud = try KefudProcess(
            arguments: ["--config", config, "--state-dir", directory.path + "/var"],
            workingDirectory: directory.path)
        try await kefud.waitUntilReady()
        let customer = "jround-\(UUID().uuidString.prefix(8))"
        let alice = try await LineClient.connect(port: kefud.port)
        #expect(try await alice.completion("l LOGIN agent alice alice-secret").hasPrefix("l OK"))
        let lead = try await LineClient.connect(port: kefud.port)
        #expect(try await lead.completion("l LOGIN supervisor lead lead-secret").hasPrefix("l OK"))
        let buyer = try await LineClient.connect(port: kefud.port)
        #expect(try await buyer.completion("l LOGIN customer \(customer) shop-gateway-secret").hasPrefix("l OK"))
        #expect(try await buyer.completion("o OPEN logistics store=tmall :快递到哪了") == "o OK conv=1")
        try await alice.expect("* ASSIGNED conv=1")
        #expect(try await alice.completion("a SEND 1 :在查了") == "a OK seq=2")
        #expect(try await buyer.completion("s SEND 1 :还没到") == "s OK seq=3")  // round 2 starts

        let escalated = try await lead.expect("* ESCALATED conv=1")
        #expect(escalated.hasPrefix("* ESCALATED conv=1 reason=response agent=alice waited_ms="))
        let entries = await JournaldHarness.query(
            ["KEFU_EVENT=sla_breach", "KEFU_CUSTOMER=\(customer)"], timeout: .seconds(10)
        )
        try #require(entries.count == 1, "journal entries: \(entries); kefud output: \(kefud.output)")
        let entry = entries[0]
        #expect(entry["KEFU_SLA"] == "response")
        #expect(entry["KEFU_ROUND"] == "2")
        #expect(entry["KEFU_STORE"] == "tmall")
        #expect(entry["KEFU_PRIORITY"] == "normal")
        #expect(entry["KEFU_THRESHOLD_MS"] == "1500")
        #expect(entry["KEFU_BUSINESS_MS"] == entry["KEFU_WAITED_MS"])
        #expect(entry["MESSAGE"]?.contains("for a response (round 2)") == true)
        kefud.signal(SIGTERM)
        #expect(await kefud.waitForExit() == 0)
    }

    /// Warnings and rounds met are kept at debug level (PRIORITY 7) with the breach's fields.
    @Test func aWarningAndARoundMetAreDebugEntriesWithTheRoundsFields() async throws {
        guard await JournaldHarness.isRunningForTest() else { return }
        let directory = try TemporaryDirectory(prefix: "kefud-journal-met")
        let config = try writeConfiguration(
            testConfiguration(firstResponseSeconds: 60, sla: "warn_s = 59.5"), in: directory)
        let kefud = try KefudProcess(
            arguments: ["--config", config, "--state-dir", directory.path + "/var"],
            workingDirectory: directory.path)
        try await kefud.waitUntilReady()
        let customer = "jmet-\(UUID().uuidString.prefix(8))"
        let alice = try await LineClient.connect(port: kefud.port)
        #expect(try await alice.completion("l LOGIN agent alice alice-secret").hasPrefix("l OK"))
        let buyer = try await LineClient.connect(port: kefud.port)
        #expect(try await buyer.completion("l LOGIN customer \(customer) shop-gateway-secret").hasPrefix("l OK"))
        #expect(try await buyer.completion("o OPEN logistics store=tmall :快递到哪了") == "o OK conv=1")
        try await alice.expect("* ASSIGNED conv=1")
        try await alice.expect("* SLA-WARN conv=1 sla=first_response")  // half a second in: 59.5 s before
        #expect(try await alice.completion("a SEND 1 :在查了") == "a OK seq=2")

        let warnings = await JournaldHarness.query(
            ["KEFU_EVENT=sla_warning", "KEFU_CUSTOMER=\(customer)"], timeout: .seconds(10))
        try #require(warnings.count == 1, "journal entries: \(warnings); kefud output: \(kefud.output)")
        #expect(warnings[0]["PRIORITY"] == "7")
        #expect(warnings[0]["MESSAGE_ID"] == "24ba9b8e1d0149ceb3aa7be6bfc7310e")
        #expect(warnings[0]["KEFU_AGENT"] == "alice")
        #expect(warnings[0]["KEFU_THRESHOLD_MS"] == "60000")
        #expect(Int(warnings[0]["KEFU_LEFT_MS"] ?? "") ?? 0 > 0)

        let met = await JournaldHarness.query(
            ["KEFU_EVENT=sla_met", "KEFU_CUSTOMER=\(customer)"], timeout: .seconds(10))
        try #require(met.count == 1, "journal entries: \(met); kefud output: \(kefud.output)")
        #expect(met[0]["PRIORITY"] == "7")
        #expect(met[0]["MESSAGE_ID"] == "0f95dc0853544954b984f4a5cd46f93c")
        #expect(met[0]["KEFU_SLA"] == "first_response")
        #expect(met[0]["KEFU_ROUND"] == "1")
        #expect(met[0]["KEFU_STORE"] == "tmall")
        #expect(met[0]["KEFU_AGENT"] == "alice")
        #expect(Int(met[0]["KEFU_WAITED_MS"] ?? "") ?? 60_000 < 60_000)
        #expect(met[0]["MESSAGE"]?.hasPrefix("SLA met: conversation 1 (customer \(customer)") == true)
        kefud.signal(SIGTERM)
        #expect(await kefud.waitForExit() == 0)
    }

    @Test func aBreachDueWhileDownFiresRightAfterStartAndOnlyOnce() async throws {
        guard await JournaldHarness.isRunningForTest() else { return }
        let directory = try TemporaryDirectory(prefix: "kefud-catchup")
        let config = try writeConfiguration(testConfiguration(firstResponseSeconds: 2), in: directory)
        let arguments = ["--config", config, "--state-dir", directory.path + "/var"]
        let customer = "jdown-\(UUID().uuidString.prefix(8))"
        let first = try KefudProcess(arguments: arguments, workingDirectory: directory.path)
        try await first.waitUntilReady()
        let buyer = try await LineClient.connect(port: first.port)
        #expect(try await buyer.completion("l LOGIN customer \(customer) shop-gateway-secret").hasPrefix("l OK"))
        #expect(try await buyer.completion("o OPEN refund :退款") == "o OK conv=1")
        first.signal(SIGKILL)
        _ = await first.waitForExit()
        try await Task.sleep(for: .seconds(2.5))  // the deadline passes while kefud is down

        let second = try KefudProcess(arguments: arguments, workingDirectory: directory.path)
        try await second.waitUntilReady()
        let matches = ["KEFU_EVENT=sla_breach", "KEFU_CUSTOMER=\(customer)"]
        let entries = await JournaldHarness.query(matches, timeout: .seconds(10))
        try #require(entries.count == 1, "entries: \(entries); output: \(second.output)")
        #expect(Int(entries[0]["KEFU_WAITED_MS"] ?? "") ?? 0 >= 2500)
        #expect(entries[0]["KEFU_AGENT"] == "")
        second.signal(SIGTERM)
        #expect(await second.waitForExit() == 0)

        // A third start must not write the same breach again.
        let third = try KefudProcess(arguments: arguments, workingDirectory: directory.path)
        try await third.waitUntilReady()
        try await Task.sleep(for: .seconds(1))
        #expect(await JournaldHarness.query(matches, timeout: .zero).count == 1)
        third.signal(SIGTERM)
        #expect(await third.waitForExit() == 0)
    }

    @Test func anAgentSetAwayForIdleHangingIsOneJournaldEntry() async throws {
        guard await JournaldHarness.isRunningForTest() else { return }
        let directory = try TemporaryDirectory(prefix: "kefud-autoaway")
        let config = try writeConfiguration(testConfiguration(firstResponseSeconds: 1), in: directory)
        let kefud = try KefudProcess(
            arguments: ["--config", config, "--state-dir", directory.path + "/var"],
            workingDirectory: directory.path)
        try await kefud.waitUntilReady()
        let alice = try await LineClient.connect(port: kefud.port)
        #expect(try await alice.completion("l LOGIN agent alice alice-secret").hasPrefix("l OK"))
        let buyer = try await LineClient.connect(port: kefud.port)
        #expect(try await buyer.completion("l LOGIN customer b-idle shop-gateway-secret").hasPrefix("l OK"))
        #expect(try await buyer.completion("o1 OPEN presales :在吗") == "o1 OK conv=1")
        #expect(try await buyer.completion("o2 OPEN logistics :物流呢") == "o2 OK conv=2")
        try await alice.expect("* PRESENCE away reason=unresponsive", timeout: .seconds(10))

        // Matched by this kefud's pid: entries of earlier runs cannot satisfy the test.
        let pid = "_PID=\(kefud.process.processIdentifier)"
        let entries = await JournaldHarness.query(["KEFU_EVENT=agent_auto_away", pid], timeout: .seconds(10))
        try #require(entries.count == 1, "entries: \(entries); output: \(kefud.output)")
        #expect(entries[0]["MESSAGE_ID"] == "f1fd7c8335c544049e9d855d669f9d9a")
        #expect(entries[0]["PRIORITY"] == "4")
        #expect(entries[0]["KEFU_AGENT"] == "alice")
        #expect(entries[0]["KEFU_BREACHES"] == "2")
        #expect(entries[0]["KEFU_CONVERSATIONS"] == "1,2")
        kefud.signal(SIGTERM)
        #expect(await kefud.waitForExit() == 0)
    }
}

/// A real kefud (first response 1.5 s) in which alice holds conversation 1 of a buyer with a unique id: it breaches
/// about 1.5 s after this returns, and the buyer's id finds its records in the journal.
enum BreachingKefud {
    static func start(prefix: String) async throws -> (KefudProcess, customer: String) {
        let directory = try TemporaryDirectory(prefix: "kefud-\(prefix)")
        let config = try writeConfiguration(testConfiguration(firstResponseSeconds: 1.5), in: directory)
        let kefud = try KefudProcess(
            arguments: ["--config", config, "--state-dir", directory.path + "/var"],
            workingDirectory: directory.path)
        try await kefud.waitUntilReady()
        let customer = "\(prefix)-\(UUID().uuidString.prefix(8))"
        let alice = try await LineClient.connect(port: kefud.port)
        #expect(try await alice.completion("l LOGIN agent alice alice-secret").hasPrefix("l OK"))
        let buyer = try await LineClient.connect(port: kefud.port)
        #expect(try await buyer.completion("l LOGIN customer \(customer) shop-gateway-secret").hasPrefix("l OK"))
        #expect(try await buyer.completion("o OPEN logistics :快递到哪了") == "o OK conv=1")
        try await alice.expect("* ASSIGNED conv=1")
        return (kefud, customer)
    }
}

import Foundation
import KefuConfig
import KefuCore
import Logging
@testable import KefuServer
import KefuTestSupport
import Testing

/// Shop `acme`'s team, as `<shops_dir>/acme.toml`: its own alice (with bob's demo secret, so the two alices cannot
/// be mistaken), its own supervisor `lead`, and its own buyers' secret (the `tmall` bridge's demo secret).
func acmeConfiguration(agent: String = "alice", extra: String = "") -> String {
    """
    [customers]
    token_sha256 = "\(Secrets.tmall.1)"

    [[agent]]
    id = "\(agent)"
    token_sha256 = "\(Secrets.bob.1)"
    max_chats = 2
    skills = { presales = 1 }

    [[supervisor]]
    id = "lead"
    token_sha256 = "\(Secrets.lead.1)"

    \(extra)
    """
}

/// A node with shop `default` (the test configuration's team) and the shops whose files are given, by name.
struct ShopsNode {
    let shops: TemporaryDirectory
    let daemon: TestDaemon
    let notifier: RecordingNotifier

    static func start(_ files: [String: String], server: String = "") async throws -> ShopsNode {
        let shops = try TemporaryDirectory(prefix: "kefu-shops")
        for (shop, text) in files { try text.write(toFile: "\(shops.path)/\(shop).toml", atomically: true, encoding: .utf8) }
        let notifier = RecordingNotifier()
        let daemon = try await TestDaemon.start(
            testConfiguration(server: "shops_dir = \"\(shops.path)\"\n\(server)"), notifier: notifier)
        return ShopsNode(shops: shops, daemon: daemon, notifier: notifier)
    }

    func write(_ shop: String, _ text: String) throws {
        try text.write(toFile: "\(shops.path)/\(shop).toml", atomically: true, encoding: .utf8)
    }

    /// What kefud's SIGHUP does: read the main file and every shop's file again, and apply them.
    func reload() throws {
        daemon.daemon.reload(
            node: .success(
                try NodeConfiguration.parse(
                    testConfiguration(server: "shops_dir = \"\(shops.path)\""), file: "test.toml")))
    }
}

@Suite("Many shops on one node")
struct ShopsEndToEndTests {
    @Test func twoShopsOnOneNodeShareNoAgentsNoBuyersAndNoConversations() async throws {
        let node = try await ShopsNode.start(["acme": acmeConfiguration()])
        let daemon = node.daemon
        // Two agents called alice: each shop's own, each with its own token.
        let alice = try await daemon.agent("alice", Secrets.alice)
        let acmeAlice = try await daemon.login("agent", "alice", Secrets.bob.0, shop: "acme")
        let stranger = try await daemon.connect()
        #expect(
            try await stranger.completion("l LOGIN agent alice \(Secrets.alice.0) shop=acme")
                .hasPrefix("l ERR auth-failed"))
        #expect(
            try await stranger.completion("l LOGIN agent alice \(Secrets.alice.0) shop=nosuch")
                == "l ERR not-found :no shop nosuch on this node")
        // Refused at acme, the connection may still log in to the default shop.
        #expect(try await stranger.completion("l LOGIN agent bob \(Secrets.bob.0)").hasPrefix("l OK role=agent id=bob"))

        // buyer-1 of acme and buyer-1 of default are two buyers; each shop numbers its own conversations.
        let acmeBuyer = try await daemon.login("customer", "buyer-1", Secrets.tmall.0, shop: "acme")
        #expect(try await acmeBuyer.completion("o OPEN presales :在吗") == "o OK conv=1")
        #expect(try await acmeAlice.expect("* ASSIGNED conv=1 ").hasPrefix("* ASSIGNED conv=1 customer=buyer-1"))
        let buyer = try await daemon.customer("buyer-1")
        #expect(try await buyer.completion("o OPEN presales :你好") == "o OK conv=1")
        _ = try await alice.expect("* ASSIGNED conv=1 ")
        #expect(try await acmeAlice.completion("s SEND 1 :您好,acme 客服") == "s OK seq=2")
        #expect(try await acmeBuyer.expect("* MSG conv=1") == "* MSG conv=1 from=agent :您好,acme 客服")

        // Each history is its shop's; the other shop's buyer hears nothing of it.
        let acmeHistory = try await acmeBuyer.command("h HISTORY 1").filter { !$0.hasPrefix("* JOINED") }
        #expect(acmeHistory.count == 3)
        #expect(acmeHistory.first?.hasSuffix(":在吗") == true)
        let history = try await buyer.command("h HISTORY 1").filter { !$0.hasPrefix("* JOINED") }
        #expect(history.count == 2)
        #expect(history.first?.hasSuffix(":你好") == true)

        // Each supervisor sees its own shop's agents only.
        let acmeLead = try await daemon.login("supervisor", "lead", Secrets.lead.0, shop: "acme")
        let acmeAgents = try await acmeLead.command("a AGENTS")
        #expect(acmeAgents.compactMap { field("agent", in: $0) } == ["alice"])
        #expect(acmeAgents.last == "a OK count=1")
        let lead = try await daemon.supervisor()
        let agents = try await lead.command("a AGENTS")
        #expect(agents.compactMap { field("agent", in: $0) } == ["alice", "bob", "carol"])
        // The default store and acme's are files of their own; kefuctl reports on one shop at a time.
        #expect(FileManager.default.fileExists(atPath: daemon.stateDirectory + "/kefu.sqlite"))
        #expect(FileManager.default.fileExists(atPath: daemon.stateDirectory + "/shops/acme/kefu.sqlite"))
        let acmeReport = try await kefuctlReport(daemon.stateDirectory, ["--shop", "acme", "--by", "agent"])
        #expect(acmeReport.dropFirst().map { Array($0.prefix(3)) } == [["alice", "1", "0"]])
        let report = try await kefuctlReport(daemon.stateDirectory, ["--by", "agent"])
        #expect(!report.dropFirst().contains { $0.prefix(2) == ["alice", "1"] }, "\(report)")
        try await daemon.stop()
    }

    /// `kefuctl report --state-dir <directory> <arguments>`, its lines split into words.
    private func kefuctlReport(_ directory: String, _ arguments: [String]) async throws -> [[Substring]] {
        guard let kefuctl = findExecutable(named: "kefuctl") else { throw KefudProcess.NotBuilt() }
        let process = Process()
        let output = Pipe()
        process.executableURL = URL(fileURLWithPath: kefuctl)
        process.arguments = ["report", "--state-dir", directory] + arguments
        process.standardOutput = output
        try process.run()
        let printed = await onOwnThread { output.fileHandleForReading.readDataToEndOfFile() }
        while process.isRunning { try await Task.sleep(for: .milliseconds(20)) }
        #expect(process.terminationStatus == 0)
        return String(decoding: printed, as: UTF8.self).split(separator: "\n").map { $0.split(separator: " ") }
    }

    @Test func linesPipelinedAfterALoginForAnotherShopAreAnsweredThereInOrder() async throws {
        let node = try await ShopsNode.start(["acme": acmeConfiguration()])
        let daemon = node.daemon
        let acmeAlice = try await daemon.login("agent", "alice", Secrets.bob.0, shop: "acme")
        let buyer = try await daemon.connect()
        // One write: a line for the default shop's owner, the LOGIN that moves the connection, and lines for acme's.
        try await buyer.sendRaw(
            Array(
                ("p1 PING\nl LOGIN customer buyer-9 \(Secrets.tmall.0) shop=acme\no OPEN presales :在吗\n"
                    + "s SEND 1 :有货吗\np2 PING\n").utf8))
        let completions = try await buyer.until(tag: "p2").filter { !$0.hasPrefix("* ") }
        #expect(completions == ["p1 OK", "l OK role=customer id=buyer-9", "o OK conv=1", "s OK seq=2", "p2 OK"])
        #expect(try await acmeAlice.expect("* ASSIGNED conv=1 ").contains("customer=buyer-9"))
        try await daemon.stop()
    }

    @Test func aBuyerWhoEndsInputRightAfterLoggingInToAnotherShopStillHearsTheAnswer() async throws {
        let node = try await ShopsNode.start(["acme": acmeConfiguration()])
        let buyer = try await node.daemon.connect()
        try await buyer.sendRaw(Array("l LOGIN customer buyer-9 \(Secrets.tmall.0) shop=acme\n".utf8))
        buyer.finishSending()
        #expect(try await buyer.next() == "l OK role=customer id=buyer-9")
        #expect(await buyer.isClosedByServer())
        try await node.daemon.stop()
    }

    @Test func aReloadAppliesEachShopsFileAndABrokenOneKeepsOnlyThatShopAsItWas() async throws {
        let node = try await ShopsNode.start(["acme": acmeConfiguration(), "zeta": acmeConfiguration()])
        let daemon = node.daemon
        // zeta gains agent dave; acme's file breaks (a misspelt key on line 7).
        try node.write("zeta", acmeConfiguration(agent: "dave"))
        let broken = acmeConfiguration(agent: "erin").replacingOccurrences(
            of: "max_chats = 2", with: "max_chat = 2")
        try node.write("acme", broken)
        let zetaAlice = try await daemon.login("agent", "alice", Secrets.bob.0, shop: "zeta")
        try node.reload()

        // zeta applied its file: alice is signed out, dave logs in.
        #expect(try await zetaAlice.expect("* BYE") == "* BYE reason=removed")
        _ = try await daemon.login("agent", "dave", Secrets.bob.0, shop: "zeta")
        // acme kept its configuration: alice still logs in there, erin does not.
        _ = try await daemon.login("agent", "alice", Secrets.bob.0, shop: "acme")
        let refused = try await daemon.connect()
        #expect(
            try await refused.completion("l LOGIN agent erin \(Secrets.bob.0) shop=acme").hasPrefix("l ERR auth-failed"))
        // One READY for the whole reload, naming acme's file, line and key.
        let messages = node.notifier.messages
        let reloading = try #require(messages.lastIndex(of: "RELOADING"))
        let ready = messages[(reloading + 1)...].filter { $0.hasPrefix("READY ") }
        #expect(ready.count == 1)
        let expected =
            "acme: reload rejected, previous configuration in force: \(node.shops.path)/acme.toml:4: "
            + "agent[0].max_chats: missing required key (is max_chat on line 7 a typo?)"
        #expect(ready.first?.contains(expected) == true, "\(ready)")
        #expect(ready.first?.contains("3 shops; default: ") == true)
        try await daemon.stop()
    }

    @Test func aShopWhoseFileIsBrokenAtStartIsNotServedAndTheOthersAre() async throws {
        let node = try await ShopsNode.start(["acme": acmeConfiguration(), "broken": "[customers]\ntoken = 1\n"])
        let client = try await node.daemon.connect()
        #expect(
            try await client.completion("l LOGIN agent alice x shop=broken") == "l ERR not-found :no shop broken on this node")
        #expect(
            try await client.completion("l LOGIN agent alice \(Secrets.bob.0) shop=acme").hasPrefix("l OK role=agent"))
        #expect(node.notifier.messages.contains { $0.hasPrefix("READY listening on ") && $0.contains("2 shops; default: ") })
        try await node.daemon.stop()
    }

    @Test func everyJournaldRecordNamesItsShop() throws {
        let breach = SLABreach(
            sla: .firstResponse, conversation: ConversationID(7), customer: "b1", agent: nil, skill: "presales",
            priority: .normal, waited: Milliseconds(121_000), threshold: Milliseconds(120_000),
            at: Instant(unixMilliseconds: 0))
        let recorder = JournaldRecorder(fallback: Logger(label: "test"))
        let acme = try #require(recorder.forShop("acme") as? JournaldRecorder)
        let fields = acme.withShop(JournaldRecorder.journalRecord(for: breach)).fields
        #expect(fields.filter { $0.name == "KEFU_SHOP" }.map(\.value) == ["acme"])
        #expect(recorder.withShop(JournaldRecorder.journalRecord(for: breach)).fields.last?.value == "default")
    }

    @Test func theWatchdogHearsFromTheNodeOnlyOnceEveryShopHasPinged() {
        let base = RecordingNotifier()
        let node = NodeNotifier(base: base)
        node.serve(["default", "acme"])
        node.forShop("default").watchdogPing()
        node.forShop("default").watchdogPing()
        #expect(base.messages.filter { $0 == "WATCHDOG=1" }.isEmpty)
        node.forShop("acme").watchdogPing()
        #expect(base.messages.filter { $0 == "WATCHDOG=1" }.count == 1)
        node.forShop("acme").watchdogPing()
        #expect(base.messages.filter { $0 == "WATCHDOG=1" }.count == 1)
    }

    @Test func aClusterNodesStatusNamesTheShopsItServesAndNotItsLobby() {
        let base = RecordingNotifier()
        let node = NodeNotifier(base: base)
        node.serve([Lobby.name])
        node.listening("listening on 127.0.0.1:7390")
        node.forShop(Lobby.name).ready(status: "0 agents online")
        #expect(base.messages.last == "READY listening on 127.0.0.1:7390; cluster node: serving 0 shops")
        node.add("acme")
        node.forShop("acme").ready(status: "1 agent online, 0 queued")
        node.forShop("acme").status("2 agents online, 0 queued")
        #expect(base.messages.last == "STATUS cluster node: serving 1 shop; acme: 2 agents online, 0 queued")
        node.remove("acme")
        node.forShop(Lobby.name).status("0 agents online")
        #expect(base.messages.last == "STATUS cluster node: serving 0 shops")
    }
}

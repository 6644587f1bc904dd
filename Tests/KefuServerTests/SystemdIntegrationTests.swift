import Foundation
import KefuTestSupport
import Testing

/// kefud under a real systemd (issue #5, "Proof under a real systemd"): the shipped `deploy/kefud.service` and
/// `deploy/kefud.socket`, hardening and all, run by Debian's systemd as PID 1 of a namespace of its own
/// (``NamespacedSystemd``), with journald. Each test boots its own namespace (a fraction of a second). Root only: as
/// root and in CI a systemd that cannot boot fails the test, elsewhere the test says it skipped.
@Suite("kefud under a real systemd", .serialized)
struct SystemdIntegrationTests {
    @Test func theSocketStartsKefudOnTheFirstConnectionAndSystemdShowsItsStatus() async throws {
        guard let kefud = try await SystemdKefud.boot() else { return }
        defer { kefud.shutdown() }
        try await kefud.systemd.systemctl(["start", "kefud.socket"])
        let socket = try await kefud.systemd.show("kefud.socket", ["ActiveState", "SubState", "Listen"])
        #expect(socket["ActiveState"] == "active" && socket["SubState"] == "listening", "\(socket)")
        #expect(socket["Listen"] == "127.0.0.1:\(kefud.port) (Stream)", "\(socket)")
        #expect(
            try await kefud.service(["ActiveState"])["ActiveState"] == "inactive", "kefud started before anyone came")

        // The first connection starts kefud, and waits in the socket's backlog until kefud accepts it.
        let alice = try await LineClient.connect(port: kefud.port)
        #expect(try await alice.completion("l LOGIN agent alice alice-secret", timeout: .seconds(30)).hasPrefix("l OK"))
        // Active only after READY=1; STATUS= then follows the floor. alice may have logged in before READY=1 (her
        // connection waited in the backlog), then READY's status ("listening on ...; <summary>") already says so
        // and stands; otherwise the summary replaces it within a second.
        let (running, properties) = try await kefud.waitForService {
            $0["ActiveState"] == "active" && $0["SubState"] == "running"
                && ($0["StatusText"] ?? "").hasSuffix("1 agents online, 0 queued, 0 active")
        }
        await kefud.expect(running, "not running with its status: \(properties)")
        #expect(properties["MainPID"] != "0" && properties["NRestarts"] == "0", "\(properties)")
        // It took systemd's listener rather than binding its own.
        let listening = try await kefud.systemd.journalEntries(["-u", "kefud.service", "MESSAGE=listening"])
        #expect(
            listening.map { $0["KEFU_ADDRESS"] } == ["127.0.0.1:\(kefud.port) (socket activation: kefud)"],
            "\(listening)")
        await alice.close()
    }

    @Test func reloadAppliesAChangedRosterWithTheAgentsStillConnected() async throws {
        guard let kefud = try await SystemdKefud.boot() else { return }
        defer { kefud.shutdown() }
        try await kefud.systemd.systemctl(["start", "kefud.socket"])
        let carol = try await LineClient.connect(port: kefud.port)
        #expect(try await carol.completion("l LOGIN agent carol carol-secret", timeout: .seconds(30)).hasPrefix("l OK"))
        let bob = try await LineClient.connect(port: kefud.port)
        #expect(try await bob.completion("l LOGIN agent bob bob-secret").hasPrefix("l OK"))
        let before = try await kefud.waitForService { $0["SubState"] == "running" }.properties

        // carol leaves the roster, erin joins with carol's former token.
        try kefud.writeConfiguration(
            kefud.configuration.replacingOccurrences(of: #"id = "carol""#, with: #"id = "erin""#))
        try await kefud.systemd.systemctl(["reload", "kefud.service"])
        #expect(try await carol.expect("* BYE") == "* BYE reason=removed")
        #expect(try await bob.completion("p PING") == "p OK", "bob's connection did not survive the reload")
        let erin = try await LineClient.connect(port: kefud.port)
        #expect(try await erin.completion("l LOGIN agent erin carol-secret").hasPrefix("l OK role=agent id=erin"))
        let (settled, after) = try await kefud.waitForService {
            $0["StatusText"] == "2 agents online, 0 queued, 0 active"
        }
        #expect(settled, "\(after)")
        // The same process, never restarted: a reload, not a restart.
        #expect(after["MainPID"] == before["MainPID"] && after["NRestarts"] == "0", "\(before) -> \(after)")
        #expect(after["ActiveState"] == "active" && after["SubState"] == "running", "\(after)")
        let reloaded = try await kefud.systemd.journalEntries(["-u", "kefud.service", "KEFU_EVENT=config_reloaded"])
        await kefud.expect(reloaded.count == 1, "config_reloaded entries: \(reloaded)")
        for client in [carol, bob, erin] { await client.close() }
    }

    @Test func anInvalidConfigurationOnReloadKeepsTheServiceRunningOnTheOldOne() async throws {
        guard let kefud = try await SystemdKefud.boot() else { return }
        defer { kefud.shutdown() }
        try await kefud.systemd.systemctl(["start", "kefud.socket"])
        let alice = try await LineClient.connect(port: kefud.port)
        #expect(try await alice.completion("l LOGIN agent alice alice-secret", timeout: .seconds(30)).hasPrefix("l OK"))
        let before = try await kefud.waitForService { $0["SubState"] == "running" }.properties

        // Broken (a skill level of 7), and with carol renamed: had any of it been applied, carol could not log in.
        let broken = testConfiguration(port: kefud.port, aliceSkills: "{ presales = 7 }")
            .replacingOccurrences(of: #"id = "carol""#, with: #"id = "erin""#)
        try kefud.writeConfiguration(broken)
        try await kefud.systemd.systemctl(["reload", "kefud.service"])
        let (rejected, after) = try await kefud.waitForService {
            $0["StatusText"]?.contains("reload rejected, previous configuration in force: /etc/kefu/kefud.toml:")
                == true
        }
        await kefud.expect(rejected, "no rejection in STATUS=: \(after)")
        #expect(after["StatusText"]?.contains("agent[0].skills.presales") == true, "\(after)")
        #expect(after["ActiveState"] == "active" && after["SubState"] == "running", "\(after)")
        #expect(after["MainPID"] == before["MainPID"] && after["NRestarts"] == "0", "\(before) -> \(after)")
        #expect(try await alice.completion("p PING") == "p OK")
        let carol = try await LineClient.connect(port: kefud.port)
        #expect(try await carol.completion("l LOGIN agent carol carol-secret").hasPrefix("l OK role=agent id=carol"))
        let erin = try await LineClient.connect(port: kefud.port)
        #expect(try await erin.completion("l LOGIN agent erin carol-secret").hasPrefix("l ERR"))
        // Logged at error level, with file, line and key, for `journalctl -u kefud -p err`.
        let logged = try await kefud.systemd.journalEntries(["-u", "kefud.service", "KEFU_EVENT=config_rejected"])
        #expect(logged.count == 1 && logged.first?["PRIORITY"] == "3", "\(logged)")
        #expect(logged.first?["KEFU_ERROR"]?.contains("/etc/kefu/kefud.toml:") == true, "\(logged)")
        for client in [alice, carol, erin] { await client.close() }
    }

    @Test func aFrozenKefudIsRestartedBySystemdsWatchdogWithEveryChatKept() async throws {
        // The shipped WatchdogSec=30 is too long to wait for in a test; nothing else changes.
        guard let kefud = try await SystemdKefud.boot(serviceDropIn: "[Service]\nWatchdogSec=3\n") else { return }
        defer { kefud.shutdown() }
        try await kefud.systemd.systemctl(["start", "kefud.socket"])
        let alice = try await LineClient.connect(port: kefud.port)
        #expect(try await alice.completion("l LOGIN agent alice alice-secret", timeout: .seconds(30)).hasPrefix("l OK"))
        let buyer = try await LineClient.connect(port: kefud.port)
        #expect(try await buyer.completion("l LOGIN customer b-frozen shop-gateway-secret").hasPrefix("l OK"))
        #expect(try await buyer.completion("o OPEN presales :有S码吗") == "o OK conv=1")
        try await alice.expect("* ASSIGNED conv=1")
        #expect(try await alice.completion("s SEND 1 :有的亲") == "s OK seq=2")
        #expect(try await buyer.completion("o2 OPEN refund :退款") == "o2 OK conv=2")  // queued: nobody has refund
        let before = try await kefud.service(["MainPID", "NRestarts", "WatchdogUSec"])
        #expect(before["WatchdogUSec"] == "3s" && before["NRestarts"] == "0", "\(before)")
        let mainPID = try #require(before["MainPID"])

        let frozen = try await kefud.systemd.run(["kill", "-STOP", mainPID])
        try #require(frozen.status == 0, "\(frozen.errorOutput)")
        let (restarted, after) = try await kefud.waitForService(timeout: .seconds(30)) {
            Int($0["NRestarts"] ?? "") ?? 0 >= 1 && $0["SubState"] == "running"
        }
        guard await kefud.expect(restarted, "not restarted: \(after)") else { return }
        #expect(after["MainPID"] != mainPID && after["ActiveState"] == "active", "\(after)")
        let log = await kefud.log()
        #expect(log.contains("kefud.service: Watchdog timeout (limit 3s)!"), "\(log)")
        // SIGABRT, systemd's watchdog signal, ends it at once (the Swift runtime does not swallow it).
        #expect(log.contains("Main process exited, code=killed, status=6/ABRT"), "\(log)")

        // Both chats are back from the store: alice gets hers again, the queued one still waits.
        let back = try await LineClient.connect(port: kefud.port)
        #expect(
            try await back.completion("l LOGIN agent alice alice-secret") == "l OK role=agent id=alice presence=online")
        #expect(try await back.expect("* ASSIGNED conv=1").hasSuffix(" resumed=1 :有S码吗"))
        let history = try await back.command("h HISTORY 1")
        #expect(history.last == "h OK count=2", "\(history)")
        let buyerBack = try await LineClient.connect(port: kefud.port)
        #expect(try await buyerBack.completion("l LOGIN customer b-frozen shop-gateway-secret").hasPrefix("l OK"))
        let status = try await kefud.waitForService { $0["StatusText"] == "1 agents online, 1 queued, 1 active" }
        #expect(status.held, "\(status.properties)")
        #expect(try await buyerBack.completion("s SEND 1 :那我下单了") == "s OK seq=3")
        try await back.expect("* MSG conv=1 from=customer :那我下单了")
        for client in [alice, buyer, back, buyerBack] { await client.close() }
    }

    @Test func stopSaysByeEndsWithSuccessAndExitStatus0AndLeavesNothingForTheNextStart() async throws {
        guard let kefud = try await SystemdKefud.boot() else { return }
        defer { kefud.shutdown() }
        try await kefud.systemd.systemctl(["start", "kefud.socket"])
        let alice = try await LineClient.connect(port: kefud.port)
        #expect(try await alice.completion("l LOGIN agent alice alice-secret", timeout: .seconds(30)).hasPrefix("l OK"))
        _ = try await kefud.waitForService { $0["SubState"] == "running" }

        // The shipped unit keeps connections only through a restart (RestartKillSignal=SIGUSR2): a stop is SIGTERM,
        // and every client hears `* BYE` before its connection closes.
        try await kefud.systemd.systemctl(["stop", "kefud.service"])
        try await alice.expect("* BYE")
        #expect(await alice.isClosedByServer())
        let stopped = try await kefud.service(["ActiveState", "Result", "ExecMainCode", "ExecMainStatus"])
        #expect(stopped["ActiveState"] == "inactive", "\(stopped)")
        await kefud.expect(stopped["Result"] == "success", "\(stopped)")
        // ExecMainCode=1 is CLD_EXITED: it exited by itself, with status 0, before systemd had to kill anything.
        #expect(stopped["ExecMainCode"] == "1" && stopped["ExecMainStatus"] == "0", "\(stopped)")
        // Nothing is left for a later start: it comes up with no connection to take over.
        try await kefud.systemd.systemctl(["start", "kefud.service"])
        let again = try await LineClient.connect(port: kefud.port)
        #expect(try await again.completion("p PING", timeout: .seconds(30)) == "p OK")
        let takenOver = try await kefud.systemd.journalEntries(
            ["-u", "kefud.service", "MESSAGE=connections taken over from the previous process"], timeout: .seconds(1))
        #expect(takenOver.isEmpty, "\(takenOver)")
        await again.close()
    }

    @Test func aRestartSaysByeWhenTheFileDescriptorStoreIsOff() async throws {
        let off = "[Service]\nFileDescriptorStoreMax=0\nEnvironment=FDSTORE=0\n"
        guard let kefud = try await SystemdKefud.boot(serviceDropIn: off) else { return }
        defer { kefud.shutdown() }
        try await kefud.systemd.systemctl(["start", "kefud.socket"])
        let alice = try await LineClient.connect(port: kefud.port)
        #expect(try await alice.completion("l LOGIN agent alice alice-secret", timeout: .seconds(30)).hasPrefix("l OK"))
        _ = try await kefud.waitForService { $0["SubState"] == "running" }

        // No store to hand the connections to: a restart ends them like a stop, with `* BYE`.
        try await kefud.systemd.systemctl(["restart", "kefud.service"])
        try await alice.expect("* BYE")
        #expect(await alice.isClosedByServer())
        let again = try await LineClient.connect(port: kefud.port)
        #expect(try await again.completion("p PING", timeout: .seconds(30)) == "p OK")
        await again.close()
    }

    @Test func restartKeepsTheSameConnectionsWorkingAndLosesNoMessage() async throws {
        guard let kefud = try await SystemdKefud.boot() else { return }
        defer { kefud.shutdown() }
        try await kefud.systemd.systemctl(["start", "kefud.socket"])
        try await restartKeepsConversationGoing(kefud)
        // The listener stayed with kefud.socket: nothing else was stored for it.
        let listening = try await kefud.systemd.journalEntries(["-u", "kefud.service", "MESSAGE=listening"])
        #expect(
            listening.map { $0["KEFU_ADDRESS"] }
                == Array(
                    repeating: "127.0.0.1:\(kefud.port) (socket activation: kefud)", count: 2), "\(listening)")
    }

    @Test func restartWithoutSocketActivationKeepsTheListenerToo() async throws {
        guard let kefud = try await SystemdKefud.boot() else { return }
        defer { kefud.shutdown() }
        // kefud binds [server] listen itself; the restart hands that socket over as well.
        try await kefud.systemd.systemctl(["start", "kefud.service"])
        try await restartKeepsConversationGoing(kefud)
        let listening = try await kefud.systemd.journalEntries(["-u", "kefud.service", "MESSAGE=listening"])
        #expect(
            listening.map { $0["KEFU_ADDRESS"] } == [
                "127.0.0.1:\(kefud.port)", "127.0.0.1:\(kefud.port) (file descriptor store: kefud-listener)",
            ], "\(listening)")
    }

    @Test func aRestartKeepsTheHTTPListenerInSystemdsStore() async throws {
        let http = try freeLoopbackPort()
        guard let kefud = try await SystemdKefud.boot(extra: "[http]\nlisten = \"127.0.0.1:\(http)\"\n") else { return }
        defer { kefud.shutdown() }
        try await kefud.systemd.systemctl(["start", "kefud.service"])
        #expect(try await httpGet(http, "/readyz").hasPrefix("HTTP/1.1 200 OK"))
        try await kefud.systemd.systemctl(["restart", "kefud.service"])
        _ = try await kefud.waitForService { $0["ActiveState"] == "active" && $0["SubState"] == "running" }
        #expect(try await httpGet(http, "/readyz").hasPrefix("HTTP/1.1 200 OK"))
        let listening = try await kefud.systemd.journalEntries(["-u", "kefud.service", "MESSAGE=http listening"])
        await kefud.expect(
            listening.map { $0["KEFU_ADDRESS"] } == [
                "127.0.0.1:\(http)", "127.0.0.1:\(http) (file descriptor store: kefud-http-listener)",
            ], "\(listening)")
    }

    @Test func aRestartAfterTheListenAddressChangedListensThereAndKeepsTheConnections() async throws {
        guard let kefud = try await SystemdKefud.boot() else { return }
        defer { kefud.shutdown() }
        try await kefud.systemd.systemctl(["start", "kefud.service"])
        let alice = try await LineClient.connect(port: kefud.port)
        #expect(try await alice.completion("l LOGIN agent alice alice-secret", timeout: .seconds(30)).hasPrefix("l OK"))

        // [server] settings apply at the next start: the stored listener gives way to the new address.
        let moved = try freeLoopbackPort()
        try kefud.writeConfiguration(
            kefud.configuration.replacingOccurrences(of: "127.0.0.1:\(kefud.port)", with: "127.0.0.1:\(moved)"))
        try await kefud.systemd.systemctl(["restart", "kefud.service"])
        #expect(try await alice.completion("p PING", timeout: .seconds(30)) == "p OK")
        let bob = try await LineClient.connect(port: moved)
        #expect(try await bob.completion("l LOGIN agent bob bob-secret").hasPrefix("l OK"))
        await #expect(throws: (any Error).self) { try await LineClient.connect(port: kefud.port) }
        let listening = try await kefud.systemd.journalEntries(["-u", "kefud.service", "MESSAGE=listening"])
        #expect(
            listening.map { $0["KEFU_ADDRESS"] } == ["127.0.0.1:\(kefud.port)", "127.0.0.1:\(moved)"], "\(listening)")
        for client in [alice, bob] { await client.close() }
    }

    @Test func anUpgradeOfTheBinaryKeepsTheConnections() async throws {
        // The "new" kefud is a copy at another path: a different executable file takes the connections over.
        guard let binary = findExecutable(named: "kefud") else { throw KefudProcess.NotBuilt() }
        let next = try TemporaryDirectory(prefix: "kefu-next")
        try FileManager.default.copyItem(atPath: binary, toPath: next.url(for: "kefud").path)
        guard
            let kefud = try await SystemdKefud.boot(binds: [(next.url(for: "kefud").path, "/usr/local/bin/kefud-next")])
        else { return }
        defer { kefud.shutdown() }
        try await kefud.systemd.systemctl(["start", "kefud.socket"])
        try await restartKeepsConversationGoing(kefud, upgradingTo: "/usr/local/bin/kefud-next")
        let takenOver = try await kefud.systemd.journalEntries(
            ["-u", "kefud.service", "MESSAGE=connections taken over from the previous process"])
        #expect(takenOver.map { $0["_EXE"] } == ["/usr/local/bin/kefud-next"], "\(takenOver)")
    }

    @Test func aRestartKeepsEachShopsConnectionsWithTheirShop() async throws {
        guard let kefud = try await SystemdKefud.boot() else { return }
        defer { kefud.shutdown() }
        let shops = kefud.configurationDirectory.url(for: "shops").path
        try FileManager.default.createDirectory(
            atPath: shops, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
        try acmeConfiguration().write(toFile: shops + "/acme.toml", atomically: false, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: shops + "/acme.toml")
        try kefud.writeConfiguration(testConfiguration(port: kefud.port, server: #"shops_dir = "/etc/kefu/shops""#))
        try await kefud.systemd.systemctl(["start", "kefud.socket"])

        // acme's alice (not the default shop's) holds acme's buyer's chat.
        let alice = try await LineClient.connect(port: kefud.port)
        #expect(
            try await alice.completion("l LOGIN agent alice bob-secret shop=acme", timeout: .seconds(30))
                .hasPrefix("l OK role=agent id=alice"))
        let buyer = try await LineClient.connect(port: kefud.port)
        #expect(try await buyer.completion("l LOGIN customer b1 tmall-bridge-secret shop=acme").hasPrefix("l OK"))
        #expect(try await buyer.completion("o OPEN presales :有S码吗") == "o OK conv=1")
        try await alice.expect("* ASSIGNED conv=1")
        let shopsStatus = "2 shops; default: 0 agents online, 0 queued, 0 active; acme: 1 agents online, 0 queued, 1 active"
        // READY's status begins with where kefud listens; a later STATUS= is the shops' summary alone.
        let (ready, before) = try await kefud.waitForService { $0["StatusText"]?.hasSuffix(shopsStatus) == true }
        await kefud.expect(ready, "\(before)")
        let mainPID = try #require(before["MainPID"])

        try await kefud.systemd.systemctl(["restart", "kefud.service"])
        let (restarted, after) = try await kefud.waitForService {
            $0["MainPID"] != mainPID && $0["SubState"] == "running"
        }
        await kefud.expect(restarted, "not restarted: \(before) -> \(after)")
        // The same connections, still with acme: no new LOGIN, and the chat goes on.
        #expect(try await buyer.completion("s SEND 1 :那我下单了") == "s OK seq=2")
        try await alice.expect("* MSG conv=1 from=customer :那我下单了")
        #expect(try await alice.completion("s2 SEND 1 :好的") == "s2 OK seq=3")
        try await buyer.expect("* MSG conv=1 from=agent :好的")
        let (settled, status) = try await kefud.waitForService { $0["StatusText"]?.hasSuffix(shopsStatus) == true }
        await kefud.expect(settled, "\(status)")
        for client in [alice, buyer] { await client.close() }
    }

    /// An agent and a buyer in a conversation; `systemctl restart kefud` (with `upgradingTo`, after pointing
    /// `ExecStart=` at another binary); the same TCP connections (the clients never reconnect) go on: nothing sent
    /// before, during or after the restart is lost, nobody logs in again.
    private func restartKeepsConversationGoing(_ kefud: SystemdKefud, upgradingTo binary: String? = nil) async throws {
        let alice = try await LineClient.connect(port: kefud.port)
        #expect(try await alice.completion("l LOGIN agent alice alice-secret", timeout: .seconds(30)).hasPrefix("l OK"))
        let buyer = try await LineClient.connect(port: kefud.port)
        #expect(try await buyer.completion("l LOGIN customer b-restart shop-gateway-secret").hasPrefix("l OK"))
        #expect(try await buyer.completion("o OPEN presales :有S码吗") == "o OK conv=1")
        try await alice.expect("* ASSIGNED conv=1")
        #expect(try await alice.completion("s SEND 1 :有的亲") == "s OK seq=2")
        try await buyer.expect("* MSG conv=1 from=agent")
        // A gateway speaking for a buyer, and a supervisor watching everything.
        let tmall = try await LineClient.connect(port: kefud.port)
        #expect(try await tmall.completion("l LOGIN gateway tmall tmall-bridge-secret").hasPrefix("l OK"))
        #expect(try await tmall.completion("o OPEN presales customer=tmall:b1 :在吗") == "o OK conv=2")
        try await alice.expect("* ASSIGNED conv=2")
        let lead = try await LineClient.connect(port: kefud.port)
        #expect(try await lead.completion("l LOGIN supervisor lead lead-secret").hasPrefix("l OK"))
        #expect(try await lead.completion("w WATCH") == "w OK")
        // An agent who stepped away stays away (a fresh connect would make it online).
        let carol = try await LineClient.connect(port: kefud.port)
        #expect(try await carol.completion("l LOGIN agent carol carol-secret").hasPrefix("l OK"))
        #expect(try await carol.completion("a PRESENCE away") == "a OK presence=away")
        // Not logged in yet when kefud restarts: it logs in afterwards, on the same connection.
        let bob = try await LineClient.connect(port: kefud.port)
        #expect(try await bob.completion("p PING") == "p OK")
        // carol, away, is not counted online.
        let (ready, before) = try await kefud.waitForService {
            $0["StatusText"] == "1 agents online, 0 queued, 2 active"
        }
        await kefud.expect(ready, "\(before)")
        let mainPID = try #require(before["MainPID"])

        if let binary {
            let dropIn = kefud.systemd.unitDirectory.appendingPathComponent("kefud.service.d/upgrade.conf")
            try FileManager.default.createDirectory(
                at: dropIn.deletingLastPathComponent(), withIntermediateDirectories: true)
            try "[Service]\nExecStart=\nExecStart=\(binary) --config /etc/kefu/kefud.toml\n".write(
                to: dropIn, atomically: false, encoding: .utf8)
            try await kefud.systemd.systemctl(["daemon-reload"])
        }
        // Half a line before the restart (the old process holds it, unfinished), the rest while systemd restarts
        // kefud: the next process reads the line whole, and answers it.
        try await buyer.sendRaw(Array("s1 SEND 1 :那我下".utf8))
        try await Task.sleep(for: .milliseconds(50))
        let restart = Task { _ = try await kefud.systemd.systemctl(["restart", "kefud.service"]) }
        try await Task.sleep(for: .milliseconds(50))
        try await buyer.sendRaw(Array("单了\n".utf8))
        // A connection made while kefud restarts waits in the listening socket's backlog, whichever process takes it.
        let late = try await LineClient.connect(port: kefud.port)
        try await late.send("l LOGIN customer b-late shop-gateway-secret")
        try await restart.value
        let (restarted, after) = try await kefud.waitForService {
            $0["MainPID"] != mainPID && $0["SubState"] == "running"
        }
        await kefud.expect(restarted, "not restarted: \(before) -> \(after)")
        // An explicit restart is not one by Restart= policy: NRestarts counts only those.
        #expect(after["NRestarts"] == "0" && after["ActiveState"] == "active", "\(after)")

        let answered = try? await buyer.expect("s1 ", timeout: .seconds(30))
        await kefud.expect(answered == "s1 OK seq=3", "the SEND made during the restart: \(answered ?? "no answer")")
        try await alice.expect("* MSG conv=1 from=customer :那我下单了", timeout: .seconds(30))
        #expect(try await late.expect("l ", timeout: .seconds(30)).hasPrefix("l OK role=customer id=b-late"))
        #expect(try await alice.completion("p PING") == "p OK", "alice's connection did not survive the restart")
        #expect(try await buyer.completion("p PING") == "p OK", "the buyer's connection did not survive the restart")
        #expect(try await alice.completion("s2 SEND 1 :好的") == "s2 OK seq=4")
        try await buyer.expect("* MSG conv=1 from=agent :好的")
        #expect(try await tmall.completion("s3 SEND 2 customer=tmall:b1 :还在吗") == "s3 OK seq=2")
        try await alice.expect("* MSG conv=2 from=customer :还在吗")
        #expect(try await alice.completion("s4 SEND 2 :在的") == "s4 OK seq=3")
        #expect(try await tmall.expect("* MSG conv=2") == "* MSG conv=2 from=agent customer=tmall:b1 :在的")
        // Still watching, without a new WATCH.
        try await lead.expect("* WATCHED to=customer:tmall:b1 event=MSG conv=2 from=agent")
        #expect(try await bob.completion("l LOGIN agent bob bob-secret").hasPrefix("l OK role=agent id=bob"))
        let agents = try await lead.command("a AGENTS")
        #expect(
            agents.contains { $0.hasPrefix("* AGENT agent=alice presence=online connected=1 held=2 ") }, "\(agents)")
        #expect(agents.contains { $0.hasPrefix("* AGENT agent=carol presence=away connected=1 held=0 ") }, "\(agents)")
        // Still assigned to alice, who is still connected: the restart requeued nothing, announced nothing again.
        let (settled, status) = try await kefud.waitForService {
            $0["StatusText"] == "2 agents online, 0 queued, 2 active"
        }
        await kefud.expect(settled, "\(status)")
        let aliceUnread = await alice.unread()
        #expect(!aliceUnread.contains { $0.hasPrefix("* ASSIGNED") || $0.hasPrefix("* BYE") }, "\(aliceUnread)")
        let buyerUnread = await buyer.unread()
        #expect(!buyerUnread.contains { $0.hasPrefix("* BYE") }, "\(buyerUnread)")
        let handedOver = try await kefud.systemd.journalEntries(
            ["-u", "kefud.service", "KEFU_EVENT=connections_handed_over"])
        #expect(handedOver.map { $0["KEFU_COUNT"] } == ["6"], "\(handedOver)")
        for client in [alice, buyer, tmall, lead, carol, bob, late] { await client.close() }
    }

    @Test func breachRecordsAreFoundWithJournalctlDashUKefud() async throws {
        guard let kefud = try await SystemdKefud.boot(firstResponseSeconds: 1) else { return }
        defer { kefud.shutdown() }
        try await kefud.systemd.systemctl(["start", "kefud.socket"])
        // Nobody answers: no agent is online.
        let buyer = try await LineClient.connect(port: kefud.port)
        #expect(
            try await buyer.completion("l LOGIN customer b-journal shop-gateway-secret", timeout: .seconds(30))
                .hasPrefix("l OK"))
        #expect(try await buyer.completion("o OPEN refund :退款") == "o OK conv=1")

        let entries = try await kefud.systemd.journalEntries(["-u", "kefud", "KEFU_EVENT=sla_breach"])
        guard await kefud.expect(entries.count == 1, "breach entries: \(entries)") else { return }
        let entry = entries[0]
        #expect(entry["_SYSTEMD_UNIT"] == "kefud.service")
        #expect(entry["MESSAGE_ID"] == "2b625ba6808041c28aec6c92bc372662")
        #expect(entry["PRIORITY"] == "4")
        #expect(entry["SYSLOG_IDENTIFIER"] == "kefud")
        #expect(entry["KEFU_CUSTOMER"] == "b-journal" && entry["KEFU_CONVERSATION"] == "1")
        #expect(entry["KEFU_SLA"] == "first_response" && entry["KEFU_THRESHOLD_MS"] == "1000")
        #expect(entry["KEFU_AGENT"] == "")
        // Written by the service's dynamic user, not root.
        #expect(entry["_UID"] != "0" && entry["_UID"] != nil, "\(entry)")
        await buyer.close()
    }
}

/// kefud as ops install it, in a systemd of its own: `deploy/kefud.service` and `deploy/kefud.socket` copied
/// unchanged, the built kefud bind-mounted at `/usr/local/bin/kefud` (the unit's ExecStart) and the configuration
/// directory at `/etc/kefu`. Only the socket's port changes (a drop-in), and what `serviceDropIn` says.
final class SystemdKefud: Sendable {
    let systemd: NamespacedSystemd
    let port: Int
    let configuration: String
    /// Bound to `/etc/kefu` inside the namespace: kefud.toml is written here.
    let configurationDirectory: TemporaryDirectory

    private init(
        systemd: NamespacedSystemd, port: Int, configuration: String, configurationDirectory: TemporaryDirectory
    ) {
        self.systemd = systemd
        self.port = port
        self.configuration = configuration
        self.configurationDirectory = configurationDirectory
    }

    /// Boots systemd with kefud's units, the socket not started yet. Nil (with the reason recorded or printed) when
    /// systemd cannot boot in a namespace here.
    static func boot(
        firstResponseSeconds: Double = 120, serviceDropIn: String? = nil,
        binds: [(source: String, target: String)] = [], extra: String = "",
        sourceLocation: SourceLocation = #_sourceLocation
    ) async throws -> SystemdKefud? {
        guard let binary = findExecutable(named: "kefud") else { throw KefudProcess.NotBuilt() }
        let port = try freeLoopbackPort()
        let directory = try TemporaryDirectory(prefix: "kefu-etc")
        let configuration = testConfiguration(firstResponseSeconds: firstResponseSeconds, port: port, extra: extra)
        let deploy = packageRoot.appendingPathComponent("deploy")
        var units = [
            // ListenStream= empties the list, then the test's port: the shipped 7390 may be in use here.
            "kefud.socket.d/test.conf": "[Socket]\nListenStream=\nListenStream=127.0.0.1:\(port)\n"
        ]
        units["kefud.service.d/test.conf"] = serviceDropIn
        let setup = NamespacedSystemd.Configuration(
            units: units,
            links: [
                "kefud.service": deploy.appendingPathComponent("kefud.service").path,
                "kefud.socket": deploy.appendingPathComponent("kefud.socket").path,
            ],
            binds: [(binary, "/usr/local/bin/kefud"), (directory.path, "/etc/kefu")] + binds)
        guard let systemd = try await NamespacedSystemd.bootForTest(setup, sourceLocation: sourceLocation) else {
            return nil
        }
        let kefud = SystemdKefud(
            systemd: systemd, port: port, configuration: configuration, configurationDirectory: directory)
        try kefud.writeConfiguration(configuration)
        return kefud
    }

    /// Replaces `/etc/kefu/kefud.toml` (readable by the service's dynamic user).
    func writeConfiguration(_ text: String) throws {
        let path = configurationDirectory.url(for: "kefud.toml").path
        // Whole or not at all (a reload must not read half a file), by hand: Foundation's atomic write leaves a
        // `TemporaryDirectory.*` folder in /tmp on Linux each time.
        try text.write(toFile: path + ".new", atomically: false, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: path + ".new")
        guard rename(path + ".new", path) == 0 else { throw POSIXError(.init(rawValue: errno) ?? .EIO) }
    }

    static let serviceProperties = ["ActiveState", "SubState", "StatusText", "MainPID", "NRestarts", "Result"]

    func service(_ properties: [String] = serviceProperties) async throws -> [String: String] {
        try await systemd.show("kefud.service", properties)
    }

    func waitForService(
        timeout: Duration = .seconds(20), _ condition: @escaping @Sendable ([String: String]) -> Bool
    ) async throws -> (held: Bool, properties: [String: String]) {
        try await systemd.waitFor("kefud.service", Self.serviceProperties, timeout: timeout, condition)
    }

    /// What systemd and kefud logged about kefud.service, for failure messages.
    func log() async -> String {
        let log = try? await systemd.journalctl(["-u", "kefud.service", "-o", "short-precise"]).output
        return log ?? "(journalctl failed) \(systemd.diagnostics)"
    }

    /// `#expect` with what systemd and kefud logged attached when it fails.
    @discardableResult
    func expect(
        _ condition: Bool, _ message: @autoclosure () -> String, sourceLocation: SourceLocation = #_sourceLocation
    ) async -> Bool {
        if !condition { Issue.record("\(message())\n\(await log())", sourceLocation: sourceLocation) }
        return condition
    }

    func shutdown() {
        systemd.shutdown()
    }
}

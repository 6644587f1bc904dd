import Foundation
import KefuTestSupport
import Testing

/// Tests against the real `kefud` binary: what systemd and ops see.
@Suite("kefud as a process")
struct DaemonProcessTests {
    @Test func readyOnlyOnceListeningAndAGracefulStopOnSigterm() async throws {
        let directory = try TemporaryDirectory(prefix: "kefud-notify")
        let config = try writeConfiguration(testConfiguration(), in: directory)
        let kefud = try KefudProcess(
            arguments: ["--config", config, "--state-dir", directory.path + "/var"],
            workingDirectory: directory.path)
        try await kefud.waitUntilReady()
        #expect(kefud.port > 0)
        #expect(kefud.notifications.last?.contains("STATUS=listening on 127.0.0.1:") == true)
        // READY=1 came after the bind: the port accepts at once.
        let client = try await LineClient.connect(port: kefud.port)
        #expect(try await client.completion("p PING") == "p OK")
        let alice = try await LineClient.connect(port: kefud.port)
        #expect(try await alice.completion("l LOGIN agent alice alice-secret").hasPrefix("l OK"))

        kefud.signal(SIGTERM)
        #expect(await kefud.waitForNotification("STOPPING=1"))
        try await client.expect("* BYE")
        try await alice.expect("* BYE")
        #expect(await client.isClosedByServer())
        #expect(await kefud.waitForExit() == 0)
    }

    @Test func withTheFileDescriptorStoreARestartSignalHandsTheConnectionsOverInsteadOfSayingBye() async throws {
        let directory = try TemporaryDirectory(prefix: "kefud-fdstore")
        let config = try writeConfiguration(testConfiguration(), in: directory)
        let arguments = ["--config", config, "--state-dir", directory.path + "/var"]
        // $FDSTORE as systemd 254+ sets it (and deploy/kefud.service for 252): the store is there.
        let kefud = try KefudProcess(
            arguments: arguments, workingDirectory: directory.path, extraEnvironment: ["FDSTORE": "16"])
        try await kefud.waitUntilReady()
        let alice = try await LineClient.connect(port: kefud.port)
        #expect(try await alice.completion("l LOGIN agent alice alice-secret").hasPrefix("l OK"))
        let buyer = try await LineClient.connect(port: kefud.port)
        #expect(try await buyer.completion("l LOGIN customer b-fd shop-gateway-secret").hasPrefix("l OK"))
        // Half a line in the same write as a PING: once the PING is answered, kefud has read the half line too.
        try await buyer.sendRaw(Array("p PING\ns SEND 1 :unfini".utf8))
        #expect(try await buyer.expect("p ") == "p OK")

        // What systemd sends a restarting kefud (RestartKillSignal=SIGUSR2 in deploy/kefud.service).
        kefud.signal(SIGUSR2)
        #expect(await kefud.waitForNotification("STOPPING=1"))
        // Its own listener, then each connection by name; then it waits for the manager to have them.
        #expect(await kefud.waitForNotification("FDNAME=kefud-listener"))
        #expect(await kefud.waitForNotification("FDNAME=conn-1"))
        #expect(await kefud.waitForNotification("FDNAME=conn-2"))
        #expect(await kefud.waitForNotification("BARRIER=1"))
        #expect(await kefud.waitForExit() == 0)
        // This stand-in for systemd keeps no descriptor: the clients see the end, and no BYE.
        #expect(await alice.isClosedByServer())
        let unread = await alice.unread()
        #expect(!unread.contains { $0.hasPrefix("* BYE") }, "\(unread)")

        // Who was on each connection, for the next process; the unfinished line too.
        let records =
            try JSONSerialization.jsonObject(
                with: Data(contentsOf: URL(fileURLWithPath: directory.path + "/var/handover.json"))) as? [String: Any]
        let connections = records?["connections"] as? [[String: Any]] ?? []
        let sessions = connections.map { ($0["name"] as? String, ($0["session"] as? [String: Any])?["id"] as? String) }
        #expect(
            sessions.map(\.0) == ["conn-1", "conn-2"] && sessions.map(\.1) == ["alice", "b-fd"], "\(records ?? [:])")
        #expect(
            connections.last?["leftover"] as? String == Data("s SEND 1 :unfini".utf8).base64EncodedString(),
            "\(connections)")

        // A start that gets no connection back (a stop, not a restart) discards the records.
        let next = try KefudProcess(arguments: arguments, workingDirectory: directory.path)
        try await next.waitUntilReady()
        #expect(!FileManager.default.fileExists(atPath: directory.path + "/var/handover.json"))
        next.signal(SIGTERM)
        #expect(await next.waitForExit() == 0)
    }

    /// A plain stop (SIGTERM: `systemctl stop`) says BYE even with the store there: only a restart keeps connections.
    @Test func withTheFileDescriptorStoreSigtermStillSaysByeAndHandsNothingOver() async throws {
        let directory = try TemporaryDirectory(prefix: "kefud-fdstore-stop")
        let config = try writeConfiguration(testConfiguration(), in: directory)
        let kefud = try KefudProcess(
            arguments: ["--config", config, "--state-dir", directory.path + "/var"], workingDirectory: directory.path,
            extraEnvironment: ["FDSTORE": "16"])
        try await kefud.waitUntilReady()
        let alice = try await LineClient.connect(port: kefud.port)
        #expect(try await alice.completion("l LOGIN agent alice alice-secret").hasPrefix("l OK"))
        kefud.signal(SIGTERM)
        try await alice.expect("* BYE")
        #expect(await alice.isClosedByServer())
        #expect(await kefud.waitForExit() == 0)
        #expect(
            !kefud.notifications.contains { $0.contains("FDSTORE=1") || $0.contains("FDNAME=") },
            "\(kefud.notifications)")
        #expect(!FileManager.default.fileExists(atPath: directory.path + "/var/handover.json"))
    }

    @Test func watchdogPingsAtHalfTheIntervalAndStatusFollowsTheFloor() async throws {
        let directory = try TemporaryDirectory(prefix: "kefud-watchdog")
        let config = try writeConfiguration(testConfiguration(), in: directory)
        // WATCHDOG_USEC=1 s: kefud must ping every 0.5 s. (No WATCHDOG_PID: libsystemd then accepts any pid.)
        let kefud = try KefudProcess(
            arguments: ["--config", config, "--state-dir", directory.path + "/var"],
            workingDirectory: directory.path, extraEnvironment: ["WATCHDOG_USEC": "1000000"]
        )
        try await kefud.waitUntilReady()
        let started = ContinuousClock.now
        for _ in 0..<4 { #expect(await kefud.waitForNotification("WATCHDOG=1", timeout: .seconds(2))) }
        // Four pings at 0.5 s take about 2 s; far slower would mean the pings do not follow the interval.
        #expect(started.duration(to: .now) < .seconds(4))
        // Housekeeping ticks ran meanwhile; with nothing changed, the status READY=1 set still stands.
        let statuses = kefud.notifications.filter { $0.contains("STATUS=") }
        #expect(statuses.last?.contains("STATUS=listening on 127.0.0.1:") == true, "\(statuses)")

        let alice = try await LineClient.connect(port: kefud.port)
        #expect(try await alice.completion("l LOGIN agent alice alice-secret").hasPrefix("l OK"))
        #expect(await kefud.waitForNotification("STATUS=1 agents online, 0 queued, 0 active", timeout: .seconds(5)))
        let buyer = try await LineClient.connect(port: kefud.port)
        #expect(try await buyer.completion("l LOGIN customer b-status shop-gateway-secret").hasPrefix("l OK"))
        #expect(try await buyer.completion("o OPEN refund :退款") == "o OK conv=1")
        #expect(await kefud.waitForNotification("STATUS=1 agents online, 1 queued, 0 active", timeout: .seconds(5)))
        kefud.signal(SIGTERM)
        #expect(await kefud.waitForExit() == 0)
    }

    @Test func sigkillMidConversationLosesNothingAcknowledged() async throws {
        let directory = try TemporaryDirectory(prefix: "kefud-kill")
        let config = try writeConfiguration(testConfiguration(), in: directory)
        let arguments = ["--config", config, "--state-dir", directory.path + "/var"]
        let first = try KefudProcess(arguments: arguments, workingDirectory: directory.path)
        try await first.waitUntilReady()
        let alice = try await LineClient.connect(port: first.port)
        #expect(try await alice.completion("l LOGIN agent alice alice-secret").hasPrefix("l OK"))
        let buyer = try await LineClient.connect(port: first.port)
        #expect(try await buyer.completion("l LOGIN customer b-kill shop-gateway-secret").hasPrefix("l OK"))
        #expect(try await buyer.completion("o OPEN presales :有S码吗") == "o OK conv=1")
        try await alice.expect("* ASSIGNED conv=1")
        #expect(try await alice.completion("s SEND 1 :有的亲") == "s OK seq=2")
        #expect(try await buyer.completion("s SEND 1 :那我下单了") == "s OK seq=3")
        // More messages in the same round change only what the messages tell: the conversation's row is not
        // rewritten, and recovery catches it up. One is sent with a ref, to be resent after the restart.
        #expect(try await buyer.completion("s SEND 1 ref=m-4 :地址不变") == "s OK seq=4")
        #expect(try await buyer.completion("o2 OPEN presales :还有一个问题") == "o2 OK conv=2")

        first.signal(SIGKILL)
        #expect(await first.waitForExit() != nil)

        let second = try KefudProcess(arguments: arguments, workingDirectory: directory.path)
        try await second.waitUntilReady()
        let back = try await LineClient.connect(port: second.port)
        #expect(
            try await back.completion("l LOGIN agent alice alice-secret") == "l OK role=agent id=alice presence=online")
        let resumed = [try await back.next(), try await back.next()]
        #expect(resumed[0].hasPrefix("* ASSIGNED conv=1 customer=b-kill skill=presales priority=normal waited_ms="))
        #expect(resumed[0].hasSuffix(" resumed=1 :有S码吗"))
        #expect(resumed[1].hasPrefix("* ASSIGNED conv=2"))
        let history = try await back.command("h HISTORY 1")
        #expect(
            history.map { $0.split(separator: ":").last.map(String.init) ?? "" }.dropLast()
                == ["有S码吗", "有的亲", "那我下单了", "地址不变"])
        #expect(history.last == "h OK count=4")
        // The conversation goes on where it was; a resend of what was acknowledged before the kill adds nothing.
        let buyerBack = try await LineClient.connect(port: second.port)
        #expect(try await buyerBack.completion("l LOGIN customer b-kill shop-gateway-secret").hasPrefix("l OK"))
        #expect(try await buyerBack.completion("r SEND 1 ref=m-4 :地址不变") == "r OK seq=4 duplicate=1")
        #expect(try await buyerBack.completion("s SEND 1 :在吗") == "s OK seq=5")
        try await back.expect("* MSG conv=1 from=customer :在吗")
        second.signal(SIGTERM)
        #expect(await second.waitForExit() == 0)
    }

    @Test func sighupReloadsTheFileAndABrokenFileKeepsThePreviousConfiguration() async throws {
        let directory = try TemporaryDirectory(prefix: "kefud-reload")
        let config = try writeConfiguration(testConfiguration(), in: directory)
        let kefud = try KefudProcess(
            arguments: ["--config", config, "--state-dir", directory.path + "/var"],
            workingDirectory: directory.path)
        try await kefud.waitUntilReady()
        let carol = try await LineClient.connect(port: kefud.port)
        #expect(try await carol.completion("l LOGIN agent carol carol-secret").hasPrefix("l OK"))
        let bob = try await LineClient.connect(port: kefud.port)
        #expect(try await bob.completion("l LOGIN agent bob bob-secret").hasPrefix("l OK"))

        // carol leaves the roster, erin joins with carol's former token.
        let renamed = testConfiguration().replacingOccurrences(of: #"id = "carol""#, with: #"id = "erin""#)
        _ = try writeConfiguration(renamed, in: directory)
        kefud.signal(SIGHUP)
        #expect(await kefud.waitForNotification("RELOADING=1"))
        #expect(await kefud.waitForNotification("READY=1"))
        #expect(try await carol.expect("* BYE") == "* BYE reason=removed")
        #expect(try await bob.completion("p PING") == "p OK")
        let erin = try await LineClient.connect(port: kefud.port)
        #expect(try await erin.completion("l LOGIN agent erin carol-secret").hasPrefix("l OK"))

        // A broken file: the reload is rejected with file, line and key; the configuration in force stays.
        _ = try writeConfiguration(testConfiguration(aliceSkills: "{ presales = 7 }"), in: directory)
        kefud.signal(SIGHUP)
        #expect(await kefud.waitForNotification("RELOADING=1"))
        #expect(await kefud.waitForNotification("READY=1"))
        let status = kefud.notifications.last { $0.contains("READY=1") } ?? ""
        #expect(status.contains("reload rejected, previous configuration in force: \(config):"), "\(status)")
        #expect(status.contains("agent[0].skills.presales"), "\(status)")
        #expect(try await erin.completion("p PING") == "p OK")
        #expect(try await bob.completion("p PING") == "p OK")

        // A [server] change cannot apply until a restart: the reload says so instead of pretending.
        let biggerLines = renamed.replacingOccurrences(of: "max_line_bytes = 16384", with: "max_line_bytes = 32768")
        #expect(biggerLines != renamed)
        _ = try writeConfiguration(biggerLines, in: directory)
        kefud.signal(SIGHUP)
        #expect(await kefud.waitForNotification("RELOADING=1"))
        #expect(await kefud.waitForNotification("READY=1"))
        #expect(kefud.output.contains("[server] settings changed; they apply at the next start"), "\(kefud.output)")
        #expect(kefud.output.contains("max_line_bytes"), "\(kefud.output)")

        kefud.signal(SIGTERM)
        #expect(await kefud.waitForExit() == 0)
    }

    @Test func socketActivationTakesSystemdsListenerWhileTheFirstConnectionWaitsInTheBacklog() async throws {
        guard let activate = socketActivate() else {
            if getuid() == 0 || ProcessInfo.processInfo.environment["CI"] != nil {
                Issue.record("systemd-socket-activate is missing: `make deps` installs systemd")
            } else {
                print("SKIPPED (systemd-socket-activate unavailable): socket activation was not tested")
            }
            return
        }
        let directory = try TemporaryDirectory(prefix: "kefud-activation")
        let config = try writeConfiguration(testConfiguration(), in: directory)
        let port = try freeLoopbackPort()
        // As systemd does with kefud.socket: it listens, and starts kefud with the socket on the first connection.
        let kefud = try KefudProcess(
            arguments: ["--config", config, "--state-dir", directory.path + "/var"],
            workingDirectory: directory.path,
            launcher: [activate, "--listen=127.0.0.1:\(port)", "--fdname=kefud", "--setenv=NOTIFY_SOCKET"])
        let client = try #require(try await connectOnceListening(port), "systemd-socket-activate never listened")
        #expect(try await client.completion("p PING", timeout: .seconds(30)) == "p OK")
        try await kefud.waitUntilReady()
        #expect(kefud.port == port)
        #expect(kefud.notifications.contains { $0.contains("(socket activation: kefud)") })
        kefud.signal(SIGTERM)
        #expect(await kefud.waitForExit() == 0)
    }

    /// `kefud-http.socket` as systemd passes it beside `kefud.socket`: HTTP requests made before kefud started wait in
    /// the backlog and are answered.
    @Test func socketActivationOfTheHTTPListenerByItsName() async throws {
        guard let activate = socketActivate() else {
            Issue.record("systemd-socket-activate is missing: `make deps` installs systemd")
            return
        }
        let directory = try TemporaryDirectory(prefix: "kefud-http-activation")
        let (port, http) = (try freeLoopbackPort(), try freeLoopbackPort())
        let config = try writeConfiguration(
            testConfiguration(extra: "[http]\nlisten = \"127.0.0.1:\(http)\"\n"), in: directory)
        let kefud = try KefudProcess(
            arguments: ["--config", config, "--state-dir", directory.path + "/var"], workingDirectory: directory.path,
            launcher: [
                activate, "--listen=127.0.0.1:\(port)", "--listen=127.0.0.1:\(http)", "--fdname=kefud:kefud-http",
                "--setenv=NOTIFY_SOCKET",
            ])
        // The first connection (to the line port) starts kefud; an HTTP probe made meanwhile waits and is answered.
        let client = try await connectOnceListening(port)
        #expect(try await client?.completion("p PING", timeout: .seconds(30)) == "p OK")
        let health = try await httpExchange(
            http, "GET /healthz HTTP/1.1\r\nHost: k\r\nConnection: close\r\n\r\n", timeout: .seconds(30))
        #expect(health.hasPrefix("HTTP/1.1 200 OK"))
        try await kefud.waitUntilReady()
        #expect(kefud.output.contains("(socket activation: kefud-http)"), "\(kefud.output)")
        #expect(!kefud.output.contains("unexpected descriptor closed"), "\(kefud.output)")
        kefud.signal(SIGTERM)
        #expect(await kefud.waitForExit() == 0)
    }

    /// `kefud-tls.socket` (and its `kefud-https` copy) as systemd passes them beside `kefud.socket`: a TLS client
    /// that connected before kefud started waits in the backlog, then handshakes and logs in; HTTPS answers too.
    @Test func socketActivationOfTheTLSListenerByItsName() async throws {
        guard let activate = socketActivate() else {
            Issue.record("systemd-socket-activate is missing: `make deps` installs systemd")
            return
        }
        let directory = try TemporaryDirectory(prefix: "kefud-tls-activation")
        let certificates = try await TestCertificates.make(in: directory.path)
        let (port, tls, https) = (try freeLoopbackPort(), try freeLoopbackPort(), try freeLoopbackPort())
        let config = try writeConfiguration(
            testConfiguration(
                server: TLSEndToEndTests.tlsKeys(certificates, port: tls),
                extra: "[http]\n" + TLSEndToEndTests.tlsKeys(certificates, port: https)),
            in: directory)
        let kefud = try KefudProcess(
            arguments: ["--config", config, "--state-dir", directory.path + "/var"], workingDirectory: directory.path,
            launcher: [
                activate, "--listen=127.0.0.1:\(port)", "--listen=127.0.0.1:\(tls)", "--listen=127.0.0.1:\(https)",
                "--fdname=kefud:kefud-tls:kefud-https", "--setenv=NOTIFY_SOCKET",
            ])
        // The first connection (to the plaintext port) starts kefud; the TLS one made meanwhile waits.
        let client = try await connectOnceListening(port)
        let secure = try await LineClient.connect(
            port: tls, tls: LineClient.TLS(trustedAuthority: certificates.authority))
        #expect(try await secure.completion("t LOGIN agent alice \(Secrets.alice.0)", timeout: .seconds(30))
            .hasPrefix("t OK"))
        #expect(try await client?.completion("p PING", timeout: .seconds(30)) == "p OK")
        try await kefud.waitUntilReady()
        #expect(kefud.output.contains("(socket activation: kefud-tls)"), "\(kefud.output)")
        #expect(kefud.output.contains("(socket activation: kefud-https)"), "\(kefud.output)")
        // Over our TLS client, not curl: while a KefudProcess runs, Foundation's Process cannot reap another child.
        let probe = try await LineClient.connect(
            port: https, tls: LineClient.TLS(trustedAuthority: certificates.authority))
        try await probe.sendRaw(Array("GET /healthz HTTP/1.1\r\nHost: k\r\nConnection: close\r\n\r\n".utf8))
        #expect(try await probe.expect("HTTP/1.1", timeout: .seconds(30)) == "HTTP/1.1 200 OK")
        #expect(!kefud.output.contains("unexpected descriptor closed"), "\(kefud.output)")
        kefud.signal(SIGTERM)
        #expect(await kefud.waitForExit() == 0)
    }

    /// A restart keeps the HTTP listener kefud bound itself in systemd's store, before the barrier, like the line
    /// protocol's.
    @Test func aRestartKeepsTheHTTPListenerInTheFileDescriptorStore() async throws {
        let directory = try TemporaryDirectory(prefix: "kefud-http-fdstore")
        let config = try writeConfiguration(
            testConfiguration(extra: "[http]\nlisten = \"127.0.0.1:0\"\n"), in: directory)
        let kefud = try KefudProcess(
            arguments: ["--config", config, "--state-dir", directory.path + "/var"], workingDirectory: directory.path,
            extraEnvironment: ["FDSTORE": "16"])
        try await kefud.waitUntilReady()
        kefud.signal(SIGUSR2)
        #expect(await kefud.waitForNotification("FDNAME=kefud-http-listener"))
        #expect(await kefud.waitForNotification("BARRIER=1"))
        #expect(await kefud.waitForExit() == 0)
    }

    @Test func aConfigErrorStopsStartWithFileLineAndKey() async throws {
        let directory = try TemporaryDirectory(prefix: "kefud-badconfig")
        let bad = testConfiguration(aliceSkills: "{ presales = 7 }")
        let config = try writeConfiguration(bad, in: directory, name: "bad.toml")
        let line =
            bad.split(separator: "\n", omittingEmptySubsequences: false)
            .firstIndex { $0.contains("presales = 7") }.map { $0 + 1 } ?? 0
        let kefud = try KefudProcess(arguments: ["--config", config], workingDirectory: directory.path)
        #expect(await kefud.waitForExit() == 78)
        #expect(kefud.output.contains("\(config):\(line): agent[0].skills.presales:"), "\(kefud.output)")
    }

    @Test func theEmbeddedDemoConfigurationIsDeployKefudToml() async throws {
        let directory = try TemporaryDirectory(prefix: "kefud-demo")
        let kefud = try KefudProcess(arguments: ["--print-demo-config"], workingDirectory: directory.path)
        #expect(await kefud.waitForExit() == 0)
        let deployed = try String(contentsOf: packageRoot.appendingPathComponent("deploy/kefud.toml"), encoding: .utf8)
        #expect(kefud.output == deployed)
    }

    @Test func kefuctlHashTokenPrintsTheHashTheConfigExpects() async throws {
        guard let kefuctl = findExecutable(named: "kefuctl") else { throw KefudProcess.NotBuilt() }
        let process = Process()
        let output = Pipe()
        process.executableURL = URL(fileURLWithPath: kefuctl)
        process.arguments = ["hash-token", Secrets.alice.0]
        process.standardOutput = output
        try process.run()
        let printed = await onOwnThread { output.fileHandleForReading.readDataToEndOfFile() }
        while process.isRunning { try await Task.sleep(for: .milliseconds(20)) }
        #expect(process.terminationStatus == 0)
        #expect(String(decoding: printed, as: UTF8.self) == Secrets.alice.1 + "\n")
    }

    /// The response rate the platforms score, read from the store beside a running kefud: alice answers one
    /// round in time; a second chat breaches while queued.
    @Test func kefuctlReportShowsTheRoundsAnsweredInTimeFromTheStore() async throws {
        guard let kefuctl = findExecutable(named: "kefuctl") else { throw KefudProcess.NotBuilt() }
        let directory = try TemporaryDirectory(prefix: "kefud-report")
        let config = try writeConfiguration(testConfiguration(firstResponseSeconds: 1), in: directory)
        let kefud = try KefudProcess(
            arguments: ["--config", config, "--state-dir", directory.path + "/var"], workingDirectory: directory.path)
        try await kefud.waitUntilReady()
        let alice = try await LineClient.connect(port: kefud.port)
        #expect(try await alice.completion("l LOGIN agent alice alice-secret").hasPrefix("l OK"))
        let buyer = try await LineClient.connect(port: kefud.port)
        #expect(try await buyer.completion("l LOGIN customer b-report shop-gateway-secret").hasPrefix("l OK"))
        #expect(try await buyer.completion("o OPEN presales store=tmall :在吗") == "o OK conv=1")
        try await alice.expect("* ASSIGNED conv=1")
        #expect(try await alice.completion("a SEND 1 :在的") == "a OK seq=2")
        #expect(try await buyer.completion("q OPEN complaint :投诉") == "q OK conv=2")  // nobody serves it
        let lead = try await LineClient.connect(port: kefud.port)
        #expect(try await lead.completion("l LOGIN supervisor lead lead-secret").hasPrefix("l OK"))
        try await lead.expect("* ESCALATED conv=2")

        func report(_ arguments: [String]) async throws -> String {
            let process = Process()
            let output = Pipe()
            process.executableURL = URL(fileURLWithPath: kefuctl)
            process.arguments = ["report", "--state-dir", directory.path + "/var"] + arguments
            process.standardOutput = output
            try process.run()
            let printed = await onOwnThread { output.fileHandleForReading.readDataToEndOfFile() }
            while process.isRunning { try await Task.sleep(for: .milliseconds(20)) }
            #expect(process.terminationStatus == 0)
            return String(decoding: printed, as: UTF8.self)
        }
        let byAgent = try await report(["--by", "agent"]).split(separator: "\n").map { $0.split(separator: " ") }
        #expect(byAgent.first == ["agent", "met", "breached", "closed", "rate", "mean_answer_s"])
        #expect(
            byAgent.dropFirst().map { Array($0.prefix(5)) } == [
                ["(queued)", "0", "1", "0", "0.0%"], ["alice", "1", "0", "0", "100.0%"],
            ])
        let byStore = try await report(["--by", "store"]).split(separator: "\n").map { $0.split(separator: " ") }
        #expect(byStore.dropFirst().map { Array($0.prefix(3)) } == [["(none)", "0", "1"], ["tmall", "1", "0"]])
        // A day before today has no rounds.
        #expect(try await report(["--until", "2020-01-01"]).split(separator: "\n").count == 1)
        kefud.signal(SIGTERM)
        #expect(await kefud.waitForExit() == 0)
    }
}


/// systemd's `systemd-socket-activate`, which listens as a socket unit does and starts kefud with the sockets.
func socketActivate() -> String? {
    ["/usr/bin/systemd-socket-activate", "/bin/systemd-socket-activate"].first {
        FileManager.default.isExecutableFile(atPath: $0)
    }
}

/// The launcher needs a moment to listen; after that, connections wait in its backlog until kefud accepts them.
func connectOnceListening(_ port: Int) async throws -> LineClient? {
    for _ in 0..<100 {
        if let client = try? await LineClient.connect(port: port) { return client }
        try await Task.sleep(for: .milliseconds(50))
    }
    return nil
}

import Foundation
import KefuTestSupport
import Testing

@testable import KefuServer

/// `GET /ws`: the line protocol itself over a WebSocket, one line per text frame, as the board and the workspace
/// (and any web developer's client) speak it.
@Suite("The line protocol over /ws")
struct WebSocketEndToEndTests {
    static let http = "[http]\nlisten = \"127.0.0.1:0\"\n"

    @Test func anAgentWorksOverAWebSocketWithABuyerOnTCP() async throws {
        let daemon = try await TestDaemon.start(testConfiguration(extra: Self.http))
        let port = try #require(daemon.daemon.boundHTTPPort)
        let alice = try await WebSocketLineClient.connect(port: port)
        // Same verbs, same errors, same login as on TCP.
        #expect(try await alice.completion("p PING") == "p OK")
        #expect(try await alice.completion("s SEND 1 :hi") == "s ERR not-logged-in :LOGIN first")
        #expect(try await alice.completion("x FROB").hasPrefix("x ERR unknown-verb"))
        #expect(try await alice.completion("l LOGIN agent alice wrong").hasPrefix("l ERR auth-failed"))
        #expect(try await alice.completion("l LOGIN agent alice \(Secrets.alice.0)").hasPrefix("l OK role=agent id=alice"))

        let buyer = try await daemon.customer("buyer-ws")
        #expect(try await buyer.completion("o OPEN presales :有货吗?") == "o OK conv=1")
        #expect(try await alice.expect("* ASSIGNED conv=1").hasSuffix(":有货吗?"))
        // Chinese, emoji and a line break (the protocol's escape) travel unchanged, both ways.
        let answer = #"有的 😊\n今天下单明天发"#
        #expect(try await alice.completion("a SEND 1 :\(answer)").hasPrefix("a OK"))
        #expect(try await buyer.expect("* MSG conv=1 from=agent") == "* MSG conv=1 from=agent :\(answer)")
        #expect(try await buyer.completion("b SEND 1 :好的 👍").hasPrefix("b OK"))
        #expect(try await alice.expect("* MSG conv=1") == "* MSG conv=1 from=customer :好的 👍")
        // A long answer arrives whole: HISTORY's lines, one frame each, then its completion.
        let history = try await alice.command("h HISTORY 1")
        #expect(history.count == 4 && history.last?.hasPrefix("h OK") == true, "\(history)")

        await alice.close()
        await buyer.close()
        try await daemon.stop()
    }

    @Test func framesThatAreNotOneLineOfTextCloseTheWebSocketWithTheReason() async throws {
        let daemon = try await TestDaemon.start(testConfiguration(extra: Self.http))
        let port = try #require(daemon.daemon.boundHTTPPort)

        let twoLines = try await WebSocketLineClient.connect(port: port)
        try await twoLines.send("p PING\nq PING")
        #expect(await twoLines.isClosedByServer())
        #expect(twoLines.controlFrames == [.close(code: 1007, reason: "one line per text frame, without LF or CR")])
        #expect(await twoLines.unread().isEmpty)  // neither line was taken

        let binary = try await WebSocketLineClient.connect(port: port)
        try await binary.sendFrame(opcode: 0x2, Array("p PING".utf8))
        #expect(await binary.isClosedByServer())
        #expect(binary.controlFrames == [.close(code: 1003, reason: "text frames only: one line of the protocol each")])

        let pinging = try await WebSocketLineClient.connect(port: port)
        try await pinging.sendFrame(opcode: 0x9, Array("are you there".utf8))
        #expect(try await pinging.completion("p PING") == "p OK")
        #expect(pinging.controlFrames == [.pong("are you there")])
        try await pinging.sendFrame(opcode: 0x8, [0x03, 0xe8])  // close, 1000
        #expect(await pinging.isClosedByServer())
        #expect(pinging.controlFrames.last == .close(code: 1000, reason: ""))

        // Longer than max_line_bytes (16384 here): the WebSocket closes as too big (1009), nothing is kept.
        let huge = try await WebSocketLineClient.connect(port: port)
        try await huge.send("s SEND 1 :" + String(repeating: "长", count: 6000))
        #expect(await huge.isClosedByServer())
        #expect(huge.controlFrames.first.map { if case .close(1009, _) = $0 { true } else { false } } == true, "\(huge.controlFrames)")

        // Other paths are not upgraded (answered as plain HTTP), and /ws without the upgrade says what it wants.
        await #expect {
            _ = try await WebSocketLineClient.connect(port: port, path: "/metrics-ws")
        } throws: { ($0 as? WebSocketLineClient.HandshakeRefused)?.response.hasPrefix("HTTP/1.1 404") == true }
        #expect(try await httpGet(port, "/ws").hasPrefix("HTTP/1.1 426 Upgrade Required"))
        for client in [twoLines, binary, pinging, huge] { await client.close() }
        try await daemon.stop()
    }

    @Test func aStopSaysByeOverTheWebSocketToo() async throws {
        let daemon = try await TestDaemon.start(testConfiguration(extra: Self.http))
        let port = try #require(daemon.daemon.boundHTTPPort)
        let lead = try await WebSocketLineClient.connect(port: port)
        #expect(try await lead.completion("l LOGIN supervisor lead \(Secrets.lead.0)").hasPrefix("l OK"))
        try await daemon.stop()
        try await lead.expect("* BYE")
        #expect(await lead.isClosedByServer())
    }

    /// A restart keeps TCP connections (handed to the next process) but not WebSockets, whose framing lives in the
    /// process: they hear why and reconnect.
    @Test func aRestartHandsTCPConnectionsOverAndTellsWebSocketsToReconnect() async throws {
        let directory = try TemporaryDirectory(prefix: "kefud-ws-restart")
        let config = try writeConfiguration(testConfiguration(extra: Self.http), in: directory)
        let kefud = try KefudProcess(
            arguments: ["--config", config, "--state-dir", directory.path + "/var"], workingDirectory: directory.path,
            extraEnvironment: ["FDSTORE": "16"])
        try await kefud.waitUntilReady()
        let httpPort = try #require(kefud.httpPort, "\(kefud.output)")
        let buyer = try await LineClient.connect(port: kefud.port)
        #expect(try await buyer.completion("l LOGIN customer b-tcp shop-gateway-secret").hasPrefix("l OK"))
        let alice = try await WebSocketLineClient.connect(port: httpPort)
        #expect(try await alice.completion("l LOGIN agent alice alice-secret").hasPrefix("l OK"))

        kefud.signal(SIGUSR2)
        #expect(try await alice.expect("* BYE") == "* BYE reason=restart")
        #expect(await alice.isClosedByServer())
        #expect(await kefud.waitForNotification("FDNAME=conn-1"))
        #expect(await kefud.waitForNotification("BARRIER=1"))
        #expect(await kefud.waitForExit() == 0)
        // Only the TCP connection was handed over.
        #expect(try handedOverSessionIDs(in: directory.path + "/var") == ["b-tcp"])
        await buyer.close()
    }
}

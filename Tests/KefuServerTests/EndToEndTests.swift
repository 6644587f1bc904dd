import Foundation
import KefuReplay
import KefuTestSupport
import Testing

@Suite("End to end over loopback TCP")
struct EndToEndTests {
    @Test func customerIsRoutedToTheRightAgentAndMessagesFlowBothWays() async throws {
        let daemon = try await TestDaemon.start()
        let alice = try await daemon.agent("alice", Secrets.alice)
        let bob = try await daemon.agent("bob", Secrets.bob)
        let carol = try await daemon.agent("carol", Secrets.carol)
        let buyer = try await daemon.customer("buyer-1")

        // Refund: bob (level 3) and carol (level 4) both idle: carol has the higher proficiency.
        let opened = try await buyer.command("o1 OPEN refund :快递破损,要退款")
        #expect(opened.first == "o1 OK conv=1")
        try await buyer.expect("* JOINED conv=1 agent=carol")
        let assigned = try await carol.expect("* ASSIGNED conv=1")
        #expect(assigned.hasPrefix("* ASSIGNED conv=1 customer=buyer-1 skill=refund priority=normal waited_ms="))
        #expect(assigned.hasSuffix(" :快递破损,要退款"))

        // A second refund: carol holds 1 of 3, bob 0 of 5: the lower load ratio wins.
        let other = try await daemon.customer("buyer-2")
        #expect(try await other.completion("o2 OPEN refund priority=vip :退款进度?") == "o2 OK conv=2")
        try await bob.expect("* ASSIGNED conv=2 customer=buyer-2 skill=refund priority=vip")

        // Messages both ways, multi-line text intact.
        #expect(try await buyer.completion("s1 SEND 1 :照片已经\\n发给你了") == "s1 OK seq=2")
        #expect(try await carol.expect("* MSG conv=1") == "* MSG conv=1 from=customer :照片已经\\n发给你了")
        #expect(try await carol.completion("s2 SEND 1 :收到,马上为您处理") == "s2 OK seq=3")
        #expect(try await buyer.expect("* MSG conv=1") == "* MSG conv=1 from=agent :收到,马上为您处理")

        // Presales goes to alice (level 3 beats bob's 2).
        let third = try await daemon.customer("buyer-3")
        #expect(try await third.completion("o3 OPEN presales :有货吗") == "o3 OK conv=3")
        try await alice.expect("* ASSIGNED conv=3")

        // History for the customer and the holding agent; for anyone else the conversation does not exist.
        let history = try await buyer.command("h1 HISTORY 1")
        #expect(history.count == 4)
        #expect(history[0].hasPrefix("* HISTORY conv=1 seq=1 from=customer at="))
        #expect(history[1].hasSuffix(":照片已经\\n发给你了"))
        #expect(history[2].hasPrefix("* HISTORY conv=1 seq=3 from=agent"))
        #expect(history[3] == "h1 OK count=3")
        #expect(try await carol.command("h2 HISTORY 1").last == "h2 OK count=3")
        #expect(try await other.completion("h3 HISTORY 1") == "h3 ERR not-found :no such conversation")
        #expect(try await alice.completion("h4 HISTORY 1") == "h4 ERR not-found :no such conversation")
        #expect(try await alice.completion("s3 SEND 1 :hi") == "s3 ERR not-found :no such conversation")

        // Closing frees the slot and tells the other side; the closed chat's history stays readable.
        #expect(try await buyer.completion("c1 CLOSE 1") == "c1 OK")
        try await carol.expect("* CLOSED conv=1 by=customer")
        #expect(try await buyer.command("h5 HISTORY 1").last == "h5 OK count=3")
        #expect(try await carol.command("h6 HISTORY 1").last == "h6 OK count=3")
        // Supervisors read any conversation; one that never existed is simply not found.
        let lead = try await daemon.supervisor()
        #expect(try await lead.command("h7 HISTORY 2").last == "h7 OK count=1")
        #expect(try await lead.completion("h8 HISTORY 99") == "h8 ERR not-found :no such conversation")
        try await daemon.stop()
    }

    @Test func breachIsJournaledEscalatedToSupervisorsAndReassigned() async throws {
        let daemon = try await TestDaemon.start(testConfiguration(firstResponseSeconds: 1.5))
        let lead = try await daemon.supervisor()
        let alice = try await daemon.agent("alice", Secrets.alice)
        let bob = try await daemon.agent("bob", Secrets.bob)
        let buyer = try await daemon.customer("buyer-9")
        #expect(try await buyer.completion("o OPEN presales :在吗?") == "o OK conv=1")
        try await alice.expect("* ASSIGNED conv=1")  // alice's level 3 beats bob's 2
        try await buyer.expect("* JOINED conv=1 agent=alice")

        // alice never answers: 1.5 s later the breach fires.
        let escalated = try await lead.expect("* ESCALATED", timeout: .seconds(5))
        #expect(escalated.hasPrefix("* ESCALATED conv=1 reason=first-response agent=alice waited_ms="))
        #expect(Int(field("waited_ms", in: escalated) ?? "") ?? 0 >= 1500)
        #expect(try await alice.expect("* REVOKED") == "* REVOKED conv=1 reason=first-response")
        let moved = try await bob.expect("* ASSIGNED conv=1")
        #expect(moved.hasSuffix(":在吗?"))
        try await buyer.expect("* JOINED conv=1 agent=bob")

        let breaches = daemon.breaches.all
        #expect(breaches.count == 1)
        #expect(breaches.first?.agent == "alice")
        #expect(breaches.first?.customer == "buyer-9")
        #expect(breaches.first?.threshold.value == 1500)
        // The clock was not reset: bob answering now stops it, and nothing breaches again.
        #expect(try await bob.completion("s SEND 1 :抱歉久等了") == "s OK seq=2")
        try await Task.sleep(for: .seconds(2))
        #expect(daemon.breaches.all.count == 1)
        try await daemon.stop()
    }

    @Test func queuedCustomerIsToldItsPositionAndJoinedWhenAnAgentComesOnline() async throws {
        let daemon = try await TestDaemon.start()
        let first = try await daemon.customer("b1")
        let second = try await daemon.customer("b2")
        // OK first, then the queue position (the order the protocol promises).
        #expect(try await first.completion("o OPEN complaint :投诉") == "o OK conv=1")
        #expect(try await first.next() == "* QUEUED conv=1 position=1 offline=1")
        #expect(try await second.completion("o OPEN complaint priority=vip :投诉!") == "o OK conv=2")
        #expect(try await second.next() == "* QUEUED conv=2 position=1 offline=1")
        // carol logs in with room for three: the vip first, then the older normal chat.
        let carol = try await daemon.agent("carol", Secrets.carol)
        #expect(try await carol.expect("* ASSIGNED").hasPrefix("* ASSIGNED conv=2"))
        #expect(try await carol.expect("* ASSIGNED").hasPrefix("* ASSIGNED conv=1"))
        try await first.expect("* JOINED conv=1 agent=carol")
        try await second.expect("* JOINED conv=2 agent=carol")
        try await daemon.stop()
    }

    @Test func presenceControlsNewChats() async throws {
        let daemon = try await TestDaemon.start()
        let alice = try await daemon.agent("alice", Secrets.alice)
        #expect(try await alice.completion("p PRESENCE away") == "p OK presence=away")
        let buyer = try await daemon.customer("b1")
        #expect(try await buyer.completion("o OPEN logistics :到哪了") == "o OK conv=1")
        #expect(try await buyer.next() == "* QUEUED conv=1 position=1 offline=1")
        #expect(try await alice.completion("p2 PRESENCE online") == "p2 OK presence=online")
        try await alice.expect("* ASSIGNED conv=1")
        try await daemon.stop()
    }
}

@Suite("Protocol errors over TCP")
struct ProtocolErrorTests {
    @Test func everyBadLineGetsItsErrorAndTheConnectionStaysUsable() async throws {
        let daemon = try await TestDaemon.start(testConfiguration(maxLineBytes: 64))
        let client = try await daemon.connect()
        #expect(try await client.completion("a PING") == "a OK")
        #expect(try await client.completion("b OPEN presales :hi") == "b ERR not-logged-in :LOGIN first")
        #expect(
            try await client.completion("c LOGIN agent alice wrong") == "c ERR auth-failed :unknown id or wrong token")
        #expect(try await client.completion("d LOGIN agent nobody x") == "d ERR auth-failed :unknown id or wrong token")
        #expect(try await client.completion("e DANCE").hasPrefix("e ERR unknown-verb"))
        // An overlong line: discarded with its tag recovered, and the next line still works.
        try await client.send("f1 SEND 1 :" + String(repeating: "x", count: 200))
        #expect(try await client.next() == "f1 ERR line-too-long :line longer than the limit was discarded")
        #expect(try await client.completion("f2 PING") == "f2 OK")
        // Invalid UTF-8.
        try await client.sendRaw(Array("g1 PING :".utf8) + [0xFF, 0xC3, 0x28, 0x0A])
        #expect(try await client.next() == "g1 ERR bad-encoding :line is not valid UTF-8")
        // Garbage without a usable tag is answered with the tag `*`.
        try await client.sendRaw([0x00, 0x01, 0x20, 0x7F, 0x0A])
        #expect(try await client.next().hasPrefix("* ERR bad-args"))
        #expect(
            try await client.completion("h1 LOGIN agent alice alice-secret")
                == "h1 OK role=agent id=alice presence=online")
        #expect(try await client.completion("h2 LOGIN agent alice alice-secret").hasPrefix("h2 ERR conflict"))
        #expect(
            try await client.completion("h3 OPEN presales :x") == "h3 ERR forbidden :only customers open conversations")
        #expect(try await client.completion("h4 SEND 99 :x") == "h4 ERR not-found :no such conversation")
        #expect(try await client.completion("h5 SEND x :y").hasPrefix("h5 ERR bad-args"))
        // A CRLF line is accepted like an LF line.
        try await client.sendRaw(Array("i PING\r\n".utf8))
        #expect(try await client.next() == "i OK")
        #expect(try await client.completion("q QUIT") == "q OK")
        #expect(await client.isClosedByServer())
        // The daemon is unharmed: another client is served.
        let other = try await daemon.connect()
        #expect(try await other.completion("z PING") == "z OK")
        try await daemon.stop()
    }

    @Test func aClientThatHalfClosesAfterItsLastCommandStillGetsEveryReply() async throws {
        let daemon = try await TestDaemon.start()
        let alice = try await daemon.agent("alice", Secrets.alice)
        let buyer = try await daemon.connect()
        // Pipelined, then EOF on the sending side, as `printf ... | nc` does.
        try await buyer.send("l LOGIN customer b-pipe shop-gateway-secret")
        try await buyer.send("o OPEN presales :hi")
        try await buyer.send("h HISTORY 1")
        try await buyer.send("c CLOSE 1")
        buyer.finishSending()
        #expect(try await buyer.next() == "l OK role=customer id=b-pipe")
        #expect(try await buyer.next() == "o OK conv=1")
        #expect(try await buyer.next() == "* JOINED conv=1 agent=alice")
        #expect(try await buyer.next().hasPrefix("* HISTORY conv=1 seq=1 from=customer"))
        #expect(try await buyer.next() == "h OK count=1")
        #expect(try await buyer.next() == "c OK")
        #expect(await buyer.isClosedByServer())
        try await alice.expect("* CLOSED conv=1 by=customer")
        try await daemon.stop()
    }

    @Test func randomBytesFromManyClientsNeitherCrashTheDaemonNorDisturbOthers() async throws {
        let daemon = try await TestDaemon.start(testConfiguration(maxLineBytes: 256))
        let alice = try await daemon.agent("alice", Secrets.alice)
        let buyer = try await daemon.customer("b-calm")
        #expect(try await buyer.completion("o OPEN presales :正常的问题") == "o OK conv=1")
        try await alice.expect("* ASSIGNED conv=1")
        var generator = SeededGenerator(seed: 0x6B_6566_75)
        for client in 0..<4 {
            let noisy = try await daemon.connect()
            for _ in 0..<200 {
                let length = Int(generator.next() % 400)
                var bytes = (0..<length).map { _ in UInt8(truncatingIfNeeded: generator.next()) }
                if generator.next() % 3 == 0 { bytes.append(0x0A) }
                try await noisy.sendRaw(bytes)
            }
            try await noisy.send("")
            try await noisy.send("end\(client) PING")
            try await noisy.expect("end\(client) OK", timeout: .seconds(10))
        }
        // The others never noticed.
        #expect(try await buyer.completion("s SEND 1 :还在吗") == "s OK seq=2")
        #expect(try await alice.expect("* MSG conv=1") == "* MSG conv=1 from=customer :还在吗")
        #expect(try await alice.completion("p PING") == "p OK")
        try await daemon.stop()
    }

    @Test func aCustomerCannotForgeLinesInAnAgentsStream() async throws {
        let daemon = try await TestDaemon.start()
        let alice = try await daemon.agent("alice", Secrets.alice)
        let buyer = try await daemon.customer("b-evil")
        #expect(try await buyer.completion("o OPEN presales :hi") == "o OK conv=1")
        try await buyer.expect("* JOINED conv=1")
        try await alice.expect("* ASSIGNED conv=1")
        // A raw CR next to an escaped newline: refused.
        try await buyer.sendRaw(Array("s1 SEND 1 :x\r\\n* ASSIGNED conv=99 customer=evil :forged\n".utf8))
        #expect(try await buyer.next().hasPrefix("s1 ERR bad-args"))
        // An escaped newline followed by a fake event: delivered as one escaped line.
        #expect(try await buyer.completion("s2 SEND 1 :x\\n* ASSIGNED conv=99 :forged") == "s2 OK seq=2")
        #expect(try await alice.next() == "* MSG conv=1 from=customer :x\\n* ASSIGNED conv=99 :forged")
        #expect(try await alice.completion("p PING") == "p OK")
        try await daemon.stop()
    }

    @Test func unknownSkillsAreRefusedWithTheKnownOnes() async throws {
        let daemon = try await TestDaemon.start()
        let buyer = try await daemon.customer("b1")
        #expect(
            try await buyer.completion("o OPEN karaoke :hi")
                == "o ERR bad-args :unknown skill karaoke; known skills: complaint,logistics,presales,refund,returns")
        try await daemon.stop()
    }
}

@Suite("Graceful stop and recovery")
struct RecoveryTests {
    @Test func gracefulStopSaysByeAndARestartKeepsEverything() async throws {
        let state = try TemporaryDirectory(prefix: "kefu-recover")
        let daemon = try await TestDaemon.start(stateDirectory: state.path)
        let alice = try await daemon.agent("alice", Secrets.alice)
        let buyer = try await daemon.customer("b1")
        #expect(try await buyer.completion("o OPEN presales :还有货吗") == "o OK conv=1")
        try await alice.expect("* ASSIGNED conv=1")
        #expect(try await alice.completion("s SEND 1 :有的") == "s OK seq=2")
        #expect(try await buyer.completion("o2 OPEN logistics :物流") == "o2 OK conv=2")
        try await daemon.stop()
        try await alice.expect("* BYE")
        try await buyer.expect("* BYE")
        #expect(await alice.isClosedByServer())

        let again = try await TestDaemon.start(stateDirectory: state.path)
        let back = try await again.connect()
        let login = try await back.command("l LOGIN agent alice alice-secret")
        #expect(login.first == "l OK role=agent id=alice presence=online")
        let resumed = [try await back.next(), try await back.next()]
        #expect(resumed.allSatisfy { $0.contains("resumed=1") })
        #expect(resumed.map { field("conv", in: $0) } == ["1", "2"])
        #expect(try await back.command("h HISTORY 1").last == "h OK count=2")
        // New conversations continue the numbering.
        let buyer2 = try await again.customer("b2")
        #expect(try await buyer2.completion("o OPEN presales :新问题") == "o OK conv=3")
        try await again.stop()
    }
}

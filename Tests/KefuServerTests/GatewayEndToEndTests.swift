import Foundation
import KefuCore
import KefuTestSupport
import Testing

/// Gateways (platform bridges) over loopback TCP: many buyers on one connection, every event naming its buyer,
/// and nothing lost while a gateway or a customer is away.
@Suite("Gateways and reconnecting customers end to end")
struct GatewayEndToEndTests {
    @Test func aGatewaySpeaksForSeveralBuyersAndHearsEachByName() async throws {
        let daemon = try await TestDaemon.start()
        let alice = try await daemon.agent("alice", Secrets.alice)
        let bob = try await daemon.agent("bob", Secrets.bob)
        let gateway = try await daemon.connect()
        #expect(
            try await gateway.completion("l1 LOGIN gateway tmall wrong")
                == "l1 ERR auth-failed :unknown id or wrong token")
        #expect(
            try await gateway.completion("l2 LOGIN gateway jd tmall-bridge-secret")
                == "l2 ERR auth-failed :unknown id or wrong token")
        #expect(
            try await gateway.completion("l LOGIN gateway tmall tmall-bridge-secret") == "l OK role=gateway id=tmall")

        #expect(try await gateway.completion("o1 OPEN presales customer=tmall:b1 :在吗") == "o1 OK conv=1")
        #expect(try await gateway.next() == "* JOINED conv=1 agent=alice customer=tmall:b1")
        #expect(try await gateway.completion("o2 OPEN presales store=tmall customer=tmall:b2 :有货吗") == "o2 OK conv=2")
        #expect(try await gateway.next() == "* JOINED conv=2 agent=bob customer=tmall:b2")
        #expect(try await alice.expect("* ASSIGNED conv=1").hasPrefix("* ASSIGNED conv=1 customer=tmall:b1 "))
        #expect(try await bob.expect("* ASSIGNED conv=2").hasPrefix("* ASSIGNED conv=2 customer=tmall:b2 "))

        // Each agent message reaches the gateway with its buyer named last, before the text.
        #expect(try await alice.completion("s SEND 1 :在的,亲") == "s OK seq=2")
        #expect(try await gateway.next() == "* MSG conv=1 from=agent customer=tmall:b1 :在的,亲")
        #expect(try await bob.completion("s SEND 2 :有货 customer=x") == "s OK seq=2")
        #expect(try await gateway.next() == "* MSG conv=2 from=agent customer=tmall:b2 :有货 customer=x")
        // The gateway writes for the buyer it names, and only in that buyer's conversations.
        #expect(try await gateway.completion("s1 SEND 1 customer=tmall:b1 :好的") == "s1 OK seq=3")
        #expect(try await alice.next() == "* MSG conv=1 from=customer :好的")
        #expect(
            try await gateway.completion("s2 SEND 1 customer=tmall:b2 :偷看") == "s2 ERR not-found :no such conversation")
        #expect(
            try await gateway.completion("s3 SEND 1 :x")
                == "s3 ERR bad-args :a gateway names the buyer with customer=")
        #expect(
            try await gateway.completion("s4 SEND 1 customer=bad/id :x").hasPrefix("s4 ERR bad-args :customer must"))
        let history = try await gateway.command("h HISTORY 2 customer=tmall:b2")
        #expect(history.count == 3)
        #expect(history[0].hasPrefix("* HISTORY conv=2 seq=1 from=customer at=") && history[0].hasSuffix(" :有货吗"))
        #expect(history[2] == "h OK count=2")
        #expect(
            try await gateway.completion("h2 HISTORY 2 customer=tmall:b1") == "h2 ERR not-found :no such conversation")
        // Gateways do not use the colleagues' verbs.
        let gatewaysOnly = "ERR forbidden :gateways open, send, close and read history only"
        #expect(try await gateway.completion("n NOTE 1 :x") == "n \(gatewaysOnly)")
        #expect(try await gateway.completion("p PRESENCE online") == "p \(gatewaysOnly)")
        #expect(try await gateway.completion("q QUEUE") == "q \(gatewaysOnly)")
        // Only gateways name customers.
        let person = try await daemon.customer("direct")
        #expect(
            try await person.completion("o OPEN presales customer=tmall:b1 :x")
                == "o ERR bad-args :customer= is for gateways only")
        #expect(try await alice.completion("s5 SEND 1 customer=tmall:b1 :x").hasPrefix("s5 ERR bad-args"))

        // Closing for a buyer: the agent is told the customer closed it.
        #expect(try await gateway.completion("c CLOSE 2 customer=tmall:b2") == "c OK")
        #expect(try await bob.next() == "* CLOSED conv=2 by=customer")
        #expect(
            try await gateway.next()
                == "* CSAT-REQUEST conv=2 scale=5 customer=tmall:b2 :\(SatisfactionSurvey.defaultQuestion)")
        #expect(try await alice.completion("c2 CLOSE 1") == "c2 OK")
        #expect(try await gateway.next() == "* CLOSED conv=1 by=agent customer=tmall:b1")
        #expect(
            try await gateway.next()
                == "* CSAT-REQUEST conv=1 scale=5 customer=tmall:b1 :\(SatisfactionSurvey.defaultQuestion)")
        try await expectNothingPending([alice, bob, gateway, person])
        try await daemon.stop()
    }

    @Test func oneGatewayConnectionCarriesHundredsOfBuyers() async throws {
        let daemon = try await TestDaemon.start()
        let alice = try await daemon.agent("alice", Secrets.alice)
        let gateway = try await daemon.gateway()
        let count = 300
        // Pipelined: every OPEN gets its completion in order, then the event for that buyer.
        for index in 1...count {
            try await gateway.send("o\(index) OPEN presales customer=jd:buyer\(index) :第\(index)位顾客")
        }
        var completions = 0
        var events: [Int: String] = [:]
        while completions < count {
            let line = try await gateway.next(timeout: .seconds(20))
            if line.hasPrefix("o") {
                completions += 1
                #expect(line == "o\(completions) OK conv=\(completions)")
            } else {
                let conv = number("conv", in: line)
                #expect(events[conv] == nil)
                events[conv] = line
            }
        }
        while events.count < count {
            let line = try await gateway.next()
            events[number("conv", in: line)] = line
        }
        for index in 1...count {
            let event = events[index] ?? ""
            if index <= 5 {
                #expect(event == "* JOINED conv=\(index) agent=alice customer=jd:buyer\(index)")
            } else {
                // 5 slots online, 300 s a chat assumed: 60 s a place.
                let position = index - 5
                let expected = "* QUEUED conv=\(index) position=\(position) eta_s=\(position * 60)"
                #expect(event == "\(expected) customer=jd:buyer\(index)")
            }
        }

        // One chat closes: the head of the queue is served, and every other buyer hears the new position, once.
        #expect(try await alice.completion("c CLOSE 1") == "c OK")
        #expect(try await gateway.next() == "* CLOSED conv=1 by=agent customer=jd:buyer1")
        #expect(try await gateway.next() == "* JOINED conv=6 agent=alice customer=jd:buyer6")
        var moved: [Int: String] = [:]
        while moved.count < count - 6 {
            let line = try await gateway.next(timeout: .seconds(10))
            moved[number("conv", in: line)] = line
        }
        for index in 7...count {
            let line = moved[index] ?? ""
            #expect(line.hasPrefix("* QUEUED conv=\(index) position=\(index - 6) eta_s="))
            #expect(line.hasSuffix(" customer=jd:buyer\(index)"))
        }
        try await expectNothingPending([gateway])
        try await daemon.stop()
    }

    @Test func aReconnectingGatewayGetsItsConversationsAndEverythingItMissed() async throws {
        let daemon = try await TestDaemon.start()
        let alice = try await daemon.agent("alice", Secrets.alice)
        let bob = try await daemon.agent("bob", Secrets.bob)
        let gateway = try await daemon.gateway()
        let opened =
            [
                try await gateway.command("o1 OPEN presales customer=tmall:b1 :一"),
                try await gateway.command("o2 OPEN presales customer=tmall:b2 :二"),
                try await gateway.command("o3 OPEN complaint customer=tmall:b3 :三"),
            ].flatMap { $0 } + (try await gateway.pending())
        #expect(
            opened == [
                "o1 OK conv=1", "* JOINED conv=1 agent=alice customer=tmall:b1",
                "o2 OK conv=2", "* JOINED conv=2 agent=bob customer=tmall:b2",
                "o3 OK conv=3", "* QUEUED conv=3 position=1 offline=1 customer=tmall:b3",
            ])
        try await alice.expect("* ASSIGNED conv=1")
        try await bob.expect("* ASSIGNED conv=2")

        // The gateway goes away. Whatever happens for its buyers meanwhile is kept.
        #expect(try await gateway.completion("q QUIT") == "q OK")
        #expect(await gateway.isClosedByServer())
        #expect(try await alice.completion("s1 SEND 1 :您好") == "s1 OK seq=2")
        #expect(try await alice.completion("s2 SEND 1 :还在吗?\\n请回复") == "s2 OK seq=3")
        #expect(try await bob.completion("c CLOSE 2") == "c OK")

        // Back: where each open conversation stands, then the missed events in order, each naming its buyer.
        let again = try await daemon.connect()
        let login = try await again.command("l LOGIN gateway tmall tmall-bridge-secret")
        #expect(login == ["l OK role=gateway id=tmall"])
        let replayed = try await again.pending()
        #expect(
            replayed == [
                "* CONV conv=1 state=assigned agent=alice customer=tmall:b1",
                "* CONV conv=3 state=queued agent=none customer=tmall:b3",
                "* MSG conv=1 from=agent customer=tmall:b1 :您好",
                "* MSG conv=1 from=agent customer=tmall:b1 :还在吗?\\n请回复",
                "* CLOSED conv=2 by=agent customer=tmall:b2",
            ])
        // Given once only.
        let third = try await daemon.gateway()
        let replayedOnce = try await third.pending()
        #expect(
            replayedOnce == [
                "* CONV conv=1 state=assigned agent=alice customer=tmall:b1",
                "* CONV conv=3 state=queued agent=none customer=tmall:b3",
            ])
        try await daemon.stop()
    }

    @Test func aMessageSentWhileTheGatewayQuitsIsDeliveredLiveOrOnReturnNeverLost() async throws {
        let daemon = try await TestDaemon.start()
        let alice = try await daemon.agent("alice", Secrets.alice)
        var gateway = try await daemon.gateway()
        #expect(try await gateway.completion("o OPEN presales customer=tmall:b1 :在吗") == "o OK conv=1")
        try await alice.expect("* ASSIGNED conv=1")
        for round in 1...40 {
            // QUIT and an agent message race: whichever the daemon applies first, the message must arrive, on
            // the quitting connection before its close or on the next one.
            try await gateway.send("q QUIT")
            #expect(try await alice.completion("s\(round) SEND 1 :第\(round)条") == "s\(round) OK seq=\(round + 1)")
            #expect(await gateway.isClosedByServer(timeout: .seconds(10)))
            var received = await gateway.unread()
            gateway = try await daemon.gateway()
            received += try await gateway.pending()
            let messages = received.filter { $0.hasPrefix("* MSG ") }
            #expect(
                messages == ["* MSG conv=1 from=agent customer=tmall:b1 :第\(round)条"], "round \(round): \(received)")
            if messages.isEmpty { break }
        }
        try await daemon.stop()
    }

    @Test func aReconnectingCustomerGetsItsConversationsAndTheMessagesItMissed() async throws {
        let daemon = try await TestDaemon.start()
        let alice = try await daemon.agent("alice", Secrets.alice)
        let buyer = try await daemon.customer("b1")
        #expect(try await buyer.completion("o OPEN presales :在吗") == "o OK conv=1")
        #expect(try await buyer.next() == "* JOINED conv=1 agent=alice")
        #expect(try await buyer.completion("q QUIT") == "q OK")
        #expect(await buyer.isClosedByServer())
        #expect(try await alice.expect("* ASSIGNED conv=1").hasSuffix(" :在吗"))
        #expect(try await alice.completion("s SEND 1 :在的,请问需要什么?") == "s OK seq=2")

        let back = try await daemon.connect()
        #expect(try await back.command("l LOGIN customer b1 shop-gateway-secret") == ["l OK role=customer id=b1"])
        let replayed = try await back.pending()
        #expect(
            replayed == [
                "* CONV conv=1 state=assigned agent=alice",
                "* MSG conv=1 from=agent :在的,请问需要什么?",
            ])
        try await daemon.stop()
    }

    /// A stop that says BYE (no connections kept) writes what was kept for away buyers next to the store: after the
    /// next start the buyer still gets what it missed.
    @Test func eventsKeptForAnAwayBuyerSurviveAStopAndStart() async throws {
        let directory = try TemporaryDirectory(prefix: "kefu-kept")
        let daemon = try await TestDaemon.start(stateDirectory: directory.path)
        let alice = try await daemon.agent("alice", Secrets.alice)
        let buyer = try await daemon.customer("b1")
        #expect(try await buyer.completion("o OPEN presales :在吗") == "o OK conv=1")
        #expect(try await buyer.completion("q QUIT") == "q OK")
        #expect(await buyer.isClosedByServer())
        _ = try await alice.expect("* ASSIGNED conv=1")
        #expect(try await alice.completion("s SEND 1 :在的,请问需要什么?") == "s OK seq=2")
        try await daemon.stop()

        let again = try await TestDaemon.start(stateDirectory: directory.path)
        let back = try await again.connect()
        #expect(try await back.command("l LOGIN customer b1 shop-gateway-secret") == ["l OK role=customer id=b1"])
        let replayed = try await back.pending()
        #expect(replayed == ["* CONV conv=1 state=assigned agent=alice", "* MSG conv=1 from=agent :在的,请问需要什么?"])
        #expect(!FileManager.default.fileExists(atPath: directory.path + "/handover.json"), "read once, then removed")
        try await again.stop()
    }
}

@Suite("Gateways are confined to their own buyers")
struct GatewayConfinementTests {
    @Test func aBuyerServedThroughOneGatewayCannotBeNamedByAnother() async throws {
        let extra = """

            [[gateway]]
            id = "jd-bridge"
            token_sha256 = "\(Secrets.gateway.1)"
            """
        let daemon = try await TestDaemon.start(testConfiguration(extra: extra))
        let tmall = try await daemon.login("gateway", "tmall", Secrets.tmall.0)
        let jd = try await daemon.login("gateway", "jd-bridge", Secrets.gateway.0)
        #expect(try await tmall.completion("o OPEN presales customer=b-shared :hi") == "o OK conv=1")
        #expect(
            try await jd.completion("s SEND 1 customer=b-shared :我是他")
                == "s ERR forbidden :customer b-shared is served through another gateway")
        #expect(try await jd.completion("o OPEN presales customer=b-shared :hi").hasPrefix("o ERR forbidden"))
        // The rightful gateway is unaffected.
        #expect(try await tmall.completion("s SEND 1 customer=b-shared :还在吗") == "s OK seq=2")
        try await daemon.stop()
    }
}

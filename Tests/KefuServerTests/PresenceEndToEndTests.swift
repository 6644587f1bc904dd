import Foundation
import KefuTestSupport
import Testing

/// Presence the daemon can vouch for, over loopback TCP: idle connections are closed, a dropped agent keeps its
/// chats only for the reconnect grace, and an agent who lets chats breach is set away (no idle hanging, 严禁空挂).
@Suite("Presence end to end")
struct PresenceEndToEndTests {
    @Test func aSilentConnectionIsToldByeAndClosedWhileAPingingOneStays() async throws {
        let daemon = try await TestDaemon.start(testConfiguration(server: "idle_timeout_s = 1"))
        let started = ContinuousClock.now
        let silent = try await daemon.customer("silent")
        let anonymous = try await daemon.connect()
        let chatty = try await daemon.customer("chatty")
        // Time has to pass here: chatty pings every 0.3 s for 2.4 s, more than twice the timeout.
        for index in 0..<8 {
            try await Task.sleep(for: .milliseconds(300))
            #expect(try await chatty.completion("p\(index) PING") == "p\(index) OK")
        }
        for client in [silent, anonymous] {
            #expect(try await client.next(timeout: .seconds(5)) == "* BYE reason=idle")
            #expect(await client.isClosedByServer())
        }
        #expect(seconds(since: started) >= 1)
        #expect(try await chatty.completion("o OPEN presales :还在") == "o OK conv=1")
        try await daemon.stop()
    }

    @Test func aDroppedAgentsChatsMoveAfterTheReconnectGrace() async throws {
        let toml = testConfiguration(extra: "[routing]\nreconnect_grace_s = 1")
        let daemon = try await TestDaemon.start(toml)
        let lead = try await daemon.supervisor()
        let alice = try await daemon.agent("alice", Secrets.alice)
        let bob = try await daemon.agent("bob", Secrets.bob)
        let buyer = try await daemon.customer("b1")
        #expect(try await buyer.completion("o OPEN presales :在吗") == "o OK conv=1")
        #expect(try await buyer.next() == "* JOINED conv=1 agent=alice")

        // alice's laptop drops (no QUIT). For a second nothing happens; then bob gets the chat with its clock.
        let dropped = ContinuousClock.now
        await alice.close()
        let moved = try await bob.expect("* ASSIGNED conv=1", timeout: .seconds(10))
        #expect(seconds(since: dropped) >= 0.9)
        #expect(number("waited_ms", in: moved) >= 1000)
        #expect(try await buyer.next() == "* JOINED conv=1 agent=bob")
        let explained = try await lead.command("e EXPLAIN 1")
        #expect(explained.contains("* CANDIDATE conv=1 agent=alice verdict=excluded :excluded: disconnected"))

        // alice back later: the chat is not hers any more.
        let back = try await daemon.connect()
        #expect(
            try await back.command("l LOGIN agent alice alice-secret") == ["l OK role=agent id=alice presence=online"])
        try await expectNothingPending([back])
        #expect(try await back.completion("s SEND 1 :x") == "s ERR not-found :no such conversation")
        try await daemon.stop()
    }

    @Test func anAgentWhoReconnectsWithinTheGraceKeepsItsChats() async throws {
        let toml = testConfiguration(extra: "[routing]\nreconnect_grace_s = 1")
        let daemon = try await TestDaemon.start(toml)
        let alice = try await daemon.agent("alice", Secrets.alice)
        let bob = try await daemon.agent("bob", Secrets.bob)
        let buyer = try await daemon.customer("b1")
        #expect(try await buyer.completion("o OPEN presales :在吗") == "o OK conv=1")
        #expect(try await buyer.next() == "* JOINED conv=1 agent=alice")
        await alice.close()
        let back = try await daemon.connect()
        let login = try await back.command("l LOGIN agent alice alice-secret")
        #expect(login == ["l OK role=agent id=alice presence=online"])
        #expect(
            try await back.next().hasPrefix("* ASSIGNED conv=1 customer=b1 skill=presales priority=normal waited_ms="))
        // Let the grace pass on purpose: nothing moves.
        try await Task.sleep(for: .milliseconds(1500))
        try await expectNothingPending([bob])
        try await expectNothingPending([buyer])
        #expect(try await back.completion("s SEND 1 :我在") == "s OK seq=2")
        #expect(try await buyer.next() == "* MSG conv=1 from=agent :我在")
        try await daemon.stop()
    }

    @Test func withNobodyElseTheDroppedAgentsChatsWaitAtTheFront() async throws {
        let toml = testConfiguration(extra: "[routing]\nreconnect_grace_s = 1")
        let daemon = try await TestDaemon.start(toml)
        let alice = try await daemon.agent("alice", Secrets.alice)
        let early = try await daemon.customer("early")
        #expect(try await early.completion("o OPEN presales :先来的") == "o OK conv=1")
        #expect(try await early.next() == "* JOINED conv=1 agent=alice")
        await alice.close()
        // The server notices the closed connection on its own time: wait until it shows alice disconnected.
        let lead = try await daemon.supervisor()
        #expect(try await daemon.waitForAgent("alice", connected: false, asking: lead))
        // A newcomer waits while alice is gone (she is not connected: offline=1)...
        let late = try await daemon.customer("late")
        #expect(try await late.completion("o OPEN presales :后来的") == "o OK conv=2")
        #expect(try await late.next() == "* QUEUED conv=2 position=1 offline=1")
        // ...and after the grace alice's chat goes back to the queue ahead of it, with its original arrival.
        #expect(try await early.next(timeout: .seconds(10)) == "* QUEUED conv=1 position=1 offline=1")
        #expect(try await late.next(timeout: .seconds(5)) == "* QUEUED conv=2 position=2 offline=1")
        // When alice logs in again she takes them oldest first (as new assignments, not resumed).
        let back = try await daemon.agent("alice", Secrets.alice)
        let first = try await back.next()
        #expect(first.hasPrefix("* ASSIGNED conv=1 customer=early ") && !first.contains("resumed=1"))
        #expect(try await back.next().hasPrefix("* ASSIGNED conv=2 customer=late "))
        try await daemon.stop()
    }

    @Test func anAgentWhoLetsTwoChatsBreachIsSetAwayAndItsUnansweredChatsMove() async throws {
        let daemon = try await TestDaemon.start(testConfiguration(firstResponseSeconds: 1))
        let lead = try await daemon.supervisor()
        let alice = try await daemon.agent("alice", Secrets.alice)
        var buyers: [LineClient] = []
        for index in 1...3 {
            let buyer = try await daemon.customer("b\(index)")
            #expect(try await buyer.completion("o OPEN presales :问题\(index)") == "o OK conv=\(index)")
            #expect(try await buyer.next() == "* JOINED conv=\(index) agent=alice")
            buyers.append(buyer)
        }
        try await alice.expect("* ASSIGNED conv=3")
        // alice answers only the third.
        #expect(try await alice.completion("s SEND 3 :您好") == "s OK seq=2")

        #expect(
            try await lead.next(timeout: .seconds(10)).hasPrefix("* ESCALATED conv=1 reason=first-response agent=alice")
        )
        #expect(
            try await lead.next(timeout: .seconds(5)).hasPrefix("* ESCALATED conv=2 reason=first-response agent=alice"))
        #expect(try await lead.next() == "* AGENT-AWAY agent=alice reason=unresponsive breaches=2")
        // Before each breach alice was warned (SLA-WARN for 1 and 2, possibly before her SEND's completion, which
        // skips events); then she is set away and her unanswered chats are taken back.
        var seen: [String] = []
        while seen.last != "* REVOKED conv=2 reason=unresponsive" {
            seen.append(try await alice.next(timeout: .seconds(5)))
        }
        let warnings = seen.filter { $0.hasPrefix("* SLA-WARN") }
        #expect(warnings.allSatisfy { $0.hasPrefix("* SLA-WARN conv=1 ") || $0.hasPrefix("* SLA-WARN conv=2 ") })
        #expect(
            seen.filter { !$0.hasPrefix("* SLA-WARN") } == [
                "* PRESENCE away reason=unresponsive", "* REVOKED conv=1 reason=unresponsive",
                "* REVOKED conv=2 reason=unresponsive",
            ])
        // Nobody else is online: they wait at the front, the buyers are told.
        #expect(try await buyers[0].next() == "* QUEUED conv=1 position=1 offline=1")
        #expect(try await buyers[1].next() == "* QUEUED conv=2 position=2 offline=1")
        try await expectNothingPending([lead])
        let aways = daemon.breaches.autoAways
        #expect(aways.count == 1)
        #expect(aways.first?.agent == "alice")
        #expect(aways.first?.breaches == 2)
        #expect(aways.first?.movedConversations.map(\.rawValue) == [1, 2])
        #expect(daemon.breaches.all.count == 2)

        // alice keeps the chat she answered, and takes no new ones while away.
        let agents = try await lead.command("a AGENTS")
        #expect(agents.contains { $0.hasPrefix("* AGENT agent=alice presence=away connected=1 held=1 ") })
        #expect(try await alice.completion("s2 SEND 3 :请稍等") == "s2 OK seq=3")
        // bob comes and takes the two that waited; they already breached, so no further escalation follows.
        let bob = try await daemon.agent("bob", Secrets.bob)
        #expect(try await bob.next().hasPrefix("* ASSIGNED conv=1 customer=b1 "))
        #expect(try await bob.next().hasPrefix("* ASSIGNED conv=2 customer=b2 "))
        #expect(try await buyers[0].next() == "* JOINED conv=1 agent=bob")
        // alice chooses to be online again.
        #expect(try await alice.completion("p PRESENCE online") == "p OK presence=online")
        try await expectNothingPending([alice])
        try await daemon.stop()
    }
}

import Foundation
import KefuTestSupport
import Testing

/// Issue 3's routing rules over loopback TCP: stores and languages, levels that widen, fallback skills,
/// returning buyers, full queues, queue positions and wrap-up.
@Suite("Routing rules end to end")
struct RoutingRulesEndToEndTests {
    @Test func storeAndLanguageDecideWhoMayServe() async throws {
        let toml = testConfiguration(
            agentKeys: ["alice": #"stores = ["tmall"]"# + "\nlanguages = [\"zh\"]", "bob": #"languages = ["zh"]"#],
            extra: Team.daveTOML
        )
        let daemon = try await TestDaemon.start(toml)
        let lead = try await daemon.supervisor()
        let alice = try await daemon.agent("alice", Secrets.alice)
        let bob = try await daemon.agent("bob", Secrets.bob)
        let dave = try await daemon.agent("dave", Team.dave)

        // tmall in Chinese: alice (level 3) beats bob (2); dave serves jd only.
        let b1 = try await daemon.customer("b1")
        #expect(try await b1.completion("o OPEN presales store=tmall lang=zh :这件有M码吗") == "o OK conv=1")
        #expect(try await b1.next() == "* JOINED conv=1 agent=alice")
        #expect(try await alice.next().hasPrefix("* ASSIGNED conv=1 customer=b1 skill=presales priority=normal"))

        // jd in English: alice does not serve jd, bob does not speak English: only dave, level 1 as he is.
        let b2 = try await daemon.customer("b2")
        #expect(try await b2.completion("o OPEN presales store=jd lang=en :Do you ship abroad?") == "o OK conv=2")
        #expect(try await b2.next() == "* JOINED conv=2 agent=dave")
        #expect(try await dave.next().hasPrefix("* ASSIGNED conv=2 customer=b2"))

        // A store nobody lists explicitly: bob lists none, so he serves every store.
        let b3 = try await daemon.customer("b3")
        #expect(try await b3.completion("o OPEN presales store=pdd :拼单吗") == "o OK conv=3")
        #expect(try await b3.next() == "* JOINED conv=3 agent=bob")
        #expect(try await bob.next().hasPrefix("* ASSIGNED conv=3 customer=b3"))

        // French: nobody speaks it. It waits, with an estimate (agents of the skill are online: 15 slots, 300 s a
        // chat assumed before any chat closed, so 20 s for the first place).
        let b4 = try await daemon.customer("b4")
        #expect(try await b4.completion("o OPEN presales lang=fr :Bonjour") == "o OK conv=4")
        #expect(try await b4.next() == "* QUEUED conv=4 position=1 eta_s=20")

        // Why dave: each other candidate with the reason it could not take it.
        let explained = try await lead.command("e EXPLAIN 2")
        #expect(explained.count == 5)
        #expect(explained[0].hasPrefix("* EXPLAIN conv=2 agent=dave at="))
        #expect(explained[0].hasSuffix(" :only eligible agent"))
        #expect(explained[1] == "* CANDIDATE conv=2 agent=alice verdict=store :does not serve store jd")
        #expect(explained[2] == "* CANDIDATE conv=2 agent=bob verdict=language :does not speak en")
        #expect(explained[3] == "* CANDIDATE conv=2 agent=dave verdict=chosen :chosen")
        #expect(explained[4] == "e OK count=3")
        // Closed, the explanation is read from the store: the same lines, verdict codes included.
        #expect(try await dave.completion("c CLOSE 2") == "c OK")
        let stored = try await lead.command("e1 EXPLAIN 2")
        #expect(stored == Array(explained.dropLast()) + ["e1 OK count=3"])
        #expect(try await b2.next() == "* CLOSED conv=2 by=agent")
        let waiting = try await lead.command("e2 EXPLAIN 4")
        #expect(waiting.first?.hasSuffix(" :no eligible agent: waits in the queue") == true)
        #expect(waiting.first?.hasPrefix("* EXPLAIN conv=4 agent=none at=") == true)
        #expect(waiting.dropFirst().dropLast().allSatisfy { $0.contains("verdict=language :does not speak fr") })
        let queue = try await lead.command("q QUEUE")
        #expect(queue.count == 2)
        #expect(queue[0].hasPrefix("* WAITING conv=4 position=1 skill=presales priority=normal customer=b4 waited_ms="))
        #expect(queue[0].hasSuffix(" required_level=1 lang=fr"))
        #expect(queue[1] == "q OK count=1")

        // Store and language values are names, like skills.
        #expect(
            try await b4.completion("o2 OPEN presales store=Tmall :x")
                == "o2 ERR bad-args :store must be 1-64 of a-z0-9_-")
        #expect(
            try await b4.completion("o3 OPEN presales lang=zh_CN :x")
                == "o3 ERR bad-args :lang must be 1-64 of a-z0-9_-")
        try await expectNothingPending([alice, bob, dave, b1, b2, b3, b4])
        try await daemon.stop()
    }

    @Test func minLevelWidensToLevelOneThenToFallbackSkills() async throws {
        let toml = testConfiguration(
            aliceSkills: "{ presales = 3, complaint = 2 }",
            extra: """
                [[skill]]
                name = "complaint"
                min_level = 4
                widen_after_s = 1
                fallback = ["refund"]
                """
        )
        let daemon = try await TestDaemon.start(toml)
        let lead = try await daemon.supervisor()
        let alice = try await daemon.agent("alice", Secrets.alice)
        let bob = try await daemon.agent("bob", Secrets.bob)

        // carol (complaint 5) is not here; alice's level 2 is below min_level 4: the complaint waits.
        let b1 = try await daemon.customer("b1")
        let opened = ContinuousClock.now
        #expect(try await b1.completion("o OPEN complaint :商品有质量问题,要投诉") == "o OK conv=1")
        #expect(try await b1.next() == "* QUEUED conv=1 position=1 eta_s=60")
        let queue = try await lead.command("q QUEUE")
        #expect(queue.first?.hasSuffix(" required_level=4") == true)
        let explained = try await lead.command("e EXPLAIN 1")
        #expect(
            explained.contains("* CANDIDATE conv=1 agent=alice verdict=level-too-low :level 2 is below the required 4"))
        #expect(explained.contains("* CANDIDATE conv=1 agent=carol verdict=offline :offline"))

        // After widen_after_s the level drops to 1: alice takes it, its clock still counting from OPEN.
        let assigned = try await alice.expect("* ASSIGNED conv=1", timeout: .seconds(10))
        #expect(seconds(since: opened) >= 0.9)
        #expect(number("waited_ms", in: assigned) >= 1000)
        #expect(try await b1.next() == "* JOINED conv=1 agent=alice")

        // With alice away nobody of the skill is online: the buyer is told (offline=1). After twice widen_after_s
        // the fallback skill refund may serve: bob takes it.
        #expect(try await alice.completion("p PRESENCE away") == "p OK presence=away")
        let b2 = try await daemon.customer("b2")
        #expect(try await b2.completion("o OPEN complaint :还是投诉") == "o OK conv=2")
        #expect(try await b2.next() == "* QUEUED conv=2 position=1 offline=1")
        let fallback = try await bob.expect("* ASSIGNED conv=2", timeout: .seconds(10))
        #expect(number("waited_ms", in: fallback) >= 2000)
        #expect(fallback.hasPrefix("* ASSIGNED conv=2 customer=b2 skill=complaint priority=normal waited_ms="))
        #expect(try await b2.next() == "* JOINED conv=2 agent=bob")
        let why = try await lead.command("e2 EXPLAIN 2")
        #expect(why.contains("* CANDIDATE conv=2 agent=alice verdict=away :away"))
        #expect(why.contains("* CANDIDATE conv=2 agent=bob verdict=chosen :chosen"))
        try await expectNothingPending([alice, bob, b1, b2])
        try await daemon.stop()
    }

    @Test func aReturningBuyerGoesBackToTheirAgent() async throws {
        let daemon = try await TestDaemon.start()
        let lead = try await daemon.supervisor()
        let alice = try await daemon.agent("alice", Secrets.alice)
        let bob = try await daemon.agent("bob", Secrets.bob)
        let buyers = [
            try await daemon.customer("b1"), try await daemon.customer("b2"),
            try await daemon.customer("b3"), try await daemon.customer("b4"),
        ]
        // b1 → alice (level), b2 → bob (load), b3 → alice (equal load, level).
        for (index, expected) in ["alice", "bob", "alice"].enumerated() {
            #expect(try await buyers[index].completion("o OPEN presales :问题") == "o OK conv=\(index + 1)")
            #expect(try await buyers[index].next() == "* JOINED conv=\(index + 1) agent=\(expected)")
        }
        // b3 is done; alice served them.
        #expect(try await buyers[2].completion("c CLOSE 3") == "c OK")
        // b4 → alice again (1 each, level): alice now holds 2, bob 1.
        #expect(try await buyers[3].completion("o OPEN presales :问题") == "o OK conv=4")
        #expect(try await buyers[3].next() == "* JOINED conv=4 agent=alice")
        // b3 comes back: the load rule would pick bob, but the returning buyer goes to alice.
        #expect(try await buyers[2].completion("o2 OPEN presales :又是我,上次的订单") == "o2 OK conv=5")
        #expect(try await buyers[2].next() == "* JOINED conv=5 agent=alice")
        let assigned = try await alice.expect("* ASSIGNED conv=5")
        #expect(assigned.hasPrefix("* ASSIGNED conv=5 customer=b3 skill=presales priority=normal waited_ms="))
        #expect(assigned.hasSuffix(" via=sticky :又是我,上次的订单"))
        let explained = try await lead.command("e EXPLAIN 5")
        #expect(
            explained.first?.hasSuffix(" :returning buyer: alice served them last, within the sticky window") == true)
        #expect(
            explained.contains(
                "* CANDIDATE conv=5 agent=bob verdict=reserved :reserved for returning buyer's agent alice"))
        #expect(explained.contains("* CANDIDATE conv=5 agent=alice verdict=chosen :chosen"))
        #expect(try await bob.pending().map { field("conv", in: $0) } == ["2"])
        try await daemon.stop()
    }

    @Test func aReturningBuyerWaitsForTheirFullAgentOnlyStickyWaitSeconds() async throws {
        let daemon = try await TestDaemon.start(testConfiguration(extra: "[routing]\nsticky_wait_s = 1"))
        let lead = try await daemon.supervisor()
        let bob = try await daemon.agent("bob", Secrets.bob)
        let carol = try await daemon.agent("carol", Secrets.carol)
        let buyer = try await daemon.customer("returning")
        #expect(try await buyer.completion("o OPEN refund :退款") == "o OK conv=1")
        #expect(try await buyer.next() == "* JOINED conv=1 agent=carol")
        #expect(try await carol.completion("c CLOSE 1") == "c OK")
        // carol fills up with complaints (only she has the skill): 3 of 3.
        for index in 0..<3 {
            let other = try await daemon.customer("c\(index)")
            #expect(try await other.completion("o OPEN complaint :投诉") == "o OK conv=\(index + 2)")
        }
        // The returning buyer waits for carol (reserved), though bob is free...
        #expect(try await buyer.completion("o2 OPEN refund :还是退款的事") == "o2 OK conv=5")
        let queued = try await buyer.next()
        #expect(queued.hasPrefix("* QUEUED conv=5 position=1 eta_s="))
        let queue = try await lead.command("q QUEUE")
        #expect(queue.first?.hasSuffix(" reserved=carol") == true)
        // ...but only sticky_wait_s: then bob takes it.
        let assigned = try await bob.expect("* ASSIGNED conv=5", timeout: .seconds(10))
        #expect(number("waited_ms", in: assigned) >= 1000)
        #expect(!assigned.contains("via="))
        #expect(try await buyer.next() == "* JOINED conv=5 agent=bob")
        try await daemon.stop()
    }

    @Test func aVipCountsAsHavingWaitedVipBoostLongerButDoesNotStarveOlderChats() async throws {
        let daemon = try await TestDaemon.start(testConfiguration(extra: "[routing]\nvip_boost_s = 0.5"))
        let lead = try await daemon.supervisor()
        let old = try await daemon.customer("old")
        #expect(try await old.completion("o OPEN complaint :等了很久") == "o OK conv=1")
        #expect(try await old.next() == "* QUEUED conv=1 position=1 offline=1")
        // Time has to pass here: the normal chat waits longer than the vip boost.
        try await Task.sleep(for: .milliseconds(800))
        let vip = try await daemon.customer("vip")
        #expect(try await vip.completion("o OPEN complaint priority=vip :VIP") == "o OK conv=2")
        #expect(try await vip.next() == "* QUEUED conv=2 position=2 offline=1")
        // A vip that arrives soon after a normal chat still goes ahead of it.
        let recent = try await daemon.customer("recent")
        #expect(try await recent.completion("o OPEN complaint :刚来") == "o OK conv=3")
        #expect(try await recent.next() == "* QUEUED conv=3 position=3 offline=1")
        let vip2 = try await daemon.customer("vip2")
        #expect(try await vip2.completion("o OPEN complaint priority=vip :VIP2") == "o OK conv=4")
        #expect(try await vip2.next() == "* QUEUED conv=4 position=3 offline=1")
        let queue = try await lead.command("q QUEUE")
        #expect(queue.dropLast().map { field("conv", in: $0) } == ["1", "2", "4", "3"])
        #expect(try await recent.next() == "* QUEUED conv=3 position=4 offline=1")
        // carol serves them in that order.
        let carol = try await daemon.agent("carol", Secrets.carol)
        for conv in ["1", "2", "4"] { #expect(field("conv", in: try await carol.next()) == conv) }
        try await daemon.stop()
    }

    @Test func aFullQueueAnswersBusyAndFreesUpWhenSomeoneLeaves() async throws {
        let toml = testConfiguration(extra: "[[skill]]\nname = \"complaint\"\nmax_queue = 2")
        let daemon = try await TestDaemon.start(toml)
        let b1 = try await daemon.customer("b1")
        let b2 = try await daemon.customer("b2")
        let b3 = try await daemon.customer("b3")
        // Nobody who handles complaints is online: the buyers leave messages (offline=1).
        #expect(try await b1.completion("o OPEN complaint :一") == "o OK conv=1")
        #expect(try await b1.next() == "* QUEUED conv=1 position=1 offline=1")
        #expect(try await b2.completion("o OPEN complaint :二") == "o OK conv=2")
        #expect(try await b2.next() == "* QUEUED conv=2 position=2 offline=1")
        #expect(
            try await b3.completion("o OPEN complaint :三")
                == "o ERR busy :the complaint queue is full (2 waiting); please leave a message later or try again soon"
        )
        // Other skills are not affected.
        #expect(try await b3.completion("o2 OPEN refund :退款") == "o2 OK conv=3")
        #expect(try await b3.next() == "* QUEUED conv=3 position=1 offline=1")
        // The first one gives up: b2 moves up (told within about a second), and there is room again.
        #expect(try await b1.completion("c CLOSE 1") == "c OK")
        #expect(try await b2.next(timeout: .seconds(5)) == "* QUEUED conv=2 position=1 offline=1")
        #expect(try await b3.completion("o3 OPEN complaint :三") == "o3 OK conv=4")
        #expect(try await b3.next() == "* QUEUED conv=4 position=2 offline=1")
        try await daemon.stop()
    }

    @Test func queuePositionsAreUpdatedWithAnEstimateWhileAgentsAreOnline() async throws {
        let daemon = try await TestDaemon.start()
        let carol = try await daemon.agent("carol", Secrets.carol)
        // carol (3 slots, the only complaint agent) is full; the next three wait, 100 s a place (300 s a chat
        // assumed, 3 slots).
        for index in 1...3 {
            let buyer = try await daemon.customer("held\(index)")
            #expect(try await buyer.completion("o OPEN complaint :投诉") == "o OK conv=\(index)")
            #expect(try await buyer.next() == "* JOINED conv=\(index) agent=carol")
        }
        var waiting: [LineClient] = []
        for index in 4...6 {
            let buyer = try await daemon.customer("w\(index)")
            #expect(try await buyer.completion("o OPEN complaint :投诉") == "o OK conv=\(index)")
            #expect(try await buyer.next() == "* QUEUED conv=\(index) position=\(index - 3) eta_s=\((index - 3) * 100)")
            waiting.append(buyer)
        }
        // The first waiting buyer leaves: the others move up, each told once (no sooner than a second after
        // their last report).
        let left = ContinuousClock.now
        #expect(try await waiting[0].completion("c CLOSE 4") == "c OK")
        #expect(try await waiting[1].next() == "* QUEUED conv=5 position=1 eta_s=100")
        #expect(try await waiting[2].next() == "* QUEUED conv=6 position=2 eta_s=200")
        #expect(seconds(since: left) < 3)
        // carol closes one: the head of the queue gets her slot at once, the last one moves up.
        #expect(try await carol.completion("c CLOSE 1") == "c OK")
        #expect(try await waiting[1].next() == "* JOINED conv=5 agent=carol")
        let moved = try await waiting[2].next()
        #expect(moved.hasPrefix("* QUEUED conv=6 position=1 eta_s="))
        for client in [waiting[1], waiting[2]] { try await expectNothingPending([client]) }
        try await daemon.stop()
    }

    @Test func wrapUpKeepsTheSlotBusyAfterAClose() async throws {
        let daemon = try await TestDaemon.start(testConfiguration(extra: "[routing]\nwrap_up_s = 1"))
        let lead = try await daemon.supervisor()
        let carol = try await daemon.agent("carol", Secrets.carol)
        for index in 1...3 {
            let buyer = try await daemon.customer("held\(index)")
            #expect(try await buyer.completion("o OPEN complaint :投诉") == "o OK conv=\(index)")
        }
        let waiting = try await daemon.customer("next")
        #expect(try await waiting.completion("o OPEN complaint :投诉") == "o OK conv=4")
        #expect(try await waiting.next() == "* QUEUED conv=4 position=1 eta_s=100")
        let closed = ContinuousClock.now
        #expect(try await carol.completion("c CLOSE 1") == "c OK")
        // The slot is in wrap-up: not given away at once.
        let agents = try await lead.command("a AGENTS")
        #expect(
            agents.contains { $0.hasPrefix("* AGENT agent=carol presence=online connected=1 held=2 wrap_up=1 max=3") })
        #expect(try await waiting.next(timeout: .seconds(5)) == "* JOINED conv=4 agent=carol")
        #expect(seconds(since: closed) >= 0.9)
        try await daemon.stop()
    }
}

import Foundation
import KefuCore
import KefuTestSupport
import Testing

/// Issue 3's verbs between colleagues and for supervisors over loopback TCP: TRANSFER, NOTE/NOTES, HANDOVER,
/// ASSIGN, EXPLAIN, QUEUE, AGENTS, WATCH.
@Suite("Transfers, notes, handover and supervisor verbs end to end")
struct TransferAndSupervisorEndToEndTests {
    @Test func notesAreInternalAppendOnlyAndListed() async throws {
        let daemon = try await TestDaemon.start()
        let lead = try await daemon.supervisor()
        let alice = try await daemon.agent("alice", Secrets.alice)
        let bob = try await daemon.agent("bob", Secrets.bob)
        let buyer = try await daemon.customer("b1")
        #expect(try await buyer.completion("o OPEN presales :要一件红色的") == "o OK conv=1")
        try await alice.expect("* ASSIGNED conv=1")
        #expect(try await buyer.next() == "* JOINED conv=1 agent=alice")

        #expect(try await alice.completion("n1 NOTE 1 :尺码M,红色") == "n1 OK seq=1")
        // An edit is a new note; the original stays.
        #expect(try await alice.completion("n2 NOTE 1 :改成L码,\\n地址不变") == "n2 OK seq=2")
        #expect(try await lead.completion("n3 NOTE 1 :主管:可送赠品") == "n3 OK seq=3")
        let notes = try await alice.command("l NOTES 1")
        #expect(notes.count == 4)
        #expect(notes[0].hasPrefix("* NOTE conv=1 seq=1 author=alice at="))
        #expect(notes[0].hasSuffix(" :尺码M,红色"))
        #expect(notes[1].hasPrefix("* NOTE conv=1 seq=2 author=alice at="))
        #expect(notes[1].hasSuffix(" :改成L码,\\n地址不变"))
        #expect(notes[2].hasPrefix("* NOTE conv=1 seq=3 author=lead at="))
        #expect(notes[3] == "l OK count=3")
        #expect(try await lead.command("l2 NOTES 1") == Array(notes.dropLast()) + ["l2 OK count=3"])

        // Customers neither write, read nor receive notes.
        let internalOnly = "ERR forbidden :notes are internal: agents and supervisors only"
        #expect(try await buyer.completion("n4 NOTE 1 :我也想备注") == "n4 \(internalOnly)")
        #expect(try await buyer.completion("l3 NOTES 1") == "l3 \(internalOnly)")
        try await expectNothingPending([buyer])
        // Another agent: the conversation is not theirs.
        #expect(try await bob.completion("n5 NOTE 1 :x") == "n5 ERR not-found :no such conversation")
        #expect(try await bob.completion("l4 NOTES 1") == "l4 ERR not-found :no such conversation")
        // Usage.
        #expect(try await alice.completion("n6 NOTE 1").hasPrefix("n6 ERR bad-args :text required; usage: NOTE"))
        #expect(try await alice.completion("l5 NOTES 1 :x").hasPrefix("l5 ERR bad-args :no text expected"))
        #expect(try await alice.completion("n7 NOTE 99 :x") == "n7 ERR not-found :no such conversation")

        // Closed: notes are read from the store, for the agent who held it and for supervisors.
        #expect(try await alice.completion("c CLOSE 1") == "c OK")
        #expect(try await alice.command("l6 NOTES 1") == Array(notes.dropLast()) + ["l6 OK count=3"])
        #expect(try await lead.command("l7 NOTES 1") == Array(notes.dropLast()) + ["l7 OK count=3"])
        #expect(try await bob.completion("l8 NOTES 1") == "l8 ERR not-found :no such conversation")
        #expect(try await alice.completion("n8 NOTE 1 :太晚了") == "n8 ERR not-found :no such conversation")
        try await daemon.stop()
    }

    @Test func transferToAnAgentCarriesTheNotesAndIsRecordedInHistory() async throws {
        let daemon = try await TestDaemon.start()
        let alice = try await daemon.agent("alice", Secrets.alice)
        let bob = try await daemon.agent("bob", Secrets.bob)
        let carol = try await daemon.agent("carol", Secrets.carol)
        let buyer = try await daemon.customer("b1")
        #expect(try await buyer.completion("o OPEN presales :衣服破了") == "o OK conv=1")
        try await alice.expect("* ASSIGNED conv=1")
        #expect(try await buyer.next() == "* JOINED conv=1 agent=alice")
        #expect(try await alice.completion("n NOTE 1 :订单 8812,已拍照") == "n OK seq=1")

        // A reason is required; one target; the target must be able to take it now.
        let usage = "usage: TRANSFER <conv> agent=<id>|skill=<skill> :<reason>"
        #expect(try await alice.completion("t1 TRANSFER 1 agent=bob") == "t1 ERR bad-args :text required; \(usage)")
        #expect(
            try await alice.completion("t2 TRANSFER 1 agent=bob skill=refund :x")
                == "t2 ERR bad-args :name exactly one of agent= or skill=; \(usage)")
        #expect(
            try await alice.completion("t3 TRANSFER 1 agent=carol :x")
                == "t3 ERR conflict :carol cannot take it now: does not have the skill")
        #expect(
            try await alice.completion("t4 TRANSFER 1 agent=alice :x") == "t4 ERR conflict :the chat is already yours")
        #expect(try await alice.completion("t5 TRANSFER 1 agent=nobody :x") == "t5 ERR bad-args :no agent nobody")
        #expect(
            try await alice.completion("t6 TRANSFER 1 skill=karaoke :x") == "t6 ERR bad-args :unknown skill karaoke")
        #expect(try await bob.completion("t7 TRANSFER 1 agent=bob :x") == "t7 ERR not-found :no such conversation")
        #expect(try await buyer.completion("t8 TRANSFER 1 agent=bob :x") == "t8 ERR forbidden :only agents transfer")
        #expect(try await bob.completion("p PRESENCE away") == "p OK presence=away")
        #expect(
            try await alice.completion("t9 TRANSFER 1 agent=bob :x") == "t9 ERR conflict :bob cannot take it now: away")
        #expect(try await bob.completion("p2 PRESENCE online") == "p2 OK presence=online")

        #expect(try await alice.completion("t TRANSFER 1 agent=bob :客户要退款,转给bob") == "t OK conv=1 agent=bob")
        #expect(try await alice.next() == "* REVOKED conv=1 reason=transfer")
        let assigned = try await bob.next()
        #expect(assigned.hasPrefix("* ASSIGNED conv=1 customer=b1 skill=presales priority=normal waited_ms="))
        #expect(assigned.hasSuffix(" via=transfer :衣服破了"))
        let note = try await bob.next()
        #expect(note.hasPrefix("* NOTE conv=1 seq=1 author=alice at="))
        #expect(note.hasSuffix(" :订单 8812,已拍照"))
        #expect(try await buyer.next() == "* JOINED conv=1 agent=bob")
        // alice may no longer write in it; bob may.
        #expect(try await alice.completion("s SEND 1 :x") == "s ERR not-found :no such conversation")
        #expect(try await bob.completion("s2 SEND 1 :您好,我来处理") == "s2 OK seq=3")
        #expect(try await buyer.next() == "* MSG conv=1 from=agent :您好,我来处理")

        // The history records the transfer between the messages.
        let history = try await bob.command("h HISTORY 1")
        #expect(history.count == 4)
        #expect(history[1].hasPrefix("* HISTORY conv=1 seq=2 from=system at="))
        #expect(history[1].hasSuffix(" :transferred by alice to bob: 客户要退款,转给bob"))
        let explained = try await bob.command("e EXPLAIN 1")
        #expect(explained.first?.hasSuffix(" :transfer by alice: 客户要退款,转给bob") == true)
        try await expectNothingPending([alice, bob, carol, buyer])
        try await daemon.stop()
    }

    @Test func transferToASkillGoesToItsBestAgentOrWaits() async throws {
        let daemon = try await TestDaemon.start()
        let alice = try await daemon.agent("alice", Secrets.alice)
        let bob = try await daemon.agent("bob", Secrets.bob)
        let carol = try await daemon.agent("carol", Secrets.carol)
        let buyer = try await daemon.customer("b1")
        #expect(try await buyer.completion("o OPEN presales :想退货") == "o OK conv=1")
        try await alice.expect("* ASSIGNED conv=1")
        #expect(try await buyer.next() == "* JOINED conv=1 agent=alice")
        #expect(try await alice.completion("n NOTE 1 :已签收三天") == "n OK seq=1")

        // To refund: carol (4) beats bob (3).
        #expect(try await alice.completion("t TRANSFER 1 skill=refund :售后问题") == "t OK conv=1 agent=carol")
        #expect(try await alice.next() == "* REVOKED conv=1 reason=transfer")
        let assigned = try await carol.next()
        #expect(assigned.hasPrefix("* ASSIGNED conv=1 customer=b1 skill=refund priority=normal waited_ms="))
        #expect(assigned.hasSuffix(" via=transfer :想退货"))
        #expect(try await carol.next().hasSuffix(" :已签收三天"))
        #expect(try await buyer.next() == "* JOINED conv=1 agent=carol")

        // To logistics while its only agent is away: it waits, the buyer is told, the transferring agent is free.
        #expect(try await alice.completion("p PRESENCE away") == "p OK presence=away")
        #expect(try await carol.completion("t2 TRANSFER 1 skill=logistics :查物流") == "t2 OK conv=1 agent=none")
        #expect(try await carol.next() == "* REVOKED conv=1 reason=transfer")
        #expect(try await buyer.next() == "* QUEUED conv=1 position=1 offline=1")
        // alice comes back and takes it; the chat keeps its original clock.
        #expect(try await alice.completion("p2 PRESENCE online") == "p2 OK presence=online")
        let resumed = try await alice.next()
        #expect(resumed.hasPrefix("* ASSIGNED conv=1 customer=b1 skill=logistics priority=normal waited_ms="))
        #expect(try await buyer.expect("* JOINED") == "* JOINED conv=1 agent=alice")
        // The transfers are in the history for the agents, not for the buyer (their reasons are internal).
        let history = try await alice.command("h HISTORY 1")
        #expect(history.dropLast().filter { $0.contains(" from=system ") }.count == 2)
        let buyersHistory = try await buyer.command("h HISTORY 1")
        #expect(buyersHistory.dropLast().filter { $0.contains(" from=system ") }.isEmpty)
        #expect(buyersHistory.last == "h OK count=\(buyersHistory.count - 1)")
        try await expectNothingPending([bob, carol])
        try await daemon.stop()
    }

    @Test func handoverPassesEveryChatWithItsNotesAndTheAgentGoesOffline() async throws {
        let daemon = try await TestDaemon.start()
        let lead = try await daemon.supervisor()
        let alice = try await daemon.agent("alice", Secrets.alice)
        let b1 = try await daemon.customer("b1")
        let b2 = try await daemon.customer("b2")
        #expect(try await b1.completion("o OPEN presales :一") == "o OK conv=1")
        #expect(try await b2.completion("o OPEN presales :二") == "o OK conv=2")
        try await alice.expect("* ASSIGNED conv=2")
        #expect(try await b1.next() == "* JOINED conv=1 agent=alice")
        #expect(try await b2.next() == "* JOINED conv=2 agent=alice")
        #expect(try await alice.completion("n NOTE 1 :已承诺赠品") == "n OK seq=1")
        let bob = try await daemon.agent("bob", Secrets.bob)

        #expect(try await b1.completion("h1 HANDOVER").hasPrefix("h1 ERR forbidden"))
        #expect(try await lead.completion("h2 HANDOVER").hasPrefix("h2 ERR forbidden"))
        #expect(try await alice.completion("h3 HANDOVER 1 :x") == "h3 ERR bad-args :usage: HANDOVER [:<note>]")

        #expect(try await alice.completion("h HANDOVER :交班:等仓库回复") == "h OK count=2 presence=offline")
        #expect(try await alice.next() == "* REVOKED conv=1 reason=handover")
        #expect(try await alice.next() == "* REVOKED conv=2 reason=handover")
        let received = try await bob.command("p PING").dropLast()
        #expect(received.count == 5)
        #expect(received[0].hasPrefix("* ASSIGNED conv=1 customer=b1 skill=presales priority=normal waited_ms="))
        #expect(received[0].hasSuffix(" via=handover handover=1 :一"))
        #expect(received[1].hasPrefix("* NOTE conv=1 seq=1 author=alice at=") && received[1].hasSuffix(" :已承诺赠品"))
        #expect(received[2].hasPrefix("* NOTE conv=1 seq=2 author=alice at=") && received[2].hasSuffix(" :交班:等仓库回复"))
        #expect(received[3].hasSuffix(" via=handover handover=1 :二"))
        #expect(received[4].hasPrefix("* NOTE conv=2 seq=1 author=alice at=") && received[4].hasSuffix(" :交班:等仓库回复"))
        #expect(try await b1.next() == "* JOINED conv=1 agent=bob")
        #expect(try await b2.next() == "* JOINED conv=2 agent=bob")

        // alice is offline (still connected) and gets no new chats.
        let agents = try await lead.command("a AGENTS")
        #expect(agents.contains { $0.hasPrefix("* AGENT agent=alice presence=offline connected=1 held=0 ") })
        let b3 = try await daemon.customer("b3")
        #expect(try await b3.completion("o OPEN presales :三") == "o OK conv=3")
        #expect(try await b3.next() == "* JOINED conv=3 agent=bob")
        try await expectNothingPending([alice])

        // bob hands over with nobody to take them: they wait at their original places.
        #expect(try await bob.completion("h4 HANDOVER") == "h4 OK count=3 presence=offline")
        #expect(try await b1.next() == "* QUEUED conv=1 position=1 offline=1")
        #expect(try await b2.next() == "* QUEUED conv=2 position=2 offline=1")
        #expect(try await b3.next() == "* QUEUED conv=3 position=3 offline=1")
        let queue = try await lead.command("q QUEUE")
        #expect(queue.dropLast().map { field("conv", in: $0) } == ["1", "2", "3"])
        try await daemon.stop()
    }

    @Test func assignForcesAChatOnAnAgentAndSaysWhenOverCapacity() async throws {
        let daemon = try await TestDaemon.start()
        let lead = try await daemon.supervisor()
        let carol = try await daemon.agent("carol", Secrets.carol)
        let bob = try await daemon.agent("bob", Secrets.bob)
        var buyers: [LineClient] = []
        for index in 1...5 {
            let buyer = try await daemon.customer("b\(index)")
            #expect(try await buyer.completion("o OPEN complaint :投诉\(index)") == "o OK conv=\(index)")
            buyers.append(buyer)
        }
        for index in 1...3 { #expect(try await buyers[index - 1].next() == "* JOINED conv=\(index) agent=carol") }
        #expect(try await buyers[3].next() == "* QUEUED conv=4 position=1 eta_s=100")

        #expect(try await carol.completion("x1 ASSIGN 4 carol") == "x1 ERR forbidden :only supervisors assign")
        #expect(try await lead.completion("x2 ASSIGN 99 carol") == "x2 ERR not-found :no such conversation")
        #expect(try await lead.completion("x3 ASSIGN 4 nobody") == "x3 ERR bad-args :no agent nobody")
        #expect(try await lead.completion("x4 ASSIGN 4 alice") == "x4 ERR conflict :alice is not connected")
        #expect(try await lead.completion("x5 ASSIGN 1 carol") == "x5 ERR conflict :carol already holds it")
        #expect(try await lead.completion("x6 ASSIGN 4").hasPrefix("x6 ERR bad-args :usage: ASSIGN <conv> <agent>"))

        #expect(try await lead.completion("a ASSIGN 4 carol") == "a OK conv=4 agent=carol over_capacity=1")
        let forced = try await carol.expect("* ASSIGNED conv=4")
        #expect(forced.hasSuffix(" via=forced :投诉4"))
        #expect(try await buyers[3].next() == "* JOINED conv=4 agent=carol")
        let agents = try await lead.command("l AGENTS")
        #expect(
            agents.contains { $0.hasPrefix("* AGENT agent=carol presence=online connected=1 held=4 wrap_up=0 max=3") })
        // Over the limit, a close does not make room: carol gets nothing new until she is below it.
        #expect(try await carol.completion("c1 CLOSE 1") == "c1 OK")
        try await expectNothingPending([carol])
        #expect(try await carol.completion("c2 CLOSE 2") == "c2 OK")
        try await carol.expect("* ASSIGNED conv=5")
        #expect(try await buyers[4].expect("* JOINED") == "* JOINED conv=5 agent=carol")
        // Moving a held chat: the former holder is told, the new one gets it forced (bob has room).
        #expect(try await lead.completion("a2 ASSIGN 5 bob") == "a2 OK conv=5 agent=bob")
        #expect(try await carol.next() == "* REVOKED conv=5 reason=reassigned")
        #expect(try await bob.next().hasSuffix(" via=forced :投诉5"))
        #expect(try await buyers[4].next() == "* JOINED conv=5 agent=bob")
        try await daemon.stop()
    }

    @Test func explainTellsWhyForTheHolderAndSupervisorsAlsoAfterTheClose() async throws {
        let daemon = try await TestDaemon.start()
        let lead = try await daemon.supervisor()
        let alice = try await daemon.agent("alice", Secrets.alice)
        let bob = try await daemon.agent("bob", Secrets.bob)
        let gateway = try await daemon.gateway()
        let buyer = try await daemon.customer("b1")
        #expect(try await buyer.completion("o OPEN presales :有优惠吗") == "o OK conv=1")
        try await alice.expect("* ASSIGNED conv=1")

        let explained = try await alice.command("e EXPLAIN 1")
        #expect(explained.count == 4)
        #expect(explained[0].hasPrefix("* EXPLAIN conv=1 agent=alice at="))
        #expect(explained[0].hasSuffix(" :equal load: higher proficiency"))
        #expect(explained[1] == "* CANDIDATE conv=1 agent=alice verdict=chosen :chosen")
        #expect(explained[2] == "* CANDIDATE conv=1 agent=bob verdict=lower-level :same load, lower level 2")
        #expect(explained[3] == "e OK count=2")
        #expect(try await lead.command("e2 EXPLAIN 1") == Array(explained.dropLast()) + ["e2 OK count=2"])
        #expect(try await buyer.completion("e3 EXPLAIN 1") == "e3 ERR forbidden :EXPLAIN is for agents and supervisors")
        #expect(try await gateway.completion("e4 EXPLAIN 1").hasPrefix("e4 ERR forbidden"))
        #expect(try await bob.completion("e5 EXPLAIN 1") == "e5 ERR not-found :no such conversation")
        #expect(try await lead.completion("e6 EXPLAIN 99") == "e6 ERR not-found :no such conversation")

        // Closed: the same explanation, read from the store.
        #expect(try await buyer.completion("c CLOSE 1") == "c OK")
        let stored = try await lead.command("e7 EXPLAIN 1")
        #expect(stored == Array(explained.dropLast()) + ["e7 OK count=2"])
        #expect(try await alice.next() == "* CLOSED conv=1 by=customer")
        let storedForAlice = try await alice.command("e8 EXPLAIN 1")
        #expect(storedForAlice == Array(explained.dropLast()) + ["e8 OK count=2"])
        #expect(try await bob.completion("e9 EXPLAIN 1") == "e9 ERR not-found :no such conversation")
        try await daemon.stop()
    }

    @Test func queueAndAgentsListWhatSupervisorsNeed() async throws {
        let daemon = try await TestDaemon.start()
        let lead = try await daemon.supervisor()
        let b1 = try await daemon.customer("b1")
        let b2 = try await daemon.customer("b2")
        let b3 = try await daemon.customer("b3")
        #expect(try await b1.completion("o OPEN refund :普通退款") == "o OK conv=1")
        #expect(try await b1.next() == "* QUEUED conv=1 position=1 offline=1")
        #expect(try await b2.completion("o OPEN presales priority=vip :VIP咨询") == "o OK conv=2")
        #expect(try await b2.next() == "* QUEUED conv=2 position=1 offline=1")
        #expect(try await b3.completion("o OPEN refund priority=vip :VIP退款") == "o OK conv=3")
        #expect(try await b3.next() == "* QUEUED conv=3 position=1 offline=1")
        // The vip went ahead of b1: b1 hears its new position within about a second.
        #expect(try await b1.next() == "* QUEUED conv=1 position=2 offline=1")

        let queue = try await lead.command("q QUEUE")
        #expect(queue.count == 4)
        #expect(queue[0].hasPrefix("* WAITING conv=2 position=1 skill=presales priority=vip customer=b2 waited_ms="))
        #expect(queue[1].hasPrefix("* WAITING conv=3 position=1 skill=refund priority=vip customer=b3 waited_ms="))
        #expect(queue[2].hasPrefix("* WAITING conv=1 position=2 skill=refund priority=normal customer=b1 waited_ms="))
        #expect(queue.dropLast().allSatisfy { $0.hasSuffix(" required_level=1") })
        #expect(number("waited_ms", in: queue[2]) >= number("waited_ms", in: queue[0]))
        #expect(queue[3] == "q OK count=3")

        let agents = try await lead.command("a AGENTS")
        #expect(
            agents == [
                "* AGENT agent=alice presence=offline connected=0 held=0 wrap_up=0 max=5 skills=logistics:2,presales:3 "
                    + "last_assigned=never",
                "* AGENT agent=bob presence=offline connected=0 held=0 wrap_up=0 max=5 "
                    + "skills=presales:2,refund:3,returns:3 last_assigned=never",
                "* AGENT agent=carol presence=offline connected=0 held=0 wrap_up=0 max=3 "
                    + "skills=complaint:5,refund:4,returns:2 last_assigned=never",
                "a OK count=3",
            ])
        // bob comes: he takes all three, oldest (vip-boosted) first.
        let bob = try await daemon.agent("bob", Secrets.bob)
        for conv in ["2", "3", "1"] { #expect(field("conv", in: try await bob.next()) == conv) }
        #expect(try await lead.command("q2 QUEUE") == ["q2 OK count=0"])
        let after = try await lead.command("a2 AGENTS")
        #expect(after[1].hasPrefix("* AGENT agent=bob presence=online connected=1 held=3 wrap_up=0 max=5 "))
        #expect(number("last_assigned", in: after[1]) > 0)

        #expect(try await bob.completion("x QUEUE") == "x ERR forbidden :QUEUE is for supervisors")
        #expect(try await b1.completion("x AGENTS") == "x ERR forbidden :AGENTS is for supervisors")
        #expect(try await lead.completion("x2 QUEUE 1").hasPrefix("x2 ERR bad-args"))
        try await daemon.stop()
    }

    @Test func aWatchingSupervisorSeesEveryEventWithItsRecipient() async throws {
        let daemon = try await TestDaemon.start()
        let lead = try await daemon.supervisor()
        let quietLead = try await daemon.supervisor()
        let alice = try await daemon.agent("alice", Secrets.alice)
        let buyer = try await daemon.customer("b1")
        let gateway = try await daemon.gateway()
        #expect(try await alice.completion("w WATCH") == "w ERR forbidden :WATCH is for supervisors")
        #expect(try await buyer.completion("w WATCH") == "w ERR forbidden :WATCH is for supervisors")
        #expect(try await gateway.completion("w WATCH").hasPrefix("w ERR forbidden"))
        #expect(try await lead.completion("w WATCH") == "w OK")

        #expect(try await buyer.completion("o OPEN presales :在吗") == "o OK conv=1")
        let assigned = try await lead.next()
        #expect(
            assigned.hasPrefix(
                "* WATCHED to=agent:alice event=ASSIGNED conv=1 customer=b1 skill=presales priority=normal waited_ms="))
        #expect(assigned.hasSuffix(" :在吗"))
        #expect(try await lead.next() == "* WATCHED to=customer:b1 event=JOINED conv=1 agent=alice")
        #expect(try await alice.completion("s SEND 1 :在的") == "s OK seq=2")
        #expect(try await lead.next() == "* WATCHED to=customer:b1 event=MSG conv=1 from=agent :在的")
        #expect(try await alice.completion("n NOTE 1 :watch me") == "n OK seq=1")
        // A message kept for a buyer who is away is watched when it is sent, not again when it is given later.
        #expect(try await buyer.completion("q QUIT") == "q OK")
        #expect(await buyer.isClosedByServer())
        #expect(try await alice.completion("s2 SEND 1 :人呢?") == "s2 OK seq=3")
        #expect(try await lead.next() == "* WATCHED to=customer:b1 event=MSG conv=1 from=agent :人呢?")
        let back = try await daemon.customer("b1")
        let replayed = try await back.pending()
        #expect(replayed == ["* CONV conv=1 state=assigned agent=alice", "* MSG conv=1 from=agent :人呢?"])
        try await expectNothingPending([lead])
        #expect(try await back.completion("c CLOSE 1") == "c OK")
        #expect(try await lead.next() == "* WATCHED to=agent:alice event=CLOSED conv=1 by=customer")
        // alice answered: the buyer is asked to rate the chat.
        #expect(try await lead.next() == "* WATCHED to=customer:b1 event=CSAT-REQUEST conv=1 scale=5 :\(SatisfactionSurvey.defaultQuestion)")
        try await expectNothingPending([lead])
        // Other supervisor sessions do not watch unless they ask.
        try await expectNothingPending([quietLead])
        try await daemon.stop()
    }
}

import KefuCore
import Testing

@Suite("Who may serve: stores, languages, levels, widening")
struct EligibilityTests {
    @Test func storesAndLanguagesMustBeCoveredAbsentMeansAll() {
        var floor = Floor(agents: [
            agent("tmallOnly", ["presales": 5], stores: ["tmall"]),
            agent("english", ["presales": 4], languages: ["en"]),
            agent("anyone", max: 1, ["presales": 1]),
        ])
        floor.login("tmallOnly")
        floor.login("english")
        floor.login("anyone")
        let jd = floor.open("c1", "presales", store: "jd", language: "en")
        #expect(floor.holder(of: jd) == "english")
        #expect(verdict(of: "tmallOnly", in: floor.core.decision(for: jd)) == .store("jd"))
        let chinese = floor.open("c2", "presales", store: "tmall", language: "zh")
        #expect(floor.holder(of: chinese) == "tmallOnly")
        #expect(verdict(of: "english", in: floor.core.decision(for: chinese)) == .language("zh"))
        // Nobody covers jd in Chinese but the agent with no lists, who is now full: it waits.
        _ = floor.open("c3", "presales", store: "jd", language: "zh")
        let waiting = floor.open("c4", "presales", store: "jd", language: "zh")
        #expect(floor.core.waiting == [waiting])
        #expect(verdict(of: "anyone", in: floor.core.decision(for: waiting)) == .full(held: 1, max: 1))
    }

    @Test func seniorsOnlyUntilTheChatHasWaitedThenAnyLevel() {
        var floor = Floor(
            agents: [agent("junior", ["complaint": 2])],
            skills: [SkillRule(skill: "complaint", minLevel: 3, widenAfter: .seconds(60))]
        )
        floor.login("junior")
        let id = floor.open("c1", "complaint")
        #expect(floor.core.waiting == [id])
        #expect(verdict(of: "junior", in: floor.core.decision(for: id)) == .levelTooLow(level: 2, required: 3))
        _ = floor.advance(seconds: 59.999)
        #expect(floor.holder(of: id) == nil)
        _ = floor.advance(seconds: 0.001)
        #expect(floor.holder(of: id) == "junior")
        // Its clocks were not touched by widening.
        #expect(floor.core.conversation(id)?.openedAt == floor.now + .seconds(-60))
    }

    @Test func afterASecondStepFallbackSkillsMayServe() {
        var floor = Floor(
            agents: [agent("generalist", ["aftersales": 1])],
            skills: [SkillRule(skill: "returns", widenAfter: .seconds(30), fallback: ["aftersales"])]
        )
        floor.login("generalist")
        let id = floor.open("c1", "returns")
        _ = floor.advance(seconds: 30)
        #expect(floor.holder(of: id) == nil)  // step 1 lowers the level, but the generalist lacks the skill
        _ = floor.advance(seconds: 30)
        #expect(floor.holder(of: id) == "generalist")
    }

    @Test func aWidenedChatKeepsItsPlaceAheadOfNewerOnes() {
        var floor = Floor(
            agents: [agent("junior", max: 1, ["complaint": 1])],
            skills: [SkillRule(skill: "complaint", minLevel: 3, widenAfter: .seconds(10))]
        )
        let old = floor.open("c1", "complaint")
        _ = floor.advance(seconds: 20)
        let new = floor.open("c2", "complaint")
        floor.login("junior")
        // The old chat widened; the new one has not yet: the junior can take only the old one.
        #expect(floor.holder(of: old) == "junior")
        #expect(floor.core.waiting == [new])
    }

    @Test func unknownSkillRulesDefaultToOpenToAnyLevel() {
        var floor = Floor(agents: [agent("alice", ["presales": 1])])
        floor.login("alice")
        let id = floor.open("c1", "presales")
        #expect(floor.holder(of: id) == "alice")
    }
}

@Suite("Queue fairness: aging, positions, limits")
struct QueueFairnessTests {
    @Test func vipsGoFirstButCannotStarveNormalChatsForever() {
        var floor = Floor(
            agents: [agent("alice", max: 1, ["presales": 1])], rules: rules { $0.vipBoost = .seconds(60) })
        let veryOld = floor.open("c1", "presales")
        _ = floor.advance(seconds: 90)
        let recent = floor.open("c2", "presales")
        _ = floor.advance(seconds: 30)
        let vip = floor.open("c3", "presales", priority: .vip)
        // vip counts as arrived 60 s earlier: after the 120 s old chat, before the 30 s old one.
        #expect(floor.core.waiting == [veryOld, vip, recent])
    }

    @Test func customersHearNewPositionsAtMostOnceASecond() {
        var floor = Floor(agents: [agent("alice", max: 1, ["presales": 1])])
        let first = floor.open("c1", "presales")
        let second = floor.open("c2", "presales")
        let third = floor.open("c3", "presales")
        floor.run(.close(.customer("c1"), first))
        // Positions changed, but they are told together at the next report, not at once.
        #expect(events(floor.run(.tick).effects, to: .customer("c2")).isEmpty)
        let report = floor.advance(seconds: 1)
        #expect(events(report.effects, to: .customer("c2")) == [.queued(second, position: 1, offline: true)])
        #expect(events(report.effects, to: .customer("c3")) == [.queued(third, position: 2, offline: true)])
        // Nothing changed since: no more reports.
        #expect(events(floor.advance(seconds: 5).effects, to: .customer("c3")).isEmpty)
    }

    @Test func theEstimateComesFromHandlingTimesAndOnlineSlots() {
        var floor = Floor(agents: [agent("alice", max: 1, ["presales": 1])])
        floor.login("alice")
        let held = floor.open("c1", "presales")
        _ = floor.advance(seconds: 100)
        floor.run(.close(.agent("alice"), held))  // one chat handled in 100 s
        _ = floor.open("c2", "presales")
        let step = floor.run(.open(.customer("c3"), skill: "presales", priority: .normal, text: "x"))
        // Position 1 behind one slot handling a chat per 100 s: about 100 s.
        #expect(events(step.effects, to: .customer("c3")) == [.queued(ConversationID(3), position: 1, etaSeconds: 100)])
    }

    @Test func aFullQueueRefusesNewChatsAsBusy() {
        var floor = Floor(agents: [agent("alice", ["refund": 1])], skills: [SkillRule(skill: "refund", maxQueue: 2)])
        _ = floor.open("c1", "refund")
        _ = floor.open("c2", "refund")
        let step = floor.run(.open(.customer("c3"), skill: "refund", priority: .normal, text: "x"))
        guard case .refused(.busy, let message) = step.reply else {
            Issue.record("expected busy, got \(step.reply)")
            return
        }
        #expect(message.contains("leave a message"))
        #expect(step.effects.isEmpty)
    }

    @Test func wrapUpKeepsTheSlotBusyThenTheOldestChatComes() {
        var floor = Floor(agents: [agent("alice", max: 1, ["presales": 1])], rules: rules { $0.wrapUp = .seconds(30) })
        floor.login("alice")
        let first = floor.open("c1", "presales")
        let waiting = floor.open("c2", "presales")
        floor.run(.close(.agent("alice"), first))
        #expect(floor.holder(of: waiting) == nil)
        _ = floor.advance(seconds: 29.999)
        #expect(floor.holder(of: waiting) == nil)
        _ = floor.advance(seconds: 0.001)
        #expect(floor.holder(of: waiting) == "alice")
    }
}

@Suite("Returning buyers (老客户)")
struct StickyTests {
    @Test func aReturningBuyerGoesBackToTheirAgentWithinTheWindow() {
        var floor = Floor(agents: [agent("alice", ["presales": 1]), agent("bob", ["presales": 5])])
        floor.login("alice")
        floor.login("bob")
        let first = floor.open("c1", "presales")
        #expect(floor.holder(of: first) == "bob")  // bob's higher level wins the first time
        floor.run(.close(.customer("c1"), first))
        floor.run(.setPresence(.agent("bob"), .away))
        let between = floor.open("c9", "presales")  // someone else's chat goes to alice meanwhile
        #expect(floor.holder(of: between) == "alice")
        floor.run(.setPresence(.agent("bob"), .online))
        _ = floor.advance(seconds: 3600)
        let again = floor.open("c1", "presales")
        #expect(floor.holder(of: again) == "bob")
        #expect(floor.core.decision(for: again)?.rule == .returningBuyer("bob"))
    }

    @Test func outsideTheWindowRoutingIsNormal() {
        var floor = Floor(
            agents: [agent("alice", ["presales": 5]), agent("bob", ["presales": 1])],
            rules: rules { $0.stickyWindow = .seconds(60) }
        )
        floor.login("alice")
        floor.login("bob")
        let first = floor.open("c1", "presales")
        floor.run(.close(.customer("c1"), first))
        _ = floor.open("c2", "presales")  // alice now holds one, bob none
        _ = floor.advance(seconds: 61)
        let again = floor.open("c1", "presales")
        #expect(floor.holder(of: again) == "bob")  // by load, not stickiness
    }

    @Test func aFullFormerAgentIsWaitedForThenRoutingIsNormalAndOthersAreNotBlocked() {
        var floor = Floor(
            agents: [agent("alice", max: 1, ["presales": 5]), agent("bob", ["presales": 1])],
            rules: rules { $0.stickyWait = .seconds(30) }
        )
        floor.login("alice")
        let first = floor.open("c1", "presales")
        floor.run(.close(.customer("c1"), first))
        _ = floor.open("c2", "presales")  // alice is full again
        floor.login("bob")
        let returning = floor.open("c1", "presales")
        #expect(floor.holder(of: returning) == nil)  // waits for alice, although bob is free
        #expect(verdict(of: "bob", in: floor.core.decision(for: returning)) == .reservedForAnother("alice"))
        let other = floor.open("c3", "presales")
        #expect(floor.holder(of: other) == "bob")  // the reservation does not block other buyers
        _ = floor.advance(seconds: 30)
        #expect(floor.holder(of: returning) == "bob")
    }
}

@Suite("Presence you can trust")
struct PresenceTests {
    @Test func aDroppedAgentKeepsItsChatsForTheGraceThenTheyMoveAtTheFront() {
        var floor = Floor(
            agents: [agent("alice", ["presales": 5]), agent("bob", max: 1, ["presales": 1])],
            rules: rules { $0.reconnectGrace = .seconds(60) }
        )
        floor.login("alice")
        let held = floor.open("c1", "presales")
        floor.login("bob")
        _ = floor.open("c2", "presales")  // alice (lower load ratio 1/5 vs 0/1? bob 0/1 = 0): bob
        floor.run(.disconnect(.agent("alice")))
        _ = floor.advance(seconds: 59)
        #expect(floor.holder(of: held) == "alice")
        _ = floor.advance(seconds: 1)
        #expect(floor.holder(of: held) == nil)
        #expect(floor.core.waiting.first == held)  // at the front: it arrived first
    }

    @Test func reconnectingWithinTheGraceKeepsEverything() {
        var floor = Floor(agents: [agent("alice", ["presales": 5])], rules: rules { $0.reconnectGrace = .seconds(60) })
        floor.login("alice")
        let held = floor.open("c1", "presales")
        floor.run(.disconnect(.agent("alice")))
        _ = floor.advance(seconds: 30)
        floor.login("alice")
        _ = floor.advance(seconds: 60)
        #expect(floor.holder(of: held) == "alice")
    }

    @Test func twoBreachesInTheWindowSetAnIdleAgentAwayAndMoveItsUnansweredChats() {
        var floor = Floor(
            firstResponseSeconds: 60,
            agents: [agent("alice", ["presales": 5]), agent("bob", max: 1, ["presales": 1])]
        )
        floor.login("alice")
        let answered = floor.open("c1", "presales")
        floor.run(.send(.agent("alice"), answered, text: "在的"))
        let first = floor.open("c2", "presales")
        _ = floor.advance(seconds: 1)
        let second = floor.open("c3", "presales")
        _ = floor.advance(seconds: 59)  // first breaches: nobody else to take it
        #expect(floor.core.presence(of: "alice") == .online)
        let step = floor.advance(seconds: 1)  // second breaches
        #expect(floor.core.presence(of: "alice") == .away)
        #expect(events(step.effects, to: .agent("alice")).contains(.presence(.away, reason: .unresponsive)))
        #expect(
            events(step.effects, to: .supervisors).contains(.agentAway("alice", reason: .unresponsive, breaches: 2)))
        let away = step.effects.compactMap { if case .autoAway(let away) = $0 { away } else { nil } }
        #expect(away.map(\.movedConversations) == [[first, second]])
        // The answered chat stays with her; the unanswered ones wait for someone who answers.
        #expect(floor.holder(of: answered) == "alice")
        #expect(floor.core.waiting == [first, second])
        floor.login("bob")
        #expect(floor.holder(of: first) == "bob")
    }
}

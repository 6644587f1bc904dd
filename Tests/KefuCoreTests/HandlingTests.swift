import Testing

@testable import KefuCore

@Suite("Transfers, notes and handover")
struct HandlingTests {
    var floor = Floor(agents: [
        agent("alice", ["presales": 3, "refund": 1]), agent("bob", ["presales": 1]),
        agent("carol", max: 1, ["refund": 4]),
    ])

    init() {
        floor.login("alice")
    }

    @Test mutating func transferToAnAgentCarriesTheNotesAndKeepsTheClock() {
        let id = floor.open("c1", "presales")
        floor.run(.note(.agent("alice"), id, text: "要M码, 送赠品"))
        floor.login("bob")
        let step = floor.run(.transfer(.agent("alice"), id, to: .agent("bob"), reason: "shift change"))
        #expect(step.reply == .ok([Field("conv", "1"), Field("agent", "bob")]))
        #expect(events(step.effects, to: .agent("alice")) == [.revoked(id, reason: .transfer)])
        let toBob = events(step.effects, to: .agent("bob"))
        guard case .assigned(let notice)? = toBob.first, case .note(let note)? = toBob.last else {
            Issue.record("bob got \(toBob)")
            return
        }
        #expect(notice.via == .transfer)
        #expect(note.text == "要M码, 送赠品")
        // The history records it, and the first-response clock still runs from OPEN.
        let system = step.records.compactMap {
            if case .message(let m) = $0, m.sender == .system { m.text } else { nil }
        }
        #expect(system == ["transferred by alice to bob: shift change"])
        #expect(breaches(floor.advance(seconds: 120).effects).map(\.agent) == ["bob"])
    }

    @Test mutating func aTransferNeedsAReasonAndAnEligibleTarget() {
        let id = floor.open("c1", "presales")
        #expect(
            floor.run(.transfer(.agent("alice"), id, to: .agent("bob"), reason: "")).reply
                == .refused(.badArgs, "a transfer needs a reason"))
        #expect(
            floor.run(.transfer(.agent("alice"), id, to: .agent("bob"), reason: "busy")).reply
                == .refused(.conflict, "bob cannot take it now: offline"))
        #expect(
            floor.run(.transfer(.agent("bob"), id, to: .agent("alice"), reason: "x")).reply
                == .refused(.notFound, "no such conversation"))
        #expect(floor.holder(of: id) == "alice")
    }

    @Test mutating func transferToASkillGoesToItsBestAgentOrWaits() {
        let id = floor.open("c1", "presales")
        let step = floor.run(.transfer(.agent("alice"), id, to: .skill("refund"), reason: "wants a refund"))
        // alice has refund too but is the one passing it on; carol is offline: it waits for refund.
        #expect(step.reply == .ok([Field("conv", "1"), Field("agent", "none")]))
        #expect(floor.core.conversation(id)?.skill == "refund")
        #expect(verdict(of: "alice", in: floor.core.decision(for: id)) == .excluded(.transferredAway))
        floor.login("carol")
        #expect(floor.holder(of: id) == "carol")
    }

    @Test mutating func notesAreInternalAppendOnlyAndListed() {
        let id = floor.open("c1", "presales")
        #expect(floor.run(.note(.agent("alice"), id, text: "地址: 上海")).reply == .ok([Field("seq", "1")]))
        #expect(floor.run(.note(.supervisor("lead"), id, text: "改地址: 北京")).reply == .ok([Field("seq", "2")]))
        #expect(
            floor.run(.note(.customer("c1"), id, text: "x")).reply
                == .refused(.forbidden, "notes are internal: agents and supervisors only"))
        #expect(floor.run(.note(.agent("bob"), id, text: "x")).reply == .refused(.notFound, "no such conversation"))
        guard case .notes(let notes) = floor.run(.notes(.agent("alice"), id)).reply else {
            Issue.record("no notes")
            return
        }
        #expect(notes.map(\.text) == ["地址: 上海", "改地址: 北京"])
        #expect(notes.map(\.author) == ["alice", "lead"])
        #expect(notes.map(\.seq) == [1, 2])
        #expect(
            floor.run(.notes(.customer("c1"), id)).reply
                == .refused(.forbidden, "notes are internal: agents and supervisors only"))
    }

    @Test mutating func handoverPassesEveryChatOnWithTheNoteOrQueuesItAndGoesOffline() {
        let presales = floor.open("c1", "presales")
        let refund = floor.open("c2", "refund")
        floor.login("bob")
        let step = floor.run(.handover(.agent("alice"), note: "c1 等发货通知"))
        #expect(step.reply == .ok([Field("count", "2"), Field("presence", "offline")]))
        #expect(floor.core.presence(of: "alice") == .offline)
        #expect(floor.holder(of: presales) == "bob")
        #expect(floor.core.waiting == [refund])  // nobody online has refund
        let toBob = events(step.effects, to: .agent("bob"))
        guard case .assigned(let notice)? = toBob.first else {
            Issue.record("bob got \(toBob)")
            return
        }
        #expect(notice.via == .handover)
        #expect(toBob.contains { if case .note(let note) = $0 { note.text == "c1 等发货通知" } else { false } })
    }
}

@Suite("Supervisors: force, explain, queue, agents")
struct SupervisorTests {
    @Test func assignMayExceedCapacityAndSaysSo() {
        var floor = Floor(agents: [agent("alice", max: 1, ["presales": 1]), agent("bob", ["presales": 1])])
        floor.login("alice")
        let first = floor.open("c1", "presales")
        let second = floor.open("c2", "presales")
        #expect(
            floor.run(.assign(.supervisor("lead"), second, "alice")).reply
                == .ok([Field("conv", "2"), Field("agent", "alice"), Field("over_capacity", "1")]))
        #expect(floor.core.held(by: "alice") == [first, second])
        #expect(floor.core.decision(for: second)?.rule == .forced(by: "lead"))
        #expect(
            floor.run(.assign(.agent("alice"), second, "bob")).reply == .refused(.forbidden, "only supervisors assign"))
        #expect(
            floor.run(.assign(.supervisor("lead"), second, "bob")).reply
                == .refused(.conflict, "bob is not connected"))
    }

    @Test func explainListsEveryCandidateAndWhyItLost() {
        var floor = Floor(agents: [
            agent("amy", ["presales": 3]), agent("ben", ["presales": 3]), agent("cat", ["presales": 2]),
            agent("dan", ["presales": 5]), agent("eve", max: 1, ["presales": 5]),
        ])
        for id: AgentID in ["amy", "ben", "cat", "eve"] { floor.login(id) }
        _ = floor.open("warmup", "presales")  // eve (level 5, idle) takes it and is full
        floor.run(.setPresence(.agent("ben"), .away))
        let id = floor.open("c1", "presales")
        let decision = floor.core.decision(for: id)
        #expect(decision?.agent == "amy")
        #expect(decision?.rule == .higherProficiency)
        #expect(verdict(of: "ben", in: decision) == .away)
        #expect(verdict(of: "cat", in: decision) == .lowerLevel(2))
        #expect(verdict(of: "dan", in: decision) == .offline)
        #expect(verdict(of: "eve", in: decision) == .full(held: 1, max: 1))
        guard case .explanation(let explained) = floor.run(.explain(.supervisor("lead"), id)).reply else {
            Issue.record("no explanation")
            return
        }
        #expect(explained == decision)
        #expect(explained.candidates.map(\.verdict.code) == ["chosen", "away", "lower-level", "offline", "full"])
        #expect(
            floor.run(.explain(.customer("c1"), id)).reply
                == .refused(.forbidden, "EXPLAIN is for agents and supervisors"))
        // An agent who never held it is sent to the store, which answers not-found.
        #expect(
            floor.run(.explain(.agent("cat"), id)).reply
                == .fromStore(.explanation, id, viewer: .agent("cat"), verifyOwnership: true))
    }

    /// Stores buyers name that no agent lists share one lane: a gateway naming thousands of stores cannot grow the
    /// queue's layout, and those chats still go to an agent who serves every store.
    @Test func storesNoAgentListsShareOneLane() {
        var floor = Floor(agents: [
            agent("tina", max: 1, ["presales": 1], stores: ["tmall"]), agent("al", max: 1, ["presales": 1]),
        ])
        let ids = (0..<1000).map { floor.open(CustomerID("c\($0)"), "presales", store: "shop\($0)") }
        #expect(floor.core.queue.storeLanes <= 3)  // none, unlisted, tmall
        floor.login("tina")
        #expect(floor.core.held(by: "tina").isEmpty)
        floor.login("al")
        #expect(floor.core.held(by: "al") == [ids[0]])
    }

    /// On a large team with everyone full, each queued chat's decision counts the team as it stands then: the
    /// counts of the previous decision are reused only while they are still true.
    @Test func queuedChatsOnAFullTeamEachCountTheTeamAsItStandsThen() {
        let team = (0..<40).map { agent(AgentID("a\($0 + 10)"), max: 1, ["presales": 1]) }
        var floor = Floor(agents: team)
        for index in 0..<40 { floor.login(AgentID("a\(index + 10)")) }
        for index in 0..<40 { _ = floor.open(CustomerID("warm\(index)"), "presales") }
        let first = floor.open("c1", "presales")
        let second = floor.open("c2", "presales")
        floor.run(.setPresence(.agent("a10"), .away))
        let third = floor.open("c3", "presales")
        let full = [OtherAgents(skill: "presales", standing: .full, count: 40)]
        #expect(floor.core.decision(for: first)?.others == full)
        #expect(floor.core.decision(for: second)?.others == full)
        #expect(
            floor.core.decision(for: third)?.others == [
                OtherAgents(skill: "presales", standing: .away, count: 1),
                OtherAgents(skill: "presales", standing: .full, count: 39),
            ])
    }

    /// A chat that names no store may go to any agent: the decision walks every store's agents, and one who serves
    /// several stores (filed under each) is examined and counted once.
    @Test func aChatWithoutAStoreIsOfferedToEveryStoresAgentsCountingEachOnce() {
        let team = (0..<40).map { index in
            agent(AgentID("a\(index + 10)"), max: 1, ["presales": 1], stores: ["tmall", "jd"])
        }
        var floor = Floor(agents: team)
        for index in 0..<40 { floor.login(AgentID("a\(index + 10)")) }
        let id = floor.open("c1", "presales")
        guard let decision = floor.core.decision(for: id) else {
            Issue.record("no decision")
            return
        }
        #expect(decision.agent == "a10")
        #expect(decision.candidates.first == Candidate(agent: "a10", verdict: .chosen))
        #expect(Set(decision.candidates.map(\.agent)).count == decision.candidates.count)
        // Every free agent is either a candidate or counted as ranked lower, once.
        #expect(
            decision.others == [
                OtherAgents(skill: "presales", standing: .rankedLower, count: 40 - decision.candidates.count)
            ])
    }

    @Test func aLargeTeamsDecisionListsTheAgentsExaminedAndCountsTheRest() {
        // 40 agents of presales, a10...a49: 10 offline, 5 away, 10 full, 5 free juniors below the required level 3,
        // and 10 free seniors, two of whom do not serve jd. Only free agents of the levels that may serve and of the
        // chat's store (or of every store) are examined.
        var team: [AgentProfile] = []
        for index in 0..<40 {
            let level = (30..<35).contains(index) ? 1 : 3
            let stores: Set<String>? = index == 25 || index == 26 ? ["tmall"] : nil
            team.append(agent(AgentID("a\(index + 10)"), max: 1, ["presales": level], stores: stores))
        }
        var floor = Floor(agents: team, skills: [SkillRule(skill: "presales", minLevel: 3)])
        for index in 10..<40 { floor.login(AgentID("a\(index + 10)")) }
        for index in 10..<15 { floor.run(.setPresence(.agent(AgentID("a\(index + 10)")), .away)) }
        // Ten chats fill the idle seniors a25...a34 (equal load, never assigned: lowest id first).
        for index in 0..<10 { _ = floor.open(CustomerID("warm\(index)"), "presales") }
        let id = floor.open("c1", "presales", store: "jd")
        guard let decision = floor.core.decision(for: id) else {
            Issue.record("no decision")
            return
        }
        // a35 and a36 serve tmall only: filed under tmall, never walked for a jd chat, counted as of another store;
        // a37 wins, a38 is its runner-up; the free juniors a40...a44 are below level 3.
        #expect(decision.agent == "a37")
        #expect(decision.rule == .lowestID)
        #expect(
            decision.candidates == [
                Candidate(agent: "a37", verdict: .chosen), Candidate(agent: "a38", verdict: .laterID),
            ])
        #expect(
            decision.others == [
                OtherAgents(skill: "presales", standing: .offline, count: 10),
                OtherAgents(skill: "presales", standing: .away, count: 5),
                OtherAgents(skill: "presales", standing: .full, count: 10),
                OtherAgents(skill: "presales", standing: .levelTooLow, count: 5),
                OtherAgents(skill: "presales", standing: .otherStore, count: 2),
                OtherAgents(skill: "presales", standing: .rankedLower, count: 6),
            ])
        #expect(floor.run(.explain(.supervisor("lead"), id)).reply == .explanation(decision))
        // Kept with its assignment, it explains the same once only the store has it.
        let stored = AssignmentRecord(
            conversation: id, agent: decision.agent, at: decision.at, reason: .routed, decision: decision)
        #expect(RoutingCore.explanation(of: stored) == decision)
    }

    @Test func queueAndAgentsAreForSupervisorsAndListWhatTheyNeed() {
        var floor = Floor(agents: [agent("alice", max: 1, ["presales": 2])])
        floor.login("alice")
        _ = floor.open("c1", "presales")
        _ = floor.advance(seconds: 5)
        _ = floor.open("c2", "presales", store: "jd")
        guard case .queue(let waiting, let more) = floor.run(.queue(.supervisor("lead"))).reply,
            case .agents(let agents, _) = floor.run(.agents(.supervisor("lead"))).reply
        else {
            Issue.record("no listings")
            return
        }
        #expect(more == nil)
        #expect(
            waiting == [
                WaitingEntry(
                    conversation: ConversationID(2), position: 1, skill: "presales", priority: .normal, customer: "c2",
                    waited: Milliseconds(0), requiredLevel: 1, store: "jd")
            ])
        #expect(agents.first?.held == 1)
        #expect(agents.first?.skills == [SkillLevel(skill: "presales", level: 2)])
        #expect(floor.run(.queue(.agent("alice"))).reply == .refused(.forbidden, "QUEUE is for supervisors"))
    }
}

@Suite("Transfers that wait, and breaches right after a transfer")
struct TransferEdgeTests {
    @Test func aTransferThatWaitsIsStillATransferWhenTakenWithItsNotes() {
        var floor = Floor(agents: [agent("carol", ["refund": 3]), agent("alice", ["logistics": 2])])
        floor.login("carol")
        let id = floor.open("c1", "refund")
        floor.run(.note(.agent("carol"), id, text: "已退款, 等物流"))
        #expect(
            floor.run(.transfer(.agent("carol"), id, to: .skill("logistics"), reason: "go")).reply
                == .ok([Field("conv", "1"), Field("agent", "none")]))
        let step = floor.run(.connect(.agent("alice")))
        let toAlice = events(step.effects, to: .agent("alice"))
        guard case .assigned(let notice)? = toAlice.first else {
            Issue.record("alice got \(toAlice)")
            return
        }
        #expect(notice.via == .transfer)
        #expect(toAlice.contains { if case .note(let note) = $0 { note.text == "已退款, 等物流" } else { false } })
    }

    @Test func aHandoverThatWaitsIsStillAHandoverWhenTaken() {
        var floor = Floor(agents: [agent("alice", ["presales": 3]), agent("bob", ["presales": 1])])
        floor.login("alice")
        _ = floor.open("c1", "presales")
        floor.run(.handover(.agent("alice"), note: "明早回复"))
        let step = floor.run(.connect(.agent("bob")))
        guard case .assigned(let notice)? = events(step.effects, to: .agent("bob")).first else {
            Issue.record("bob got nothing")
            return
        }
        #expect(notice.via == .handover)
    }

    @Test func aBreachMomentsAfterATransferDoesNotCountAgainstTheNewHolderNorGoBack() {
        var floor = Floor(
            firstResponseSeconds: 10,
            agents: [agent("alice", ["presales": 3]), agent("bob", ["presales": 1])],
            rules: rules { $0.autoAwayBreaches = 1 }
        )
        floor.login("alice")
        floor.login("bob")
        let id = floor.open("c1", "presales")
        _ = floor.advance(seconds: 9)
        floor.run(.transfer(.agent("alice"), id, to: .agent("bob"), reason: "交给专员"))
        let step = floor.advance(seconds: 1)
        #expect(breaches(step.effects).map(\.agent) == ["bob"])
        // bob had it for one second of ten: not his idle hanging; and it does not bounce back to alice.
        #expect(floor.core.presence(of: "bob") == .online)
        #expect(floor.holder(of: id) == "bob")
    }

    @Test func afterATransferToASkillItsOwnWideningApplies() {
        var floor = Floor(
            agents: [agent("alice", ["presales": 3]), agent("junior", ["complaint": 1])],
            skills: [SkillRule(skill: "complaint", minLevel: 3, widenAfter: .seconds(60))]
        )
        floor.login("alice")
        floor.login("junior")
        let id = floor.open("c1", "presales")
        floor.run(.transfer(.agent("alice"), id, to: .skill("complaint"), reason: "投诉"))
        #expect(floor.holder(of: id) == nil)  // seniors only at first
        _ = floor.advance(seconds: 60)  // 60 s after opening: the complaint rule widens to any level
        #expect(floor.holder(of: id) == "junior")
    }
}

import KefuCore
import Testing

@Suite("Routing by skill and load")
struct RoutingTests {
    @Test func conversationGoesOnlyToAgentsWithTheSkill() {
        var floor = Floor(agents: [agent("alice", ["presales": 3]), agent("bob", ["refund": 3])])
        floor.login("alice")
        floor.login("bob")
        let refund = floor.open("c1", "refund")
        let presales = floor.open("c2", "presales")
        #expect(floor.holder(of: refund) == "bob")
        #expect(floor.holder(of: presales) == "alice")
    }

    @Test func lowestLoadRatioWinsNotLowestCount() {
        // alice holds 1 of 2 (0.5), bob holds 2 of 10 (0.2): bob has more chats but more room.
        var floor = Floor(agents: [agent("alice", max: 2, ["presales": 1]), agent("bob", max: 10, ["presales": 1])])
        floor.login("alice")
        _ = floor.open("c1", "presales")  // only alice is online
        floor.login("bob")
        _ = floor.open("c2", "presales")  // alice 1/2 vs bob 0/10: bob
        _ = floor.open("c3", "presales")  // alice 1/2 vs bob 1/10: bob
        let next = floor.open("c4", "presales")  // alice 0.5 vs bob 0.2: bob again
        #expect(floor.core.held(by: "bob").count == 3)
        #expect(floor.holder(of: next) == "bob")
    }

    @Test func tieOnLoadGoesToHigherProficiency() {
        var floor = Floor(agents: [agent("alice", ["refund": 2]), agent("bob", ["refund": 4])])
        floor.login("alice")
        floor.login("bob")
        let id = floor.open("c1", "refund")
        #expect(floor.holder(of: id) == "bob")
    }

    @Test func tieOnLoadAndLevelGoesToAgentIdleLongest() {
        var floor = Floor(agents: [agent("alice", max: 2, ["presales": 2]), agent("bob", max: 2, ["presales": 2])])
        floor.login("alice")
        floor.login("bob")
        let first = floor.open("c1", "presales")  // both never assigned: by id, alice
        #expect(floor.holder(of: first) == "alice")
        _ = floor.advance(seconds: 1)
        let second = floor.open("c2", "presales")  // alice 1/2, bob 0/2: bob by load
        #expect(floor.holder(of: second) == "bob")
        _ = floor.advance(seconds: 1)
        floor.run(.close(.customer("c1"), first))
        floor.run(.close(.customer("c2"), second))
        // Both empty again; alice was last assigned earlier, so she has been idle longest.
        let third = floor.open("c3", "presales")
        #expect(floor.holder(of: third) == "alice")
    }

    @Test func fullTieGoesToLowestIdSoRoutingIsDeterministic() {
        var floor = Floor(agents: [agent("zed", ["presales": 2]), agent("amy", ["presales": 2])])
        floor.login("zed")
        floor.login("amy")
        let id = floor.open("c1", "presales")
        #expect(floor.holder(of: id) == "amy")
    }

    @Test func awayOfflineAndDisconnectedAgentsTakeNoNewChats() {
        var floor = Floor(agents: [agent("away", ["presales": 5]), agent("gone", ["presales": 5]),
                                   agent("dropped", ["presales": 5]), agent("on", ["presales": 1])])
        floor.login("away")
        floor.run(.setPresence(.agent("away"), .away))
        floor.login("gone")
        floor.run(.setPresence(.agent("gone"), .offline))
        floor.login("dropped")
        floor.run(.disconnect(.agent("dropped")))
        floor.login("on")
        let id = floor.open("c1", "presales")
        #expect(floor.holder(of: id) == "on")
    }

    @Test func unknownSkillIsRefusedWithTheKnownOnes() {
        var floor = Floor(agents: [agent("alice", ["presales": 3, "refund": 1])])
        let step = floor.run(.open(.customer("c1"), skill: "karaoke", priority: .normal, text: "hi"))
        #expect(step.reply == .refused(.badArgs, "unknown skill karaoke; known skills: presales,refund"))
        #expect(step.effects.isEmpty)
    }

    @Test func openReportsTheNewConversationAndPersistsItBeforeAnything() {
        var floor = Floor(agents: [agent("alice", ["presales": 3])])
        floor.login("alice")
        let step = floor.run(.open(.customer("c1"), skill: "presales", priority: .normal, text: "在吗"))
        #expect(step.reply == .ok([Field("conv", "1")]))
        #expect(step.records.contains(.message(MessageRecord(
            conversation: ConversationID(1), seq: 1, sender: .customer, author: "c1", at: floor.now, text: "在吗"
        ))))
        let assigned = events(step.effects, to: .agent("alice"))
        guard case .assigned(let notice) = assigned.first else {
            Issue.record("alice got no assignment: \(step.effects)")
            return
        }
        #expect(notice.firstMessage == "在吗")
        #expect(notice.resumed == false)
        #expect(events(step.effects, to: .customer("c1")) == [.joined(ConversationID(1), agent: "alice")])
    }
}

@Suite("The waiting queue")
struct QueueTests {
    @Test func withoutAgentsConversationsWaitAndAreToldTheirPosition() {
        var floor = Floor(agents: [agent("alice", ["presales": 3])])
        let first = floor.run(.open(.customer("c1"), skill: "presales", priority: .normal, text: "a"))
        let second = floor.run(.open(.customer("c2"), skill: "presales", priority: .normal, text: "b"))
        // Nobody who could serve is online: the buyer is told it is an offline message (留言), with no estimate.
        #expect(events(first.effects, to: .customer("c1")) == [.queued(ConversationID(1), position: 1, offline: true)])
        #expect(events(second.effects, to: .customer("c2")) == [.queued(ConversationID(2), position: 2, offline: true)])
        #expect(floor.core.waiting == [ConversationID(1), ConversationID(2)])
    }

    @Test func vipWaitsAheadOfNormalThenArrivalOrder() {
        var floor = Floor(agents: [agent("alice", max: 1, ["presales": 3])])
        let normal1 = floor.open("c1", "presales")
        _ = floor.advance(seconds: 1)
        let normal2 = floor.open("c2", "presales")
        _ = floor.advance(seconds: 1)
        let vip = floor.open("c3", "presales", priority: .vip)
        let step = floor.run(.open(.customer("c4"), skill: "presales", priority: .vip, text: "x"))
        #expect(events(step.effects, to: .customer("c4")) == [.queued(ConversationID(4), position: 2, offline: true)])
        #expect(floor.core.waiting == [vip, ConversationID(4), normal1, normal2])
        floor.login("alice")
        #expect(floor.holder(of: vip) == "alice")
    }

    @Test func capacityReleasedByACloseTakesTheOldestWaitingAtOnce() {
        var floor = Floor(agents: [agent("alice", max: 1, ["presales": 3])])
        floor.login("alice")
        let held = floor.open("c1", "presales")
        let older = floor.open("c2", "presales")
        _ = floor.advance(seconds: 1)
        let newer = floor.open("c3", "presales")
        #expect(floor.core.waiting == [older, newer])
        let step = floor.run(.close(.agent("alice"), held))
        #expect(floor.holder(of: older) == "alice")
        #expect(events(step.effects, to: .customer("c2")) == [.joined(older, agent: "alice")])
        #expect(events(step.effects, to: .customer("c1")) == [.closed(held, by: .agent)])
        #expect(floor.core.waiting == [newer])
    }

    @Test func agentComingOnlineTakesWaitingWorkUpToItsLimitAcrossSkills() {
        var floor = Floor(agents: [agent("bob", max: 2, ["refund": 3, "returns": 1])])
        let refund = floor.open("c1", "refund")
        _ = floor.advance(seconds: 1)
        let secondRefund = floor.open("c2", "refund")
        _ = floor.advance(seconds: 1)
        let returns = floor.open("c3", "returns")
        floor.login("bob")
        floor.run(.setPresence(.agent("bob"), .away))
        floor.run(.setPresence(.agent("bob"), .online))
        #expect(floor.core.held(by: "bob") == [refund, secondRefund])
        #expect(floor.core.waiting == [returns])
    }

    @Test func goingOfflineRequeuesChatsAtTheFrontAndPassesThemOn() {
        var floor = Floor(agents: [agent("alice", max: 1, ["presales": 3]), agent("bob", max: 1, ["presales": 1])])
        floor.login("alice")
        let first = floor.open("c1", "presales")
        _ = floor.advance(seconds: 1)
        let second = floor.open("c2", "presales")  // waits: alice is full, bob offline
        floor.login("bob")  // takes c2
        #expect(floor.holder(of: second) == "bob")
        _ = floor.advance(seconds: 1)
        let third = floor.open("c3", "presales")
        #expect(floor.core.waiting == [third])
        let step = floor.run(.setPresence(.agent("alice"), .offline))
        #expect(events(step.effects, to: .agent("alice")) == [.revoked(first, reason: .offline)])
        // c1 went back ahead of c3 because it arrived first.
        #expect(floor.core.waiting == [first, third])
        floor.run(.close(.agent("bob"), second))
        #expect(floor.holder(of: first) == "bob")
    }

    @Test func closingAQueuedConversationRemovesItFromTheQueue() {
        var floor = Floor(agents: [agent("alice", ["presales": 3])])
        let id = floor.open("c1", "presales")
        floor.run(.close(.customer("c1"), id))
        #expect(floor.core.waiting.isEmpty)
        floor.login("alice")
        #expect(floor.core.held(by: "alice").isEmpty)
    }
}

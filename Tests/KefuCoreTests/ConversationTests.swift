import KefuCore
import Testing

@Suite("Messages, closing, history and access")
struct ConversationTests {
    @Test func messagesFlowBothWaysAndArePersistedInOrder() {
        var floor = Floor(agents: [agent("alice", ["presales": 3])])
        floor.login("alice")
        let id = floor.open("c1", "presales", text: "这件有M码吗")
        let fromCustomer = floor.run(.send(.customer("c1"), id, text: "第二句"))
        #expect(events(fromCustomer.effects, to: .agent("alice")) == [.message(id, from: .customer, text: "第二句")])
        let fromAgent = floor.run(.send(.agent("alice"), id, text: "有的\n亲"))
        #expect(events(fromAgent.effects, to: .customer("c1")) == [.message(id, from: .agent, text: "有的\n亲")])
        #expect(fromAgent.reply == .ok([Field("seq", "3")]))
        let seqs = floor.log.compactMap { effect -> Int? in
            if case .persist(.message(let message)) = effect { return message.seq }
            return nil
        }
        #expect(seqs == [1, 2, 3])
    }

    @Test func aConversationThatIsNotYoursIsNotFound() {
        var floor = Floor(agents: [agent("alice", ["presales": 3]), agent("bob", ["presales": 3])])
        floor.login("alice")
        let id = floor.open("c1", "presales")
        let expected = Reply.refused(.notFound, "no such conversation")
        #expect(floor.run(.send(.customer("c2"), id, text: "x")).reply == expected)
        #expect(floor.run(.send(.agent("bob"), id, text: "x")).reply == expected)
        #expect(floor.run(.close(.customer("c2"), id)).reply == expected)
        #expect(floor.run(.history(.customer("c2"), id)).reply == expected)
        #expect(
            floor.run(.send(.customer("c1"), ConversationID(99), text: "x")).reply
                == .refused(.notFound, "no such conversation"))
    }

    @Test func historyAccessIsDecidedOrDeferredToTheStore() {
        var floor = Floor(agents: [agent("alice", ["presales": 3])])
        floor.login("alice")
        let id = floor.open("c1", "presales")
        #expect(
            floor.run(.history(.customer("c1"), id)).reply
                == .history(id, viewer: .customer("c1"), verifyOwnership: false))
        #expect(
            floor.run(.history(.agent("alice"), id)).reply
                == .history(id, viewer: .agent("alice"), verifyOwnership: false))
        #expect(
            floor.run(.history(.supervisor("lead"), id)).reply
                == .history(id, viewer: .supervisor("lead"), verifyOwnership: false))
        floor.run(.close(.customer("c1"), id))
        #expect(
            floor.run(.history(.customer("c1"), id)).reply
                == .history(id, viewer: .customer("c1"), verifyOwnership: true))
    }

    @Test func rolesAreEnforced() {
        var floor = Floor(agents: [agent("alice", ["presales": 3])])
        #expect(
            floor.run(.open(.agent("alice"), skill: "presales", priority: .normal, text: "x")).reply
                == .refused(.forbidden, "only customers open conversations"))
        #expect(
            floor.run(.setPresence(.customer("c1"), .online)).reply == .refused(.forbidden, "only agents set presence"))
        #expect(floor.run(.connect(.agent("mallory"))).reply == .refused(.forbidden, "agent mallory is not configured"))
    }

    @Test func reconnectingAgentIsToldOfEveryConversationItStillHolds() {
        var floor = Floor(agents: [agent("alice", ["presales": 3])])
        floor.login("alice")
        let first = floor.open("c1", "presales")
        let second = floor.open("c2", "presales")
        floor.run(.disconnect(.agent("alice")))
        let step = floor.run(.connect(.agent("alice")))
        let resumed = events(step.effects, to: .caller).compactMap { event -> ConversationID? in
            if case .assigned(let notice) = event, notice.resumed { return notice.conversation }
            return nil
        }
        #expect(resumed == [first, second])
    }
}

@Suite("Restart recovery")
struct RestoreTests {
    @Test func restoredStateContinuesClocksAndHoldings() {
        var before = Floor(agents: [agent("alice", ["presales": 3])])
        before.login("alice")
        let held = before.open("c1", "presales")
        let waiting = before.open("c2", "presales")  // alice has room: also held
        let records = [held, waiting].compactMap { before.core.conversation($0) }

        var after = Floor(agents: [agent("alice", ["presales": 3])])
        after.now = before.now + .seconds(30)
        let repair = after.core.restore(records, lastAssignedAt: ["alice": before.now], at: after.now)
        #expect(repair.effects.isEmpty)
        #expect(after.core.held(by: "alice") == [held, waiting])
        // The warning (at 100/180 of the limit) is still ahead, so it comes first; then the breach.
        #expect(
            after.core.nextDeadline == after.core.policy.warning(start: before.now, due: before.now + .seconds(120)))
        // alice reconnects and gets both back, marked resumed.
        let step = after.run(.connect(.agent("alice")))
        #expect(events(step.effects, to: .caller).count == 2)
        // A new conversation continues the id sequence.
        #expect(after.open("c3", "presales") == ConversationID(3))
    }

    @Test func aDeadlineThatPassedWhileDownFiresAtOnceAndOnlyOnce() {
        var before = Floor(agents: [agent("alice", ["presales": 3])])
        let id = before.open("c1", "presales")
        let record = before.core.conversation(id)!
        var after = Floor(agents: [agent("alice", ["presales": 3])])
        after.now = before.now + .seconds(600)
        _ = after.core.restore([record], lastAssignedAt: [:], at: after.now)
        let step = after.run(.tick)
        #expect(breaches(step.effects).map(\.waited) == [Milliseconds(600_000)])
        guard
            case .persist(.conversation(let breached))? = step.effects.first(where: {
                if case .persist(.conversation) = $0 { true } else { false }
            })
        else {
            Issue.record("breach not persisted")
            return
        }
        // Restarting again from the persisted record must not log the breach a second time.
        var again = Floor(agents: [agent("alice", ["presales": 3])])
        again.now = after.now + .seconds(5)
        _ = again.core.restore([breached], lastAssignedAt: [:], at: again.now)
        #expect(breaches(again.run(.tick).effects).isEmpty)
    }

    @Test func conversationOfARemovedAgentGoesBackToTheQueue() {
        var before = Floor(agents: [agent("alice", ["presales": 3]), agent("bob", ["presales": 1])])
        before.login("alice")
        let id = before.open("c1", "presales")
        let record = before.core.conversation(id)!
        var after = Floor(agents: [agent("bob", ["presales": 1])])
        let repair = after.core.restore([record], lastAssignedAt: [:], at: after.now)
        #expect(after.core.waiting == [id])
        #expect(repair.records.count == 1)
        after.login("bob")
        #expect(after.holder(of: id) == "bob")
    }
}

import KefuCore
import Testing

@Suite("First-response SLA")
struct FirstResponseTests {
    @Test func breachFiresExactlyAtTheThresholdNotBefore() {
        var floor = Floor(firstResponseSeconds: 120, agents: [agent("alice", ["presales": 3])])
        floor.login("alice")
        let id = floor.open("c1", "presales")
        // The holder's warning comes first (at 100/180 of the limit), then the breach.
        #expect(floor.core.nextDeadline == floor.core.policy.warning(start: floor.now, due: floor.now + .seconds(120)))
        #expect(breaches(floor.advance(seconds: 119.999).effects).isEmpty)
        let step = floor.advance(seconds: 0.001)
        let breach = breaches(step.effects)
        #expect(breach.count == 1)
        #expect(breach.first?.conversation == id)
        #expect(breach.first?.agent == "alice")
        #expect(breach.first?.waited == Milliseconds(120_000))
        #expect(breach.first?.threshold == Milliseconds(120_000))
        #expect(
            events(step.effects, to: .supervisors) == [
                .escalated(id, reason: .firstResponse, agent: "alice", waited: Milliseconds(120_000))
            ])
    }

    @Test func fractionalThresholdsWork() {
        var floor = Floor(firstResponseSeconds: 1.5, agents: [agent("alice", ["presales": 3])])
        _ = floor.open("c1", "presales")
        #expect(breaches(floor.advance(seconds: 1.499).effects).isEmpty)
        #expect(breaches(floor.advance(seconds: 0.001).effects).count == 1)
    }

    @Test func aHumanAnswerStopsTheClock() {
        var floor = Floor(agents: [agent("alice", ["presales": 3])])
        floor.login("alice")
        let id = floor.open("c1", "presales")
        _ = floor.advance(seconds: 60)
        floor.run(.send(.agent("alice"), id, text: "您好"))
        #expect(floor.core.conversation(id)?.firstRespondedAt == floor.now)
        #expect(breaches(floor.advance(seconds: 600).effects).isEmpty)
    }

    @Test func moreCustomerMessagesDoNotStopOrRestartTheClock() {
        var floor = Floor(agents: [agent("alice", ["presales": 3])])
        floor.login("alice")
        let id = floor.open("c1", "presales")
        _ = floor.advance(seconds: 100)
        floor.run(.send(.customer("c1"), id, text: "还在吗?"))
        let step = floor.advance(seconds: 20)
        #expect(breaches(step.effects).map(\.waited) == [Milliseconds(120_000)])
    }

    @Test func breachMovesTheConversationToAnotherEligibleAgentKeepingItsClock() {
        var floor = Floor(agents: [agent("alice", ["presales": 3]), agent("bob", ["presales": 1])])
        floor.login("alice")
        let id = floor.open("c1", "presales")
        #expect(floor.holder(of: id) == "alice")
        floor.login("bob")
        let step = floor.advance(seconds: 120)
        #expect(floor.holder(of: id) == "bob")
        #expect(events(step.effects, to: .agent("alice")) == [.revoked(id, reason: .firstResponse)])
        guard case .assigned(let notice) = events(step.effects, to: .agent("bob")).first else {
            Issue.record("bob was not assigned: \(step.effects)")
            return
        }
        #expect(notice.waited == Milliseconds(120_000))
        #expect(events(step.effects, to: .customer("c1")) == [.joined(id, agent: "bob")])
        // The clock is the customer's: it was not reset, and the breach is not logged again.
        #expect(floor.core.conversation(id)?.openedAt == floor.now + .seconds(-120))
        #expect(breaches(floor.advance(seconds: 3600).effects).isEmpty)
    }

    @Test func breachWithNoOtherAgentEscalatesButLeavesTheChatWhereItIs() {
        var floor = Floor(agents: [agent("alice", ["presales": 3]), agent("bob", ["refund": 3])])
        floor.login("alice")
        floor.login("bob")
        let id = floor.open("c1", "presales")
        let step = floor.advance(seconds: 120)
        #expect(breaches(step.effects).count == 1)
        #expect(floor.holder(of: id) == "alice")
        #expect(events(step.effects, to: .agent("alice")).isEmpty)
    }

    @Test func queuedConversationBreachesWithNoAgentAndKeepsItsPlace() {
        var floor = Floor(agents: [agent("alice", ["presales": 3])])
        let first = floor.open("c1", "presales")
        _ = floor.advance(seconds: 1)
        let second = floor.open("c2", "presales")
        let step = floor.advance(seconds: 119)
        #expect(breaches(step.effects).map(\.conversation) == [first])
        #expect(breaches(step.effects).first?.agent == nil)
        #expect(
            events(step.effects, to: .supervisors) == [
                .escalated(first, reason: .firstResponse, agent: nil, waited: Milliseconds(120_000))
            ])
        #expect(floor.core.waiting == [first, second])
    }

    @Test func breachesFireInDeadlineOrderWhenTimeJumps() {
        var floor = Floor(agents: [agent("alice", ["presales": 3])])
        var opened: [ConversationID] = []
        for index in 0..<50 {
            opened.append(floor.open(CustomerID("c\(index)"), "presales"))
            _ = floor.advance(seconds: 0.25)
        }
        let step = floor.advance(seconds: 3600)
        #expect(breaches(step.effects).map(\.conversation) == opened)
        // They all breached at the jump (when the clock was read); still ahead: the ladder's next rung, 30 min on.
        #expect(floor.core.nextDeadline == floor.now + .seconds(1800))
    }

    @Test func tenThousandOpenConversationsShareOneEarliestDeadline() {
        var floor = Floor(firstResponseSeconds: 120, agents: [agent("alice", max: 10_000, ["presales": 3])])
        floor.login("alice")
        var opened: [ConversationID] = []
        for index in 0..<10_000 {
            opened.append(
                floor.core.handle(
                    .open(.customer(CustomerID("c\(index)")), skill: "presales", priority: .normal, text: "hi"),
                    at: floor.now + .seconds(Double(index) * 0.01)
                ).reply == .ok([Field("conv", "\(index + 1)")]) ? ConversationID(Int64(index + 1)) : ConversationID(0))
        }
        #expect(opened.last == ConversationID(10_000))
        // The server arms one timer, for the earliest deadline, whatever the number of open chats.
        // Opening the last chats (at up to 99.99 s) already gave the earlier chats' warnings (each 66.667 s after
        // its opening); the next deadline is the first warning still ahead: the chat opened at 33.33 s.
        #expect(floor.core.nextDeadline == floor.now + Milliseconds(33_330 + 66_667))
        floor.now = floor.now + .seconds(120 + 50)  // half of them are due
        let due = breaches(floor.run(.tick).effects)
        #expect(due.count == 5001)
        #expect(due.map(\.conversation) == Array(opened.prefix(5001)))
        #expect(floor.core.nextDeadline == floor.now + .seconds(0.01))
    }

    @Test func aCommandArrivingAfterADeadlineSeesTheBreachFirst() {
        var floor = Floor(agents: [agent("alice", ["presales": 3])])
        floor.login("alice")
        let id = floor.open("c1", "presales")
        floor.now = floor.now + .seconds(121)  // the timer has not fired yet
        let step = floor.run(.send(.agent("alice"), id, text: "sorry for the wait"))
        #expect(breaches(step.effects).count == 1)
        #expect(step.reply == .ok([Field("seq", "2")]))
    }

    @Test func closedConversationsDoNotBreach() {
        var floor = Floor(agents: [agent("alice", ["presales": 3])])
        let id = floor.open("c1", "presales")
        floor.run(.close(.customer("c1"), id))
        #expect(breaches(floor.advance(seconds: 500).effects).isEmpty)
    }
}

import KefuCore
import Testing

@Suite("Reload: new rules on a running floor")
struct ReloadTests {
    static let team = [agent("alice", max: 2, ["presales": 2]), agent("bob", max: 2, ["presales": 2])]

    func policy(_ agents: [AgentProfile], firstResponseSeconds: Double = 120) -> RoutingPolicy {
        RoutingPolicy(firstResponse: .seconds(firstResponseSeconds), agents: agents)
    }

    @Test func anAgentRemovedAtWorkIsRecordedOfflineAndWhenAddedBackAndInOnlineAgain() {
        var floor = Floor(agents: Self.team)
        func presence(_ step: Step) -> [Presence] {
            step.effects.compactMap { if case .persist(.presence(let change)) = $0 { change.presence } else { nil } }
        }
        #expect(presence(floor.run(.connect(.agent("alice")))) == [.online])
        #expect(presence(floor.run(.reconfigure(policy([Self.team[1]])))) == [.offline])
        #expect(presence(floor.run(.reconfigure(policy(Self.team)))).isEmpty)
        #expect(presence(floor.run(.connect(.agent("alice")))) == [.online])
    }

    @Test func aRemovedAgentIsSignedOutAndItsChatsGoOnOrBackToTheFront() {
        var floor = Floor(agents: Self.team)
        floor.login("alice")
        let first = floor.open("c1", "presales")
        let second = floor.open("c2", "presales")
        _ = floor.advance(seconds: 1)
        let later = floor.open("c3", "presales")  // alice is full: waits
        #expect(floor.core.waiting == [later])
        let step = floor.run(.reconfigure(policy([agent("bob", max: 2, ["presales": 2])])))
        #expect(step.effects.contains(.signOut("alice", reason: .removed)))
        #expect(
            events(step.effects, to: .agent("alice"))
                == [.revoked(first, reason: .removed), .revoked(second, reason: .removed)])
        // Nobody can take them: they wait ahead of the later chat, in their original order.
        #expect(floor.core.waiting == [first, second, later])
        #expect(floor.core.presence(of: "alice") == nil)
        #expect(floor.run(.connect(.agent("alice"))).reply == .refused(.forbidden, "agent alice is not configured"))
        floor.login("bob")
        #expect(floor.core.held(by: "bob") == [first, second])
    }

    /// A chat naming a store nobody lists waits for an agent who serves every store; once a reload gives an agent
    /// that store, the chat is that agent's to take.
    @Test func aStoreListedByAReloadIsServedByItsNewAgent() {
        let tmallOnly = agent("tina", max: 1, ["presales": 1], stores: ["tmall"])
        var floor = Floor(agents: [tmallOnly])
        floor.login("tina")
        let id = floor.open("c1", "presales", store: "pdd")
        #expect(floor.holder(of: id) == nil)  // tina serves tmall only
        let pdd = agent("pat", max: 1, ["presales": 1], stores: ["pdd"])
        floor.run(.reconfigure(policy([tmallOnly, pdd])))
        floor.login("pat")
        #expect(floor.holder(of: id) == "pat")
    }

    @Test func anAddedAgentMayLogInAndTakesWaitingWork() {
        var floor = Floor(agents: [agent("alice", max: 1, ["presales": 2])])
        let id = floor.open("c1", "presales")
        #expect(floor.run(.connect(.agent("carol"))).reply == .refused(.forbidden, "agent carol is not configured"))
        floor.run(.reconfigure(policy([agent("alice", max: 1, ["presales": 2]), agent("carol", ["presales": 1])])))
        floor.login("carol")
        #expect(floor.holder(of: id) == "carol")
    }

    @Test func aLoweredLimitKeepsEveryChatAndOnlyStopsNewOnes() {
        var floor = Floor(agents: Self.team)
        floor.login("alice")
        let first = floor.open("c1", "presales")
        let second = floor.open("c2", "presales")
        floor.run(.reconfigure(policy([agent("alice", max: 1, ["presales": 2]), Self.team[1]])))
        #expect(floor.core.held(by: "alice") == [first, second])  // over the new limit, nothing taken away
        let third = floor.open("c3", "presales")
        #expect(floor.core.waiting == [third])
        floor.run(.close(.customer("c1"), first))
        #expect(floor.core.waiting == [third])  // still at the limit of 1
        floor.run(.close(.customer("c2"), second))
        #expect(floor.holder(of: third) == "alice")
    }

    @Test func aRaisedLimitOrANewSkillTakesWaitingWorkAtOnce() {
        var floor = Floor(agents: [agent("alice", max: 1, ["presales": 2])])
        floor.login("alice")
        _ = floor.open("c1", "presales")
        let waiting = floor.open("c2", "presales")
        floor.run(.reconfigure(policy([agent("alice", max: 2, ["presales": 2])])))
        #expect(floor.holder(of: waiting) == "alice")
        var floor2 = Floor(agents: [agent("bob", max: 2, ["presales": 2]), agent("dan", ["aftersales": 1])])
        floor2.login("bob")
        let aftersales = floor2.open("c9", "aftersales")
        #expect(floor2.core.waiting == [aftersales])
        let bob = agent("bob", max: 2, ["presales": 2, "aftersales": 1])
        floor2.run(.reconfigure(policy([bob, agent("dan", ["aftersales": 1])])))
        #expect(floor2.holder(of: aftersales) == "bob")
    }

    @Test func runningClocksCountToTheNewLimitAndOneNowPastDueBreachesAtOnce() {
        var floor = Floor(firstResponseSeconds: 120, agents: Self.team)
        let early = floor.open("c1", "presales")
        _ = floor.advance(seconds: 50)
        let late = floor.open("c2", "presales")
        _ = floor.advance(seconds: 20)  // early has waited 70 s, late 20 s
        let step = floor.run(.reconfigure(policy(Self.team, firstResponseSeconds: 60)))
        #expect(breaches(step.effects).map(\.conversation) == [early])
        #expect(breaches(step.effects).first?.threshold == .seconds(60))
        let record = floor.core.conversation(late)
        #expect(record?.firstResponseDueAt == record.map { $0.openedAt + .seconds(60) })
        #expect(breaches(floor.advance(seconds: 39).effects).isEmpty)
        #expect(breaches(floor.advance(seconds: 1).effects).map(\.conversation) == [late])
    }
}

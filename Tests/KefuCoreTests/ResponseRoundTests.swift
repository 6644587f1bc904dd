import KefuCore
import Testing

/// Rounds as the platforms score them: from the buyer's first unanswered message to the first human answer.
@Suite("Response rounds")
struct ResponseRoundTests {
    static func rounds(_ effects: [Effect]) -> [RoundRecord] {
        effects.compactMap { if case .persist(.round(let round)) = $0 { round } else { nil } }
    }

    func floor() -> Floor {
        Floor(
            policy: RoutingPolicy(
                firstResponse: .seconds(30), response: .seconds(180), agents: [agent("alice", ["presales": 3])]
            ))
    }

    @Test func aBuyerMessageAfterAnAnswerStartsTheNextRoundAndMoreMessagesDoNotRestartIt() {
        var floor = floor()
        floor.login("alice")
        let id = floor.open("c1", "presales")
        _ = floor.advance(seconds: 10)
        let answer = floor.run(.send(.agent("alice"), id, text: "您好"))
        #expect(Self.rounds(answer.effects).map(\.answeredAt) == [floor.now])
        #expect(floor.core.conversation(id)?.roundStartedAt == nil)
        #expect(breaches(floor.advance(seconds: 20).effects).isEmpty)  // round 1's 30 s passed: it was answered
        let question = floor.run(.send(.customer("c1"), id, text: "什么时候发货?"))
        let started = floor.now
        let second = Self.rounds(question.effects)
        #expect(second.map(\.round) == [2])
        #expect(second.first?.startedAt == started)
        #expect(second.first?.dueAt == started + .seconds(180))
        _ = floor.advance(seconds: 60)
        floor.run(.send(.customer("c1"), id, text: "在吗?"))  // same round: the clock keeps running
        #expect(floor.core.conversation(id)?.roundStartedAt == started)
        #expect(floor.core.conversation(id)?.round == 2)

        #expect(breaches(floor.advance(seconds: 119.999).effects).isEmpty)
        let due = floor.advance(seconds: 0.001)
        let breach = breaches(due.effects)
        #expect(breach.map(\.sla) == [.response])
        #expect(breach.map(\.round) == [2])
        #expect(breach.first?.waited == .seconds(180))
        #expect(breach.first?.threshold == .seconds(180))
        #expect(
            events(due.effects, to: .supervisors) == [
                .escalated(id, reason: .response, agent: "alice", waited: .seconds(180))
            ])
        // The round is written when it breaches, and again with the ladder's first rung applied.
        #expect(Self.rounds(due.effects).map(\.breachedAt) == [floor.now, floor.now])
        #expect(Self.rounds(due.effects).map(\.escalationLevel) == [0, 1])
        // The first-response facts of round 1 are untouched.
        #expect(floor.core.conversation(id)?.breachedAt == nil)

        _ = floor.advance(seconds: 5)
        let late = Self.rounds(floor.run(.send(.agent("alice"), id, text: "今天发")).effects)
        #expect(late.map(\.answeredAt) == [floor.now])
        #expect(late.first?.waited == .seconds(185))
        #expect(late.first?.breachedAt != nil)
    }

    @Test func aRoundStillWaitingEndsWithTheConversationUnanswered() {
        var floor = floor()
        let id = floor.open("c1", "presales")
        _ = floor.advance(seconds: 12)
        let closed = Self.rounds(floor.run(.close(.customer("c1"), id)).effects)
        #expect(closed.map(\.round) == [1])
        #expect(closed.first?.closedAt == floor.now)
        #expect(closed.first?.answeredAt == nil)
        #expect(closed.first?.waited == .seconds(12))
    }

    @Test func aRestoredConversationKeepsItsRoundAndItsDeadline() {
        var live = floor()
        live.login("alice")
        let id = live.open("c1", "presales")
        live.run(.send(.agent("alice"), id, text: "您好"))
        _ = live.advance(seconds: 5)
        live.run(.send(.customer("c1"), id, text: "还在吗"))
        guard let record = live.core.conversation(id) else {
            Issue.record("no record")
            return
        }
        var restored = RoutingCore(policy: live.core.policy, nextConversationID: ConversationID(2))
        _ = restored.restore([record], lastAssignedAt: [:], at: live.now + .seconds(200))
        let step = restored.handle(.tick, at: live.now + .seconds(200))
        #expect(breaches(step.effects).map(\.round) == [2])
        #expect(breaches(step.effects).first?.threshold == .seconds(180))
    }
}

/// `SLA-WARN`: the holder hears once per round that its deadline is near.
@Suite("SLA warnings")
struct SLAWarningTests {
    func floor(warnBefore: Milliseconds? = nil, agents: [AgentProfile] = [agent("alice", ["presales": 3])]) -> Floor {
        Floor(
            policy: RoutingPolicy(
                firstResponse: .seconds(180), response: .seconds(60), warnBefore: warnBefore, agents: agents
            ))
    }

    static func warnings(_ effects: [Effect]) -> [(Recipient, Event)] {
        effects.compactMap { effect in
            if case .deliver(let to, let event) = effect, case .slaWarning = event { return (to, event) }
            return nil
        }
    }

    @Test func byDefaultTheHolderIsWarnedAt100SecondsOfA3MinuteRoundOnce() {
        var floor = floor()
        floor.login("alice")
        let id = floor.open("c1", "presales")
        #expect(Self.warnings(floor.advance(seconds: 99.999).effects).isEmpty)
        let warned = Self.warnings(floor.advance(seconds: 0.001).effects)
        #expect(warned.map(\.0) == [.agent("alice")])
        #expect(warned.map(\.1) == [.slaWarning(id, sla: .firstResponse, left: .seconds(80))])
        #expect(Self.warnings(floor.advance(seconds: 79.999).effects).isEmpty)
        #expect(breaches(floor.advance(seconds: 0.001).effects).count == 1)
    }

    @Test func aLaterRoundIsWarnedWithItsOwnLimitAndAnAnsweredRoundNotAtAll() {
        var floor = floor(warnBefore: .seconds(15))
        floor.login("alice")
        let id = floor.open("c1", "presales")
        _ = floor.advance(seconds: 10)
        floor.run(.send(.agent("alice"), id, text: "您好"))
        #expect(Self.warnings(floor.advance(seconds: 200).effects).isEmpty)  // round 1 answered: no warning
        floor.run(.send(.customer("c1"), id, text: "还在吗"))
        let warned = Self.warnings(floor.advance(seconds: 45).effects)
        #expect(warned.map(\.1) == [.slaWarning(id, sla: .response, left: .seconds(15))])
    }

    @Test func zeroNeverWarnsAndAQueuedChatHasNobodyToWarn() {
        var silent = floor(warnBefore: Milliseconds(0))
        silent.login("alice")
        _ = silent.open("c1", "presales")
        #expect(Self.warnings(silent.advance(seconds: 179).effects).isEmpty)

        var queued = floor(warnBefore: .seconds(30))
        _ = queued.open("c1", "presales")  // nobody online
        #expect(Self.warnings(queued.advance(seconds: 179).effects).isEmpty)
    }

    static func notices(_ effects: [Effect]) -> [SLANotice] {
        effects.compactMap { if case .slaNotice(let notice) = $0 { notice } else { nil } }
    }

    /// journald keeps warnings and rounds met at debug level: the core hands each out with the round's facts.
    @Test func aWarningAndARoundMetAreNoticesWithTheRoundsFacts() {
        var floor = floor(warnBefore: .seconds(30))
        floor.login("alice")
        let id = floor.open("c1", "presales")
        let warned = Self.notices(floor.advance(seconds: 150).effects)
        #expect(warned.map(\.kind) == [.warning])
        #expect(warned.first?.left == .seconds(30))
        #expect(warned.first?.facts.waited == .seconds(150))
        #expect(warned.first?.facts.threshold == .seconds(180))
        #expect(warned.first?.facts.agent == "alice")
        #expect(warned.first?.facts.conversation == id)

        _ = floor.advance(seconds: 20)
        let met = Self.notices(floor.run(.send(.agent("alice"), id, text: "您好")).effects)
        #expect(met.map(\.kind) == [.met])
        #expect(met.first?.left == nil)
        #expect(met.first?.facts.sla == .firstResponse)
        #expect(met.first?.facts.round == 1)
        #expect(met.first?.facts.waited == .seconds(170))
        #expect(met.first?.facts.threshold == .seconds(180))
        // Answering again within the same round (no buyer message since) meets nothing new.
        #expect(Self.notices(floor.run(.send(.agent("alice"), id, text: "在的")).effects).isEmpty)
    }

    @Test func aRoundAnsweredAfterItsBreachIsNotMet() {
        var floor = floor()
        floor.login("alice")
        let id = floor.open("c1", "presales")
        #expect(breaches(floor.advance(seconds: 181).effects).count == 1)
        let answered = floor.run(.send(.agent("alice"), id, text: "抱歉久等"))
        #expect(Self.notices(answered.effects).isEmpty)
        #expect(answered.records.contains { if case .round(let round) = $0 { round.answeredAt != nil } else { false } })
    }

    @Test func aChatPassedOnAfterItsWarningIsNotWarnedAgainInTheSameRound() {
        var floor = floor(
            warnBefore: .seconds(30), agents: [agent("alice", ["presales": 3]), agent("bob", ["presales": 2])]
        )
        floor.login("alice")
        let id = floor.open("c1", "presales")
        #expect(Self.warnings(floor.advance(seconds: 150).effects).count == 1)
        floor.login("bob")
        floor.run(.transfer(.agent("alice"), id, to: .agent("bob"), reason: "退款找bob"))
        #expect(floor.holder(of: id) == "bob")
        #expect(Self.warnings(floor.advance(seconds: 29).effects).isEmpty)
    }
}

/// Auto-replies: the daemon's greeting and queue message, and agents' canned replies (`auto=1`). The buyer sees
/// them; no round ends with them.
@Suite("Auto-replies")
struct AutoReplyTests {
    static let replies = AutoReplies(greeting: "亲,欢迎光临", queued: "当前咨询较多,请稍候")

    func floor(agents: [AgentProfile] = [agent("alice", max: 1, ["presales": 3])]) -> Floor {
        Floor(
            policy: RoutingPolicy(
                firstResponse: .seconds(60), agents: agents, autoReplies: Self.replies
            ))
    }

    @Test func theBuyerIsGreetedAndToldToWaitWhenQueuedAndTheHistoryKeepsIt() {
        var floor = floor()
        floor.login("alice")
        let first = floor.open("c1", "presales")
        let greeted = events(floor.log, to: .customer("c1"))
        #expect(greeted.last == .autoMessage(first, from: .system, text: "亲,欢迎光临"))
        #expect(!greeted.contains(.autoMessage(first, from: .system, text: "当前咨询较多,请稍候")))  // alice took it
        floor.log = []
        let second = floor.open("c2", "presales")  // alice is full: it waits
        #expect(
            events(floor.log, to: .customer("c2")).suffix(2) == [
                .autoMessage(second, from: .system, text: "亲,欢迎光临"),
                .autoMessage(second, from: .system, text: "当前咨询较多,请稍候"),
            ])
        let messages = floor.log.compactMap { effect -> MessageRecord? in
            if case .persist(.message(let message)) = effect { return message }
            return nil
        }
        #expect(messages.map(\.seq) == [1, 2, 3])
        #expect(messages.map(\.automatic) == [false, true, true])
        #expect(floor.core.conversation(second)?.messageCount == 3)
    }

    @Test func aCannedReplyReachesTheBuyerButEndsNoRound() {
        var floor = floor()
        floor.login("alice")
        let id = floor.open("c1", "presales")
        _ = floor.advance(seconds: 5)
        let step = floor.run(.autoReply(.agent("alice"), id, text: "亲,稍等哦"))
        #expect(step.reply == .ok([Field("seq", "3")]))
        #expect(events(step.effects, to: .customer("c1")) == [.autoMessage(id, from: .agent, text: "亲,稍等哦")])
        #expect(floor.core.conversation(id)?.firstRespondedAt == nil)
        #expect(floor.core.conversation(id)?.roundStartedAt != nil)
        #expect(breaches(floor.advance(seconds: 55).effects).map(\.conversation) == [id])  // the round still ran
    }

    @Test func onlyTheHoldingAgentSendsCannedReplies() {
        var floor = floor(agents: [agent("alice", ["presales": 3]), agent("bob", ["presales": 1])])
        floor.login("alice")
        let id = floor.open("c1", "presales")
        #expect(
            floor.run(.autoReply(.customer("c1"), id, text: "x")).reply
                == .refused(.badArgs, "auto=1 is for agents' canned replies"))
        #expect(
            floor.run(.autoReply(.supervisor("lead"), id, text: "x")).reply
                == .refused(.forbidden, "supervisors do not write in conversations"))
        #expect(
            floor.run(.autoReply(.agent("bob"), id, text: "x")).reply == .refused(.notFound, "no such conversation"))
        #expect(floor.run(.autoReply(.agent("alice"), id, text: "")).reply.isRefusal)
    }
}

extension Reply {
    var isRefusal: Bool { if case .refused = self { true } else { false } }
}

/// A buyer who stays silent after the agent's last message: warned a minute before, then closed by the daemon.
@Suite("Silent buyers")
struct SilentBuyerTests {
    func floor(idle: Milliseconds? = .seconds(1800)) -> Floor {
        var policy = RoutingPolicy(firstResponse: .seconds(60), agents: [agent("alice", ["presales": 3])])
        policy.customerIdleClose = idle
        return Floor(policy: policy)
    }

    @Test func aBuyerSilentAfterTheAgentsAnswerIsWarnedAMinuteBeforeAndThenClosed() {
        var floor = floor()
        floor.login("alice")
        let id = floor.open("c1", "presales")
        floor.run(.send(.agent("alice"), id, text: "亲,还有什么可以帮您?"))
        #expect(events(floor.advance(seconds: 1739).effects, to: .customer("c1")).isEmpty)
        let warned = floor.advance(seconds: 1)
        #expect(
            events(warned.effects, to: .customer("c1")) == [
                .autoMessage(id, from: .system, text: AutoReplies.defaultIdleWarning)
            ])
        let closed = floor.advance(seconds: 60)
        #expect(
            events(closed.effects, to: .customer("c1")) == [
                .autoMessage(id, from: .system, text: AutoReplies.defaultIdleClose), .closed(id, by: .system),
                // The buyer was answered by a human: the survey follows the close, idle or not.
                .ratingRequest(id, scale: 5, question: SatisfactionSurvey.defaultQuestion),
            ])
        #expect(events(closed.effects, to: .agent("alice")) == [.closed(id, by: .system)])
        #expect(floor.core.conversation(id) == nil)
        #expect(floor.core.held(by: "alice").isEmpty)
    }

    @Test func aBuyerMessageStopsTheIdleClockAndTheNextAnswerRestartsIt() {
        var floor = floor(idle: .seconds(600))
        floor.login("alice")
        let id = floor.open("c1", "presales")
        floor.run(.send(.agent("alice"), id, text: "在的"))
        _ = floor.advance(seconds: 500)
        floor.run(.send(.customer("c1"), id, text: "我再想想"))
        #expect(floor.core.conversation(id)?.buyerIdleSince == nil)
        _ = floor.advance(seconds: 700)
        #expect(floor.core.conversation(id) != nil)  // the buyer spoke last: it is the agent's turn, not closed
        floor.run(.send(.agent("alice"), id, text: "好的"))
        _ = floor.advance(seconds: 600)
        #expect(floor.core.conversation(id) == nil)
    }

    @Test func anAutoReplyDoesNotStartTheIdleClockAndZeroNeverCloses() {
        var floor = floor(idle: .seconds(600))
        floor.login("alice")
        let id = floor.open("c1", "presales")
        floor.run(.autoReply(.agent("alice"), id, text: "稍等"))
        #expect(floor.core.conversation(id)?.buyerIdleSince == nil)

        var never = self.floor(idle: nil)
        never.login("alice")
        let kept = never.open("c1", "presales")
        never.run(.send(.agent("alice"), kept, text: "您好"))
        _ = never.advance(seconds: 86_400)
        #expect(never.core.conversation(kept) != nil)
    }
}

/// The escalation ladder: while a breached round stays unanswered, rungs fire at their times after the breach.
@Suite("Escalation ladder")
struct EscalationLadderTests {
    static func escalations(_ effects: [Effect]) -> [SLAEscalation] {
        effects.compactMap { if case .escalation(let escalation) = $0 { escalation } else { nil } }
    }

    func floor(ladder: [EscalationStep] = EscalationStep.tradeDefault, maxReassign: Int = 2) -> Floor {
        let team = [agent("alice", ["presales": 3]), agent("bob", ["presales": 2]), agent("cat", ["presales": 1])]
        var policy = RoutingPolicy(firstResponse: .seconds(60), warnBefore: Milliseconds(0), agents: team)
        policy.escalation = ladder
        policy.maxReassign = maxReassign
        policy.customerIdleClose = nil
        return Floor(policy: policy)
    }

    @Test func theTradesLadderMovesAndTellsSupervisorsThenAgainThenManagers() {
        var floor = floor()
        floor.login("alice")
        let id = floor.open("c1", "presales")
        floor.login("bob")
        let breach = floor.advance(seconds: 60)
        #expect(Self.escalations(breach.effects).map(\.level) == [1])
        #expect(Self.escalations(breach.effects).first?.reassignedTo == "bob")
        #expect(Self.escalations(breach.effects).first?.actions == [.reassign, .supervisor])
        #expect(
            events(breach.effects, to: .supervisors) == [
                .escalated(id, reason: .firstResponse, agent: "alice", waited: .seconds(60), level: 1)
            ])
        #expect(floor.holder(of: id) == "bob")
        #expect(Self.escalations(floor.advance(seconds: 1799).effects).isEmpty)
        let second = floor.advance(seconds: 1)
        #expect(Self.escalations(second.effects).map(\.level) == [2])
        #expect(
            events(second.effects, to: .supervisors) == [
                .escalated(id, reason: .firstResponse, agent: "bob", waited: .seconds(1860), level: 2)
            ])
        #expect(floor.holder(of: id) == "bob")  // rung 2 only tells
        let third = floor.advance(seconds: 5400)
        #expect(Self.escalations(third.effects).map(\.level) == [3])
        #expect(events(third.effects, to: .managers).count == 1)
        #expect(events(third.effects, to: .supervisors).isEmpty)
        #expect(floor.core.conversation(id)?.roundEscalationLevel == 3)
    }

    @Test func anAnswerStopsTheLadder() {
        var floor = floor()
        floor.login("alice")
        let id = floor.open("c1", "presales")
        _ = floor.advance(seconds: 60)
        floor.run(.send(.agent("alice"), id, text: "抱歉久等"))
        #expect(Self.escalations(floor.advance(seconds: 7200).effects).isEmpty)
    }

    @Test func aRoundIsMovedAtMostMaxReassignTimes() {
        let ladder = [0, 60, 120].map { EscalationStep(after: .seconds(Double($0)), actions: [.reassign]) }
        var floor = floor(ladder: ladder, maxReassign: 1)
        for id: AgentID in ["alice", "bob", "cat"] { floor.login(id) }
        let id = floor.open("c1", "presales")  // alice (highest level)
        _ = floor.advance(seconds: 60)
        let moved = floor.holder(of: id)
        #expect(moved != "alice")
        _ = floor.advance(seconds: 60)
        _ = floor.advance(seconds: 60)
        #expect(floor.holder(of: id) == moved)
        #expect(floor.core.conversation(id)?.roundReassigns == 1)
        #expect(floor.core.conversation(id)?.roundEscalationLevel == 3)
    }

    @Test func aRestartCatchesUpOnRungsThatFellDueOnceAndInOrder() {
        var live = floor()
        live.login("alice")
        let id = live.open("c1", "presales")
        _ = live.advance(seconds: 60)  // level 1 applied
        guard let record = live.core.conversation(id) else {
            Issue.record("no record")
            return
        }
        var restored = RoutingCore(policy: live.core.policy, nextConversationID: ConversationID(2))
        _ = restored.restore([record], lastAssignedAt: [:], at: live.now + .seconds(8000))
        let step = restored.handle(.tick, at: live.now + .seconds(8000))
        #expect(Self.escalations(step.effects).map(\.level) == [2, 3])
        #expect(Self.escalations(restored.handle(.tick, at: live.now + .seconds(9000)).effects).isEmpty)
    }
}

/// `HOLD`: waiting on the warehouse or the courier pauses the response clock until the buyer writes again.
@Suite("Hold")
struct HoldTests {
    func floor() -> Floor {
        var policy = RoutingPolicy(
            firstResponse: .seconds(60), warnBefore: Milliseconds(0), agents: [agent("alice", ["presales": 3])]
        )
        policy.customerIdleClose = .seconds(300)
        return Floor(policy: policy)
    }

    @Test func aHoldPausesTheWaitingRoundAndTheBuyersNextMessageResumesItWithTheTimeLeft() {
        var floor = floor()
        floor.login("alice")
        let id = floor.open("c1", "presales")
        _ = floor.advance(seconds: 20)
        #expect(
            floor.run(.hold(.agent("alice"), id, reason: "等仓库确认库存")).reply
                == .ok([Field("conv", "1"), Field("paused_ms", "40000")]))
        #expect(breaches(floor.advance(seconds: 3600).effects).isEmpty)  // paused: no breach, no idle close
        floor.run(.send(.customer("c1"), id, text: "查到了吗?"))
        #expect(floor.core.conversation(id)?.heldSince == nil)
        #expect(breaches(floor.advance(seconds: 39.999).effects).isEmpty)
        let breach = breaches(floor.advance(seconds: 0.001).effects)
        #expect(breach.map(\.conversation) == [id])
    }

    @Test func aHoldKeepsASilentBuyerOpenAndNeedsAReasonAndTheHolder() {
        var floor = floor()
        floor.login("alice")
        let id = floor.open("c1", "presales")
        floor.run(.send(.agent("alice"), id, text: "我去问下快递"))
        #expect(floor.run(.hold(.agent("alice"), id, reason: "问快递")).reply == .ok([Field("conv", "1")]))
        _ = floor.advance(seconds: 600)
        #expect(floor.core.conversation(id) != nil)
        #expect(floor.run(.hold(.agent("alice"), id, reason: "again")).reply.isRefusal)
        #expect(floor.run(.hold(.customer("c1"), id, reason: "x")).reply.isRefusal)
        #expect(floor.run(.hold(.agent("bob"), id, reason: "x")).reply.isRefusal)
    }
}

/// `[[sla.policy]]`: JD counts a 30-second first answer, Taobao 3-minute rounds; the first match wins.
@Suite("SLA policies")
struct SLAPolicyTests {
    func floor() -> Floor {
        let team = [agent("alice", ["presales": 3])]
        var policy = RoutingPolicy(firstResponse: .seconds(120), warnBefore: Milliseconds(0), agents: team)
        policy.customerIdleClose = nil
        policy.slaPolicies = [
            SLAPolicy(store: "jd", firstResponse: .seconds(30), resolution: .seconds(600)),
            SLAPolicy(priority: .vip, firstResponse: .seconds(60), response: .seconds(45)),
        ]
        return Floor(policy: policy)
    }

    @Test func eachConversationRunsOnThePolicyItMatches() {
        var floor = floor()
        let jd = floor.open("c1", "presales", store: "jd")
        let vip = floor.open("c2", "presales", priority: .vip)
        let plain = floor.open("c3", "presales")
        let jdVip = floor.open("c4", "presales", priority: .vip, store: "jd")  // first match: jd
        let due = { (id: ConversationID) in floor.core.conversation(id).map { $0.firstResponseDueAt - $0.openedAt } }
        #expect(due(jd) == .seconds(30))
        #expect(due(vip) == .seconds(60))
        #expect(due(plain) == .seconds(120))
        #expect(due(jdVip) == .seconds(30))
        let breached = breaches(floor.advance(seconds: 30).effects)
        #expect(breached.map(\.conversation) == [jd, jdVip])
        #expect(breached.first?.threshold == .seconds(30))
    }

    /// "and the hours they count in": JD's clock runs around the clock while the shop's other chats count only in
    /// its hours (08:00–23:00 in Shanghai).
    @Test func aPolicyCountsInItsOwnHours() {
        let team = [agent("alice", ["presales": 3])]
        var policy = RoutingPolicy(firstResponse: .seconds(120), warnBefore: Milliseconds(0), agents: team)
        policy.customerIdleClose = nil
        policy.calendar = BusinessCalendar()
        policy.slaPolicies = [
            SLAPolicy(store: "jd", firstResponse: .seconds(30), calendar: BusinessCalendar(opens: 0, closes: 24 * 60))
        ]
        var floor = Floor(policy: policy)
        // 23:30 in Shanghai (15:30 UTC) on 2026-11-24.
        floor.now = Instant(unixMilliseconds: (20_781 * 86_400 + 15 * 3600 + 30 * 60) * 1000)
        let jd = floor.open("c1", "presales", store: "jd")
        let tmall = floor.open("c2", "presales", store: "tmall")
        #expect(floor.core.conversation(jd).map { $0.firstResponseDueAt - $0.openedAt } == .seconds(30))
        // The shop is closed: tmall's two minutes start at 08:00, eight and a half hours on.
        #expect(floor.core.conversation(tmall).map { $0.firstResponseDueAt - $0.openedAt } == .seconds(30_720))
        #expect(breaches(floor.advance(seconds: 30).effects).map(\.conversation) == [jd])
        #expect(breaches(floor.advance(seconds: 30_690).effects).map(\.conversation) == [tmall])
    }

    @Test func resolutionBreachesOnceAndAHoldDoesNotPauseIt() {
        var floor = floor()
        floor.login("alice")
        let id = floor.open("c1", "presales", store: "jd")
        floor.run(.send(.agent("alice"), id, text: "您好"))
        floor.run(.hold(.agent("alice"), id, reason: "等快递"))
        let step = floor.advance(seconds: 600)
        #expect(breaches(step.effects).map(\.sla) == [.resolution])
        #expect(
            events(step.effects, to: .supervisors) == [
                .escalated(id, reason: .resolution, agent: "alice", waited: .seconds(600))
            ])
        #expect(breaches(floor.advance(seconds: 600).effects).isEmpty)
        #expect(floor.core.conversation(id)?.resolutionBreachedAt != nil)
    }

    @Test func dueTellsTheHolderHowLongItsWaitingRoundHasLeft() {
        var floor = floor()
        floor.login("alice")
        let id = floor.open("c1", "presales")
        _ = floor.advance(seconds: 10)
        #expect(
            floor.run(.due(.agent("alice"), id)).reply
                == .ok([Field("conv", "1"), Field("round", "1"), Field("due_in_ms", "110000")]))
        #expect(floor.run(.due(.customer("c1"), id)).reply == .refused(.forbidden, "DUE is for agents and supervisors"))
        #expect(floor.run(.due(.agent("bob"), id)).reply == .refused(.notFound, "no such conversation"))
        floor.run(.send(.agent("alice"), id, text: "您好"))
        #expect(
            floor.run(.due(.agent("alice"), id)).reply
                == .ok([Field("conv", "1"), Field("round", "1"), Field("due_in_ms", "-")]))
    }
}


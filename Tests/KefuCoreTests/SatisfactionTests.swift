import KefuCore
import Testing

/// The satisfaction survey (满意度): asked at a close after a human answered, rated once within its window,
/// credited to the agent who held the chat when it was asked.
@Suite("Satisfaction surveys")
struct SatisfactionTests {
    static func surveys(_ effects: [Effect]) -> [RatingRecord] {
        effects.compactMap { if case .persist(.rating(let survey)) = $0 { survey } else { nil } }
    }

    func floor(expiresAfter seconds: Double = 3600) -> Floor {
        var policy = RoutingPolicy(
            firstResponse: .seconds(120), agents: [agent("alice", ["presales": 3]), agent("bob", ["presales": 2])])
        policy.satisfaction = SatisfactionSurvey(question: "满意吗?", expiresAfter: .seconds(seconds))
        return Floor(policy: policy)
    }

    @Test func aChatAHumanAnsweredIsSurveyedAtItsCloseAndCreditedToItsHolder() {
        var floor = floor()
        floor.login("alice")
        let id = floor.open("c1", "presales")
        floor.run(.send(.agent("alice"), id, text: "您好"))
        let closed = floor.run(.close(.agent("alice"), id))
        #expect(
            events(closed.effects, to: .customer("c1")) == [
                .closed(id, by: .agent), .ratingRequest(id, scale: 5, question: "满意吗?"),
            ])
        let survey = Self.surveys(closed.effects)
        #expect(survey.map(\.agent) == ["alice"])
        #expect(survey.map(\.requestedAt) == [floor.now])
        #expect(survey.map(\.expiresAt) == [floor.now + .seconds(3600)])
        #expect(survey.first?.rating == nil)
    }

    @Test func aChatOnlyTheDaemonOrCannedRepliesAnsweredIsNotSurveyed() {
        var floor = floor()
        floor.login("alice")
        let canned = floor.open("c1", "presales")
        floor.run(.autoReply(.agent("alice"), canned, text: "亲,在的"))
        #expect(Self.surveys(floor.run(.close(.customer("c1"), canned)).effects).isEmpty)
        floor.run(.setPresence(.agent("alice"), .away))
        let queued = floor.open("c3", "presales")
        #expect(Self.surveys(floor.run(.close(.customer("c3"), queued)).effects).isEmpty)
    }

    @Test func theCreditGoesToTheHolderWhenAskedNotToWhoAnsweredFirst() {
        var floor = floor()
        floor.login("alice")
        floor.login("bob")
        let id = floor.open("c1", "presales")  // alice, level 3
        floor.run(.send(.agent("alice"), id, text: "您好"))
        floor.run(.transfer(.agent("alice"), id, to: .agent("bob"), reason: "售后问题"))
        let closed = floor.run(.close(.customer("c1"), id))
        #expect(Self.surveys(closed.effects).map(\.agent) == ["bob"])
    }

    @Test func aBuyerRatesOnceWithinTheWindowAndOnlyItsOwnChat() {
        var floor = floor(expiresAfter: 60)
        floor.login("alice")
        let id = floor.open("c1", "presales")
        floor.run(.send(.agent("alice"), id, text: "您好"))
        floor.run(.close(.agent("alice"), id))
        #expect(floor.run(.rate(.customer("c2"), id, rating: 5, comment: nil)).reply.refusal == .notFound)
        #expect(floor.run(.rate(.agent("alice"), id, rating: 5, comment: nil)).reply.refusal == .forbidden)
        #expect(floor.run(.rate(.customer("c1"), id, rating: 0, comment: nil)).reply.refusal == .badArgs)
        _ = floor.advance(seconds: 30)
        let rated = floor.run(.rate(.customer("c1"), id, rating: 2, comment: "太慢了"))
        #expect(rated.reply == .ok([Field("conv", "1"), Field("rating", "2")]))
        let survey = Self.surveys(rated.effects)
        #expect(survey.map(\.rating) == [2])
        #expect(survey.map(\.comment) == ["太慢了"])
        #expect(survey.map(\.ratedAt) == [floor.now])
        #expect(survey.map(\.agent) == ["alice"])
        #expect(floor.run(.rate(.customer("c1"), id, rating: 5, comment: nil)).reply.refusal == .conflict)
        // Once expired it is forgotten: nothing to rate.
        _ = floor.advance(seconds: 30)
        #expect(floor.run(.rate(.customer("c1"), id, rating: 5, comment: nil)).reply.refusal == .notFound)
    }

    @Test func anUnansweredSurveyExpiresAtItsInstant() {
        var floor = floor(expiresAfter: 60)
        floor.login("alice")
        let id = floor.open("c1", "presales")
        floor.run(.send(.agent("alice"), id, text: "您好"))
        floor.run(.close(.agent("alice"), id))
        _ = floor.advance(seconds: 59.999)
        let late = floor.now + .seconds(0.001)
        floor.now = late
        #expect(floor.run(.rate(.customer("c1"), id, rating: 4, comment: nil)).reply.refusal == .notFound)
    }

    @Test func withSurveysOffNoneIsSent() {
        var floor = floor()
        floor.core = RoutingCore(policy: {
            var policy = floor.core.policy
            policy.satisfaction = nil
            return policy
        }())
        floor.login("alice")
        let id = floor.open("c1", "presales")
        floor.run(.send(.agent("alice"), id, text: "您好"))
        let closed = floor.run(.close(.agent("alice"), id))
        #expect(Self.surveys(closed.effects).isEmpty)
        #expect(!events(closed.effects, to: .customer("c1")).contains { if case .ratingRequest = $0 { true } else { false } })
    }

    @Test func aRestoredSurveyIsAnswerableOnceAndARatedOneStaysRated() {
        var floor = floor()
        let now = floor.now
        let open = RatingRecord(
            conversation: ConversationID(7), customer: "c7", agent: "alice", skill: "presales", store: nil,
            requestedAt: now, expiresAt: now + .seconds(60))
        var rated = open
        rated.conversation = ConversationID(8)
        rated.customer = "c8"
        rated.rating = 5
        var expired = open
        expired.conversation = ConversationID(9)
        expired.customer = "c9"
        expired.expiresAt = now
        floor.core.restoreSurveys([open, rated, expired], at: now)
        #expect(floor.run(.rate(.customer("c7"), ConversationID(7), rating: 3, comment: nil)).reply.refusal == nil)
        #expect(floor.run(.rate(.customer("c8"), ConversationID(8), rating: 3, comment: nil)).reply.refusal == .conflict)
        #expect(floor.run(.rate(.customer("c9"), ConversationID(9), rating: 3, comment: nil)).reply.refusal == .notFound)
    }
}

extension Reply {
    /// The refusal's code, nil for any other reply.
    var refusal: Refusal? { if case .refused(let refusal, _) = self { refusal } else { nil } }
}

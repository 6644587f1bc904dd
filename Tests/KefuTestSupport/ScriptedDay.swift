import KefuCore
import Testing

/// A day on a shop's floor, scripted through the real routing core: what the day sheets are checked with, in SQLite
/// and in a cluster's PostgreSQL alike.
public enum ScriptedDay {
    /// 2026-12-01 in Asia/Shanghai, at `hh:mm:ss` local.
    public static func local(_ hour: Int64, _ minute: Int64, _ second: Int64 = 0) -> Instant {
        // 2026-12-01T00:00:00+08:00 = 2026-11-30T16:00:00Z.
        Instant(unixMilliseconds: 1_796_054_400_000 + ((hour * 60 + minute) * 60 + second) * 1000)
    }

    /// The core on a scripted day, its records committed as the daemon commits them.
    struct Day {
        var core: RoutingCore
        var records: [Record] = []

        init() {
            var policy = RoutingPolicy(
                firstResponse: .seconds(120), response: .seconds(180),
                agents: [
                    AgentProfile(id: "alice", name: "Alice", maxChats: 3, skills: ["presales": 3]),
                    AgentProfile(id: "bob", name: "Bob", maxChats: 3, skills: ["presales": 2]),
                ])
            policy.satisfaction = SatisfactionSurvey(question: "满意吗?", expiresAfter: .seconds(86_400))
            core = RoutingCore(policy: policy)
        }

        mutating func run(_ command: Command, at instant: Instant) {
            let step = core.handle(command, at: instant)
            if case .refused(_, let why) = step.reply { Issue.record("refused: \(why)") }
            records += step.records
        }
    }

    /// alice: in at 09:00, away 12:00–13:00, offline at 18:00, in again 19:00–20:30; bob 13:29–14:00.
    /// c1 (09:05): alice answers in 30 s, round 2 answered 240 s late, closed by alice, rated 5 with a comment.
    /// c2 (13:30): alice transfers it to bob, who answers 60 s after the opening and closes it; never rated.
    public static func records() -> [Record] {
        var day = Day()
        day.run(.connect(.agent("alice")), at: local(9, 0))
        day.run(
            .open(.customer("buyer-1"), skill: "presales", priority: .normal, text: "在吗", store: "tmall", language: nil),
            at: local(9, 5))
        day.run(.send(.agent("alice"), ConversationID(1), text: "在的,您说"), at: local(9, 5, 30))
        day.run(.send(.customer("buyer-1"), ConversationID(1), text: "M码有吗?"), at: local(9, 10))
        day.run(.tick, at: local(9, 12))  // round 2's warning (at 100 of its 180 s): alice is warned
        day.run(.send(.agent("alice"), ConversationID(1), text: "有的"), at: local(9, 14))
        day.run(.close(.agent("alice"), ConversationID(1)), at: local(9, 20))
        day.run(.rate(.customer("buyer-1"), ConversationID(1), rating: 5, comment: "回复快, \"很专业\""), at: local(9, 21))
        day.run(.setPresence(.agent("alice"), .away), at: local(12, 0))
        day.run(.setPresence(.agent("alice"), .online), at: local(13, 0))
        day.run(.connect(.agent("bob")), at: local(13, 29))
        day.run(.setPresence(.agent("bob"), .away), at: local(13, 29, 30))  // c2 must go to alice
        day.run(
            .open(.customer("buyer-2"), skill: "presales", priority: .normal, text: "退货", store: "jd", language: nil),
            at: local(13, 30))
        day.run(.setPresence(.agent("bob"), .online), at: local(13, 30, 10))
        day.run(.transfer(.agent("alice"), ConversationID(2), to: .agent("bob"), reason: "退货找bob"), at: local(13, 30, 30))
        day.run(.send(.agent("bob"), ConversationID(2), text: "您好"), at: local(13, 31))
        day.run(.close(.agent("bob"), ConversationID(2)), at: local(13, 40))
        day.run(.disconnect(.agent("bob")), at: local(14, 0))
        day.run(.setPresence(.agent("alice"), .offline), at: local(18, 0))
        day.run(.disconnect(.agent("alice")), at: local(18, 1))
        day.run(.connect(.agent("alice")), at: local(19, 0))
        day.run(.disconnect(.agent("alice")), at: local(20, 30))
        return day.records
    }

}

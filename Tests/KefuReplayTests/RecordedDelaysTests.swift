import KefuCore
import KefuReplay
import Testing

/// What modelled agents draw from: an agent's answer delay counts from when it could answer (the round's start, or
/// when it got a chat that had waited), and a chat's handling from its first assignment to its close.
@Suite struct RecordedDelaysTests {
    @Test func aChatThatWaitedCountsItsAnswerFromTheAssignment() {
        let policy = RoutingPolicy(
            firstResponse: .seconds(600), response: .seconds(600),
            agents: [AgentProfile(id: "alice", name: "Alice", maxChats: 1, skills: ["refund": 3])])
        var core = RoutingCore(policy: policy)
        var delays = RecordedDelays()
        let t0 = Instant(unixMilliseconds: 1_000_000)
        let alice = Principal.agent("alice")
        for (command, seconds) in [
            (Command.open(.customer("b1"), skill: "refund", priority: .normal, text: "在吗"), 0.0),
            (.connect(alice), 100), (.setPresence(alice, .online), 100),  // b1 waited 100 s for her
            (.send(alice, ConversationID(1), text: "在的"), 130),  // answered 30 s after she got it
            (.send(.customer("b1"), ConversationID(1), text: "退款"), 140),
            (.send(alice, ConversationID(1), text: "好的"), 150),  // a later round: 10 s
            (.close(alice, ConversationID(1)), 160),
        ] {
            delays.observe(core.handle(command, at: t0 + .seconds(seconds)))
        }
        #expect(delays.answers["alice"] == [.seconds(30), .seconds(10)])
        #expect(delays.handling == [.seconds(60)])
        #expect(delays.allAnswers == [.seconds(30), .seconds(10)])
    }
}

import KefuCore
import KefuReplay
import Testing

/// Modelled agents answer what the core gives them, after their drawn delay, once per waiting round.
@Suite struct ModelledAgentsTests {
    static let alice = AgentProfile(id: "alice", name: "Alice", maxChats: 3, skills: ["presales": 3])

    static func floor() -> FloorRun {
        var run = FloorRun(core: RoutingCore(policy: Floor.quietPolicy(firstResponse: .seconds(600), agents: [alice])))
        run.schedule(.connect(.agent("alice")), at: Floor.at(9))
        run.schedule(.open(.customer("b1"), skill: "presales", priority: .normal, text: "在吗"), at: Floor.at(9, 1))
        return run
    }

    static func answers(_ steps: [FloorStep]) -> [FloorStep] {
        steps.filter { if case .send(.agent, _, _, _) = $0.command { true } else { false } }
    }

    @Test func theAgentAnswersAfterTheDrawnDelay() {
        var run = Self.floor()
        // A follow-up from the buyer 5 minutes after the answer: a new round, a new answer.
        run.schedule(.send(.customer("b1"), ConversationID(1), text: "M码有吗?"), at: Floor.at(9, 6, 45))
        var agents: ModelledAgents? = ModelledAgents(seed: 7, answerDelay: .fixed(.seconds(45)))
        let answers = Self.answers(Floor.drive(&run, until: Floor.at(10), agents: &agents))
        #expect(answers.map(\.at) == [Floor.at(9, 1, 45), Floor.at(9, 7, 30)])
        #expect(answers.allSatisfy { if case .ok = $0.step.reply { true } else { false } })
    }

    @Test func anExponentialDelayIsTheSeededDraw() {
        var run = Self.floor()
        var agents: ModelledAgents? = ModelledAgents(seed: 42, answerDelay: .exponential(mean: .seconds(30)))
        let answers = Self.answers(Floor.drive(&run, until: Floor.at(10), agents: &agents))
        var generator = SeededGenerator(seed: 42)
        #expect(answers.map(\.at) == [Floor.at(9, 1) + generator.exponential(mean: .seconds(30))])
    }

    @Test func twoBuyerMessagesInOneRoundGetOneAnswer() {
        var run = Self.floor()
        run.schedule(.send(.customer("b1"), ConversationID(1), text: "有人吗"), at: Floor.at(9, 1, 10))
        var agents: ModelledAgents? = ModelledAgents(seed: 7, answerDelay: .fixed(.seconds(60)))
        let answers = Self.answers(Floor.drive(&run, until: Floor.at(10), agents: &agents))
        #expect(answers.map(\.at) == [Floor.at(9, 2, 0)])
    }

    @Test func aRevokedChatsAnswerIsForgotten() {
        var run = Self.floor()
        // alice leaves before she would answer: the chat goes back to the queue, and no answer of hers is sent.
        run.schedule(.setPresence(.agent("alice"), .offline), at: Floor.at(9, 1, 30))
        var agents: ModelledAgents? = ModelledAgents(seed: 7, answerDelay: .fixed(.seconds(60)))
        let steps = Floor.drive(&run, until: Floor.at(10), agents: &agents)
        #expect(Self.answers(steps).isEmpty)
        #expect(run.core.waiting == [ConversationID(1)])
    }

    @Test func withHandlingTheAgentClosesAfterAnswering() {
        var run = Self.floor()
        var agents: ModelledAgents? = ModelledAgents(
            seed: 7, answerDelay: .fixed(.seconds(90)), handling: .fixed(.seconds(60)))
        let steps = Floor.drive(&run, until: Floor.at(10), agents: &agents)
        // Handling (60 s) ends before the answer (90 s): the close waits for the answer.
        let close = steps.first { if case .close = $0.command { true } else { false } }
        #expect(close?.at == Floor.at(9, 2, 30))
        #expect(Self.answers(steps).map(\.at) == [Floor.at(9, 2, 30)])
        #expect(run.core.conversation(ConversationID(1)) == nil)  // closed
    }
}

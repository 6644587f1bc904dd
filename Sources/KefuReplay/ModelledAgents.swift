import KefuCore

/// Agents whose answers (and, in a simulation, closes) are modelled: each reads the steps of a run as its
/// workspace would show them and schedules what it would do.
public struct ModelledAgents: Sendable {
    /// What one agent has scheduled for one conversation.
    private struct Pending: Sendable {
        var agent: AgentID
        var ticket: FloorRun.Ticket
    }

    private var generator: SeededGenerator
    private let answerDelay: DelayModel
    private let handling: DelayModel?
    private var answers: [ConversationID: Pending] = [:]
    private var closes: [ConversationID: Pending] = [:]
    /// When the holder means to close, once the waiting round is answered (an agent answers before closing).
    private var closeDue: [ConversationID: (agent: AgentID, at: Instant)] = [:]
    /// When each agent is done typing the answers it has scheduled (`oneAnswerAtATime`).
    private var typingUntil: [AgentID: Instant] = [:]
    /// The text of a modelled answer (what the buyer sees is no concern of the figures).
    public var answerText = "您好,在的"
    /// An agent types one answer at a time: an answer's delay starts when its previous answer is sent, so an agent
    /// holding several chats answers each more slowly when their buyers write at once (what chats held in parallel
    /// cost, and Erlang C cannot see). Off for a replay, whose recorded delays already include it.
    public var oneAnswerAtATime = false

    /// `answerDelay`: how long the agent takes to answer a buyer (drawn per answer); `handling`: nil = the agent never
    /// closes by itself (a replay closes conversations as recorded), else how long after taking a chat the agent
    /// closes it (drawn per chat).
    public init(seed: UInt64, answerDelay: DelayModel, handling: DelayModel? = nil) {
        generator = SeededGenerator(seed: seed)
        self.answerDelay = answerDelay
        self.handling = handling
    }

    /// Reads a step: an agent given a conversation, or a buyer's message in a chat an agent holds, gets an answer
    /// (`.send(.agent(a), conv, text: "…")`) scheduled after a drawn delay, once per waiting round; a revoked or
    /// closed chat's pending answer is forgotten.
    public mutating func react(to step: FloorStep, run: inout FloorRun) {
        // The agent's own scheduled commands, now done.
        switch step.command {
        case .send(.agent(let agent), let id, _, _) where answers[id]?.agent == agent:
            answers[id] = nil
            if let due = closeDue[id], due.agent == agent, closes[id] == nil {
                scheduleClose(id, by: agent, at: max(due.at, step.at), run: &run)
            }
        case .close(.agent(let agent), let id) where closes[id]?.agent == agent:
            closes[id] = nil
            closeDue[id] = nil
        default:
            break
        }
        for effect in step.step.effects {
            switch effect {
            case .deliver(.agent(let agent), .assigned(let notice)):
                took(notice.conversation, agent: agent, at: step.at, run: &run)
            case .deliver(.agent(let agent), .message(let id, from: .customer, _)):
                // The buyer wrote again: the agent answers before it closes.
                if let close = closes[id], close.agent == agent {
                    run.cancel(close.ticket)
                    closes[id] = nil
                }
                if answers[id] == nil { scheduleAnswer(id, by: agent, at: step.at, run: &run) }
            case .deliver(.agent(let agent), .revoked(let id, _)):
                forget(id, of: agent, run: &run)
            case .persist(.conversation(let record)) where record.state == .closed:
                if let agent = answers[record.id]?.agent ?? closes[record.id]?.agent ?? closeDue[record.id]?.agent {
                    forget(record.id, of: agent, run: &run)
                }
            default:
                break
            }
        }
    }

    private mutating func took(_ id: ConversationID, agent: AgentID, at now: Instant, run: inout FloorRun) {
        // Whatever a former holder meant to do there is dropped (its revocation may come later in the step).
        for former in [answers[id]?.agent, closes[id]?.agent, closeDue[id]?.agent].compactMap({ $0 })
        where former != agent {
            forget(id, of: former, run: &run)
        }
        let record = run.core.conversation(id)
        // A round waits for an answer unless the last buyer message is answered (or the chat is on hold).
        let waiting = record.map { $0.roundStartedAt != nil && $0.heldSince == nil } ?? false
        if waiting, answers[id]?.agent != agent { scheduleAnswer(id, by: agent, at: now, run: &run) }
        guard let handling, closeDue[id]?.agent != agent else { return }
        let due = now + handling.draw(for: agent, using: &generator)
        closeDue[id] = (agent, due)
        if !waiting { scheduleClose(id, by: agent, at: due, run: &run) }
    }

    private mutating func scheduleAnswer(_ id: ConversationID, by agent: AgentID, at now: Instant, run: inout FloorRun)
    {
        if let previous = answers[id] { run.cancel(previous.ticket) }
        var start = now
        if oneAnswerAtATime, let busy = typingUntil[agent], busy > now { start = busy }
        let at = start + answerDelay.draw(for: agent, using: &generator)
        if oneAnswerAtATime { typingUntil[agent] = at }
        answers[id] = Pending(agent: agent, ticket: run.schedule(.send(.agent(agent), id, text: answerText), at: at))
    }

    private mutating func scheduleClose(
        _ id: ConversationID, by agent: AgentID, at instant: Instant, run: inout FloorRun
    ) {
        closes[id] = Pending(agent: agent, ticket: run.schedule(.close(.agent(agent), id), at: instant))
    }

    /// The chat left the agent (revoked, or closed by anyone): what it meant to do there is dropped.
    private mutating func forget(_ id: ConversationID, of agent: AgentID, run: inout FloorRun) {
        if let answer = answers[id], answer.agent == agent {
            run.cancel(answer.ticket)
            answers[id] = nil
        }
        if let close = closes[id], close.agent == agent {
            run.cancel(close.ticket)
            closes[id] = nil
        }
        if closeDue[id]?.agent == agent { closeDue[id] = nil }
    }
}

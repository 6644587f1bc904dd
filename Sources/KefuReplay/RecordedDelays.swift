import KefuCore

/// How long agents took, as a record shows it: each agent's answer delays (from a round's start, or from when the
/// agent got the chat if the round was waiting before, to the human answer: a queue's wait is the floor's, not the
/// agent's) and the chats' handling times (taken by an agent to closed). What modelled agents draw from in a replay under other rules
/// and in a simulation of a recorded day.
public struct RecordedDelays: Sendable {
    /// Each agent's answer delays, in the order answered.
    public private(set) var answers: [AgentID: [Milliseconds]] = [:]
    /// Each closed chat's time from its first assignment to its close.
    public private(set) var handling: [Milliseconds] = []
    private var answered: Set<[Int64]> = []
    private var taken: [ConversationID: Instant] = [:]
    /// When the current holder got each chat.
    private var heldSince: [ConversationID: Instant] = [:]

    public init() {}

    /// Every answer delay, whoever answered.
    public var allAnswers: [Milliseconds] { answers.keys.sorted().flatMap { answers[$0]! } }

    /// Reads a step's records.
    public mutating func observe(_ step: Step) {
        for effect in step.effects {
            switch effect {
            case .persist(.round(let round)):
                // A round is written again when it closes: its answer counts once.
                guard let answeredAt = round.answeredAt, let agent = round.agent,
                    answered.insert([round.conversation.rawValue, Int64(round.round)]).inserted
                else { continue }
                let since = max(round.startedAt, heldSince[round.conversation] ?? round.startedAt)
                answers[agent, default: []].append(answeredAt - since)
            case .persist(.assignment(let assignment)):
                heldSince[assignment.conversation] = assignment.agent == nil ? nil : assignment.at
                if assignment.agent != nil, taken[assignment.conversation] == nil {
                    taken[assignment.conversation] = assignment.at
                }
            case .persist(.conversation(let record)) where record.state == .closed:
                heldSince[record.id] = nil
                if let since = taken.removeValue(forKey: record.id), let closedAt = record.closedAt {
                    handling.append(closedAt - since)
                }
            default:
                break
            }
        }
    }

    /// The delays of a recorded stretch (replayed with its own rules from the run's start; only what falls in
    /// `from`…`to` counts).
    public static func of(
        _ chunks: [InputJournal.Chunk], from: Instant, to: Instant
    ) throws(InputJournal.ReadError) -> RecordedDelays {
        var delays = RecordedDelays()
        var run = RecordedRun(chunks)
        _ = try ExactReplay(from: from, to: to).run(&run) { at, _, step in
            if at >= from { delays.observe(step) }
        }
        return delays
    }
}

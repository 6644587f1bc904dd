import KefuCore
import KefuReplay

/// A day on a shop's floor as kefud would have recorded it: buyers arriving through the day (busiest in the evening),
/// writing again after each answer and leaving when done; agents on shifts answering after a while; every input run
/// through the real core and noted in the input journal as the routing owner notes it (`ShopOwner.step`), a row per
/// 45 inputs or so, beside the records the steps persisted. What replay tests and the README's worked example replay.
public struct RecordedDay: Sendable {
    /// An agent's shift, in local minutes after midnight.
    public struct Shift: Sendable {
        public var agent: AgentID
        public var start: Int
        public var end: Int

        public init(_ agent: AgentID, _ start: Int, _ end: Int) {
            self.agent = agent
            self.start = start
            self.end = end
        }
    }

    public private(set) var chunks: [InputJournal.Chunk] = []
    public private(set) var records: [Record] = []
    /// Local midnight of the day, and the instants the journal covers.
    public let midnight: Instant
    public let start: Instant
    public let end: Instant

    /// `arrivalsPerHour[h]`: buyers opening a chat in local hour `h`, spread over `skills`.
    public init(
        policy: RoutingPolicy, shifts: [Shift], skills: [Skill], arrivalsPerHour: [Int], midnight: Instant,
        meanAnswer: Milliseconds = .seconds(40), seed: UInt64 = 7
    ) {
        self.midnight = midnight
        start = midnight + .seconds(8 * 3600)
        end = midnight + .seconds(24 * 3600)
        var journal = InputJournal()
        let point = RestorePoint(policy: policy, at: start, nextConversationID: ConversationID(1))
        journal.record(point)
        var run = FloorRun(core: RoutingCore.restored(from: point).core)
        var agents = ModelledAgents(seed: seed, answerDelay: .exponential(mean: meanAnswer))
        var buyers = SeededGenerator(seed: seed &+ 1)
        for shift in shifts {
            let on = midnight + .seconds(Double(shift.start * 60))
            run.schedule(.connect(.agent(shift.agent)), at: on)
            run.schedule(.setPresence(.agent(shift.agent), .online), at: on)
            // Away at the end (no new chats), offline an hour later when its chats are done.
            run.schedule(.setPresence(.agent(shift.agent), .away), at: midnight + .seconds(Double(shift.end * 60)))
            run.schedule(.setPresence(.agent(shift.agent), .offline), at: midnight + .seconds(Double(shift.end * 60 + 3600)))
        }
        var buyer = 0
        for (hour, count) in arrivalsPerHour.enumerated() where count > 0 {
            for _ in 0..<count {
                buyer += 1
                let at = midnight + Milliseconds(Int64(hour) * 3_600_000 + Int64(buyers.index(below: 3_600_000)))
                let skill = skills[buyers.index(below: skills.count)]
                run.schedule(
                    .open(.customer(CustomerID("buyer-\(buyer)")), skill: skill, priority: .normal, text: "在吗"), at: at)
            }
        }
        // How many more times each buyer writes after an answer before leaving.
        var followUps: [ConversationID: Int] = [:]
        var inputs = 0
        while let step = run.next(until: end) {
            journal.record(step.command, at: step.at, step: step.step)
            records += step.step.records
            inputs += 1
            if inputs % 45 == 0, let chunk = journal.take() { chunks.append(chunk) }
            agents.react(to: step, run: &run)
            if case .open = step.command, let id = step.step.reply.conversation {
                followUps[id] = buyers.index(below: 4)
            }
            for effect in step.step.effects {
                // Set away for letting chats breach, the agent comes back a minute later.
                if case .autoAway(let away) = effect {
                    run.schedule(.setPresence(.agent(away.agent), .online), at: step.at + .seconds(60))
                }
                guard case .deliver(.customer(let customer), .message(let id, from: .agent, _)) = effect,
                    let left = followUps[id]
                else { continue }
                let thinks = Milliseconds(Int64(15_000 + buyers.index(below: 75_000)))
                if left > 0 {
                    followUps[id] = left - 1
                    run.schedule(.send(.customer(customer), id, text: "好的,还有一个问题"), at: step.at + thinks)
                } else {
                    followUps[id] = nil
                    run.schedule(.close(.customer(customer), id), at: step.at + thinks)
                }
            }
        }
        if let chunk = journal.take() { chunks.append(chunk) }
    }

    /// The demo team (deploy/kefud.toml: alice, bob, carol) on 2026-12-06 in Asia/Shanghai, a quiet morning and a busy
    /// evening: alice 09:00–18:00, bob 12:00–21:00, carol 14:00–23:00.
    public static func demo(policy: RoutingPolicy, seed: UInt64 = 7) -> RecordedDay {
        // 2026-12-06T00:00:00+08:00 (2026-12-01T00:00:00+08:00 is 1_796_054_400_000).
        let midnight = Instant(unixMilliseconds: 1_796_054_400_000 + 5 * 86_400_000)
        var arrivals = [Int](repeating: 0, count: 24)
        for (hour, count) in [9: 6, 10: 8, 11: 10, 12: 8, 13: 8, 14: 10, 15: 10, 16: 9, 17: 9, 18: 10, 19: 16, 20: 24,
            21: 22, 22: 12]
        {
            arrivals[hour] = count
        }
        return RecordedDay(
            policy: policy,
            shifts: [Shift("alice", 9 * 60, 18 * 60), Shift("bob", 12 * 60, 21 * 60), Shift("carol", 14 * 60, 23 * 60)],
            skills: ["presales", "presales", "logistics", "refund", "returns"], arrivalsPerHour: arrivals,
            midnight: midnight, seed: seed)
    }
}

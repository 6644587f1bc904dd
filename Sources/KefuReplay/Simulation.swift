import KefuCore

/// A day that has not happened, on the real core: buyers arriving as the curve says (a Poisson process within each
/// 15-minute slot, seeded), each opening a conversation and, if `buyerThinks` is given, writing again that long
/// after each answer; agents generated per skill (`sim-<skill>-<n>`, the skill only) who answer after
/// `answerDelay` and close `handling` after taking a chat (once its waiting round is answered); shifts by the hour.
/// What is recorded of the shop is only its rules (`policy`: SLA, calendar, skill rules, ladder); its own agents are
/// replaced by the generated ones.
public struct Simulation: Sendable {
    public var policy: RoutingPolicy
    /// The instant of 00:00 of the (first) simulated day, local time.
    public var day: Instant
    public var arrivals: ArrivalCurve
    /// Days simulated, each with the same curve (a long stationary run for the check against Erlang C).
    public var days = 1
    /// The generated agents' reception limit and level, per skill (else `maxChats` and `level`).
    public var maxChats: Int
    public var level: Int
    public var maxChatsBySkill: [Skill: Int] = [:]
    public var levelBySkill: [Skill: Int] = [:]
    public var answerDelay: DelayModel
    public var handling: DelayModel
    /// How long a buyer takes to write again after an answer; nil: buyers write once (one round a chat).
    public var buyerThinks: DelayModel?
    /// Agents type one answer at a time (see `ModelledAgents.oneAnswerAtATime`).
    public var oneAnswerAtATime = true
    /// An agent the daemon set away (auto-away) sets itself online again this much later, if still on shift.
    public var comeBackAfter = Milliseconds.seconds(60)
    public var seed: UInt64

    public init(
        policy: RoutingPolicy, day: Instant, arrivals: ArrivalCurve, maxChats: Int = 3, level: Int = 3,
        answerDelay: DelayModel, handling: DelayModel, buyerThinks: DelayModel? = nil, seed: UInt64 = 1
    ) {
        self.policy = policy
        self.day = day
        self.arrivals = arrivals
        self.maxChats = maxChats
        self.level = level
        self.answerDelay = answerDelay
        self.handling = handling
        self.buyerThinks = buyerThinks
        self.seed = seed
    }

    /// `sim-<skill>-<n>`.
    public static func agentID(skill: Skill, number: Int) -> AgentID { AgentID("sim-\(skill.name)-\(number)") }

    /// The profiles of agents 1…n of each skill.
    public func profiles(_ counts: [Skill: Int]) -> [AgentProfile] {
        counts.keys.sorted().flatMap { skill in
            (0..<(counts[skill] ?? 0)).map { index in
                let id = Self.agentID(skill: skill, number: index + 1)
                return AgentProfile(
                    id: id, name: id.rawValue, maxChats: maxChatsBySkill[skill] ?? maxChats,
                    skills: [skill: levelBySkill[skill] ?? level])
            }
        }
    }

    /// The end of the simulated days.
    public var end: Instant { day + Milliseconds(Int64(days) * 86_400_000) }

    /// Runs the days with agents on shift per skill and hour (`staffing[skill][h]` for hour h from the start; a
    /// list of 24 is the same every day, a shorter one keeps its last count), and gives their figures.
    public func run(staffing: [Skill: [Int]]) -> DayFigures {
        floor(staffing: staffing, profiles: profiles(staffing.mapValues { $0.max() ?? 0 })).outcome.figures(at: end)
    }

    /// The agents on shift in hour `hour` from the start, by the list's rule (see `run`).
    static func count(in hours: [Int], hour: Int) -> Int {
        guard !hours.isEmpty else { return 0 }
        if hours.count == 24, hour >= 24 { return hours[hour % 24] }
        return hours[min(hour, hours.count - 1)]
    }

    /// The floor at the end of the days, run with this staffing.
    func floor(staffing: [Skill: [Int]], profiles: [AgentProfile]) -> SimulatedFloor {
        var floor = SimulatedFloor(self, profiles: profiles, window: day..<end)
        for hour in 0..<(days * 24) {
            floor.begin(hour: hour, staffing: staffing.mapValues { Self.count(in: $0, hour: hour) })
            floor.advance(until: day + Milliseconds(Int64(hour + 1) * 3_600_000 - 1))
        }
        floor.advance(until: end)
        return floor
    }
}

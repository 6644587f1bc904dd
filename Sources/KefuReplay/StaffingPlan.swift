import KefuCore

/// The fewest agents per skill and local hour that keep the 3-minute response rate at a target, found on the real
/// core: hour by hour in time order, each hour's staffing tried on a copy of the floor as the hours before it left
/// it (their staffing fixed), the hour then run on for `tail` with the same staff so that its late rounds are
/// decided. Each skill starts from Erlang C's count with chats as servers, less one (a guess, never trusted: the
/// count goes down while the hour still meets the target, and up until it does). Finally the whole day is run with
/// the plan, and any hour below the target (later hours' staffing can leave an hour's last rounds to fewer agents)
/// gets one more agent of each skill that missed, until the day meets the target or `maxAgents` stops it.
public struct StaffingPlan: Sendable {
    public var target: Double
    /// Agents on shift per skill, per local hour of the day (24 entries).
    public var agents: [Skill: [Int]]
    /// The day run with the plan.
    public var figures: DayFigures
    /// Hours whose rate stays below the target even at `maxAgents` (or that the final run found below it).
    public var hoursBelowTarget: [Int]
    /// How many hour-runs the search took (each a copy of the floor run for an hour and its tail).
    public var trials: Int

    public var meetsTarget: Bool { hoursBelowTarget.isEmpty }

    /// How long after an hour's end its rounds are still followed while trying its staffing.
    public static let tail = Milliseconds.seconds(900)

    public static func find(for simulation: Simulation, target: Double, maxAgents: Int = 100) -> StaffingPlan {
        var simulation = simulation
        simulation.days = 1
        let skills = simulation.arrivals.skills
        var plan = Dictionary(uniqueKeysWithValues: skills.map { ($0, [Int](repeating: 0, count: 24)) })
        let profiles = simulation.profiles(Dictionary(uniqueKeysWithValues: skills.map { ($0, maxAgents) }))
        var floor = SimulatedFloor(simulation, profiles: profiles, window: simulation.day..<simulation.end)
        var trials = 0

        for hour in 0..<24 {
            let start = simulation.day + Milliseconds(Int64(hour) * 3_600_000)
            let end = start + Milliseconds(3_600_000)
            /// The rate per skill of the hour with this staffing (nil: no round counted).
            func rates(_ counts: [Skill: Int]) -> [Skill: Double?] {
                trials += 1
                var trial = floor
                trial.begin(hour: hour, staffing: counts)
                trial.advance(until: end + Milliseconds(-1))
                if hour < 23 { trial.begin(hour: hour + 1, staffing: counts) }
                trial.advance(until: end + tail)
                let figures = trial.outcome.figures(at: end + tail, within: start..<end)
                return Dictionary(uniqueKeysWithValues: skills.map { ($0, figures.skills[$0]?.responseRate) })
            }
            func meets(_ rate: Double??) -> Bool { (rate ?? nil).map { $0 >= target } ?? true }

            var counts = Dictionary(
                uniqueKeysWithValues: skills.map { skill in
                    (skill, max(0, guess(simulation, skill: skill, hour: hour, target: target) - 1))
                })
            var result = rates(counts)
            // Down while it still meets (the guess may be high: queues carried over from earlier hours aside).
            var lowering = Set(skills.filter { meets(result[$0]) && counts[$0]! > 0 })
            while !lowering.isEmpty {
                var lower = counts
                for skill in lowering { lower[skill]! -= 1 }
                let lowered = rates(lower)
                for skill in lowering {
                    if meets(lowered[skill]) {
                        counts[skill] = lower[skill]
                        result[skill] = lowered[skill]
                        if counts[skill] == 0 { lowering.remove(skill) }
                    } else {
                        lowering.remove(skill)
                    }
                }
            }
            // Up until every skill meets the target, or more agents stop helping: when three more did not raise a
            // skill's rate, its shortfall is its answers' own delay (drawn long), not the staffing; it keeps the count
            // of its best rate.
            var best = Dictionary(uniqueKeysWithValues: skills.map { ($0, (rate: (result[$0] ?? nil) ?? 1, count: counts[$0]!)) })
            var stalled: Set<Skill> = []
            while case let short = skills.filter({ !meets(result[$0]) && counts[$0]! < maxAgents && !stalled.contains($0) }),
                !short.isEmpty
            {
                for skill in short { counts[skill]! += 1 }
                result = rates(counts)
                for skill in short {
                    let rate = (result[skill] ?? nil) ?? 1
                    if rate > best[skill]!.rate {
                        best[skill] = (rate, counts[skill]!)
                    } else if counts[skill]! - best[skill]!.count >= 3 {
                        counts[skill] = best[skill]!.count
                        stalled.insert(skill)
                    }
                }
            }
            for skill in skills { plan[skill]![hour] = counts[skill]! }
            floor.begin(hour: hour, staffing: counts)
            floor.advance(until: end + Milliseconds(-1))
        }

        // The whole day with the plan; an hour a later staffing left short gets more (at most three more than the hour's
        // own search found: beyond that, as above, agents no longer help).
        let searched = plan
        var day = simulation.floor(staffing: plan, profiles: profiles)
        var below: [Int] = []
        for _ in 0..<24 {
            below = []
            var grew = false
            for hour in 0..<24 {
                let start = simulation.day + Milliseconds(Int64(hour) * 3_600_000)
                let bySkill = day.outcome.figures(at: simulation.end, within: start..<(start + Milliseconds(3_600_000)))
                    .skills
                for skill in skills where (bySkill[skill]?.responseRate ?? 1) < target {
                    below.append(hour)
                    if plan[skill]![hour] < min(maxAgents, searched[skill]![hour] + 3) {
                        plan[skill]![hour] += 1
                        grew = true
                    }
                }
            }
            guard grew else { break }
            trials += 1
            day = simulation.floor(staffing: plan, profiles: profiles)
        }
        return StaffingPlan(
            target: target, agents: plan, figures: day.outcome.figures(at: simulation.end),
            hoursBelowTarget: Array(Set(below)).sorted(), trials: trials)
    }

    /// Erlang C's agents for the hour with each chat slot as a server, its handling the chat's, and the 3 minutes
    /// less the mean answer delay to be taken in.
    static func guess(_ simulation: Simulation, skill: Skill, hour: Int, target: Double) -> Int {
        let arrivals = simulation.arrivals.hourly(skill, hour: hour)
        guard arrivals > 0 else { return 0 }
        let anyone = Simulation.agentID(skill: skill, number: 1)
        let handling = Double(simulation.handling.mean(for: anyone).value) / 1000
        let answer = Double(simulation.answerDelay.mean(for: anyone).value) / 1000
        let slots =
            ErlangC.servers(
                reaching: target, within: max(1, 180 - answer), arrivalRate: arrivals / 3600,
                meanHandling: max(1, handling)) ?? 1
        let perAgent = simulation.maxChatsBySkill[skill] ?? simulation.maxChats
        return (slots + perAgent - 1) / max(1, perAgent)
    }
}

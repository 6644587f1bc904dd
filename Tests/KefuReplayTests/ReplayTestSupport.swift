import KefuCore
import KefuReplay

/// The floors the tests run: 2026-12-01 at `hh:mm:ss`, UTC clocks that never stop (local hours are UTC hours).
enum Floor {
    static let midnight = Instant(unixMilliseconds: 1_796_083_200_000)  // 2026-12-01T00:00:00Z

    static func at(_ hour: Int64, _ minute: Int64 = 0, _ second: Int64 = 0) -> Instant {
        midnight + Milliseconds(((hour * 60 + minute) * 60 + second) * 1000)
    }

    /// A policy with nothing that moves chats or closes them by itself (no auto-away, no idle close, no survey), so
    /// a test sees only what it scripts; `firstResponse` its first-round and later-round limit.
    static func quietPolicy(firstResponse: Milliseconds = .seconds(120), agents: [AgentProfile] = []) -> RoutingPolicy {
        var policy = RoutingPolicy(firstResponse: firstResponse, agents: agents)
        policy.customerIdleClose = nil
        policy.satisfaction = nil
        policy.rules.autoAwayBreaches = 0
        policy.calendar = .always
        return policy
    }

    /// Runs every step up to `end`, feeding the modelled agents if any, and returns the steps.
    static func drive(_ run: inout FloorRun, until end: Instant, agents: inout ModelledAgents?) -> [FloorStep] {
        var steps: [FloorStep] = []
        while let step = run.next(until: end) {
            steps.append(step)
            agents?.react(to: step, run: &run)
        }
        return steps
    }

    /// A constant arrival rate all day: `perHour` expected arrivals of one skill each hour.
    static func steady(_ skill: Skill, perHour: Double) -> ArrivalCurve {
        ArrivalCurve(expected: [skill: [Double](repeating: perHour / 4, count: ArrivalCurve.slotsPerDay)])
    }
}

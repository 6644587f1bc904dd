import KefuCore

/// A simulation in progress: the real core driven by modelled buyers and agents, with the shift of each hour put on
/// the floor as the hour begins. A value: the staffing plan copies the floor at the start of an hour and tries each
/// staffing of that hour on its own copy, so the hours before are simulated once.
struct SimulatedFloor: Sendable {
    let simulation: Simulation
    private(set) var run: FloorRun
    private(set) var agents: ModelledAgents
    private(set) var outcome: DayOutcome
    private var buyers: SeededGenerator
    /// Agents on shift now, per skill (agents 1…n of the skill).
    private var onShift: [Skill: Int] = [:]
    private var connected: Set<AgentID> = []
    /// Agents whose shift ended holding chats: away, they finish those, then go offline.
    private var leaving: [AgentID: Instant] = [:]
    /// Each open conversation's buyer, and the follow-up message it means to write.
    private var buyerOf: [ConversationID: CustomerID] = [:]
    private var followUps: [ConversationID: FloorRun.Ticket] = [:]

    init(_ simulation: Simulation, profiles: [AgentProfile], window: Range<Instant>) {
        self.simulation = simulation
        var policy = simulation.policy
        policy.agents = profiles
        run = FloorRun(core: RoutingCore(policy: policy))
        var agents = ModelledAgents(
            seed: simulation.seed ^ 0xA6E7_5EED, answerDelay: simulation.answerDelay, handling: simulation.handling)
        agents.oneAnswerAtATime = simulation.oneAnswerAtATime
        self.agents = agents
        outcome = DayOutcome(
            calendar: policy.calendar, from: window.lowerBound, to: window.upperBound, agents: profiles)
        buyers = SeededGenerator(seed: simulation.seed ^ 0xB0_4E25)
        // Arrivals come from a generator of their own: the same buyers arrive whatever the staffing.
        var arrivals = SeededGenerator(seed: simulation.seed)
        var openings: [(at: Instant, skill: Skill)] = []
        for day in 0..<simulation.days {
            for slot in 0..<ArrivalCurve.slotsPerDay {
                let start =
                    simulation.day + Milliseconds(Int64(day) * 86_400_000 + Int64(slot) * ArrivalCurve.slotLength.value)
                for skill in simulation.arrivals.skills {
                    let count = arrivals.poisson(mean: simulation.arrivals.expected[skill]![slot])
                    for _ in 0..<count {
                        let offset = Int64(arrivals.unit() * Double(ArrivalCurve.slotLength.value))
                        openings.append((start + Milliseconds(offset), skill))
                    }
                }
            }
        }
        openings.sort { $0.at < $1.at }
        for (number, opening) in openings.enumerated() {
            run.schedule(
                .open(
                    .customer(CustomerID("buyer-\(number + 1)")), skill: opening.skill, priority: .normal, text: "在吗"),
                at: opening.at)
        }
    }

    /// Puts hour `hour` (from the simulation's start) on the floor: agents 1…n of each skill on shift, the rest off
    /// (those with chats finish them, away, then go offline).
    mutating func begin(hour: Int, staffing: [Skill: Int]) {
        let at = simulation.day + Milliseconds(Int64(hour) * 3_600_000)
        for skill in Set(staffing.keys).union(onShift.keys).sorted() {
            let before = onShift[skill] ?? 0
            let now = staffing[skill] ?? 0
            for number in stride(from: 1, through: max(before, now), by: 1) {
                let agent = Simulation.agentID(skill: skill, number: number)
                if number <= now, number > before {
                    if connected.insert(agent).inserted { run.schedule(.connect(.agent(agent)), at: at) }
                    run.schedule(.setPresence(.agent(agent), .online), at: at)
                    leaving[agent] = nil
                } else if number > now, number <= before {
                    run.schedule(.setPresence(.agent(agent), .away), at: at)
                    leaving[agent] = at
                }
            }
            onShift[skill] = now
        }
    }

    /// Runs every step up to and including `end`.
    mutating func advance(until end: Instant) {
        while let step = run.next(until: end) {
            outcome.observe(step)
            agents.react(to: step, run: &run)
            react(to: step)
        }
    }

    /// What the modelled buyers and the shift do about a step.
    private mutating func react(to step: FloorStep) {
        if case .send(.agent, let id, _, _) = step.command, case .ok = step.step.reply,
            let thinks = simulation.buyerThinks, let buyer = buyerOf[id], followUps[id] == nil
        {
            // The buyer reads the answer and writes again (until the agent closes the chat).
            let at = step.at + thinks.draw(for: AgentID(buyer.rawValue), using: &buyers)
            followUps[id] = run.schedule(.send(.customer(buyer), id, text: "还有个问题"), at: at)
        }
        if case .send(.customer, let id, _, _) = step.command { followUps[id] = nil }
        for effect in step.step.effects {
            switch effect {
            case .persist(.conversation(let record)):
                if record.state == .closed {
                    buyerOf[record.id] = nil
                    if let pending = followUps.removeValue(forKey: record.id) { run.cancel(pending) }
                } else if buyerOf[record.id] == nil {
                    buyerOf[record.id] = record.customer
                }
            case .deliver(.agent(let agent), .presence(.away, reason: .unresponsive)) where leaving[agent] == nil:
                // The daemon set an agent on shift away for letting chats breach: it comes back a while later.
                run.schedule(.setPresence(.agent(agent), .online), at: step.at + simulation.comeBackAfter)
            default:
                break
            }
        }
        guard !leaving.isEmpty else { return }
        for (agent, since) in leaving.sorted(by: { $0.key < $1.key })
        where since <= step.at && run.core.held(by: agent).isEmpty {
            leaving[agent] = nil
            run.schedule(.setPresence(.agent(agent), .offline), at: step.at)
        }
    }
}

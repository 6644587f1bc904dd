/// What a shop looks like at an instant, counted the way `/metrics` and the supervisor board show it: the same state
/// `QUEUE` and `AGENTS` list, summed. A read of the core like those listings; it changes nothing.
public struct ShopReadings: Sendable, Equatable {
    /// One skill's open conversations.
    public struct SkillReadings: Sendable, Equatable {
        /// Waiting in the queue for an agent (what `QUEUE` lists).
        public var waiting = 0
        /// How long the longest-waiting of them has waited since opening.
        public var oldestWaiting: Milliseconds?
        /// Held by an agent and waiting for a human answer: a response round is running.
        public var unanswered = 0
        /// How long the buyer of the oldest unanswered round has waited (since the round's first message).
        public var oldestUnanswered: Milliseconds?
        /// Held by an agent (answered or not).
        public var active = 0

        public init() {}
    }

    /// By skill: every skill of the configuration, with zeros for those with nothing open, and any other skill an
    /// open conversation still names (a reload removed it).
    public var skills: [Skill: SkillReadings] = [:]
    /// Agents by state: `online` (connected and taking chats), `away`, `offline`, and `disconnected` (online or away,
    /// with no session: inside the reconnect grace). Every state is present, zero or not.
    public var agents: [String: Int] = [:]
    /// Chats held plus wrap-ups of the agents taking chats (`online`).
    public var slotsUsed = 0
    /// The most chats those agents may hold (`max_chats` summed).
    public var slots = 0

    public init() {}

    /// The agent states `agents` counts, in the order they are shown.
    public static let agentStates = ["online", "away", "offline", "disconnected"]
}

extension RoutingCore {
    /// The shop's readings at `now` (a walk of the open conversations and the agents: for a scrape, not per step).
    public func readings(at now: Instant) -> ShopReadings {
        var readings = ShopReadings()
        for skill in policy.knownSkills { readings.skills[skill] = ShopReadings.SkillReadings() }
        for state in ShopReadings.agentStates { readings.agents[state] = 0 }
        for (_, open) in conversations {
            let record = open.record
            var skill = readings.skills[record.skill] ?? ShopReadings.SkillReadings()
            switch record.state {
            case .queued:
                skill.waiting += 1
                skill.oldestWaiting = max(skill.oldestWaiting ?? Milliseconds(0), now - record.openedAt)
            case .assigned:
                skill.active += 1
                if let started = record.roundStartedAt {
                    skill.unanswered += 1
                    skill.oldestUnanswered = max(skill.oldestUnanswered ?? Milliseconds(0), now - started)
                }
            case .closed:
                break
            }
            readings.skills[record.skill] = skill
        }
        for id in agents.keys {
            agents.inspect(id) { agent in
                let state: String
                switch agent.presence {
                case .offline: state = "offline"
                case _ where agent.sessions == 0: state = "disconnected"
                case .online: state = "online"
                case .away: state = "away"
                }
                readings.agents[state, default: 0] += 1
                if agent.isAvailable {
                    readings.slotsUsed += agent.busySlots
                    readings.slots += agent.profile.maxChats
                }
            }
        }
        return readings
    }
}

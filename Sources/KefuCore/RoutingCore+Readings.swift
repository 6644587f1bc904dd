/// What a shop looks like at an instant, counted the way `/metrics` and the supervisor board show it: the same state
/// `QUEUE` and `AGENTS` list, summed. A read of the core like those listings; it changes nothing.
public struct ShopReadings: Sendable, Equatable {
    /// The open conversations of a skill or a store.
    public struct OpenChats: Sendable, Equatable {
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
    public var skills: [Skill: OpenChats] = [:]
    /// Agents by state: `online` (connected and taking chats), `away`, `offline`, and `disconnected` (online or away,
    /// with no session: inside the reconnect grace). Every state is present, zero or not.
    public var agents: [String: Int] = [:]
    /// The same by store (`(none)` for chats that named none).
    public var stores: [String: OpenChats] = [:]
    /// One agent as the board shows it.
    public struct AgentReading: Sendable, Equatable {
        public var agent: AgentID
        public var name: String
        /// One of `agentStates`.
        public var state: String
        /// When its working state (online, away, offline) last changed, if it did in this process.
        public var since: Instant?
        public var held: Int
        public var wrapUps: Int
        public var maxChats: Int
        /// Chats it holds whose buyer waits for a human answer, and the oldest such wait.
        public var unanswered = 0
        public var oldestUnanswered: Milliseconds?
    }
    /// Every configured agent.
    public var agentRows: [AgentID: AgentReading] = [:]
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
        for skill in policy.knownSkills { readings.skills[skill] = ShopReadings.OpenChats() }
        for state in ShopReadings.agentStates { readings.agents[state] = 0 }
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
                readings.agentRows[id] = ShopReadings.AgentReading(
                    agent: id, name: agent.profile.name, state: state, since: agent.presenceSince,
                    held: agent.held.count, wrapUps: agent.wrapUps.count, maxChats: agent.profile.maxChats)
            }
        }
        func count(_ record: ConversationRecord, in chats: inout ShopReadings.OpenChats) {
            switch record.state {
            case .queued:
                chats.waiting += 1
                chats.oldestWaiting = max(chats.oldestWaiting ?? Milliseconds(0), now - record.openedAt)
            case .assigned:
                chats.active += 1
                if let started = record.roundStartedAt {
                    chats.unanswered += 1
                    chats.oldestUnanswered = max(chats.oldestUnanswered ?? Milliseconds(0), now - started)
                }
            case .closed:
                break
            }
        }
        for (_, open) in conversations {
            let record = open.record
            count(record, in: &readings.skills[record.skill, default: ShopReadings.OpenChats()])
            count(record, in: &readings.stores[record.store ?? "(none)", default: ShopReadings.OpenChats()])
            if record.state == .assigned, let holder = record.agent, let started = record.roundStartedAt {
                readings.agentRows[holder]?.unanswered += 1
                let waited = now - started
                if (readings.agentRows[holder]?.oldestUnanswered ?? Milliseconds(-1)) < waited {
                    readings.agentRows[holder]?.oldestUnanswered = waited
                }
            }
        }
        return readings
    }
}

import KefuCore

/// A run's day in the figures a supervisor reads, for the whole window, per local hour and per skill (see
/// `DayOutcome` for what each counts, and where in time a figure belongs).
public struct DayFigures: Sendable, Equatable {
    /// The figures of one slice of the day (the whole window, an hour, a skill).
    public struct Figures: Sendable, Equatable {
        /// Conversations opened.
        public var conversations = 0
        /// Rounds the 3-minute rate counts (answered, or unanswered for 3 minutes or more), and those answered by a
        /// human within 3 minutes.
        public var rounds = 0
        public var answeredInTime = 0
        /// First response (open to first human answer, business time) of conversations answered.
        public var firstResponseP50: Milliseconds?
        public var firstResponseP90: Milliseconds?
        /// Rounds whose SLA deadline passed, and steps of the escalation ladder taken.
        public var breaches = 0
        public var escalations = 0
        /// Conversations that were not taken the instant they opened.
        public var waitedInQueue = 0
        /// Queue wait: open to first assignment (wall time); one still waiting counts until the end of the run.
        public var queueWaitP50: Milliseconds?
        public var queueWaitP90: Milliseconds?
        public var queueWaitLongest: Milliseconds?
        public var queueWaitMean: Milliseconds?
        /// Conversations given to agents (a transfer or move counts again), and agents online at some time.
        public var chats = 0
        public var agentsOnline = 0
        public var chatsByAgent: [AgentID: Int] = [:]
        /// Time agents were online, slot-time busy while online (a held chat fills one slot), and online time × each
        /// agent's `max_chats`.
        public var onlineTime = Milliseconds(0)
        public var busySlotTime = Milliseconds(0)
        public var capacityTime = Milliseconds(0)
        /// Conversations waiting in the queue: the time-weighted mean over the slice, and the most at once.
        public var waitingMean = 0.0
        public var waitingPeak = 0

        public init() {}

        /// The 3-minute response rate: `answeredInTime ÷ rounds`; nil without rounds.
        public var responseRate: Double? { rounds == 0 ? nil : Double(answeredInTime) / Double(rounds) }
        /// The share of conversations that waited in the queue (Erlang C's P(wait)); nil without conversations.
        public var probabilityOfWaiting: Double? {
            conversations == 0 ? nil : Double(waitedInQueue) / Double(conversations)
        }
        public var chatsPerAgent: Double? { agentsOnline == 0 ? nil : Double(chats) / Double(agentsOnline) }
        /// busy slot-time ÷ (online time × max_chats); nil when nobody was online.
        public var occupancy: Double? {
            capacityTime.value == 0 ? nil : Double(busySlotTime.value) / Double(capacityTime.value)
        }
    }

    /// One local hour of the window (the first and last may be partial).
    public struct Hour: Sendable, Equatable {
        public var start: Instant
        public var end: Instant
        /// 0…23 in the calendar's time zone.
        public var localHour: Int
        public var figures: Figures

        public init(start: Instant, end: Instant, localHour: Int, figures: Figures) {
            self.start = start
            self.end = end
            self.localHour = localHour
            self.figures = figures
        }
    }

    public var from: Instant
    /// Where the figures stop: the window's end, or the end of the run if it stopped earlier.
    public var to: Instant
    public var whole: Figures
    public var hours: [Hour]
    public var skills: [Skill: Figures]

    public init(from: Instant, to: Instant, whole: Figures, hours: [Hour], skills: [Skill: Figures]) {
        self.from = from
        self.to = to
        self.whole = whole
        self.hours = hours
        self.skills = skills
    }
}

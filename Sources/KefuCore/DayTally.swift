/// Today's numbers of a shop as the supervisor board and `/metrics` show them, kept up to date from the records each
/// step persists (and, after a restart, from today's records in the store, through the same `add`): rounds met and
/// breached per agent and store, first responses, ratings, arrivals per hour. The definitions are the day reports'
/// (`kefuctl report --layout`): a round belongs to the day it started and to the agent who held it when it ended; a
/// rating to the day its survey was sent and to the agent credited then.
///
/// A round is written several times (started, breached, escalated, answered): each version replaces the previous
/// one's contribution, so nothing is counted twice. Memory is a few dozen bytes per round of the day.
public struct DayTally: Sendable {
    /// One group's day (an agent's, a store's, the shop's).
    public struct Score: Sendable, Equatable {
        /// Rounds started today.
        public var rounds = 0
        public var met = 0
        public var breached = 0
        /// Ratings given to surveys sent today, by star (index 0: 1 star).
        public var stars = [0, 0, 0, 0, 0]

        public init() {}

        public var ratings: Int { stars.reduce(0, +) }
        /// met ÷ (met + breached); nil before either.
        public var rate: Double? { met + breached == 0 ? nil : Double(met) / Double(met + breached) }
        /// The mean rating; nil before one.
        public var meanRating: Double? {
            ratings == 0 ? nil : Double(stars.enumerated().reduce(0) { $0 + ($1.offset + 1) * $1.element }) / Double(ratings)
        }
    }

    private struct RoundKey: Hashable {
        var conversation: ConversationID
        var round: Int
    }

    /// What one round adds to the scores.
    private struct Contribution {
        var agent: AgentID?
        var store: String?
        var met: Bool
        var breached: Bool
        var firstResponse: Int64?
    }

    public let calendar: BusinessCalendar
    /// The local day counted (see `BusinessCalendar.localDay`).
    public private(set) var day: Int64
    public private(set) var shop = Score()
    public private(set) var agents: [AgentID: Score] = [:]
    /// By store (`(none)` for chats that named none).
    public private(set) var stores: [String: Score] = [:]
    /// Conversations opened today, by local hour.
    public private(set) var arrivals = [Int](repeating: 0, count: 24)
    private var rounds: [RoundKey: Contribution] = [:]
    private var surveys: [ConversationID: (agent: AgentID?, store: String?, rating: Int?)] = [:]
    /// First responses (ms, business time) of today's answered first rounds, by conversation.
    private var firstResponses: [ConversationID: Int64] = [:]

    public init(calendar: BusinessCalendar, at now: Instant) {
        self.calendar = calendar
        day = calendar.localDay(of: now)
    }

    /// First response today: the `fraction` percentile (nearest rank) in milliseconds, nil before any.
    public func firstResponse(percentile fraction: Double) -> Int64? {
        guard !firstResponses.isEmpty else { return nil }
        let sorted = firstResponses.values.sorted()
        let rank = Int((fraction * Double(sorted.count)).rounded(.up))
        return sorted[max(0, min(sorted.count, rank) - 1)]
    }

    /// Starts a new day when `now` is past this one (at midnight everything restarts from zero).
    public mutating func roll(to now: Instant) {
        let today = calendar.localDay(of: now)
        guard today > day else { return }
        self = DayTally(calendar: calendar, at: now)
    }

    /// Whether a record is one the day counts (a round, a survey, a conversation's opening).
    public static func counts(_ record: Record) -> Bool {
        switch record {
        case .round, .rating: true
        case .message(let message): message.seq == 1
        default: false
        }
    }

    /// Counts what a step persisted.
    public mutating func observe(_ effects: [Effect], at now: Instant) {
        roll(to: now)
        for effect in effects {
            guard case .persist(let record) = effect else { continue }
            add(record)
        }
    }

    /// Counts one record (a step's, or one of today's from the store after a restart).
    public mutating func add(_ record: Record) {
        switch record {
        case .round(let round):
            guard calendar.localDay(of: round.startedAt) == day else { return }
            let key = RoundKey(conversation: round.conversation, round: round.round)
            if let previous = rounds[key] { apply(previous, sign: -1) }
            let answered = round.answeredAt != nil
            let contribution = Contribution(
                agent: round.agent, store: round.store, met: answered && round.breachedAt == nil,
                breached: round.breachedAt != nil,
                firstResponse: answered && round.round == 1 ? (round.businessWaited ?? round.waited)?.value : nil)
            rounds[key] = contribution
            apply(contribution, sign: 1)
            if let first = contribution.firstResponse { firstResponses[round.conversation] = first }
        case .rating(let survey):
            guard calendar.localDay(of: survey.requestedAt) == day else { return }
            if let previous = surveys[survey.conversation], let stars = previous.rating {
                rate(stars, agent: previous.agent, store: previous.store, sign: -1)
            }
            surveys[survey.conversation] = (survey.agent, survey.store, survey.rating)
            if let stars = survey.rating { rate(stars, agent: survey.agent, store: survey.store, sign: 1) }
        case .message(let message) where message.seq == 1 && message.sender == .customer:
            addArrival(at: message.at)
        default:
            break
        }
    }

    /// Today's records from the store, read when the owner started: a round or survey counted since (a later
    /// version, from a live step) is not replaced by its stored one.
    public mutating func seed(rounds: [RoundRecord], surveys: [RatingRecord], openings: [Instant]) {
        for round in rounds where self.rounds[RoundKey(conversation: round.conversation, round: round.round)] == nil {
            add(.round(round))
        }
        for survey in surveys where self.surveys[survey.conversation] == nil { add(.rating(survey)) }
        for opening in openings { addArrival(at: opening) }
    }

    /// A conversation opened (its first message), counted in its local hour.
    public mutating func addArrival(at instant: Instant) {
        guard calendar.localDay(of: instant) == day else { return }
        let local = instant.unixMilliseconds + calendar.offset(at: instant)
        arrivals[Int(((local % 86_400_000) + 86_400_000) % 86_400_000 / 3_600_000)] += 1
    }

    private mutating func apply(_ round: Contribution, sign: Int) {
        func change(_ score: inout Score) {
            score.rounds += sign
            if round.met { score.met += sign }
            if round.breached { score.breached += sign }
        }
        change(&shop)
        if let agent = round.agent { change(&agents[agent, default: Score()]) }
        change(&stores[round.store ?? "(none)", default: Score()])
    }

    private mutating func rate(_ stars: Int, agent: AgentID?, store: String?, sign: Int) {
        guard (1...5).contains(stars) else { return }
        shop.stars[stars - 1] += sign
        if let agent { agents[agent, default: Score()].stars[stars - 1] += sign }
        stores[store ?? "(none)", default: Score()].stars[stars - 1] += sign
    }
}

/// Everything a shop's routing state is rebuilt from when its owner starts (a daemon start, a restart, a cluster node
/// taking the shop over): the rules and what the store held. The daemon starts the core from one, and writes it into
/// the input journal as the first entry of the run, so that a replay starts exactly where the daemon started.
public struct RestorePoint: Sendable, Equatable, Codable {
    /// A buyer who may return to their former agent (the sticky window).
    public struct ReturningBuyer: Sendable, Equatable, Codable {
        public var agent: AgentID
        public var closedAt: Instant

        public init(agent: AgentID, closedAt: Instant) {
            self.agent = agent
            self.closedAt = closedAt
        }
    }

    public var policy: RoutingPolicy
    public var at: Instant
    public var nextConversationID: ConversationID
    public var openConversations: [ConversationRecord]
    public var lastAssignedAt: [AgentID: Instant]
    public var notes: [ConversationID: [NoteRecord]]
    public var returningBuyers: [CustomerID: ReturningBuyer]
    public var sentRefs: [ConversationID: [RoutingCore.SentRef: Int]]
    /// Satisfaction surveys still open for an answer.
    public var surveys: [RatingRecord]

    public init(
        policy: RoutingPolicy, at: Instant, nextConversationID: ConversationID,
        openConversations: [ConversationRecord] = [], lastAssignedAt: [AgentID: Instant] = [:],
        notes: [ConversationID: [NoteRecord]] = [:], returningBuyers: [CustomerID: ReturningBuyer] = [:],
        sentRefs: [ConversationID: [RoutingCore.SentRef: Int]] = [:], surveys: [RatingRecord] = []
    ) {
        self.policy = policy
        self.at = at
        self.nextConversationID = nextConversationID
        self.openConversations = openConversations
        self.lastAssignedAt = lastAssignedAt
        self.notes = notes
        self.returningBuyers = returningBuyers
        self.sentRefs = sentRefs
        self.surveys = surveys
    }
}

extension RoutingCore {
    /// The core as a start rebuilds it from `point`, and the step of the repairs the rebuild made (records to commit).
    public static func restored(from point: RestorePoint) -> (core: RoutingCore, repair: Step) {
        var core = RoutingCore(policy: point.policy, nextConversationID: point.nextConversationID)
        let repair = core.restore(
            point.openConversations, lastAssignedAt: point.lastAssignedAt, notes: point.notes,
            returningBuyers: point.returningBuyers.mapValues { (agent: $0.agent, closedAt: $0.closedAt) },
            sentRefs: point.sentRefs, at: point.at)
        core.restoreSurveys(point.surveys, at: point.at)
        return (core, repair)
    }
}

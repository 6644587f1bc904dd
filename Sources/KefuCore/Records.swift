/// What the core asks the store to persist. Each record is a whole row (an upsert), so applying the same
/// record twice is harmless and recovery needs no replay logic.
public enum Record: Sendable, Equatable {
    /// The full current state of one conversation.
    case conversation(ConversationRecord)
    /// One message appended to a conversation's history.
    case message(MessageRecord)
    /// A conversation was given to an agent (or taken back: `agent == nil`), and why.
    case assignment(AssignmentRecord)
    /// An internal note (备注) was added to a conversation.
    case note(NoteRecord)
    /// A response round started, was answered, breached or ended with the conversation (one row per round).
    case round(RoundRecord)
    /// A satisfaction survey (满意度) sent at a close, and its rating once the buyer gives one (one row per
    /// conversation).
    case rating(RatingRecord)
    /// An agent's working state changed: online or away while connected, offline otherwise (appended, in order).
    case presence(PresenceRecord)
    /// The inputs the core took since the last chunk (``InputJournal``), committed with the records they caused.
    case journal(InputJournal.Chunk)
}

/// When an agent's working state changed (reports: first login, last logout, seconds online and away).
public struct PresenceRecord: Sendable, Equatable {
    public var agent: AgentID
    public var at: Instant
    /// online or away while connected; offline when not logged in, offline, or dropped.
    public var presence: Presence

    public init(agent: AgentID, at: Instant, presence: Presence) {
        self.agent = agent
        self.at = at
        self.presence = presence
    }
}

/// A conversation's satisfaction survey: sent to the buyer when it closed after a human answered, rated 1–5 at most
/// once before it expires, credited to the agent who held the chat when it was sent.
public struct RatingRecord: Sendable, Equatable, Codable {
    public var conversation: ConversationID
    public var customer: CustomerID
    /// The agent credited: the holder (or last holder) when the survey was sent.
    public var agent: AgentID?
    public var skill: Skill
    public var store: String?
    public var requestedAt: Instant
    public var expiresAt: Instant
    /// 1 (非常不满意) … 5 (非常满意); nil until rated.
    public var rating: Int?
    public var comment: String?
    public var ratedAt: Instant?

    public init(
        conversation: ConversationID, customer: CustomerID, agent: AgentID?, skill: Skill, store: String?,
        requestedAt: Instant, expiresAt: Instant, rating: Int? = nil, comment: String? = nil, ratedAt: Instant? = nil
    ) {
        self.conversation = conversation
        self.customer = customer
        self.agent = agent
        self.skill = skill
        self.store = store
        self.requestedAt = requestedAt
        self.expiresAt = expiresAt
        self.rating = rating
        self.comment = comment
        self.ratedAt = ratedAt
    }
}

extension ConversationRecord {
    /// The stored row brought up to date with the conversation's messages. The core writes a conversation's row only
    /// when more changed than its messages tell anyway: the message count (`lastSeq`), and, while the buyer stays
    /// silent after an answer, the time of the agent's latest human message (`lastAgentAnswerAt`), which moves
    /// `buyerIdleSince` on. Recovery (the store, and any replay of stored records) applies this to every open
    /// conversation.
    public mutating func catchUp(lastSeq: Int, lastAgentAnswerAt: Instant?) {
        if lastSeq > messageCount { messageCount = lastSeq }
        if let idle = buyerIdleSince, let answer = lastAgentAnswerAt, answer > idle { buyerIdleSince = answer }
    }
}

/// An internal note on a conversation (备注): never shown to the customer. Notes are only appended; an edit is a
/// new note, so the original stays with who wrote it and when.
public struct NoteRecord: Sendable, Equatable, Codable {
    public var conversation: ConversationID
    /// 1-based position among the conversation's notes.
    public var seq: Int
    /// Id of the agent or supervisor who wrote it.
    public var author: String
    public var at: Instant
    public var text: String

    public init(conversation: ConversationID, seq: Int, author: String, at: Instant, text: String) {
        self.conversation = conversation
        self.seq = seq
        self.author = author
        self.at = at
        self.text = text
    }
}

/// Where a conversation stands.
public enum ConversationState: String, Sendable, Codable {
    /// Waiting in the queue for an agent.
    case queued
    /// Held by an agent.
    case assigned
    /// Finished; kept only in the store.
    case closed
}

/// The persisted state of one conversation: everything needed to rebuild it after a restart.
public struct ConversationRecord: Sendable, Equatable, Codable {
    /// The fields live in one shared box, copied only when a shared record is changed: a record travels in every
    /// step that changes a conversation (persisted, delivered, kept in the core), and passing a box costs a
    /// reference count where copying ~380 bytes with a dozen strings cost a memmove and a retain per string.
    final class Storage: @unchecked Sendable {
        // Unchecked: changed only through `change(_:)`, which copies a box that is not uniquely referenced.
        var fields: Fields
        init(_ fields: Fields) { self.fields = fields }
    }

    struct Fields: Equatable, Codable {
        var id: ConversationID
        var customer: CustomerID
        var skill: Skill
        var priority: Priority
        var store: String? = nil
        var language: String? = nil
        var gateway: String? = nil
        var state: ConversationState
        var agent: AgentID? = nil
        var openedAt: Instant
        var firstResponseDueAt: Instant
        var firstRespondedAt: Instant? = nil
        var breachedAt: Instant? = nil
        var closedAt: Instant? = nil
        var round: Int = 1
        var roundStartedAt: Instant? = nil
        var roundDueAt: Instant? = nil
        var roundBreachedAt: Instant? = nil
        var roundWarnedAt: Instant? = nil
        var roundEscalationLevel: Int = 0
        var roundReassigns: Int = 0
        var buyerIdleSince: Instant? = nil
        var heldSince: Instant? = nil
        var holdRemaining: Milliseconds? = nil
        var resolutionDueAt: Instant? = nil
        var resolutionBreachedAt: Instant? = nil
        var closedBy: Closer? = nil
        var messageCount: Int
        var firstMessage: String
    }

    private var storage: Storage

    // Coded as its fields (a restore point in the input journal carries the open conversations).
    public init(from decoder: any Decoder) throws {
        storage = Storage(try Fields(from: decoder))
    }

    public func encode(to encoder: any Encoder) throws {
        try storage.fields.encode(to: encoder)
    }

    /// Changes the fields in place when this record is the box's only owner, else in a copy of its own.
    @inline(__always)
    private mutating func change(_ body: (inout Fields) -> Void) {
        if !isKnownUniquelyReferenced(&storage) { storage = Storage(storage.fields) }
        body(&storage.fields)
    }

    public var id: ConversationID {
        get { storage.fields.id }
        set { change { $0.id = newValue } }
    }
    public var customer: CustomerID {
        get { storage.fields.customer }
        set { change { $0.customer = newValue } }
    }
    public var skill: Skill {
        get { storage.fields.skill }
        set { change { $0.skill = newValue } }
    }
    public var priority: Priority {
        get { storage.fields.priority }
        set { change { $0.priority = newValue } }
    }
    /// The storefront it came from (`store=` on OPEN), if named.
    public var store: String? {
        get { storage.fields.store }
        set { change { $0.store = newValue } }
    }
    /// The language asked for (`lang=` on OPEN), if named.
    public var language: String? {
        get { storage.fields.language }
        set { change { $0.language = newValue } }
    }
    /// The gateway that brought the buyer in, if any: its reconnect gets the conversation back.
    public var gateway: String? {
        get { storage.fields.gateway }
        set { change { $0.gateway = newValue } }
    }
    public var state: ConversationState {
        get { storage.fields.state }
        set { change { $0.state = newValue } }
    }
    /// The agent holding it, when `state == .assigned`.
    public var agent: AgentID? {
        get { storage.fields.agent }
        set { change { $0.agent = newValue } }
    }
    /// When the customer opened it; the first-response clock starts here.
    public var openedAt: Instant {
        get { storage.fields.openedAt }
        set { change { $0.openedAt = newValue } }
    }
    /// Absolute first-response deadline (opening time plus the threshold in force when it opened).
    public var firstResponseDueAt: Instant {
        get { storage.fields.firstResponseDueAt }
        set { change { $0.firstResponseDueAt = newValue } }
    }
    /// When the first human answer was sent, if any.
    public var firstRespondedAt: Instant? {
        get { storage.fields.firstRespondedAt }
        set { change { $0.firstRespondedAt = newValue } }
    }
    /// When the first-response breach was recorded, if it was. Set once, so a breach is logged once.
    public var breachedAt: Instant? {
        get { storage.fields.breachedAt }
        set { change { $0.breachedAt = newValue } }
    }
    /// When it was closed.
    public var closedAt: Instant? {
        get { storage.fields.closedAt }
        set { change { $0.closedAt = newValue } }
    }
    /// The current (or last) response round: 1 from the opening message; each buyer message after a human
    /// answer starts the next.
    public var round: Int {
        get { storage.fields.round }
        set { change { $0.round = newValue } }
    }
    /// When the round waiting for a human answer started (the buyer's first unanswered message); nil when the
    /// last buyer message has been answered.
    public var roundStartedAt: Instant? {
        get { storage.fields.roundStartedAt }
        set { change { $0.roundStartedAt = newValue } }
    }
    /// Absolute deadline of that round (for round 1, `firstResponseDueAt`).
    public var roundDueAt: Instant? {
        get { storage.fields.roundDueAt }
        set { change { $0.roundDueAt = newValue } }
    }
    /// When that round breached, if it did. Set once, so a round's breach is logged once.
    public var roundBreachedAt: Instant? {
        get { storage.fields.roundBreachedAt }
        set { change { $0.roundBreachedAt = newValue } }
    }
    /// When that round's holder was warned (`SLA-WARN`), if it was: once per round, also across restarts.
    public var roundWarnedAt: Instant? {
        get { storage.fields.roundWarnedAt }
        set { change { $0.roundWarnedAt = newValue } }
    }
    /// The highest escalation level that round reached (0: none), and how often the ladder moved it.
    public var roundEscalationLevel: Int {
        get { storage.fields.roundEscalationLevel }
        set { change { $0.roundEscalationLevel = newValue } }
    }
    public var roundReassigns: Int {
        get { storage.fields.roundReassigns }
        set { change { $0.roundReassigns = newValue } }
    }
    /// The agent's last human message when no buyer message has followed it: the buyer is silent since then, and
    /// after `customer_idle_close_s` the daemon closes the conversation.
    public var buyerIdleSince: Instant? {
        get { storage.fields.buyerIdleSince }
        set { change { $0.buyerIdleSince = newValue } }
    }
    /// On hold (`HOLD`) since then: the waiting round's clock is paused with `holdRemaining` left on it, and a
    /// silent buyer is not closed. The buyer's next message ends the hold.
    public var heldSince: Instant? {
        get { storage.fields.heldSince }
        set { change { $0.heldSince = newValue } }
    }
    public var holdRemaining: Milliseconds? {
        get { storage.fields.holdRemaining }
        set { change { $0.holdRemaining = newValue } }
    }
    /// Open-to-close deadline under the conversation's SLA policy (nil: none), and when it breached.
    public var resolutionDueAt: Instant? {
        get { storage.fields.resolutionDueAt }
        set { change { $0.resolutionDueAt = newValue } }
    }
    public var resolutionBreachedAt: Instant? {
        get { storage.fields.resolutionBreachedAt }
        set { change { $0.resolutionBreachedAt = newValue } }
    }
    /// Who closed it, once closed (rows written before kefud kept it: nil).
    public var closedBy: Closer? {
        get { storage.fields.closedBy }
        set { change { $0.closedBy = newValue } }
    }
    /// Number of messages in its history (the last message's `seq`).
    public var messageCount: Int {
        get { storage.fields.messageCount }
        set { change { $0.messageCount = newValue } }
    }
    /// The customer's opening message, repeated to each agent it is assigned to.
    public var firstMessage: String {
        get { storage.fields.firstMessage }
        set { change { $0.firstMessage = newValue } }
    }

    public init(
        id: ConversationID,
        customer: CustomerID,
        skill: Skill,
        priority: Priority,
        store: String? = nil,
        language: String? = nil,
        gateway: String? = nil,
        state: ConversationState,
        agent: AgentID?,
        openedAt: Instant,
        firstResponseDueAt: Instant,
        firstRespondedAt: Instant?,
        breachedAt: Instant?,
        closedAt: Instant?,
        messageCount: Int,
        firstMessage: String
    ) {
        var fields = Fields(
            id: id, customer: customer, skill: skill, priority: priority, store: store, language: language,
            gateway: gateway, state: state, agent: agent, openedAt: openedAt, firstResponseDueAt: firstResponseDueAt,
            firstRespondedAt: firstRespondedAt, breachedAt: breachedAt, closedAt: closedAt,
            messageCount: messageCount, firstMessage: firstMessage
        )
        // Round 1 runs from the opening until the first human answer.
        if firstRespondedAt == nil {
            fields.roundStartedAt = openedAt
            fields.roundDueAt = firstResponseDueAt
            fields.roundBreachedAt = breachedAt
        }
        storage = Storage(fields)
    }

    public static func == (a: ConversationRecord, b: ConversationRecord) -> Bool {
        a.storage === b.storage || a.storage.fields == b.storage.fields
    }
}

extension ConversationRecord: CustomStringConvertible {
    /// The fields, as a plain struct would print them (test failures show records).
    public var description: String {
        "ConversationRecord" + String(describing: storage.fields).drop { $0 != "(" }
    }
}

/// One response round, as the platforms score it: from the buyer's first unanswered message to the first human
/// reply (more buyer messages in between do not restart it). Written when it starts and whenever it changes, so the
/// store has one row per round for reports (the share of rounds answered within the limit, per agent, skill,
/// store and day).
public struct RoundRecord: Sendable, Equatable {
    public var conversation: ConversationID
    public var round: Int
    public var startedAt: Instant
    public var dueAt: Instant
    /// The first human answer, if it came.
    public var answeredAt: Instant?
    public var breachedAt: Instant?
    /// The conversation closed with the round unanswered.
    public var closedAt: Instant?
    /// Who answered it, or held it when it breached or closed.
    public var agent: AgentID?
    /// The highest escalation level it reached (0: none).
    public var escalationLevel = 0
    /// When its holder was warned (`SLA-WARN`), if it was.
    public var warnedAt: Instant?
    /// How long the buyer waited inside business hours (until the answer or the close): what reports count.
    public var businessWaited: Milliseconds?
    public var skill: Skill
    public var store: String?

    public init(
        conversation: ConversationID, round: Int, startedAt: Instant, dueAt: Instant, answeredAt: Instant? = nil,
        breachedAt: Instant? = nil, closedAt: Instant? = nil, agent: AgentID?, skill: Skill, store: String?
    ) {
        self.conversation = conversation
        self.round = round
        self.startedAt = startedAt
        self.dueAt = dueAt
        self.answeredAt = answeredAt
        self.breachedAt = breachedAt
        self.closedAt = closedAt
        self.agent = agent
        self.skill = skill
        self.store = store
    }

    /// How long the buyer waited in this round (until the answer or the close; nil while it runs).
    public var waited: Milliseconds? { (answeredAt ?? closedAt).map { $0 - startedAt } }
}

/// One message of a conversation's history.
public struct MessageRecord: Sendable, Equatable {
    public var conversation: ConversationID
    /// 1-based position in the conversation.
    public var seq: Int
    public var sender: MessageSender
    /// Id of the customer, agent or `system` that wrote it.
    public var author: String
    public var at: Instant
    public var text: String
    /// An automatic message (greeting, queue message, canned reply): shown to the buyer, no human answer.
    public var automatic: Bool
    /// The sender's own id for the message (`SEND ref=`): a resend with the same ref changes nothing.
    public var ref: String?

    public init(
        conversation: ConversationID, seq: Int, sender: MessageSender, author: String, at: Instant, text: String,
        automatic: Bool = false, ref: String? = nil
    ) {
        self.ref = ref
        self.conversation = conversation
        self.seq = seq
        self.sender = sender
        self.author = author
        self.at = at
        self.text = text
        self.automatic = automatic
    }
}

/// One change of hands of a conversation, kept so that "who held this chat, and why" can be answered later.
public struct AssignmentRecord: Sendable, Equatable {
    public var conversation: ConversationID
    /// The new holder; nil when the conversation went back to the queue.
    public var agent: AgentID?
    public var at: Instant
    /// Why it changed hands.
    public var reason: AssignmentReason
    /// The routing decision in force (`EXPLAIN`); nil when none was kept (a chat restored after a restart and moved
    /// before a new decision). The store encodes it on its own thread, so the routing owner never formats one.
    public var decision: Decision?

    public init(
        conversation: ConversationID, agent: AgentID?, at: Instant, reason: AssignmentReason, decision: Decision? = nil
    ) {
        self.conversation = conversation
        self.agent = agent
        self.at = at
        self.reason = reason
        self.decision = decision
    }
}

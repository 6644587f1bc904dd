import KefuCore

/// Read access to the SQLite store, handed to the body of `ConversationStore.enqueueRead(_:completion:)` and
/// `read(_:)`.
///
/// A reader is valid only while that body runs, on the store's writer thread; it sees every write enqueued before
/// the read. It is not `Sendable`, and a reader kept past its body throws instead of touching the database.
public final class StoreReader: RecordReader {
    private var connection: SQLiteConnection?
    private let path: String

    init(connection: SQLiteConnection) {
        self.connection = connection
        self.path = connection.path
    }

    /// Ends the reader's validity once its body has returned.
    func invalidate() {
        connection = nil
    }

    /// A page of a conversation's messages: those with `after < seq <= upTo`, at most `limit`, in order. Without
    /// `includeInternal`, the daemon's internal lines (`from=system` that are not automatic: transfer reasons) are
    /// left out, as a buyer sees the conversation.
    public func history(
        of conversation: ConversationID, after: Int, upTo: Int, limit: Int, includeInternal: Bool
    ) throws -> [MessageRecord] {
        let statement = try prepare(
            includeInternal
                ? """
                SELECT seq, sender, author, at, text, automatic, ref FROM messages
                WHERE conversation = ?1 AND seq > ?2 AND seq <= ?3 ORDER BY seq LIMIT ?4
                """
                : """
                SELECT seq, sender, author, at, text, automatic, ref FROM messages
                WHERE conversation = ?1 AND seq > ?2 AND seq <= ?3 AND NOT (sender = 'system' AND automatic = 0)
                ORDER BY seq LIMIT ?4
                """
        )
        defer { statement.reset() }
        statement.bind(1, conversation.rawValue)
        statement.bind(2, Int64(after))
        statement.bind(3, Int64(clamping: upTo))
        statement.bind(4, Int64(clamping: limit))
        var messages: [MessageRecord] = []
        while try statement.step(.read) {
            let senderText = statement.string(1)
            guard let sender = MessageSender(rawValue: senderText) else {
                let message = "message of conversation \(conversation): unknown sender '\(senderText)'"
                throw StoreError(.read, path: path, message: message)
            }
            messages.append(
                MessageRecord(
                    conversation: conversation,
                    seq: Int(statement.int64(0)),
                    sender: sender,
                    author: statement.string(2),
                    at: Instant(unixMilliseconds: statement.int64(3)),
                    text: statement.string(4),
                    automatic: statement.int64(5) != 0,
                    ref: statement.optionalString(6)
                )
            )
        }
        return messages
    }

    /// The seq of the message `author` sent under `ref` in the conversation (`SEND ref=`), if there is one.
    public func sentMessage(_ conversation: ConversationID, author: String, ref: String) throws -> Int? {
        let statement = try prepare(
            "SELECT seq FROM messages WHERE conversation = ?1 AND author = ?2 AND ref = ?3")
        defer { statement.reset() }
        statement.bind(1, conversation.rawValue)
        statement.bind(2, author)
        statement.bind(3, ref)
        return try statement.step(.read) ? Int(statement.int64(0)) : nil
    }

    /// The seq of a conversation's last message (0 when it has none).
    public func lastSeq(of conversation: ConversationID) throws -> Int {
        let statement = try prepare("SELECT COALESCE(MAX(seq), 0) FROM messages WHERE conversation = ?1")
        defer { statement.reset() }
        statement.bind(1, conversation.rawValue)
        guard try statement.step(.read) else { return 0 }
        return Int(statement.int64(0))
    }

    /// The stored state of a conversation, or nil if it was never written.
    public func conversation(_ id: ConversationID) throws -> ConversationRecord? {
        let statement = try prepare("SELECT \(RecordSQL.conversationColumns) FROM conversations WHERE id = ?1")
        defer { statement.reset() }
        statement.bind(1, id.rawValue)
        guard try statement.step(.read) else { return nil }
        return try RecordSQL.conversation(from: statement, path: path)
    }

    /// When the conversation's texts began to be deleted by retention, or nil.
    public func purgedAt(_ conversation: ConversationID) throws -> Instant? {
        let statement = try prepare("SELECT purged_at FROM conversations WHERE id = ?1")
        defer { statement.reset() }
        statement.bind(1, conversation.rawValue)
        guard try statement.step(.read) else { return nil }
        return statement.optionalInt64(0).map(Instant.init(unixMilliseconds:))
    }

    /// Every agent that has held the conversation, each once, in order of their first assignment.
    public func agentsWhoHeld(_ conversation: ConversationID) throws -> [AgentID] {
        let statement = try prepare(
            """
            SELECT agent FROM assignments WHERE conversation = ?1 AND agent IS NOT NULL
            GROUP BY agent ORDER BY MIN(id)
            """
        )
        defer { statement.reset() }
        statement.bind(1, conversation.rawValue)
        var agents: [AgentID] = []
        while try statement.step(.read) {
            agents.append(AgentID(statement.string(0)))
        }
        return agents
    }

    /// The conversation's changes of hands, in the order they were written.
    public func assignments(of conversation: ConversationID) throws -> [AssignmentRecord] {
        let statement = try prepare(
            "SELECT \(RecordSQL.assignmentColumns) FROM assignments WHERE conversation = ?1 ORDER BY id"
        )
        defer { statement.reset() }
        statement.bind(1, conversation.rawValue)
        var rows: [AssignmentRecord] = []
        while try statement.step(.read) {
            rows.append(try RecordSQL.assignment(from: statement, of: conversation, path: path))
        }
        return rows
    }

    /// The conversation's last change of hands (the last one written), or nil if it never had one. Answers
    /// `EXPLAIN` for a conversation the core no longer holds, such as a closed one.
    public func latestAssignment(of conversation: ConversationID) throws -> AssignmentRecord? {
        let statement = try prepare(
            """
            SELECT \(RecordSQL.assignmentColumns) FROM assignments WHERE conversation = ?1
            ORDER BY id DESC LIMIT 1
            """
        )
        defer { statement.reset() }
        statement.bind(1, conversation.rawValue)
        guard try statement.step(.read) else { return nil }
        return try RecordSQL.assignment(from: statement, of: conversation, path: path)
    }

    /// The conversation's internal notes, ordered by `seq`; empty when there are none.
    public func notes(of conversation: ConversationID) throws -> [NoteRecord] {
        let statement = try prepare(
            "SELECT \(RecordSQL.noteColumns) FROM notes WHERE conversation = ?1 ORDER BY seq"
        )
        defer { statement.reset() }
        statement.bind(1, conversation.rawValue)
        var notes: [NoteRecord] = []
        while try statement.step(.read) {
            notes.append(RecordSQL.note(from: statement, of: conversation))
        }
        return notes
    }

    /// A conversation's response rounds, in order: when each started, was answered or breached.
    public func rounds(of conversation: ConversationID) throws -> [RoundRecord] {
        let statement = try prepare(
            "SELECT \(RecordSQL.roundColumns) FROM rounds WHERE conversation = ?1 ORDER BY round"
        )
        defer { statement.reset() }
        statement.bind(1, conversation.rawValue)
        var rounds: [RoundRecord] = []
        while try statement.step(.read) {
            rounds.append(RecordSQL.round(from: statement, of: conversation))
        }
        return rounds
    }

    public func openSurveys(at now: Instant) throws -> [RatingRecord] {
        let statement = try prepare(
            "SELECT \(RecordSQL.ratingColumns) FROM ratings WHERE expires_at > ?1 ORDER BY conversation")
        defer { statement.reset() }
        statement.bind(1, now.unixMilliseconds)
        var surveys: [RatingRecord] = []
        while try statement.step(.read) { surveys.append(RecordSQL.rating(from: statement)) }
        return surveys
    }

    public func survey(of conversation: ConversationID) throws -> RatingRecord? {
        let statement = try prepare("SELECT \(RecordSQL.ratingColumns) FROM ratings WHERE conversation = ?1")
        defer { statement.reset() }
        statement.bind(1, conversation.rawValue)
        return try statement.step(.read) ? RecordSQL.rating(from: statement) : nil
    }

    public func dayRecords(since: Instant) throws -> DayRecords {
        var day = DayRecords(rounds: [], surveys: [], openings: [])
        let rounds = try prepare(
            "SELECT \(RecordSQL.roundColumns), conversation FROM rounds WHERE started_at >= ?1 ORDER BY started_at")
        defer { rounds.reset() }
        rounds.bind(1, since.unixMilliseconds)
        while try rounds.step(.read) {
            day.rounds.append(RecordSQL.round(from: rounds, of: ConversationID(rounds.int64(12))))
        }
        let surveys = try prepare("SELECT \(RecordSQL.ratingColumns) FROM ratings WHERE requested_at >= ?1")
        defer { surveys.reset() }
        surveys.bind(1, since.unixMilliseconds)
        while try surveys.step(.read) { day.surveys.append(RecordSQL.rating(from: surveys)) }
        let openings = try prepare("SELECT opened_at FROM conversations WHERE opened_at >= ?1")
        defer { openings.reset() }
        openings.bind(1, since.unixMilliseconds)
        while try openings.step(.read) { day.openings.append(Instant(unixMilliseconds: openings.int64(0))) }
        return day
    }

    /// For each customer, the agent who held their most recently closed conversation among those closed at or
    /// after `since`, and when it closed: routes a returning buyer (老客户) back to the same agent after a restart.
    ///
    /// The holder is the conversation's `agent` as written at close (the core keeps the last holder there), or,
    /// when that is empty (closed while back in the queue), the agent of its latest assignment that had one.
    /// Conversations no agent ever held are skipped, so such a customer maps to the agent of their latest closed
    /// conversation that did have one, if it is in the window. Ties on the closing instant go to the larger id.
    public func lastAgents(closedSince since: Instant) throws -> [CustomerID: ReturningBuyer] {
        let statement = try prepare(Self.lastAgentsSQL)
        defer { statement.reset() }
        statement.bind(1, since.unixMilliseconds)
        var buyers: [CustomerID: ReturningBuyer] = [:]
        while try statement.step(.read) {
            buyers[CustomerID(statement.string(0))] = ReturningBuyer(
                agent: AgentID(statement.string(1)),
                closedAt: Instant(unixMilliseconds: statement.int64(2))
            )
        }
        return buyers
    }

    // `closed_at >= ?1` is answered by the `conversations_closed_at` index. The unary `+` keeps the planner
    // from choosing `conversations_state` for the state test instead, which would scan every closed row ever.
    // The assignment fallback runs only for the window's rows whose `agent` is NULL, via
    // `assignments_conversation` (whose entries are ordered by id within a conversation).
    static let lastAgentsSQL = """
        WITH closed AS (
            SELECT c.id, c.customer, c.closed_at,
                COALESCE(c.agent, (
                    SELECT a.agent FROM assignments AS a
                    WHERE a.conversation = c.id AND a.agent IS NOT NULL
                    ORDER BY a.id DESC LIMIT 1
                )) AS holder
            FROM conversations AS c
            WHERE c.closed_at >= ?1 AND +c.state = 'closed'
        ),
        ranked AS (
            SELECT customer, holder, closed_at,
                ROW_NUMBER() OVER (PARTITION BY customer ORDER BY closed_at DESC, id DESC) AS position
            FROM closed
            WHERE holder IS NOT NULL
        )
        SELECT customer, holder, closed_at FROM ranked WHERE position = 1
        """

    /// `recoveredState()`, plus `lastAgents(closedSince:)` as `returningBuyers` when `since` is not nil.
    public func recoveredState(returningBuyersSince since: Instant?) throws -> RecoveredState {
        var open: [ConversationRecord] = []
        do {
            let statement = try prepare(
                "SELECT \(RecordSQL.conversationColumns) FROM conversations WHERE state != 'closed' ORDER BY id"
            )
            defer { statement.reset() }
            while try statement.step(.read) {
                open.append(try RecordSQL.conversation(from: statement, path: path))
            }
        }
        do {
            // A conversation's row is written only when more changed than its messages tell: catch it up with them.
            let statement = try prepare(
                "SELECT seq, sender, automatic, at FROM messages WHERE conversation = ?1 ORDER BY seq DESC"
            )
            for index in open.indices {
                defer { statement.reset() }
                statement.bind(1, open[index].id.rawValue)
                var lastSeq = 0
                var answeredAt: Instant?
                while try statement.step(.read) {
                    if lastSeq == 0 { lastSeq = Int(statement.int64(0)) }
                    let sender = statement.string(1)
                    if sender == MessageSender.customer.rawValue { break }
                    if sender == MessageSender.agent.rawValue && statement.int64(2) == 0 {
                        answeredAt = Instant(unixMilliseconds: statement.int64(3))
                        break
                    }
                }
                open[index].catchUp(lastSeq: lastSeq, lastAgentAnswerAt: answeredAt)
            }
        }
        do {
            // The rung of the escalation ladder the current round reached lives in its round row: without it every
            // restart would climb the ladder again from the first rung (a record, a reassignment, each time).
            let statement = try prepare(
                """
                SELECT c.id, r.escalation_level
                FROM conversations AS c CROSS JOIN rounds AS r ON r.conversation = c.id AND r.round = c.round
                WHERE c.state != 'closed' AND r.escalation_level > 0
                """
            )
            defer { statement.reset() }
            var levels: [ConversationID: Int] = [:]
            while try statement.step(.read) {
                levels[ConversationID(statement.int64(0))] = Int(statement.int64(1))
            }
            for index in open.indices {
                open[index].roundEscalationLevel = levels[open[index].id] ?? 0
            }
        }
        var nextID: Int64 = 1
        do {
            let statement = try prepare("SELECT COALESCE(MAX(id), 0) + 1 FROM conversations")
            defer { statement.reset() }
            if try statement.step(.read) {
                nextID = statement.int64(0)
            }
        }
        var lastAssignedAt: [AgentID: Instant] = [:]
        do {
            let statement = try prepare(
                "SELECT agent, MAX(at) FROM assignments WHERE agent IS NOT NULL GROUP BY agent"
            )
            defer { statement.reset() }
            while try statement.step(.read) {
                lastAssignedAt[AgentID(statement.string(0))] = Instant(unixMilliseconds: statement.int64(1))
            }
        }
        var notes: [ConversationID: [NoteRecord]] = [:]
        do {
            // CROSS JOIN fixes the loop order: walk the conversations (as the query above does) and seek the notes
            // of the open ones by primary key, instead of reading every note ever written. The note's own columns
            // come first so `RecordSQL.note(from:of:)` decodes them at their usual indices.
            let statement = try prepare(
                """
                SELECT n.seq, n.author, n.at, n.text, n.conversation
                FROM conversations AS c CROSS JOIN notes AS n ON n.conversation = c.id
                WHERE c.state != 'closed'
                ORDER BY c.id, n.seq
                """
            )
            defer { statement.reset() }
            while try statement.step(.read) {
                let conversation = ConversationID(statement.int64(4))
                notes[conversation, default: []].append(RecordSQL.note(from: statement, of: conversation))
            }
        }
        var sentRefs: [ConversationID: [RoutingCore.SentRef: Int]] = [:]
        do {
            // Walks the open conversations and seeks each one's messages with a ref through `messages_ref`.
            let statement = try prepare(
                """
                SELECT m.conversation, m.author, m.ref, m.seq
                FROM conversations AS c CROSS JOIN messages AS m ON m.conversation = c.id AND m.ref IS NOT NULL
                WHERE c.state != 'closed'
                """
            )
            defer { statement.reset() }
            while try statement.step(.read) {
                let key = RoutingCore.SentRef(author: statement.string(1), ref: statement.string(2))
                sentRefs[ConversationID(statement.int64(0)), default: [:]][key] = Int(statement.int64(3))
            }
        }
        return RecoveredState(
            openConversations: open,
            nextConversationID: ConversationID(nextID),
            lastAssignedAt: lastAssignedAt,
            notes: notes,
            returningBuyers: try since.map { try lastAgents(closedSince: $0) } ?? [:],
            sentRefs: sentRefs
        )
    }

    /// The rows of `EXPLAIN QUERY PLAN` for `sql`, joined by newlines. Tests use it to check an index is used.
    func queryPlanForTesting(_ sql: String) throws -> String {
        let statement = try prepare("EXPLAIN QUERY PLAN " + sql)
        defer { statement.reset() }
        var lines: [String] = []
        while try statement.step(.read) {
            lines.append(statement.string(3))
        }
        return lines.joined(separator: "\n")
    }

    /// Runs arbitrary SQL on the store's connection. Tests use it to provoke failures (e.g. a full disk).
    func executeForTesting(_ sql: String) throws {
        guard let connection else { throw invalidError }
        try connection.execute(sql, .read)
    }

    private func prepare(_ sql: String) throws(StoreError) -> Statement {
        guard let connection else { throw invalidError }
        return try connection.statement(sql, .read)
    }

    private var invalidError: StoreError {
        StoreError(.read, path: path, message: "StoreReader used after its read body returned")
    }
}

extension RecordReader {
    /// `StoreReader.queryPlanForTesting` for tests that read the SQLite store.
    func queryPlanForTesting(_ sql: String) throws -> String {
        try (self as! StoreReader).queryPlanForTesting(sql)
    }

    /// `StoreReader.executeForTesting` for tests that read the SQLite store.
    func executeForTesting(_ sql: String) throws {
        try (self as! StoreReader).executeForTesting(sql)
    }
}

// A reader is bound to the writer thread's connection; sending it elsewhere would race with the writer.
@available(*, unavailable)
extension StoreReader: Sendable {}

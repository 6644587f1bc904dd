import KefuCore
import KefuStore
import PostgresNIO

/// `RecordReader` over a shop's rows in PostgreSQL: the SQLite reader's questions (`KefuStore/StoreReader.swift`),
/// asked of the `kefu_*` tables with the shop as the first key. Runs on the store's read queue (never an event loop),
/// which blocks on each answer.
struct PostgresRecordReader: RecordReader {
    let shop: String
    let name: String
    let query: (PostgresQuery) throws -> [PostgresRow]

    func history(
        of conversation: ConversationID, after: Int, upTo: Int, limit: Int, includeInternal: Bool
    ) throws -> [MessageRecord] {
        let id = conversation.rawValue
        let after = Int64(after)
        let upTo = Int64(clamping: upTo)
        let limit = Int64(clamping: limit)
        let rows = try query(
            includeInternal
                ? """
                SELECT seq, sender, author, at, text, automatic::int, ref FROM kefu_messages
                WHERE shop = \(shop) AND conversation = \(id) AND seq > \(after) AND seq <= \(upTo) ORDER BY seq
                LIMIT \(limit)
                """
                : """
                SELECT seq, sender, author, at, text, automatic::int, ref FROM kefu_messages
                WHERE shop = \(shop) AND conversation = \(id) AND seq > \(after) AND seq <= \(upTo)
                    AND NOT (sender = 'system' AND NOT automatic)
                ORDER BY seq LIMIT \(limit)
                """)
        return try rows.map { row in
            let row = Cells(row)
            guard let sender = MessageSender(rawValue: row.string(1)) else {
                throw StoreError(
                    .read, path: name,
                    message: "message of conversation \(conversation): unknown sender '\(row.string(1))'")
            }
            return MessageRecord(
                conversation: conversation, seq: Int(row.int64(0)), sender: sender, author: row.string(2),
                at: Instant(unixMilliseconds: row.int64(3)), text: row.string(4), automatic: row.int64(5) != 0,
                ref: row.optionalString(6))
        }
    }

    func sentMessage(_ conversation: ConversationID, author: String, ref: String) throws -> Int? {
        let rows = try query(
            """
            SELECT seq FROM kefu_messages
            WHERE shop = \(shop) AND conversation = \(conversation.rawValue) AND author = \(author) AND ref = \(ref)
            """)
        return rows.first.map { Int(Cells($0).int64(0)) }
    }

    func lastSeq(of conversation: ConversationID) throws -> Int {
        let rows = try query(
            """
            SELECT COALESCE(MAX(seq), 0) FROM kefu_messages
            WHERE shop = \(shop) AND conversation = \(conversation.rawValue)
            """)
        return rows.first.map { Int(Cells($0).int64(0)) } ?? 0
    }

    func conversation(_ id: ConversationID) throws -> ConversationRecord? {
        let rows = try query(
            """
            SELECT \(unescaped: RecordSQL.conversationColumns) FROM kefu_conversations
            WHERE shop = \(shop) AND id = \(id.rawValue)
            """)
        guard let row = rows.first else { return nil }
        return try RecordSQL.conversation(from: Cells(row), path: name)
    }

    func purgedAt(_ conversation: ConversationID) throws -> Instant? {
        let rows = try query(
            "SELECT purged_at FROM kefu_conversations WHERE shop = \(shop) AND id = \(conversation.rawValue)")
        return rows.first.flatMap { Cells($0).optionalInt64(0) }.map(Instant.init(unixMilliseconds:))
    }

    func agentsWhoHeld(_ conversation: ConversationID) throws -> [AgentID] {
        try query(
            """
            SELECT agent FROM kefu_assignments
            WHERE shop = \(shop) AND conversation = \(conversation.rawValue) AND agent IS NOT NULL
            GROUP BY agent ORDER BY MIN(id)
            """
        ).map { AgentID(Cells($0).string(0)) }
    }

    func assignments(of conversation: ConversationID) throws -> [AssignmentRecord] {
        try assignments(of: conversation, order: "id", limit: Int64.max)
    }

    func latestAssignment(of conversation: ConversationID) throws -> AssignmentRecord? {
        try assignments(of: conversation, order: "id DESC", limit: 1).first
    }

    private func assignments(of conversation: ConversationID, order: String, limit: Int64) throws -> [AssignmentRecord]
    {
        try query(
            """
            SELECT \(unescaped: RecordSQL.assignmentColumns) FROM kefu_assignments
            WHERE shop = \(shop) AND conversation = \(conversation.rawValue) ORDER BY \(unescaped: order) LIMIT \(limit)
            """
        ).map { try RecordSQL.assignment(from: Cells($0), of: conversation, path: name) }
    }

    func notes(of conversation: ConversationID) throws -> [NoteRecord] {
        try query(
            """
            SELECT \(unescaped: RecordSQL.noteColumns) FROM kefu_notes
            WHERE shop = \(shop) AND conversation = \(conversation.rawValue) ORDER BY seq
            """
        ).map { RecordSQL.note(from: Cells($0), of: conversation) }
    }

    func rounds(of conversation: ConversationID) throws -> [RoundRecord] {
        try query(
            """
            SELECT \(unescaped: RecordSQL.roundColumns) FROM kefu_rounds
            WHERE shop = \(shop) AND conversation = \(conversation.rawValue) ORDER BY round
            """
        ).map { RecordSQL.round(from: Cells($0), of: conversation) }
    }

    func openSurveys(at now: Instant) throws -> [RatingRecord] {
        try query(
            """
            SELECT \(unescaped: RecordSQL.ratingColumns) FROM kefu_ratings
            WHERE shop = \(shop) AND expires_at > \(now.unixMilliseconds) ORDER BY conversation
            """
        ).map { RecordSQL.rating(from: Cells($0)) }
    }

    func survey(of conversation: ConversationID) throws -> RatingRecord? {
        try query(
            """
            SELECT \(unescaped: RecordSQL.ratingColumns) FROM kefu_ratings
            WHERE shop = \(shop) AND conversation = \(conversation.rawValue)
            """
        ).first.map { RecordSQL.rating(from: Cells($0)) }
    }

    func dayRecords(since: Instant) throws -> DayRecords {
        let rounds = try query(
            """
            SELECT \(unescaped: RecordSQL.roundColumns), conversation FROM kefu_rounds
            WHERE shop = \(shop) AND started_at >= \(since.unixMilliseconds) ORDER BY started_at
            """
        ).map { row in
            let cells = Cells(row)
            return RecordSQL.round(from: cells, of: ConversationID(cells.int64(12)))
        }
        let surveys = try query(
            """
            SELECT \(unescaped: RecordSQL.ratingColumns) FROM kefu_ratings
            WHERE shop = \(shop) AND requested_at >= \(since.unixMilliseconds)
            """
        ).map { RecordSQL.rating(from: Cells($0)) }
        let openings = try query(
            """
            SELECT opened_at FROM kefu_conversations WHERE shop = \(shop) AND opened_at >= \(since.unixMilliseconds)
            """
        ).map { Instant(unixMilliseconds: Cells($0).int64(0)) }
        return DayRecords(rounds: rounds, surveys: surveys, openings: openings)
    }

    /// As in SQLite: the holder written at close, or else the agent of the latest assignment that had one.
    func lastAgents(closedSince since: Instant) throws -> [CustomerID: ReturningBuyer] {
        let rows = try query(
            """
            WITH closed AS (
                SELECT c.id, c.customer, c.closed_at,
                    COALESCE(c.agent, (
                        SELECT a.agent FROM kefu_assignments AS a
                        WHERE a.shop = c.shop AND a.conversation = c.id AND a.agent IS NOT NULL
                        ORDER BY a.id DESC LIMIT 1
                    )) AS holder
                FROM kefu_conversations AS c
                WHERE c.shop = \(shop) AND c.closed_at >= \(since.unixMilliseconds) AND c.state = 'closed'
            ),
            ranked AS (
                SELECT customer, holder, closed_at,
                    ROW_NUMBER() OVER (PARTITION BY customer ORDER BY closed_at DESC, id DESC) AS position
                FROM closed WHERE holder IS NOT NULL
            )
            SELECT customer, holder, closed_at FROM ranked WHERE position = 1
            """)
        var buyers: [CustomerID: ReturningBuyer] = [:]
        for row in rows.map(Cells.init) {
            buyers[CustomerID(row.string(0))] = ReturningBuyer(
                agent: AgentID(row.string(1)), closedAt: Instant(unixMilliseconds: row.int64(2)))
        }
        return buyers
    }

    func recoveredState(returningBuyersSince since: Instant?) throws -> RecoveredState {
        var open = try query(
            """
                    SELECT \(unescaped: RecordSQL.conversationColumns) FROM kefu_conversations
                    WHERE shop = \(shop) AND state <> 'closed' ORDER BY id
                    """
        ).map { try RecordSQL.conversation(from: Cells($0), path: name) }
        // A conversation's row is written only when more changed than its messages tell: catch it up with them
        // (the last seq, and the human answer given after the buyer's last message, if any), as SQLite's reader does.
        var caughtUp: [Int64: (lastSeq: Int, answeredAt: Instant?)] = [:]
        for row in try query(
            """
            SELECT c.id,
                (SELECT COALESCE(MAX(m.seq), 0) FROM kefu_messages AS m
                 WHERE m.shop = c.shop AND m.conversation = c.id),
                (SELECT m.at FROM kefu_messages AS m
                 WHERE m.shop = c.shop AND m.conversation = c.id AND m.sender = 'agent' AND NOT m.automatic
                     AND m.seq > COALESCE((SELECT MAX(b.seq) FROM kefu_messages AS b
                         WHERE b.shop = c.shop AND b.conversation = c.id AND b.sender = 'customer'), 0)
                 ORDER BY m.seq DESC LIMIT 1)
            FROM kefu_conversations AS c WHERE c.shop = \(shop) AND c.state <> 'closed'
            """
        ).map(Cells.init) {
            caughtUp[row.int64(0)] = (Int(row.int64(1)), row.optionalInt64(2).map(Instant.init(unixMilliseconds:)))
        }
        var levels: [Int64: Int] = [:]
        for row in try query(
            """
            SELECT c.id, r.escalation_level FROM kefu_conversations AS c
            JOIN kefu_rounds AS r ON r.shop = c.shop AND r.conversation = c.id AND r.round = c.round
            WHERE c.shop = \(shop) AND c.state <> 'closed' AND r.escalation_level > 0
            """
        ).map(Cells.init) {
            levels[row.int64(0)] = Int(row.int64(1))
        }
        for index in open.indices {
            let id = open[index].id.rawValue
            let messages = caughtUp[id] ?? (0, nil)
            open[index].catchUp(lastSeq: messages.lastSeq, lastAgentAnswerAt: messages.answeredAt)
            open[index].roundEscalationLevel = levels[id] ?? 0
        }
        let nextID =
            try query("SELECT COALESCE(MAX(id), 0) + 1 FROM kefu_conversations WHERE shop = \(shop)").first
            .map { Cells($0).int64(0) } ?? 1
        var lastAssignedAt: [AgentID: Instant] = [:]
        for row in try query(
            "SELECT agent, MAX(at) FROM kefu_assignments WHERE shop = \(shop) AND agent IS NOT NULL GROUP BY agent"
        ).map(Cells.init) {
            lastAssignedAt[AgentID(row.string(0))] = Instant(unixMilliseconds: row.int64(1))
        }
        var notes: [ConversationID: [NoteRecord]] = [:]
        for row in try query(
            """
            SELECT n.seq, n.author, n.at, n.text, n.conversation
            FROM kefu_conversations AS c JOIN kefu_notes AS n ON n.shop = c.shop AND n.conversation = c.id
            WHERE c.shop = \(shop) AND c.state <> 'closed' ORDER BY c.id, n.seq
            """
        ).map(Cells.init) {
            let conversation = ConversationID(row.int64(4))
            notes[conversation, default: []].append(RecordSQL.note(from: row, of: conversation))
        }
        var sentRefs: [ConversationID: [RoutingCore.SentRef: Int]] = [:]
        for row in try query(
            """
            SELECT m.conversation, m.author, m.ref, m.seq
            FROM kefu_conversations AS c
            JOIN kefu_messages AS m ON m.shop = c.shop AND m.conversation = c.id AND m.ref IS NOT NULL
            WHERE c.shop = \(shop) AND c.state <> 'closed'
            """
        ).map(Cells.init) {
            let key = RoutingCore.SentRef(author: row.string(1), ref: row.string(2))
            sentRefs[ConversationID(row.int64(0)), default: [:]][key] = Int(row.int64(3))
        }
        return RecoveredState(
            openConversations: open, nextConversationID: ConversationID(nextID), lastAssignedAt: lastAssignedAt,
            notes: notes, returningBuyers: try since.map { try lastAgents(closedSince: $0) } ?? [:],
            sentRefs: sentRefs)
    }
}

/// A PostgreSQL row read by column index like a SQLite one, so `RecordSQL`'s decoders serve both stores. The columns
/// are the store's own, of known types: a cell that does not decode reads as 0 or the empty string (and as nil where
/// NULL is allowed) rather than failing a read.
struct Cells: StoredRow {
    let row: PostgresRandomAccessRow

    init(_ row: PostgresRow) { self.row = row.makeRandomAccess() }

    func int64(_ column: Int32) -> Int64 { optionalInt64(column) ?? 0 }
    func optionalInt64(_ column: Int32) -> Int64? { (try? row[Int(column)].decode(Int64?.self)) ?? nil }
    func string(_ column: Int32) -> String { optionalString(column) ?? "" }
    func optionalString(_ column: Int32) -> String? { (try? row[Int(column)].decode(String?.self)) ?? nil }
}

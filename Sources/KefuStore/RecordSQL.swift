import KefuCore

/// A row as the decoders below read it, by column index: a SQLite statement's current row, or a PostgreSQL row
/// selected with the same columns (`KefuCluster`).
package protocol StoredRow {
    func int64(_ column: Int32) -> Int64
    func optionalInt64(_ column: Int32) -> Int64?
    func string(_ column: Int32) -> String
    func optionalString(_ column: Int32) -> String?
}

extension Statement: StoredRow {}

// SQL for each record type, and the row <-> record mapping. Column lists are spelled out (never `SELECT *`) so
// that a later schema version adding columns cannot shift the indices used here.

package enum RecordSQL {
    static let upsertConversation: StaticString = """
        INSERT INTO conversations (id, customer, skill, priority, state, agent, opened_at, first_response_due_at,
            first_responded_at, breached_at, closed_at, message_count, first_message, store, language, gateway,
            round, round_started_at, round_due_at, round_breached_at, round_warned_at, buyer_idle_since, held_since,
            hold_remaining_ms, resolution_due_at, resolution_breached_at, closed_by)
        VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22,
            ?23, ?24, ?25, ?26, ?27)
        ON CONFLICT(id) DO UPDATE SET
            customer = excluded.customer,
            skill = excluded.skill,
            priority = excluded.priority,
            state = excluded.state,
            agent = excluded.agent,
            opened_at = excluded.opened_at,
            first_response_due_at = excluded.first_response_due_at,
            first_responded_at = excluded.first_responded_at,
            breached_at = excluded.breached_at,
            closed_at = excluded.closed_at,
            message_count = excluded.message_count,
            first_message = excluded.first_message,
            store = excluded.store,
            language = excluded.language,
            gateway = excluded.gateway,
            round = excluded.round,
            round_started_at = excluded.round_started_at,
            round_due_at = excluded.round_due_at,
            round_breached_at = excluded.round_breached_at,
            round_warned_at = excluded.round_warned_at,
            buyer_idle_since = excluded.buyer_idle_since,
            held_since = excluded.held_since,
            hold_remaining_ms = excluded.hold_remaining_ms,
            resolution_due_at = excluded.resolution_due_at,
            resolution_breached_at = excluded.resolution_breached_at,
            closed_by = excluded.closed_by
        """

    // A round is rewritten whole as it changes (started, breached, answered or closed).
    static let insertPresence: StaticString = "INSERT INTO presence (agent, at, presence) VALUES (?1, ?2, ?3)"

    static let insertJournal: StaticString =
        "INSERT INTO input_journal (at, entries, starts_run, inputs) VALUES (?1, ?2, ?3, ?4)"

    static let upsertRating: StaticString = """
        INSERT INTO ratings (conversation, customer, agent, skill, store, requested_at, expires_at, rating, comment,
            rated_at)
        VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
        ON CONFLICT(conversation) DO UPDATE SET
            customer = excluded.customer, agent = excluded.agent, skill = excluded.skill, store = excluded.store,
            requested_at = excluded.requested_at, expires_at = excluded.expires_at, rating = excluded.rating,
            comment = excluded.comment, rated_at = excluded.rated_at
        """

    static let upsertRound: StaticString = """
        INSERT INTO rounds (conversation, round, started_at, due_at, answered_at, breached_at, closed_at, waited_ms,
            agent, skill, store, escalation_level, warned_at)
        VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)
        ON CONFLICT(conversation, round) DO UPDATE SET
            started_at = excluded.started_at,
            due_at = excluded.due_at,
            answered_at = excluded.answered_at,
            breached_at = excluded.breached_at,
            closed_at = excluded.closed_at,
            waited_ms = excluded.waited_ms,
            agent = excluded.agent,
            skill = excluded.skill,
            store = excluded.store,
            escalation_level = excluded.escalation_level,
            warned_at = excluded.warned_at
        """

    // A message is a whole row keyed by (conversation, seq): re-applying it replaces it with itself.
    static let upsertMessage: StaticString = """
        INSERT INTO messages (conversation, seq, sender, author, at, text, automatic, ref)
        VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
        ON CONFLICT(conversation, seq) DO UPDATE SET
            sender = excluded.sender,
            author = excluded.author,
            at = excluded.at,
            text = excluded.text,
            automatic = excluded.automatic,
            ref = excluded.ref
        """

    static let insertAssignment: StaticString = """
        INSERT INTO assignments (conversation, agent, at, reason, explanation) VALUES (?1, ?2, ?3, ?4, ?5)
        """

    // Notes are append-only, but like messages a re-applied note (same conversation and seq) replaces itself.
    static let upsertNote: StaticString = """
        INSERT INTO notes (conversation, seq, author, at, text)
        VALUES (?1, ?2, ?3, ?4, ?5)
        ON CONFLICT(conversation, seq) DO UPDATE SET
            author = excluded.author,
            at = excluded.at,
            text = excluded.text
        """

    package static let conversationColumns = """
        id, customer, skill, priority, state, agent, opened_at, first_response_due_at, first_responded_at,
        breached_at, closed_at, message_count, first_message, store, language, gateway, round, round_started_at,
        round_due_at, round_breached_at, round_warned_at, buyer_idle_since, held_since, hold_remaining_ms,
        resolution_due_at, resolution_breached_at, closed_by
        """

    package static let roundColumns = """
        round, started_at, due_at, answered_at, breached_at, closed_at, agent, skill, store, escalation_level, waited_ms,
        warned_at
        """

    package static let assignmentColumns = "agent, at, reason, explanation"

    package static let noteColumns = "seq, author, at, text"

    package static let ratingColumns = """
        conversation, customer, agent, skill, store, requested_at, expires_at, rating, comment, rated_at
        """

    /// Writes one record with the connection's cached statements.
    static func apply(_ record: Record, on connection: SQLiteConnection) throws(StoreError) {
        switch record {
        case .conversation(let row):
            let statement = try connection.statement(upsertConversation, .write)
            statement.bind(1, row.id.rawValue)
            statement.bind(2, row.customer.rawValue)
            statement.bind(3, row.skill.name)
            statement.bind(4, row.priority.rawValue)
            statement.bind(5, row.state.rawValue)
            statement.bind(6, row.agent?.rawValue)
            statement.bind(7, row.openedAt.unixMilliseconds)
            statement.bind(8, row.firstResponseDueAt.unixMilliseconds)
            statement.bind(9, row.firstRespondedAt?.unixMilliseconds)
            statement.bind(10, row.breachedAt?.unixMilliseconds)
            statement.bind(11, row.closedAt?.unixMilliseconds)
            statement.bind(12, Int64(row.messageCount))
            statement.bind(13, row.firstMessage)
            statement.bind(14, row.store)
            statement.bind(15, row.language)
            statement.bind(16, row.gateway)
            statement.bind(17, Int64(row.round))
            statement.bind(18, row.roundStartedAt?.unixMilliseconds)
            statement.bind(19, row.roundDueAt?.unixMilliseconds)
            statement.bind(20, row.roundBreachedAt?.unixMilliseconds)
            statement.bind(21, row.roundWarnedAt?.unixMilliseconds)
            statement.bind(22, row.buyerIdleSince?.unixMilliseconds)
            statement.bind(23, row.heldSince?.unixMilliseconds)
            statement.bind(24, row.holdRemaining?.value)
            statement.bind(25, row.resolutionDueAt?.unixMilliseconds)
            statement.bind(26, row.resolutionBreachedAt?.unixMilliseconds)
            statement.bind(27, row.closedBy?.rawValue)
            try statement.run(.write)
        case .message(let row):
            let statement = try connection.statement(upsertMessage, .write)
            statement.bind(1, row.conversation.rawValue)
            statement.bind(2, Int64(row.seq))
            statement.bind(3, row.sender.rawValue)
            statement.bind(4, row.author)
            statement.bind(5, row.at.unixMilliseconds)
            statement.bind(6, row.text)
            statement.bind(7, Int64(row.automatic ? 1 : 0))
            statement.bind(8, row.ref)
            try statement.run(.write)
        case .assignment(let row):
            let statement = try connection.statement(insertAssignment, .write)
            statement.bind(1, row.conversation.rawValue)
            statement.bind(2, row.agent?.rawValue)
            statement.bind(3, row.at.unixMilliseconds)
            statement.bind(4, row.reason.rawValue)
            // The decision is encoded here, on the store's thread, not by the routing owner.
            statement.bind(5, StoredDecision.text(of: row.decision))
            try statement.run(.write)
        case .note(let row):
            let statement = try connection.statement(upsertNote, .write)
            statement.bind(1, row.conversation.rawValue)
            statement.bind(2, Int64(row.seq))
            statement.bind(3, row.author)
            statement.bind(4, row.at.unixMilliseconds)
            statement.bind(5, row.text)
            try statement.run(.write)
        case .round(let row):
            let statement = try connection.statement(upsertRound, .write)
            statement.bind(1, row.conversation.rawValue)
            statement.bind(2, Int64(row.round))
            statement.bind(3, row.startedAt.unixMilliseconds)
            statement.bind(4, row.dueAt.unixMilliseconds)
            statement.bind(5, row.answeredAt?.unixMilliseconds)
            statement.bind(6, row.breachedAt?.unixMilliseconds)
            statement.bind(7, row.closedAt?.unixMilliseconds)
            // Reports count the wait inside business hours.
            statement.bind(8, (row.businessWaited ?? row.waited)?.value)
            statement.bind(9, row.agent?.rawValue)
            statement.bind(10, row.skill.name)
            statement.bind(11, row.store)
            statement.bind(12, Int64(row.escalationLevel))
            statement.bind(13, row.warnedAt?.unixMilliseconds)
            try statement.run(.write)
        case .presence(let row):
            let statement = try connection.statement(insertPresence, .write)
            statement.bind(1, row.agent.rawValue)
            statement.bind(2, row.at.unixMilliseconds)
            statement.bind(3, row.presence.rawValue)
            try statement.run(.write)
        case .rating(let row):
            let statement = try connection.statement(upsertRating, .write)
            statement.bind(1, row.conversation.rawValue)
            statement.bind(2, row.customer.rawValue)
            statement.bind(3, row.agent?.rawValue)
            statement.bind(4, row.skill.name)
            statement.bind(5, row.store)
            statement.bind(6, row.requestedAt.unixMilliseconds)
            statement.bind(7, row.expiresAt.unixMilliseconds)
            statement.bind(8, row.rating.map(Int64.init))
            statement.bind(9, row.comment)
            statement.bind(10, row.ratedAt?.unixMilliseconds)
            try statement.run(.write)
        case .journal(let chunk):
            let statement = try connection.statement(insertJournal, .write)
            statement.bind(1, chunk.at.unixMilliseconds)
            statement.bind(2, Int64(chunk.entries))
            statement.bind(3, Int64(chunk.startsRun ? 1 : 0))
            statement.bind(4, chunk.bytes)
            try statement.run(.write)
        }
    }

    /// Decodes a row selected with `ratingColumns`.
    package static func rating(from row: some StoredRow) -> RatingRecord {
        RatingRecord(
            conversation: ConversationID(row.int64(0)), customer: CustomerID(row.string(1)),
            agent: row.optionalString(2).map { AgentID($0) }, skill: Skill(row.string(3)), store: row.optionalString(4),
            requestedAt: Instant(unixMilliseconds: row.int64(5)), expiresAt: Instant(unixMilliseconds: row.int64(6)),
            rating: row.optionalInt64(7).map(Int.init), comment: row.optionalString(8),
            ratedAt: row.optionalInt64(9).map(Instant.init(unixMilliseconds:)))
    }

    /// Decodes a row selected with `conversationColumns` (from SQLite, or from PostgreSQL's same columns).
    package static func conversation(from row: some StoredRow, path: String) throws(StoreError) -> ConversationRecord {
        let id = row.int64(0)
        let priorityText = row.string(3)
        let stateText = row.string(4)
        guard let priority = Priority(rawValue: priorityText) else {
            throw StoreError(.read, path: path, message: "conversation \(id): unknown priority '\(priorityText)'")
        }
        guard let state = ConversationState(rawValue: stateText) else {
            throw StoreError(.read, path: path, message: "conversation \(id): unknown state '\(stateText)'")
        }
        var record = ConversationRecord(
            id: ConversationID(id),
            customer: CustomerID(row.string(1)),
            skill: Skill(row.string(2)),
            priority: priority,
            store: row.optionalString(13),
            language: row.optionalString(14),
            gateway: row.optionalString(15),
            state: state,
            agent: row.optionalString(5).map { AgentID($0) },
            openedAt: Instant(unixMilliseconds: row.int64(6)),
            firstResponseDueAt: Instant(unixMilliseconds: row.int64(7)),
            firstRespondedAt: row.optionalInt64(8).map(Instant.init(unixMilliseconds:)),
            breachedAt: row.optionalInt64(9).map(Instant.init(unixMilliseconds:)),
            closedAt: row.optionalInt64(10).map(Instant.init(unixMilliseconds:)),
            messageCount: Int(row.int64(11)),
            firstMessage: row.string(12)
        )
        record.round = Int(row.int64(16))
        record.roundStartedAt = row.optionalInt64(17).map(Instant.init(unixMilliseconds:))
        record.roundDueAt = row.optionalInt64(18).map(Instant.init(unixMilliseconds:))
        record.roundBreachedAt = row.optionalInt64(19).map(Instant.init(unixMilliseconds:))
        record.roundWarnedAt = row.optionalInt64(20).map(Instant.init(unixMilliseconds:))
        record.buyerIdleSince = row.optionalInt64(21).map(Instant.init(unixMilliseconds:))
        record.heldSince = row.optionalInt64(22).map(Instant.init(unixMilliseconds:))
        record.holdRemaining = row.optionalInt64(23).map(Milliseconds.init)
        record.resolutionDueAt = row.optionalInt64(24).map(Instant.init(unixMilliseconds:))
        record.resolutionBreachedAt = row.optionalInt64(25).map(Instant.init(unixMilliseconds:))
        record.closedBy = row.optionalString(26).flatMap(Closer.init(rawValue:))
        return record
    }

    /// Decodes a row selected with `roundColumns`.
    package static func round(from row: some StoredRow, of conversation: ConversationID) -> RoundRecord {
        var round = RoundRecord(
            conversation: conversation,
            round: Int(row.int64(0)),
            startedAt: Instant(unixMilliseconds: row.int64(1)),
            dueAt: Instant(unixMilliseconds: row.int64(2)),
            answeredAt: row.optionalInt64(3).map(Instant.init(unixMilliseconds:)),
            breachedAt: row.optionalInt64(4).map(Instant.init(unixMilliseconds:)),
            closedAt: row.optionalInt64(5).map(Instant.init(unixMilliseconds:)),
            agent: row.optionalString(6).map { AgentID($0) },
            skill: Skill(row.string(7)),
            store: row.optionalString(8)
        )
        round.escalationLevel = Int(row.int64(9))
        // What was written as the wait: inside business hours.
        round.businessWaited = row.optionalInt64(10).map(Milliseconds.init)
        round.warnedAt = row.optionalInt64(11).map(Instant.init(unixMilliseconds:))
        return round
    }

    /// Decodes a row selected with `assignmentColumns`.
    package static func assignment(
        from row: some StoredRow, of conversation: ConversationID, path: String
    ) throws(StoreError) -> AssignmentRecord {
        let reasonText = row.string(2)
        guard let reason = AssignmentReason(rawValue: reasonText) else {
            throw StoreError(
                .read, path: path,
                message: "assignment of conversation \(conversation): unknown reason '\(reasonText)'")
        }
        let agent = row.optionalString(0).map { AgentID($0) }
        let at = Instant(unixMilliseconds: row.int64(1))
        let decision = StoredDecision.decision(from: row.string(3), conversation: conversation, agent: agent, at: at)
        return AssignmentRecord(conversation: conversation, agent: agent, at: at, reason: reason, decision: decision)
    }

    /// Decodes a row selected with `noteColumns`.
    package static func note(from row: some StoredRow, of conversation: ConversationID) -> NoteRecord {
        NoteRecord(
            conversation: conversation,
            seq: Int(row.int64(0)),
            author: row.string(1),
            at: Instant(unixMilliseconds: row.int64(2)),
            text: row.string(3)
        )
    }
}

import PostgresNIO

/// The shops' records in PostgreSQL: the SQLite store's tables (`KefuStore/Schema.swift`), one set for every shop,
/// keyed by shop first. Instants are bigint unix milliseconds, as in SQLite, so both stores read back the same values.
///
/// Every write is one statement (`RecordSection.commitStatement`: one round trip, one transaction, one fsync with
/// `synchronous_commit` on) that first takes the shop's lease row `FOR SHARE` under the writer's node and epoch and
/// writes nothing unless it is still the owner (the fence, issue #12). `FOR SHARE` also makes a takeover's `UPDATE` of
/// that row wait for the commit in flight, so a new owner recovers after the old owner's last commit, never beside it.
///
/// No foreign keys, unlike SQLite: in PostgreSQL each would lock the conversation's row for every message, round and
/// note written (measured: a third of a lone message's statement). The shop's one fenced writer writes a
/// conversation's row before, or with, any row of it, as the SQLite store's constraints check there.
enum RecordTables {
    static let statements: [PostgresQuery] = [
        """
        CREATE TABLE IF NOT EXISTS kefu_conversations (
            shop text NOT NULL,
            id bigint NOT NULL,
            customer text NOT NULL,
            skill text NOT NULL,
            priority text NOT NULL,
            state text NOT NULL,
            agent text,
            opened_at bigint NOT NULL,
            first_response_due_at bigint NOT NULL,
            first_responded_at bigint,
            breached_at bigint,
            closed_at bigint,
            message_count bigint NOT NULL,
            first_message text NOT NULL,
            store text,
            language text,
            gateway text,
            round bigint NOT NULL,
            round_started_at bigint,
            round_due_at bigint,
            round_breached_at bigint,
            round_warned_at bigint,
            buyer_idle_since bigint,
            held_since bigint,
            hold_remaining_ms bigint,
            resolution_due_at bigint,
            resolution_breached_at bigint,
            closed_by text,
            PRIMARY KEY (shop, id)
        )
        """,
        // Databases made before the column was kept.
        "ALTER TABLE kefu_conversations ADD COLUMN IF NOT EXISTS closed_by text",
        // Recovery reads a shop's open conversations; returning buyers its recently closed ones.
        "CREATE INDEX IF NOT EXISTS kefu_conversations_open ON kefu_conversations (shop, id) WHERE state <> 'closed'",
        """
        CREATE INDEX IF NOT EXISTS kefu_conversations_closed_at ON kefu_conversations (shop, closed_at)
            WHERE closed_at IS NOT NULL
        """,
        """
        CREATE TABLE IF NOT EXISTS kefu_messages (
            shop text NOT NULL,
            conversation bigint NOT NULL,
            seq bigint NOT NULL,
            sender text NOT NULL,
            author text NOT NULL,
            at bigint NOT NULL,
            text text NOT NULL,
            automatic boolean NOT NULL,
            ref text,
            PRIMARY KEY (shop, conversation, seq)
        )
        """,
        """
        CREATE UNIQUE INDEX IF NOT EXISTS kefu_messages_ref ON kefu_messages (shop, conversation, author, ref)
            WHERE ref IS NOT NULL
        """,
        """
        CREATE TABLE IF NOT EXISTS kefu_assignments (
            id bigserial PRIMARY KEY,
            shop text NOT NULL,
            conversation bigint NOT NULL,
            agent text,
            at bigint NOT NULL,
            reason text NOT NULL,
            explanation text NOT NULL
        )
        """,
        "CREATE INDEX IF NOT EXISTS kefu_assignments_conversation ON kefu_assignments (shop, conversation, id)",
        "CREATE INDEX IF NOT EXISTS kefu_assignments_agent_at ON kefu_assignments (shop, agent, at)",
        """
        CREATE TABLE IF NOT EXISTS kefu_notes (
            shop text NOT NULL,
            conversation bigint NOT NULL,
            seq bigint NOT NULL,
            author text NOT NULL,
            at bigint NOT NULL,
            text text NOT NULL,
            PRIMARY KEY (shop, conversation, seq)
        )
        """,
        """
        CREATE TABLE IF NOT EXISTS kefu_rounds (
            shop text NOT NULL,
            conversation bigint NOT NULL,
            round bigint NOT NULL,
            started_at bigint NOT NULL,
            due_at bigint NOT NULL,
            answered_at bigint,
            breached_at bigint,
            closed_at bigint,
            waited_ms bigint,
            escalation_level bigint NOT NULL,
            agent text,
            skill text NOT NULL,
            store text,
            warned_at bigint,
            PRIMARY KEY (shop, conversation, round)
        )
        """,
        "ALTER TABLE kefu_rounds ADD COLUMN IF NOT EXISTS warned_at bigint",
        "CREATE INDEX IF NOT EXISTS kefu_rounds_started_at ON kefu_rounds (shop, started_at)",
        """
        CREATE TABLE IF NOT EXISTS kefu_ratings (
            shop text NOT NULL,
            conversation bigint NOT NULL,
            customer text NOT NULL,
            agent text,
            skill text NOT NULL,
            store text,
            requested_at bigint NOT NULL,
            expires_at bigint NOT NULL,
            rating bigint,
            comment text,
            rated_at bigint,
            PRIMARY KEY (shop, conversation)
        )
        """,
        "CREATE INDEX IF NOT EXISTS kefu_ratings_expires_at ON kefu_ratings (shop, expires_at)",
        """
        CREATE TABLE IF NOT EXISTS kefu_presence (
            id bigserial PRIMARY KEY,
            shop text NOT NULL,
            agent text NOT NULL,
            at bigint NOT NULL,
            presence text NOT NULL
        )
        """,
        "CREATE INDEX IF NOT EXISTS kefu_presence_agent_at ON kefu_presence (shop, agent, at)",
        // Retention (`[retention]`, `KefuStore/Retention.swift`): when a conversation's texts began to be deleted, the
        // conversations still to purge (an index they leave once purged), and those whose purge spans batches.
        "ALTER TABLE kefu_conversations ADD COLUMN IF NOT EXISTS purged_at bigint",
        """
        CREATE INDEX IF NOT EXISTS kefu_conversations_unpurged ON kefu_conversations (shop, closed_at, id)
            WHERE closed_at IS NOT NULL AND purged_at IS NULL
        """,
        // The input journal (`[replay] keep_days`, KefuCore's InputJournal), as in SQLite: one row per commit, in order.
        // One B-tree, keyed by shop then id (what a replay reads), so each commit adds one index entry, not two.
        """
        CREATE TABLE IF NOT EXISTS kefu_input_journal (
            id bigserial,
            shop text NOT NULL,
            at bigint NOT NULL,
            entries bigint NOT NULL,
            starts_run boolean NOT NULL,
            inputs bytea NOT NULL,
            PRIMARY KEY (shop, id)
        )
        """,
        """
        CREATE INDEX IF NOT EXISTS kefu_input_journal_runs ON kefu_input_journal (shop, at) WHERE starts_run
        """,
        """
        CREATE TABLE IF NOT EXISTS kefu_purging (
            shop text NOT NULL,
            conversation bigint NOT NULL,
            PRIMARY KEY (shop, conversation)
        )
        """,
    ]
}

/// The kinds of rows a commit writes, each sent as one array per column (`unnest`), in this order. A batch's shape is
/// the set of kinds it has; each shape is one statement prepared once per connection.
enum RecordSection: Int, CaseIterable {
    case conversations, rounds, messages, assignments, notes, ratings, presence, journal

    enum ColumnType: String {
        case bigint, text, boolean, bytea
    }

    var table: String {
        switch self {
        case .conversations: "kefu_conversations"
        case .rounds: "kefu_rounds"
        case .messages: "kefu_messages"
        case .assignments: "kefu_assignments"
        case .notes: "kefu_notes"
        case .ratings: "kefu_ratings"
        case .presence: "kefu_presence"
        case .journal: "kefu_input_journal"
        }
    }

    /// The columns after `shop`, in the order `RecordBatch` writes a row's values.
    var columns: KeyValuePairs<String, ColumnType> {
        switch self {
        case .conversations:
            [
                "id": .bigint, "customer": .text, "skill": .text, "priority": .text, "state": .text, "agent": .text,
                "opened_at": .bigint, "first_response_due_at": .bigint, "first_responded_at": .bigint,
                "breached_at": .bigint, "closed_at": .bigint, "message_count": .bigint, "first_message": .text,
                "store": .text, "language": .text, "gateway": .text, "round": .bigint, "round_started_at": .bigint,
                "round_due_at": .bigint, "round_breached_at": .bigint, "round_warned_at": .bigint,
                "buyer_idle_since": .bigint, "held_since": .bigint, "hold_remaining_ms": .bigint,
                "resolution_due_at": .bigint, "resolution_breached_at": .bigint, "closed_by": .text,
            ]
        case .rounds:
            [
                "conversation": .bigint, "round": .bigint, "started_at": .bigint, "due_at": .bigint,
                "answered_at": .bigint, "breached_at": .bigint, "closed_at": .bigint, "waited_ms": .bigint,
                "escalation_level": .bigint, "agent": .text, "skill": .text, "store": .text, "warned_at": .bigint,
            ]
        case .messages:
            [
                "conversation": .bigint, "seq": .bigint, "sender": .text, "author": .text, "at": .bigint,
                "text": .text, "automatic": .boolean, "ref": .text,
            ]
        case .assignments:
            ["conversation": .bigint, "agent": .text, "at": .bigint, "reason": .text, "explanation": .text]
        case .notes:
            ["conversation": .bigint, "seq": .bigint, "author": .text, "at": .bigint, "text": .text]
        case .ratings:
            [
                "conversation": .bigint, "customer": .text, "agent": .text, "skill": .text, "store": .text,
                "requested_at": .bigint, "expires_at": .bigint, "rating": .bigint, "comment": .text, "rated_at": .bigint,
            ]
        case .presence:
            ["agent": .text, "at": .bigint, "presence": .text]
        case .journal:
            ["at": .bigint, "entries": .bigint, "starts_run": .boolean, "inputs": .bytea]
        }
    }

    /// The row's key: a later version replaces the stored one. Assignments have none: they are appended, in order.
    var key: [String]? {
        switch self {
        case .conversations: ["id"]
        case .rounds: ["conversation", "round"]
        case .messages, .notes: ["conversation", "seq"]
        case .ratings: ["conversation"]
        case .assignments, .presence, .journal: nil
        }
    }

    /// The statement that commits a batch with these sections: `$1` shop, `$2` node, `$3` epoch, then one array per
    /// column of each section, in order. Its one row is how many lease rows the fence found: 0 means the writer no
    /// longer serves the shop under its epoch, and nothing was written (every insert reads from the empty fence).
    static func commitStatement(for sections: [RecordSection]) -> String {
        var sql = """
            WITH fence AS (
                SELECT 1 FROM kefu_leases WHERE shop = $1::text AND owner = $2::text AND epoch = $3::bigint FOR SHARE)
            """
        var parameter = 4
        for section in sections {
            let names = section.columns.map(\.key)
            let arrays = section.columns.map { column in
                defer { parameter += 1 }
                return "$\(parameter)::\(column.value.rawValue)[]"
            }
            sql += ",\n\(section)_rows AS (INSERT INTO \(section.table) (shop, \(names.joined(separator: ", ")))\n"
            if let key = section.key {
                let updates = names.filter { !key.contains($0) }.map { "\($0) = excluded.\($0)" }
                sql += """
                        SELECT $1::text, r.* FROM fence, unnest(\(arrays.joined(separator: ", "))) AS r
                        ON CONFLICT (shop, \(key.joined(separator: ", "))) DO UPDATE SET \(updates.joined(separator: ", ")))
                    """
            } else {
                // Appended in the batch's order: the serial ids say which change of hands came first.
                sql += """
                        SELECT $1::text, \(names.map { "r.\($0)" }.joined(separator: ", ")) FROM fence,
                            unnest(\(arrays.joined(separator: ", "))) WITH ORDINALITY AS r(\(names.joined(separator: ", ")), position)
                        ORDER BY r.position)
                    """
            }
        }
        // As text: a bigint count read through postgres-nio's prepared-query API failed to decode; text does.
        return sql + "\nSELECT count(*)::text FROM fence"
    }
}

import Logging

/// The database layout, versioned with `PRAGMA user_version`.
///
/// Each entry of `migrations` upgrades from version `index` to `index + 1`; a new layout is added by appending a
/// step, never by editing an old one, since existing databases have already run it. A fresh database runs every
/// step in order, so new and upgraded databases end up with the same layout.
enum Schema {
    static let migrations: [String] = [
        // Version 1. Instants are INTEGER unix milliseconds; enums are TEXT raw values; optionals are NULL.
        """
        CREATE TABLE conversations (
            id INTEGER PRIMARY KEY,
            customer TEXT NOT NULL,
            skill TEXT NOT NULL,
            priority TEXT NOT NULL,
            state TEXT NOT NULL,
            agent TEXT,
            opened_at INTEGER NOT NULL,
            first_response_due_at INTEGER NOT NULL,
            first_responded_at INTEGER,
            breached_at INTEGER,
            closed_at INTEGER,
            message_count INTEGER NOT NULL,
            first_message TEXT NOT NULL
        );
        -- Recovery reads the conversations that are not closed.
        CREATE INDEX conversations_state ON conversations(state);

        CREATE TABLE messages (
            conversation INTEGER NOT NULL REFERENCES conversations(id),
            seq INTEGER NOT NULL,
            sender TEXT NOT NULL,
            author TEXT NOT NULL,
            at INTEGER NOT NULL,
            text TEXT NOT NULL,
            PRIMARY KEY (conversation, seq)
        ) WITHOUT ROWID;

        CREATE TABLE assignments (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            conversation INTEGER NOT NULL REFERENCES conversations(id),
            agent TEXT,
            at INTEGER NOT NULL,
            reason TEXT NOT NULL
        );
        CREATE INDEX assignments_conversation ON assignments(conversation);
        -- Recovery asks for each agent's latest assignment.
        CREATE INDEX assignments_agent_at ON assignments(agent, at);
        """,
        // Version 2: where a conversation came from, why each assignment was made, internal notes (备注).
        // Added columns are nullable or defaulted, so rows written by version 1 stay valid as they are.
        // `assignments.explanation` holds the decision as `StoredDecision` writes it (JSON; text before, still read).
        """
        ALTER TABLE conversations ADD COLUMN store TEXT;
        ALTER TABLE conversations ADD COLUMN language TEXT;
        ALTER TABLE conversations ADD COLUMN gateway TEXT;
        ALTER TABLE assignments ADD COLUMN explanation TEXT NOT NULL DEFAULT '';

        CREATE TABLE notes (
            conversation INTEGER NOT NULL REFERENCES conversations(id),
            seq INTEGER NOT NULL,
            author TEXT NOT NULL,
            at INTEGER NOT NULL,
            text TEXT NOT NULL,
            PRIMARY KEY (conversation, seq)
        ) WITHOUT ROWID;

        -- Returning buyers: the conversations closed since a given instant, a range scan instead of a full one.
        CREATE INDEX conversations_closed_at ON conversations(closed_at);
        """,
        // Version 3: response rounds. The conversation carries its current round (restored after a restart); each
        // round has a row for reports. Conversations written before run round 1 until their first answer.
        """
        ALTER TABLE conversations ADD COLUMN round INTEGER NOT NULL DEFAULT 1;
        ALTER TABLE conversations ADD COLUMN round_started_at INTEGER;
        ALTER TABLE conversations ADD COLUMN round_due_at INTEGER;
        ALTER TABLE conversations ADD COLUMN round_breached_at INTEGER;
        ALTER TABLE conversations ADD COLUMN round_warned_at INTEGER;
        ALTER TABLE conversations ADD COLUMN buyer_idle_since INTEGER;
        ALTER TABLE conversations ADD COLUMN held_since INTEGER;
        ALTER TABLE conversations ADD COLUMN hold_remaining_ms INTEGER;
        ALTER TABLE conversations ADD COLUMN resolution_due_at INTEGER;
        ALTER TABLE conversations ADD COLUMN resolution_breached_at INTEGER;
        -- Greetings, queue messages and canned replies (auto=1): shown to the buyer, no human answer.
        ALTER TABLE messages ADD COLUMN automatic INTEGER NOT NULL DEFAULT 0;
        UPDATE conversations SET round_started_at = opened_at, round_due_at = first_response_due_at,
            round_breached_at = breached_at
            WHERE first_responded_at IS NULL;

        CREATE TABLE rounds (
            conversation INTEGER NOT NULL REFERENCES conversations(id),
            round INTEGER NOT NULL,
            started_at INTEGER NOT NULL,
            due_at INTEGER NOT NULL,
            answered_at INTEGER,
            breached_at INTEGER,
            closed_at INTEGER,
            -- Inside business hours, until the answer or the close; NULL while the round runs.
            waited_ms INTEGER,
            escalation_level INTEGER NOT NULL DEFAULT 0,
            agent TEXT,
            skill TEXT NOT NULL,
            store TEXT,
            PRIMARY KEY (conversation, round)
        ) WITHOUT ROWID;
        -- Reports: rounds of a day, per agent, skill or store.
        CREATE INDEX rounds_started_at ON rounds(started_at);
        """,
        // Version 4: a message may carry its sender's id for it (`SEND ref=`), unique per sender and conversation, so
        // a resend changes nothing. The conversations' indexes cover only the rows their queries read: the open ones
        // (recovery) and the closed ones (returning buyers). A new or changing open conversation then touches no
        // closed-at entry, and a closed one leaves the open index instead of staying in a state index for ever.
        """
        ALTER TABLE messages ADD COLUMN ref TEXT;
        CREATE UNIQUE INDEX messages_ref ON messages(conversation, author, ref) WHERE ref IS NOT NULL;
        DROP INDEX conversations_state;
        CREATE INDEX conversations_open ON conversations(id) WHERE state != 'closed';
        DROP INDEX conversations_closed_at;
        CREATE INDEX conversations_closed_at ON conversations(closed_at) WHERE closed_at IS NOT NULL;
        """,
        // Version 5: messages are a log in the order they are written (a rowid table) with (conversation, seq) as a
        // unique index, instead of a table keyed by (conversation, seq). Keyed by conversation, a commit carrying a
        // few messages for each of 64 busy conversations wrote 64 scattered 4 KB pages (and split them often); now
        // the rows of a commit share a page or two and only the small index entries scatter. Relay benchmark,
        // 64×16 and 16×16: about 15% more messages a second, 12% less CPU each, p99 at half rate 18 ms instead of
        // 24-30 ms. Upgrading copies every message once, in one transaction.
        """
        CREATE TABLE messages_log (
            id INTEGER PRIMARY KEY,
            conversation INTEGER NOT NULL REFERENCES conversations(id),
            seq INTEGER NOT NULL,
            sender TEXT NOT NULL,
            author TEXT NOT NULL,
            at INTEGER NOT NULL,
            text TEXT NOT NULL,
            automatic INTEGER NOT NULL DEFAULT 0,
            ref TEXT
        );
        INSERT INTO messages_log (conversation, seq, sender, author, at, text, automatic, ref)
            SELECT conversation, seq, sender, author, at, text, automatic, ref FROM messages ORDER BY conversation, seq;
        DROP TABLE messages;
        ALTER TABLE messages_log RENAME TO messages;
        CREATE UNIQUE INDEX messages_seq ON messages(conversation, seq);
        CREATE UNIQUE INDEX messages_ref ON messages(conversation, author, ref) WHERE ref IS NOT NULL;
        """,
        // Version 6: satisfaction surveys (满意度), one row per closed conversation asked: sent, expiry, and the
        // buyer's rating once given. Recovery reads those not expired; reports count them by day and agent.
        """
        CREATE TABLE ratings (
            conversation INTEGER PRIMARY KEY REFERENCES conversations(id),
            customer TEXT NOT NULL,
            agent TEXT,
            skill TEXT NOT NULL,
            store TEXT,
            requested_at INTEGER NOT NULL,
            expires_at INTEGER NOT NULL,
            rating INTEGER,
            comment TEXT,
            rated_at INTEGER
        );
        CREATE INDEX ratings_expires_at ON ratings(expires_at);
        CREATE INDEX ratings_requested_at ON ratings(requested_at);
        """,
        // Version 7: agents' working state over time (online or away while connected, offline otherwise), appended
        // at each change, for the day reports' first login, last logout and seconds online and away; and who closed
        // each conversation.
        """
        CREATE TABLE presence (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            agent TEXT NOT NULL,
            at INTEGER NOT NULL,
            presence TEXT NOT NULL
        );
        CREATE INDEX presence_agent_at ON presence(agent, at);
        CREATE INDEX presence_at ON presence(at);
        ALTER TABLE conversations ADD COLUMN closed_by TEXT;
        """,
        // Version 8: when a round's holder was warned (SLA-WARN), for the day reports' warnings per agent.
        "ALTER TABLE rounds ADD COLUMN warned_at INTEGER;",
        // Version 9: retention (`[retention] closed_after_days`, see Retention.swift). A conversation whose texts
        // were deleted says when (`purged_at`, set when its purge began); the conversations still to purge are found
        // through an index they leave once purged, so a pass never walks the ones purged before; one whose purge
        // spans batches is listed in `purging` until its last text is gone.
        """
        ALTER TABLE conversations ADD COLUMN purged_at INTEGER;
        CREATE INDEX conversations_unpurged ON conversations(closed_at, id)
            WHERE closed_at IS NOT NULL AND purged_at IS NULL;
        CREATE TABLE purging (conversation INTEGER PRIMARY KEY REFERENCES conversations(id));
        """,
        // Version 10: the input journal (`[replay] keep_days`, KefuCore's InputJournal): the core's inputs in the
        // order it took them, one row per store job, written in the same commit as the records they caused.
        // `starts_run` marks a row that begins with a restore point (a replay starts at one). No AUTOINCREMENT: it would
        // write sqlite_sequence's page in every commit, and ids stay in order anyway (purges delete the oldest rows,
        // never the newest).
        """
        CREATE TABLE input_journal (
            id INTEGER PRIMARY KEY,
            at INTEGER NOT NULL,
            entries INTEGER NOT NULL,
            starts_run INTEGER NOT NULL,
            inputs BLOB NOT NULL
        );
        CREATE INDEX input_journal_runs ON input_journal(at) WHERE starts_run = 1;
        """,
    ]

    /// The version this build writes.
    static var currentVersion: Int64 { Int64(migrations.count) }

    /// Brings the database up to `currentVersion`, one transaction per step so a crash mid-upgrade leaves a
    /// consistent earlier version. Refuses a database written by a newer build rather than guessing.
    static func migrate(_ connection: SQLiteConnection, logger: Logger) throws(StoreError) {
        var version = try userVersion(connection)
        if version > currentVersion {
            throw StoreError(
                .migrate,
                path: connection.path,
                message: "schema version \(version) is newer than this build supports (\(currentVersion))"
            )
        }
        while version < currentVersion {
            let next = version + 1
            try connection.execute("BEGIN IMMEDIATE", .migrate)
            do {
                try connection.execute(migrations[Int(version)], .migrate)
                try connection.execute("PRAGMA user_version = \(next)", .migrate)
                try connection.execute("COMMIT", .migrate)
            } catch {
                if connection.inTransaction {
                    try? connection.execute("ROLLBACK", .migrate)
                }
                throw error
            }
            logger.notice("store schema migrated", metadata: ["from": "\(version)", "to": "\(next)"])
            version = next
        }
    }

    static func userVersion(_ connection: SQLiteConnection) throws(StoreError) -> Int64 {
        let statement = try connection.statement("PRAGMA user_version", .migrate)
        defer { statement.reset() }
        guard try statement.step(.migrate) else {
            throw StoreError(.migrate, path: connection.path, message: "PRAGMA user_version returned no row")
        }
        return statement.int64(0)
    }
}

import PostgresNIO

/// The shops' records in PostgreSQL: the SQLite store's tables (`KefuStore/Schema.swift`), one set for every shop,
/// keyed by shop first. Instants are bigint unix milliseconds, as in SQLite, so both stores read back the same values.
///
/// Every write goes through `kefu_commit`: one statement (one round trip, one transaction, one fsync with
/// `synchronous_commit` on) that first takes the shop's lease row `FOR SHARE` under the writer's node and epoch and
/// writes nothing unless it is still the owner (the fence, issue #12). `FOR SHARE` also makes a takeover's `UPDATE` of
/// that row wait for the commit in flight, so a new owner recovers after the old owner's last commit, never beside it.
enum RecordTables {
    /// The error a fenced write raises: the writer no longer serves the shop under its epoch.
    static let fencedState = "KF001"

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
            PRIMARY KEY (shop, id)
        )
        """,
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
            PRIMARY KEY (shop, conversation, seq),
            FOREIGN KEY (shop, conversation) REFERENCES kefu_conversations (shop, id)
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
            explanation text NOT NULL,
            FOREIGN KEY (shop, conversation) REFERENCES kefu_conversations (shop, id)
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
            PRIMARY KEY (shop, conversation, seq),
            FOREIGN KEY (shop, conversation) REFERENCES kefu_conversations (shop, id)
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
            PRIMARY KEY (shop, conversation, round),
            FOREIGN KEY (shop, conversation) REFERENCES kefu_conversations (shop, id)
        )
        """,
        "CREATE INDEX IF NOT EXISTS kefu_rounds_started_at ON kefu_rounds (shop, started_at)",
        // A batch is a JSON object of arrays of rows ("c" conversations, "r" rounds, "m" messages, "a" assignments,
        // "n" notes; an empty one left out), each row an object keyed by column. Keyed rows appear at most once in a
        // batch (the writer keeps the last version of each), as ON CONFLICT may not touch a row twice in one statement.
        """
        CREATE OR REPLACE FUNCTION kefu_commit(p_shop text, p_node text, p_epoch bigint, p_batch jsonb)
        RETURNS void LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM 1 FROM kefu_leases WHERE shop = p_shop AND owner = p_node AND epoch = p_epoch FOR SHARE;
            IF NOT FOUND THEN
                RAISE EXCEPTION 'shop % is not served by node % under epoch %', p_shop, p_node, p_epoch
                    USING ERRCODE = 'KF001';
            END IF;
            IF p_batch ? 'c' THEN
                INSERT INTO kefu_conversations AS t (shop, id, customer, skill, priority, state, agent, opened_at,
                    first_response_due_at, first_responded_at, breached_at, closed_at, message_count, first_message,
                    store,
                    language, gateway, round, round_started_at, round_due_at, round_breached_at, round_warned_at,
                    buyer_idle_since, held_since, hold_remaining_ms, resolution_due_at, resolution_breached_at)
                SELECT p_shop, r.* FROM jsonb_to_recordset(p_batch->'c') AS r(id bigint, customer text,
                    skill text, priority text, state text, agent text, opened_at bigint, first_response_due_at bigint,
                    first_responded_at bigint, breached_at bigint, closed_at bigint, message_count bigint,
                    first_message text, store text, language text, gateway text, round bigint, round_started_at bigint,
                    round_due_at bigint, round_breached_at bigint, round_warned_at bigint, buyer_idle_since bigint,
                    held_since bigint, hold_remaining_ms bigint, resolution_due_at bigint,
                    resolution_breached_at bigint)
                ON CONFLICT (shop, id) DO UPDATE SET customer = excluded.customer, skill = excluded.skill,
                    priority = excluded.priority, state = excluded.state, agent = excluded.agent,
                    opened_at = excluded.opened_at, first_response_due_at = excluded.first_response_due_at,
                    first_responded_at = excluded.first_responded_at, breached_at = excluded.breached_at,
                    closed_at = excluded.closed_at, message_count = excluded.message_count,
                    first_message = excluded.first_message, store = excluded.store, language = excluded.language,
                    gateway = excluded.gateway, round = excluded.round, round_started_at = excluded.round_started_at,
                    round_due_at = excluded.round_due_at, round_breached_at = excluded.round_breached_at,
                    round_warned_at = excluded.round_warned_at, buyer_idle_since = excluded.buyer_idle_since,
                    held_since = excluded.held_since, hold_remaining_ms = excluded.hold_remaining_ms,
                    resolution_due_at = excluded.resolution_due_at,
                    resolution_breached_at = excluded.resolution_breached_at;
            END IF;
            IF p_batch ? 'r' THEN
                INSERT INTO kefu_rounds (shop, conversation, round, started_at, due_at, answered_at, breached_at,
                    closed_at, waited_ms, escalation_level, agent, skill, store)
                SELECT p_shop, r.* FROM jsonb_to_recordset(p_batch->'r') AS r(conversation bigint,
                    round bigint, started_at bigint, due_at bigint, answered_at bigint, breached_at bigint,
                    closed_at bigint, waited_ms bigint, escalation_level bigint, agent text, skill text, store text)
                ON CONFLICT (shop, conversation, round) DO UPDATE SET started_at = excluded.started_at,
                    due_at = excluded.due_at, answered_at = excluded.answered_at, breached_at = excluded.breached_at,
                    closed_at = excluded.closed_at, waited_ms = excluded.waited_ms,
                    escalation_level = excluded.escalation_level, agent = excluded.agent, skill = excluded.skill,
                    store = excluded.store;
            END IF;
            IF p_batch ? 'm' THEN
                INSERT INTO kefu_messages (shop, conversation, seq, sender, author, at, text, automatic, ref)
                SELECT p_shop, r.* FROM jsonb_to_recordset(p_batch->'m') AS r(conversation bigint,
                    seq bigint, sender text, author text, at bigint, text text, automatic boolean, ref text)
                ON CONFLICT (shop, conversation, seq) DO UPDATE SET sender = excluded.sender, author = excluded.author,
                    at = excluded.at, text = excluded.text, automatic = excluded.automatic, ref = excluded.ref;
            END IF;
            IF p_batch ? 'a' THEN
                INSERT INTO kefu_assignments (shop, conversation, agent, at, reason, explanation)
                SELECT p_shop, (e->>'conversation')::bigint, e->>'agent', (e->>'at')::bigint, e->>'reason',
                    e->>'explanation'
                FROM jsonb_array_elements(p_batch->'a') WITH ORDINALITY AS x(e, position)
                ORDER BY x.position;
            END IF;
            IF p_batch ? 'n' THEN
                INSERT INTO kefu_notes (shop, conversation, seq, author, at, text)
                SELECT p_shop, r.* FROM jsonb_to_recordset(p_batch->'n') AS r(conversation bigint,
                    seq bigint, author text, at bigint, text text)
                ON CONFLICT (shop, conversation, seq) DO UPDATE SET author = excluded.author, at = excluded.at,
                    text = excluded.text;
            END IF;
        END
        $$
        """,
    ]
}

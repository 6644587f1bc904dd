import Logging
import PostgresNIO

/// The tables a cluster keeps in PostgreSQL: who the nodes are, what each shop is configured as, which node serves
/// each shop under which epoch, and the shops' records (`RecordTables`).
enum ClusterSchema {
    /// The first key of every advisory lock kefud takes (`'KEFU'` in ASCII), so that they cannot collide with locks of
    /// other software sharing the database; the second is the node's `lock_id`.
    static let lockNamespace: Int32 = 0x4B45_4655

    /// SQL true while the node `n` (a row of `kefu_nodes`) runs: its PostgreSQL session holds its advisory lock.
    static let nodeRuns = """
        EXISTS (SELECT 1 FROM pg_locks k WHERE k.locktype = 'advisory' AND k.granted
            AND k.classid = \(lockNamespace)::oid AND k.objid = n.lock_id::oid AND k.objsubid = 2)
        """

    static let statements: [PostgresQuery] = [
        """
        CREATE TABLE IF NOT EXISTS kefu_nodes (
            node text PRIMARY KEY,
            -- The second key of the session advisory lock the node holds while it runs: a peer that no longer finds it
            -- in pg_locks knows the node's PostgreSQL session ended (a crash, a kill -9), without waiting for leases.
            lock_id integer NOT NULL UNIQUE,
            advertise text NOT NULL,
            started_at timestamptz NOT NULL DEFAULT now(),
            draining boolean NOT NULL DEFAULT false
        )
        """,
        "CREATE SEQUENCE IF NOT EXISTS kefu_node_lock_ids AS integer",
        // When the node last probed: a node whose PostgreSQL session lingers (a partition, until keepalives end it)
        // but which no longer probes takes no share of the shops.
        "ALTER TABLE kefu_nodes ADD COLUMN IF NOT EXISTS heartbeat_at timestamptz",
        """
        CREATE TABLE IF NOT EXISTS kefu_shops (
            shop text PRIMARY KEY,
            configuration text NOT NULL,
            version bigint NOT NULL DEFAULT 1,
            applied_at timestamptz NOT NULL DEFAULT now()
        )
        """,
        """
        CREATE TABLE IF NOT EXISTS kefu_leases (
            shop text PRIMARY KEY,
            -- The node serving the shop; NULL: nobody (released, or never taken).
            owner text,
            -- Grows at every grant: a write carrying an older epoch is refused, whatever its node believes.
            epoch bigint NOT NULL DEFAULT 0,
            -- The server's clock only, so that the nodes' clocks do not matter.
            expires_at timestamptz NOT NULL DEFAULT '-infinity',
            renewed_at timestamptz
        )
        """,
    ] + RecordTables.statements

    /// Creates what is missing, under a transaction-level advisory lock: nodes starting together would otherwise race
    /// each other's `CREATE ... IF NOT EXISTS` into a unique violation.
    static func migrate(_ connection: PostgresConnection, logger: Logger) async throws {
        try await connection.query("BEGIN", logger: logger)
        do {
            try await connection.query("SELECT pg_advisory_xact_lock(\(lockNamespace), 0)", logger: logger)
            for statement in statements { try await connection.query(statement, logger: logger) }
            try await connection.query("COMMIT", logger: logger)
        } catch {
            _ = try? await connection.query("ROLLBACK", logger: logger)
            throw error
        }
    }
}

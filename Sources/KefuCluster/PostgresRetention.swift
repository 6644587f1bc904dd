import Foundation
import KefuConfig
import KefuCore
import KefuStore
import Logging
import PostgresNIO

/// The purge's steps (`KefuStore/Retention.swift`) over a shop's rows in PostgreSQL, the SQLite statements asked of the
/// `kefu_*` tables with the shop as the first key. Runs on the store's read queue inside the transaction the writer
/// opened under the shop's fence (`PostgresRecordWriter.purge`), blocking on each answer.
struct PostgresPurgeTables: PurgeTables {
    let shop: String
    let query: (PostgresQuery) throws -> [PostgresRow]

    private func number(_ statement: PostgresQuery) throws -> Int {
        try query(statement).first.map { Int(Cells($0).int64(0)) } ?? 0
    }

    func pendingCount() throws -> Int {
        try number("SELECT count(*) FROM kefu_purging WHERE shop = \(shop)")
    }

    func deleteJournal(before: Int64, limit: Int) throws -> Int {
        try number(
            """
            WITH run AS (
                SELECT coalesce(max(id), 0) AS start FROM kefu_input_journal
                WHERE shop = \(shop) AND starts_run AND at <= \(before)),
            picked AS (
                SELECT id FROM kefu_input_journal, run WHERE shop = \(shop) AND id < run.start
                ORDER BY id LIMIT \(Int64(limit))),
            gone AS (DELETE FROM kefu_input_journal AS j USING picked WHERE j.id = picked.id RETURNING 1)
            SELECT count(*) FROM gone
            """)
    }

    func journalRemains(before: Int64) throws -> Bool {
        try number(
            """
            SELECT CASE WHEN EXISTS (
                SELECT 1 FROM kefu_input_journal
                WHERE shop = \(shop) AND id < (
                    SELECT coalesce(max(id), 0) FROM kefu_input_journal
                    WHERE shop = \(shop) AND starts_run AND at <= \(before)))
                THEN 1::bigint ELSE 0::bigint END
            """) != 0
    }

    func begin(closedBefore: Int64, limit: Int, at: Int64) throws -> Int {
        try number(
            """
            WITH picked AS (
                SELECT id FROM kefu_conversations
                WHERE shop = \(shop) AND closed_at IS NOT NULL AND purged_at IS NULL AND closed_at < \(closedBefore)
                    AND state = 'closed'
                ORDER BY closed_at, id LIMIT \(Int64(limit))),
            marked AS (
                UPDATE kefu_conversations AS c SET purged_at = \(at), first_message = ''
                FROM picked WHERE c.shop = \(shop) AND c.id = picked.id RETURNING c.id),
            listed AS (
                INSERT INTO kefu_purging (shop, conversation) SELECT \(shop), id FROM marked
                ON CONFLICT DO NOTHING RETURNING 1)
            SELECT count(*) FROM listed
            """)
    }

    func deleteNotes(limit: Int) throws -> Int {
        try number(
            """
            WITH picked AS (
                SELECT n.conversation, n.seq FROM kefu_purging AS p
                JOIN kefu_notes AS n ON n.shop = p.shop AND n.conversation = p.conversation
                WHERE p.shop = \(shop) LIMIT \(Int64(limit))),
            gone AS (
                DELETE FROM kefu_notes AS n USING picked
                WHERE n.shop = \(shop) AND n.conversation = picked.conversation AND n.seq = picked.seq RETURNING 1)
            SELECT count(*) FROM gone
            """)
    }

    func blankMessages(limit: Int) throws -> Int {
        try number(
            """
            WITH picked AS (
                SELECT m.conversation, m.seq FROM kefu_purging AS p
                JOIN kefu_messages AS m ON m.shop = p.shop AND m.conversation = p.conversation
                WHERE p.shop = \(shop) AND m.text <> '' LIMIT \(Int64(limit))),
            blanked AS (
                UPDATE kefu_messages AS m SET text = '' FROM picked
                WHERE m.shop = \(shop) AND m.conversation = picked.conversation AND m.seq = picked.seq RETURNING 1)
            SELECT count(*) FROM blanked
            """)
    }

    func finishDone() throws -> Int {
        try number(
            """
            WITH done AS (
                DELETE FROM kefu_purging AS p
                WHERE p.shop = \(shop)
                    AND NOT EXISTS (
                        SELECT 1 FROM kefu_notes AS n WHERE n.shop = p.shop AND n.conversation = p.conversation)
                    AND NOT EXISTS (
                        SELECT 1 FROM kefu_messages AS m
                        WHERE m.shop = p.shop AND m.conversation = p.conversation AND m.text <> '')
                RETURNING 1)
            SELECT count(*) FROM done
            """)
    }

    func remains(closedBefore: Int64) throws -> Bool {
        try number(
            """
            SELECT CASE WHEN EXISTS (SELECT 1 FROM kefu_purging WHERE shop = \(shop))
                OR EXISTS (
                    SELECT 1 FROM kefu_conversations
                    WHERE shop = \(shop) AND closed_at IS NOT NULL AND purged_at IS NULL AND closed_at < \(closedBefore)
                        AND state = 'closed')
                THEN 1::bigint ELSE 0::bigint END
            """) != 0
    }

    func preview(closedBefore: Int64) throws -> PurgePreview {
        let rows = try query(
            """
            WITH doomed AS (
                SELECT id, closed_at FROM kefu_conversations
                WHERE shop = \(shop) AND closed_at IS NOT NULL AND purged_at IS NULL AND closed_at < \(closedBefore)
                    AND state = 'closed'
                UNION SELECT c.id, c.closed_at FROM kefu_purging AS p
                    JOIN kefu_conversations AS c ON c.shop = p.shop AND c.id = p.conversation
                    WHERE p.shop = \(shop))
            SELECT count(*), min(closed_at), max(closed_at),
                (SELECT count(*) FROM doomed JOIN kefu_messages AS m ON m.shop = \(shop) AND m.conversation = doomed.id
                    WHERE m.text <> ''),
                (SELECT count(*) FROM doomed JOIN kefu_notes AS n ON n.shop = \(shop) AND n.conversation = doomed.id)
            FROM doomed
            """)
        guard let first = rows.first else { return PurgePreview() }
        let row = Cells(first)
        return PurgePreview(
            conversations: Int(row.int64(0)), messages: Int(row.int64(3)), notes: Int(row.int64(4)),
            oldestClose: row.optionalInt64(1).map(Instant.init(unixMilliseconds:)),
            newestClose: row.optionalInt64(2).map(Instant.init(unixMilliseconds:)))
    }
}

/// `kefuctl purge --dry-run` for a shop of a cluster: what its node's next pass would take, read from PostgreSQL with
/// the same query as the node's. (The purge itself is only ever the node's, under the shop's fence.)
public enum ClusterRetention {
    public static func preview(
        _ url: PostgresURL, shop: String, closedBefore: Instant, logger: Logger
    ) async throws -> PurgePreview {
        // The tables as this version has them (a cluster whose nodes all run an older kefud lacks `purged_at`).
        let (connection, _) = try await url.connect(id: 5, logger: logger) {
            try await ClusterSchema.migrate($0, logger: logger)
        }
        let result: Result<PurgePreview, any Error> = await withCheckedContinuation { continuation in
            // The steps block on each answer: on a thread of their own, never a cooperative one.
            Thread {
                continuation.resume(
                    returning: Result {
                        try PostgresPurgeTables(shop: shop) { try connection.query($0, logger: logger).wait().rows }
                            .preview(closedBefore: closedBefore.unixMilliseconds)
                    })
            }.start()
        }
        try? await connection.close()
        return try result.get()
    }
}

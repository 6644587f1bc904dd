import KefuConfig
import KefuCore
import KefuStore
import Logging
import NIOCore
import PostgresNIO

/// A cluster shop's input journal read from PostgreSQL, selected as in SQLite (`JournalReading`): the run under way at
/// `from`, from its restore point, up to `to`.
public enum ClusterJournalReading {
    public static func read(
        _ url: PostgresURL, shop: String, from: Instant, to: Instant, logger: Logger
    ) async throws -> JournalReading.Rows {
        let (connection, _) = try await url.connect(id: 5, logger: logger) { _ in }
        do {
            let rows = try await read(connection, shop: shop, from: from, to: to, logger: logger)
            try? await connection.close()
            return rows
        } catch {
            try? await connection.close()
            throw error
        }
    }

    static func read(
        _ connection: PostgresConnection, shop: String, from: Instant, to: Instant, logger: Logger
    ) async throws -> JournalReading.Rows {
        let (first, last) = (from.unixMilliseconds, to.unixMilliseconds)
        var start: (id: Int64, after: Bool)?
        for try await (id, after) in try await connection.query(
            """
            SELECT coalesce(
                    (SELECT max(id) FROM kefu_input_journal WHERE shop = \(shop) AND starts_run AND at <= \(first)),
                    (SELECT min(id) FROM kefu_input_journal WHERE shop = \(shop) AND starts_run)),
                (SELECT max(id) FROM kefu_input_journal WHERE shop = \(shop) AND starts_run AND at <= \(first)) IS NULL
            """, logger: logger
        ).decode((Int64?, Bool).self) {
            if let id { start = (id, after) }
        }
        guard let start else { return JournalReading.Rows(chunks: [], runStart: nil, startsAfterFrom: false) }
        var chunks: [InputJournal.Chunk] = []
        for try await (at, entries, startsRun, inputs) in try await connection.query(
            """
            SELECT at, entries, starts_run, inputs FROM kefu_input_journal
            WHERE shop = \(shop) AND id >= \(start.id) AND at <= \(last) ORDER BY id
            """, logger: logger
        ).decode((Int64, Int64, Bool, ByteBuffer).self) {
            chunks.append(
                InputJournal.Chunk(
                    at: Instant(unixMilliseconds: at), entries: Int(entries), startsRun: startsRun,
                    bytes: Array(inputs.readableBytesView)))
        }
        return JournalReading.Rows(chunks: chunks, runStart: chunks.first.map(\.at), startsAfterFrom: start.after)
    }
}

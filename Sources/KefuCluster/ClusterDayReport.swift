import KefuConfig
import KefuCore
import KefuStore
import Logging
import PostgresNIO

/// `kefuctl report --layout` for a shop of a cluster: the day sheets read from PostgreSQL, with the same queries as
/// SQLite's (`DayReport.DaySQL.postgres`) and the same sums (`DayReport.sheet`), so both stores give one sheet.
public enum ClusterDayReport {
    public static func read(
        _ url: PostgresURL, shop: String, layout: DayReport.Layout, from: Instant?, until: Instant?,
        utcOffsetMinutes: Int, logger: Logger
    ) async throws -> DayReport.Sheet {
        let (connection, _) = try await url.connect(id: 4, logger: logger) { _ in }
        do {
            let sheet = try await read(
                connection, shop: shop, layout: layout, from: from, until: until, utcOffsetMinutes: utcOffsetMinutes,
                logger: logger)
            try? await connection.close()
            return sheet
        } catch {
            try? await connection.close()
            throw error
        }
    }

    static func read(
        _ connection: PostgresConnection, shop: String, layout: DayReport.Layout, from: Instant?, until: Instant?,
        utcOffsetMinutes: Int, logger: Logger
    ) async throws -> DayReport.Sheet {
        let (first, last) = (from?.unixMilliseconds ?? 0, until?.unixMilliseconds ?? Int64.max)
        let sql = DayReport.DaySQL.postgres
        // The queries run first (they are async); the sums then walk their rows.
        var rows: [String: [PostgresRow]] = [:]
        for query in [sql.rounds, sql.messages, sql.ratings, sql.conversations, sql.assignments, sql.presence] {
            var binds = PostgresBindings()
            binds.append(first)
            binds.append(last)
            binds.append(shop)
            var fetched: [PostgresRow] = []
            for try await row in try await connection.query(PostgresQuery(unsafeSQL: query, binds: binds), logger: logger) {
                fetched.append(row)
            }
            rows[query] = fetched
        }
        let facts = DayReport.Facts.read(sql, from: first, until: last) { query, body in
            for row in rows[query] ?? [] { body(Cells(row)) }
        }
        return DayReport.sheet(layout, facts: facts, utcOffsetMinutes: utcOffsetMinutes, shop: shop)
    }
}

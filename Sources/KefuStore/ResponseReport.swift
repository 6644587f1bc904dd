import KefuCore

/// The platforms' response score from the store alone (no journald): the `rounds` table has one row per response
/// round (started, due, answered, breached, closed, business wait), so the share answered in time per agent, skill,
/// store or day is one query. `kefuctl report` prints it.
public enum ResponseReport {
    /// What rows are grouped by.
    public enum Grouping: String, Sendable, CaseIterable {
        /// The agent who held the round when it ended (`(queued)` for one that breached with nobody holding it).
        case agent
        case skill
        /// `(none)` for conversations that named no store.
        case store
        /// The local day the round started, `YYYY-MM-DD`.
        case day
    }

    /// One group's rounds that have ended.
    public struct Row: Sendable, Equatable {
        public var group: String
        /// Rounds answered by a human before their deadline.
        public var met: Int
        /// Rounds whose deadline passed unanswered (answered late or not at all).
        public var breached: Int
        /// Rounds the conversation's close ended before their deadline, unanswered: neither met nor breached.
        public var closedUnanswered: Int
        /// Mean wait of the answered rounds, in business time.
        public var meanAnsweredWait: Milliseconds?

        /// Met among met and breached: what the platforms score (nil when there is neither).
        public var rate: Double? { met + breached == 0 ? nil : Double(met) / Double(met + breached) }

        public init(
            group: String, met: Int, breached: Int, closedUnanswered: Int, meanAnsweredWait: Milliseconds?
        ) {
            self.group = group
            self.met = met
            self.breached = breached
            self.closedUnanswered = closedUnanswered
            self.meanAnsweredWait = meanAnsweredWait
        }
    }

    /// Rounds that started in `[from, until)` and have ended, grouped. Opens the store in `directory` read-only,
    /// so it runs beside a serving kefud. `utcOffsetMinutes` sets the day boundaries (Asia/Shanghai: 480).
    public static func read(
        directory: String, by grouping: Grouping, from: Instant? = nil, until: Instant? = nil,
        utcOffsetMinutes: Int = 480
    ) throws(StoreError) -> [Row] {
        let path = directory.hasSuffix("/") ? directory + "kefu.sqlite" : directory + "/kefu.sqlite"
        let connection = try SQLiteConnection(path: path, readOnly: true)
        defer { connection.close() }
        let offset = Int64(utcOffsetMinutes) * 60_000
        let group =
            switch grouping {
            case .agent: "COALESCE(agent, '(queued)')"
            case .skill: "skill"
            case .store: "COALESCE(store, '(none)')"
            case .day: "CAST((started_at + ?3) / 86400000 AS INTEGER)"
            }
        let sql = """
            SELECT \(group) AS grouped,
                SUM(answered_at IS NOT NULL AND breached_at IS NULL),
                SUM(breached_at IS NOT NULL),
                SUM(answered_at IS NULL AND breached_at IS NULL AND closed_at IS NOT NULL),
                AVG(CASE WHEN answered_at IS NOT NULL THEN waited_ms END)
            FROM rounds
            WHERE started_at >= ?1 AND started_at < ?2
                AND (answered_at IS NOT NULL OR breached_at IS NOT NULL OR closed_at IS NOT NULL)
            GROUP BY grouped ORDER BY grouped
            """
        let statement = try connection.statement(sql, .read)
        defer { statement.reset() }
        statement.bind(1, from?.unixMilliseconds ?? Int64.min)
        statement.bind(2, until?.unixMilliseconds ?? Int64.max)
        if grouping == .day { statement.bind(3, offset) }
        var rows: [Row] = []
        while try statement.step(.read) {
            let name = grouping == .day ? Self.date(ofDay: statement.int64(0)) : statement.string(0)
            let mean = statement.isNull(4) ? nil : Milliseconds(Int64(statement.double(4).rounded()))
            rows.append(
                Row(
                    group: name, met: Int(statement.int64(1)), breached: Int(statement.int64(2)),
                    closedUnanswered: Int(statement.int64(3)), meanAnsweredWait: mean))
        }
        return rows
    }

    /// `YYYY-MM-DD` of a day counted from 1970-01-01 (the civil-from-days algorithm).
    static func date(ofDay day: Int64) -> String {
        let z = day + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let dayOfMonth = doy - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        let year = yoe + era * 400 + (month <= 2 ? 1 : 0)
        func two(_ value: Int64) -> String { value < 10 ? "0\(value)" : "\(value)" }
        return "\(year)-\(two(month))-\(two(dayOfMonth))"
    }
}

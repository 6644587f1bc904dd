import KefuCore

/// The sheets a customer-service lead opens in Excel (`kefuctl report --layout`): one row per agent per day, per
/// conversation, per skill per day or per store per day, never a range total (the peers' exports that sum a range are
/// what users complain about). Read from the store alone, read-only, beside a serving kefud.
///
/// The definitions are those of `/metrics` and `ResponseReport`: a round belongs to the day it started and to the
/// agent who held it when it ended; met = answered by a human before its deadline, breached = its deadline passed;
/// the response rate is met ÷ (met + breached); waits are in business time; a rating belongs to the day its survey
/// was sent and to the agent credited then.
public enum DayReport {
    public enum Layout: String, Sendable, CaseIterable {
        case agentDay = "agent-day"
        case conversation
        case skillDay = "skill-day"
        case storeDay = "store-day"
    }

    /// A sheet: its header and its rows, every cell already a string.
    public struct Sheet: Sendable, Equatable {
        public var header: [String]
        public var rows: [[String]]

        public init(header: [String], rows: [[String]]) {
            self.header = header
            self.rows = rows
        }
    }

    /// The sheet of `layout` for what happened in `[from, until)` (days in `utcOffsetMinutes`).
    public static func read(
        directory: String, layout: Layout, from: Instant? = nil, until: Instant? = nil, utcOffsetMinutes: Int = 480,
        shop: String = "default"
    ) throws(StoreError) -> Sheet {
        let path = directory.hasSuffix("/") ? directory + "kefu.sqlite" : directory + "/kefu.sqlite"
        let connection = try SQLiteConnection(path: path, readOnly: true)
        defer { connection.close() }
        let (first, last) = (from?.unixMilliseconds ?? 0, until?.unixMilliseconds ?? Int64.max)
        let facts = try Facts.read(DaySQL.sqlite, from: first, until: last) { (sql, body) throws(StoreError) in
            let statement = try connection.statement(sql, .read)
            defer { statement.reset() }
            statement.bind(1, first)
            statement.bind(2, last)
            while try statement.step(.read) { body(statement) }
        }
        return sheet(layout, facts: facts, utcOffsetMinutes: utcOffsetMinutes, shop: shop)
    }

    /// The sheet of `layout` from what was read (SQLite here; a cluster's PostgreSQL in KefuCluster).
    package static func sheet(_ layout: Layout, facts: Facts, utcOffsetMinutes: Int, shop: String) -> Sheet {
        let days = Days(offsetMinutes: utcOffsetMinutes)
        switch layout {

        case .agentDay: return agentDays(facts, days: days)
        case .conversation: return conversations(facts, days: days, shop: shop)
        case .skillDay: return groupDays(facts, days: days, name: "skill") { $0.skill }
        case .storeDay: return groupDays(facts, days: days, name: "store") { $0.store ?? "(none)" }
        }
    }

    // MARK: - Output

    /// RFC 4180 CSV, CRLF line ends, in UTF-8; with a byte-order mark by default, without which zh-CN Excel shows
    /// Chinese as mojibake (some other tools mind the mark: `--no-bom`).
    public static func csv(_ sheet: Sheet, byteOrderMark: Bool = true) -> String {
        func field(_ value: String) -> String {
            guard value.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return value }
            return "\"" + value.replacingOccurrences(of: "\"", with: "\"\"") + "\""
        }
        let lines = ([sheet.header] + sheet.rows).map { $0.map(field).joined(separator: ",") }
        return (byteOrderMark ? "\u{FEFF}" : "") + lines.joined(separator: "\r\n") + "\r\n"
    }

    /// Aligned columns for a terminal.
    public static func table(_ sheet: Sheet) -> String {
        let all = [sheet.header] + sheet.rows
        let widths = sheet.header.indices.map { column in all.map { $0[column].count }.max() ?? 0 }
        return all.map { row in
            row.enumerated().map { column, value in
                column == 0 ? value.padding(toLength: widths[0], withPad: " ", startingAt: 0)
                    : String(repeating: " ", count: widths[column] - value.count) + value
            }.joined(separator: "  ")
        }.joined(separator: "\n")
    }

    // MARK: - What the store holds for the range

    /// The queries a sheet is read with, in a store's dialect: `from` and `until` are the first two parameters, a
    /// cluster's shop the third. Each selects the columns `Facts.read` decodes, in that order.
    package struct DaySQL: Sendable {
        package var rounds, messages, ratings, conversations, assignments, presence: String

        package static let sqlite: DaySQL = {
            let range = "BETWEEN ?1 AND ?2 - 1"
            let touched = """
                SELECT id FROM conversations WHERE opened_at \(range) OR closed_at \(range)
                UNION SELECT conversation FROM rounds WHERE started_at \(range)
                UNION SELECT conversation FROM messages WHERE at \(range)
                UNION SELECT conversation FROM assignments WHERE at \(range)
                UNION SELECT conversation FROM ratings WHERE requested_at \(range)
                """
            return DaySQL(
                rounds: """
                    SELECT conversation, round, started_at, answered_at, breached_at, waited_ms, escalation_level, agent,
                        skill, store, warned_at FROM rounds WHERE started_at \(range)
                    """,
                messages: "SELECT conversation, sender, author, at, automatic FROM messages WHERE at \(range)",
                ratings: """
                    SELECT conversation, agent, skill, store, requested_at, rating, comment FROM ratings
                    WHERE requested_at \(range)
                    """,
                conversations: """
                    SELECT id, customer, skill, store, agent, opened_at, closed_at, closed_by FROM conversations
                    WHERE id IN (\(touched))
                    """,
                assignments: """
                    SELECT conversation, agent, at, reason FROM assignments WHERE conversation IN (\(touched)) ORDER BY id
                    """,
                presence: """
                    SELECT agent, at, presence FROM presence
                    WHERE id IN (SELECT max(id) FROM presence WHERE at < ?1 GROUP BY agent)
                    UNION ALL SELECT agent, at, presence FROM presence WHERE at \(range) ORDER BY at
                    """)
        }()

        /// The same over a cluster's tables, one shop's rows (`$3`).
        package static let postgres: DaySQL = {
            let range = "BETWEEN $1 AND $2 - 1"
            let touched = """
                SELECT id FROM kefu_conversations WHERE shop = $3 AND (opened_at \(range) OR closed_at \(range))
                UNION SELECT conversation FROM kefu_rounds WHERE shop = $3 AND started_at \(range)
                UNION SELECT conversation FROM kefu_messages WHERE shop = $3 AND at \(range)
                UNION SELECT conversation FROM kefu_assignments WHERE shop = $3 AND at \(range)
                UNION SELECT conversation FROM kefu_ratings WHERE shop = $3 AND requested_at \(range)
                """
            return DaySQL(
                rounds: """
                    SELECT conversation, round, started_at, answered_at, breached_at, waited_ms, escalation_level, agent,
                        skill, store, warned_at FROM kefu_rounds WHERE shop = $3 AND started_at \(range)
                    """,
                messages: """
                    SELECT conversation, sender, author, at, CASE WHEN automatic THEN 1::bigint ELSE 0::bigint END
                    FROM kefu_messages WHERE shop = $3 AND at \(range)
                    """,
                ratings: """
                    SELECT conversation, agent, skill, store, requested_at, rating, comment FROM kefu_ratings
                    WHERE shop = $3 AND requested_at \(range)
                    """,
                conversations: """
                    SELECT id, customer, skill, store, agent, opened_at, closed_at, closed_by FROM kefu_conversations
                    WHERE shop = $3 AND id IN (\(touched))
                    """,
                assignments: """
                    SELECT conversation, agent, at, reason FROM kefu_assignments
                    WHERE shop = $3 AND conversation IN (\(touched)) ORDER BY id
                    """,
                presence: """
                    SELECT agent, at, presence FROM kefu_presence
                    WHERE id IN (SELECT max(id) FROM kefu_presence WHERE shop = $3 AND at < $1 GROUP BY agent)
                    UNION ALL SELECT agent, at, presence FROM kefu_presence WHERE shop = $3 AND at \(range) ORDER BY at
                    """)
        }()
    }


    struct Conversation {
        var id: Int64, customer: String, skill: String, store: String?, agent: String?, openedAt: Int64
        var closedAt: Int64?, closedBy: String?
    }
    struct Round {
        var conversation: Int64, round: Int, startedAt: Int64, answeredAt: Int64?, breachedAt: Int64?
        var waited: Int64?, escalation: Int, agent: String?, skill: String, store: String?, warned: Bool = false
    }
    struct Assignment { var conversation: Int64, agent: String?, at: Int64, reason: String }
    struct Message { var conversation: Int64, sender: String, author: String, at: Int64, automatic: Bool }
    struct Rating {
        var conversation: Int64, agent: String?, skill: String, store: String?, requestedAt: Int64, rating: Int?
        var comment: String?
    }
    struct PresenceChange { var agent: String, at: Int64, presence: String }

    package struct Facts {
        /// Conversations opened in the range, or with a round, message, assignment or close in it.
        var conversations: [Int64: Conversation] = [:]
        var rounds: [Round] = []
        /// Every assignment of those conversations, in order (who held a chat when needs the ones before too).
        var assignments: [Int64: [Assignment]] = [:]
        var messages: [Message] = []
        var ratings: [Int64: Rating] = [:]
        /// Changes in the range, each agent's last one before it first.
        var presence: [PresenceChange] = []
        var from: Int64
        var until: Int64

        /// Reads the range through `each`, which runs one of `sql`'s queries (parameters: from, until and, in a
        /// cluster, the shop) and hands over its rows.
        package static func read<Failure: Error>(
            _ sql: DaySQL, from: Int64, until: Int64,
            each: (String, (any StoredRow) -> Void) throws(Failure) -> Void
        ) throws(Failure) -> Facts {
            var facts = Facts(from: from, until: until)
            try each(sql.rounds) { row in
                facts.rounds.append(
                    Round(
                        conversation: row.int64(0), round: Int(row.int64(1)), startedAt: row.int64(2),
                        answeredAt: row.optionalInt64(3), breachedAt: row.optionalInt64(4), waited: row.optionalInt64(5),
                        escalation: Int(row.int64(6)), agent: row.optionalString(7), skill: row.string(8),
                        store: row.optionalString(9), warned: row.optionalInt64(10) != nil))
            }
            try each(sql.messages) { row in
                facts.messages.append(
                    Message(
                        conversation: row.int64(0), sender: row.string(1), author: row.string(2), at: row.int64(3),
                        automatic: row.int64(4) != 0))
            }
            try each(sql.ratings) { row in
                facts.ratings[row.int64(0)] = Rating(
                    conversation: row.int64(0), agent: row.optionalString(1), skill: row.string(2),
                    store: row.optionalString(3), requestedAt: row.int64(4), rating: row.optionalInt64(5).map(Int.init),
                    comment: row.optionalString(6))
            }
            try each(sql.conversations) { row in
                facts.conversations[row.int64(0)] = Conversation(
                    id: row.int64(0), customer: row.string(1), skill: row.string(2), store: row.optionalString(3),
                    agent: row.optionalString(4), openedAt: row.int64(5), closedAt: row.optionalInt64(6),
                    closedBy: row.optionalString(7))
            }
            try each(sql.assignments) { row in
                facts.assignments[row.int64(0), default: []].append(
                    Assignment(
                        conversation: row.int64(0), agent: row.optionalString(1), at: row.int64(2),
                        reason: row.string(3)))
            }
            try each(sql.presence) { row in
                facts.presence.append(PresenceChange(agent: row.string(0), at: row.int64(1), presence: row.string(2)))
            }
            return facts
        }

        /// Who held the conversation at `instant` (nil: nobody, or before its first assignment).
        func holder(of conversation: Int64, at instant: Int64) -> String? {
            var holder: String?
            for assignment in assignments[conversation] ?? [] where assignment.at <= instant { holder = assignment.agent }
            return holder
        }
    }

    /// Local days of instants.
    struct Days {
        var offsetMinutes: Int
        func day(_ instant: Int64) -> Int64 {
            let local = instant + Int64(offsetMinutes) * 60_000
            return local >= 0 ? local / 86_400_000 : (local - 86_399_999) / 86_400_000
        }
        func date(_ instant: Int64) -> String { ResponseReport.date(ofDay: day(instant)) }
        func start(ofDay day: Int64) -> Int64 { day * 86_400_000 - Int64(offsetMinutes) * 60_000 }
        /// `YYYY-MM-DD HH:MM:SS` local.
        func time(_ instant: Int64) -> String {
            let local = instant + Int64(offsetMinutes) * 60_000
            let second = ((local % 86_400_000) + 86_400_000) % 86_400_000 / 1000
            func two(_ value: Int64) -> String { value < 10 ? "0\(value)" : "\(value)" }
            return "\(date(instant)) \(two(second / 3600)):\(two(second / 60 % 60)):\(two(second % 60))"
        }
    }

    // MARK: - Sums the sheets share

    /// Rounds and ratings of one group on one day, as the platforms and the board count them.
    struct Score {
        var rounds = 0, met = 0, breached = 0, within180 = 0, escalated = 0, warned = 0
        var firstResponses: [Int64] = [], responses: [Int64] = []
        var requests = 0, stars = [0, 0, 0, 0, 0]

        mutating func add(_ round: Round) {
            rounds += 1
            if round.answeredAt != nil && round.breachedAt == nil { met += 1 }
            if round.breachedAt != nil { breached += 1 }
            if round.escalation > 0 { escalated += 1 }
            if round.warned { warned += 1 }
            if round.answeredAt != nil, let waited = round.waited {
                responses.append(waited)
                if round.round == 1 { firstResponses.append(waited) }
                if waited <= 180_000 { within180 += 1 }
            }
        }

        mutating func add(_ rating: Rating) {
            requests += 1
            if let stars = rating.rating, (1...5).contains(stars) { self.stars[stars - 1] += 1 }
        }

        var ratings: Int { stars.reduce(0, +) }

        /// rounds … csat columns, in `scoreHeader`'s order.
        var cells: [String] {
            [
                "\(rounds)", "\(met)", "\(breached)", percent(met, of: met + breached), "\(within180)",
                percent(within180, of: met + breached), seconds(mean(firstResponses)),
                seconds(percentile90(firstResponses)), seconds(mean(responses)), "\(warned)", "\(escalated)",
                "\(requests)",
                "\(ratings)",
            ] + stars.map { "\($0)" } + [
                percent(stars[3] + stars[4], of: ratings), percent(stars[0] + stars[1], of: ratings),
            ]
        }
    }

    static let scoreHeader = [
        "rounds", "rounds_met", "rounds_breached", "response_rate_pct", "answered_within_180s", "rate_180s_pct",
        "first_response_avg_s", "first_response_p90_s", "response_avg_s", "warned_rounds", "escalated_rounds",
        "csat_requests",
        "ratings", "rating_1", "rating_2", "rating_3", "rating_4", "rating_5", "csat_pct", "dsat_pct",
    ]

    // MARK: - agent-day

    static func agentDays(_ facts: Facts, days: Days) -> Sheet {
        struct Key: Hashable, Comparable {
            var day: Int64
            var agent: String
            static func < (a: Key, b: Key) -> Bool { (a.day, a.agent) < (b.day, b.agent) }
        }
        struct Work {
            var score = Score()
            var conversations: Set<Int64> = [], buyers: Set<String> = []
            var buyerMessages = 0, agentMessages = 0, transfersIn = 0, transfersOut = 0
            var lengths: [Int64] = []
            var firstLogin: Int64?, lastLogout: Int64?, online: Int64 = 0, away: Int64 = 0
        }
        var work: [Key: Work] = [:]
        for round in facts.rounds {
            guard let agent = round.agent else { continue }
            work[Key(day: days.day(round.startedAt), agent: agent), default: Work()].score.add(round)
        }
        for rating in facts.ratings.values {
            guard let agent = rating.agent else { continue }
            work[Key(day: days.day(rating.requestedAt), agent: agent), default: Work()].score.add(rating)
        }
        for (conversation, assignments) in facts.assignments {
            var previous: String?
            for assignment in assignments {
                defer { previous = assignment.agent }
                guard assignment.at >= facts.from, assignment.at < facts.until else { continue }
                let day = days.day(assignment.at)
                if let agent = assignment.agent {
                    var entry = work[Key(day: day, agent: agent), default: Work()]
                    entry.conversations.insert(conversation)
                    if let buyer = facts.conversations[conversation]?.customer { entry.buyers.insert(buyer) }
                    if assignment.reason == "transfer" { entry.transfersIn += 1 }
                    work[Key(day: day, agent: agent)] = entry
                }
                if assignment.reason == "transfer", let from = previous, from != assignment.agent {
                    work[Key(day: day, agent: from), default: Work()].transfersOut += 1
                }
            }
        }
        for message in facts.messages {
            let day = days.day(message.at)
            switch message.sender {
            case "customer":
                guard let holder = facts.holder(of: message.conversation, at: message.at) else { continue }
                work[Key(day: day, agent: holder), default: Work()].buyerMessages += 1
            case "agent" where !message.automatic:
                work[Key(day: day, agent: message.author), default: Work()].agentMessages += 1
            default: break
            }
        }
        for conversation in facts.conversations.values {
            guard let closed = conversation.closedAt, closed >= facts.from, closed < facts.until,
                let agent = conversation.agent
            else { continue }
            work[Key(day: days.day(closed), agent: agent), default: Work()].lengths.append(closed - conversation.openedAt)
        }
        // Presence: each state lasts until the agent's next change (or the end of the range), cut at midnight.
        var byAgent: [String: [PresenceChange]] = [:]
        for change in facts.presence { byAgent[change.agent, default: []].append(change) }
        for (agent, changes) in byAgent {
            for (index, change) in changes.enumerated() {
                let end = index + 1 < changes.count ? changes[index + 1].at : min(facts.until, Int64.max)
                let start = max(change.at, facts.from)
                if change.at >= facts.from {
                    let key = Key(day: days.day(change.at), agent: agent)
                    if change.presence == "offline" {
                        work[key, default: Work()].lastLogout = change.at
                    } else if index == 0 || changes[index - 1].presence == "offline" {
                        if work[key]?.firstLogin == nil { work[key, default: Work()].firstLogin = change.at }
                    }
                }
                guard change.presence != "offline", end > start, end != Int64.max else { continue }
                var cursor = start
                while cursor < end {
                    let day = days.day(cursor)
                    let slice = min(end, days.start(ofDay: day + 1)) - cursor
                    if change.presence == "online" {
                        work[Key(day: day, agent: agent), default: Work()].online += slice
                    } else {
                        work[Key(day: day, agent: agent), default: Work()].away += slice
                    }
                    cursor += slice
                }
            }
        }
        let header =
            [
                "date", "agent", "first_login", "last_logout", "online_s", "away_s", "buyers_served", "conversations",
                "buyer_messages", "agent_messages", "answer_ratio", "transfers_in", "transfers_out",
                "avg_conversation_s",
            ] + scoreHeader
        let rows = work.keys.sorted().map { key -> [String] in
            let entry = work[key]!
            return [
                ResponseReport.date(ofDay: key.day), key.agent, entry.firstLogin.map(days.time) ?? "",
                entry.lastLogout.map(days.time) ?? "", "\(entry.online / 1000)", "\(entry.away / 1000)",
                "\(entry.buyers.count)", "\(entry.conversations.count)", "\(entry.buyerMessages)",
                "\(entry.agentMessages)",
                entry.buyerMessages == 0
                    ? "" : String(format: "%.2f", Double(entry.agentMessages) / Double(entry.buyerMessages)),
                "\(entry.transfersIn)", "\(entry.transfersOut)", seconds(mean(entry.lengths)),
            ] + entry.score.cells
        }
        return Sheet(header: header, rows: rows)
    }

    // MARK: - conversation

    static func conversations(_ facts: Facts, days: Days, shop: String) -> Sheet {
        let header = [
            "conversation", "shop", "store", "skill", "buyer", "opened", "queue_wait_s", "agents", "first_response_s",
            "rounds", "late_rounds", "closed", "closed_by", "transfers", "rating", "comment",
        ]
        var roundsOf: [Int64: [Round]] = [:]
        for round in facts.rounds { roundsOf[round.conversation, default: []].append(round) }
        let opened = facts.conversations.values.filter { $0.openedAt >= facts.from && $0.openedAt < facts.until }
        let rows = opened.sorted { $0.id < $1.id }.map { conversation -> [String] in
            let assignments = facts.assignments[conversation.id] ?? []
            var agents: [String] = []
            for agent in assignments.compactMap(\.agent) where agents.last != agent { agents.append(agent) }
            let firstAgent = assignments.first { $0.agent != nil }
            let rounds = (roundsOf[conversation.id] ?? []).sorted { $0.round < $1.round }
            let first = rounds.first { $0.round == 1 }
            let rating = facts.ratings[conversation.id]
            return [
                "\(conversation.id)", shop, conversation.store ?? "", conversation.skill, conversation.customer,
                days.time(conversation.openedAt), firstAgent.map { seconds(Double($0.at - conversation.openedAt)) } ?? "",
                agents.joined(separator: " > "),
                first.flatMap { $0.answeredAt != nil ? $0.waited : nil }.map { seconds(Double($0)) } ?? "",
                "\(rounds.count)", "\(rounds.filter { $0.breachedAt != nil }.count)",
                conversation.closedAt.map(days.time) ?? "", conversation.closedBy ?? "",
                "\(assignments.filter { $0.reason == "transfer" && $0.agent != nil }.count)",
                rating?.rating.map { "\($0)" } ?? "", rating?.comment ?? "",
            ]
        }
        return Sheet(header: header, rows: rows)
    }

    // MARK: - skill-day, store-day

    static func groupDays(
        _ facts: Facts, days: Days, name: String, group: (Round) -> String
    ) -> Sheet {
        struct Key: Hashable, Comparable {
            var day: Int64
            var group: String
            static func < (a: Key, b: Key) -> Bool { (a.day, a.group) < (b.day, b.group) }
        }
        struct Work {
            var score = Score()
            var opened = 0
            var queueWaits: [Int64] = []
        }
        var work: [Key: Work] = [:]
        func key(skill: String, store: String?, at instant: Int64) -> Key {
            let probe = Round(
                conversation: 0, round: 0, startedAt: 0, answeredAt: nil, breachedAt: nil, waited: nil, escalation: 0,
                agent: nil, skill: skill, store: store, warned: false)
            return Key(day: days.day(instant), group: group(probe))
        }
        for round in facts.rounds { work[key(skill: round.skill, store: round.store, at: round.startedAt), default: Work()].score.add(round) }
        for rating in facts.ratings.values {
            work[key(skill: rating.skill, store: rating.store, at: rating.requestedAt), default: Work()].score.add(rating)
        }
        for conversation in facts.conversations.values where conversation.openedAt >= facts.from && conversation.openedAt < facts.until {
            let k = key(skill: conversation.skill, store: conversation.store, at: conversation.openedAt)
            work[k, default: Work()].opened += 1
            if let first = facts.assignments[conversation.id]?.first(where: { $0.agent != nil }) {
                work[k, default: Work()].queueWaits.append(first.at - conversation.openedAt)
            }
        }
        let header = ["date", name, "conversations", "queue_wait_avg_s", "queue_wait_p90_s"] + scoreHeader
        let rows = work.keys.sorted().map { key -> [String] in
            let entry = work[key]!
            return [
                ResponseReport.date(ofDay: key.day), key.group, "\(entry.opened)", seconds(mean(entry.queueWaits)),
                seconds(percentile90(entry.queueWaits)),
            ] + entry.score.cells
        }
        return Sheet(header: header, rows: rows)
    }
}

// MARK: - Numbers as the sheets write them

private func mean(_ values: [Int64]) -> Double? {
    values.isEmpty ? nil : Double(values.reduce(0, +)) / Double(values.count)
}

/// The nearest-rank 90th percentile.
private func percentile90(_ values: [Int64]) -> Double? {
    guard !values.isEmpty else { return nil }
    let sorted = values.sorted()
    let rank = Int((0.9 * Double(sorted.count)).rounded(.up))
    return Double(sorted[max(0, rank - 1)])
}

/// Milliseconds as seconds with one decimal; empty for none.
private func seconds(_ milliseconds: Double?) -> String {
    milliseconds.map { String(format: "%.1f", $0 / 1000) } ?? ""
}

/// A share as a percentage with one decimal; empty when there is nothing to share.
private func percent(_ part: Int, of whole: Int) -> String {
    whole == 0 ? "" : String(format: "%.1f", Double(part) * 100 / Double(whole))
}

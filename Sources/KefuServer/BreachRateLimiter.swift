import KefuCore

/// Breaches that did not get a journald record of their own (more than `breach_records_per_s` in one second),
/// listed in one summary record instead: a storm costs a few records a second, and none is dropped by journald's
/// rate limit.
public struct BreachSummary: Sendable, Equatable {
    /// The conversation of each summarised breach, in the order they breached. A conversation that breached twice
    /// (two rounds) is listed twice: the list has one entry per breach.
    public var conversations: [ConversationID]
    /// How many of them were first-response breaches (round 1).
    public var firstResponse: Int
    /// How many were breaches of a later round.
    public var response: Int
    /// When the first of them was held back.
    public var first: Instant
    /// When the last of them was held back.
    public var last: Instant
    /// The `breach_records_per_s` in force, so the record says why these breaches have no record of their own.
    public var recordsPerSecond: Int
    /// Which part of one flush this is (1-based) and of how many: a list too long for one record is split.
    public var part: Int
    public var parts: Int

    /// What was held back: breaches, the escalation-ladder records that follow them (one per rung), or the
    /// debug-level notices of warnings and rounds met.
    public enum Kind: Sendable, Equatable {
        case breaches, escalations, notices
    }

    public var kind = Kind.breaches

    /// How many breaches (or escalation records) this summary accounts for.
    public var breaches: Int { conversations.count }

    public init(
        conversations: [ConversationID], firstResponse: Int, response: Int, first: Instant, last: Instant,
        recordsPerSecond: Int, part: Int = 1, parts: Int = 1
    ) {
        self.conversations = conversations
        self.firstResponse = firstResponse
        self.response = response
        self.first = first
        self.last = last
        self.recordsPerSecond = recordsPerSecond
        self.part = part
        self.parts = parts
    }

    /// `KEFU_CONVERSATIONS`: the ids, comma-separated.
    public var conversationList: String { conversations.map(\.description).joined(separator: ",") }
}

/// Decides which breaches get a journald record each and which are summarised: the first `recordsPerSecond` in a
/// wall-clock second are recorded one by one, later ones in that second are held and come out of ``flush()`` (once
/// a second, and at shutdown) as summaries. Every breach is thus either its own record or listed in exactly one
/// summary. Pure: the caller passes the time in and writes what comes out.
public struct BreachRateLimiter: Sendable {
    /// The longest `KEFU_CONVERSATIONS` list of one summary record, in bytes (about 10 000 ids): journald takes
    /// larger fields, but `journalctl` output and the tools reading it stay usable.
    public static let defaultMaximumListBytes = 60_000

    /// `breach_records_per_s`; 0 records every breach on its own. A reload may change it.
    public var recordsPerSecond: Int
    /// The longest conversation list one summary carries; longer ones are split into parts.
    public let maximumListBytes: Int

    /// The wall-clock second `recordedThisSecond` counts in.
    private var second: Int64?
    private var recordedThisSecond = 0
    private var held: [Held] = []

    private struct Held {
        var conversation: ConversationID
        var sla: SLAKind
        var at: Instant
    }

    /// Whether this limiter holds back breaches or escalation records (its summaries say which).
    public var kind = BreachSummary.Kind.breaches

    public init(recordsPerSecond: Int, maximumListBytes: Int = BreachRateLimiter.defaultMaximumListBytes) {
        self.recordsPerSecond = recordsPerSecond
        self.maximumListBytes = maximumListBytes
    }

    /// How many breaches are held for the next summary.
    public var heldBreaches: Int { held.count }

    /// Whether `breach`, to be written at `now`, gets a record of its own. When not, it is held for ``flush()``.
    public mutating func admit(_ breach: SLABreach, at now: Instant) -> Bool {
        guard recordsPerSecond > 0 else { return true }
        // Floor division: the second an instant falls in, also before 1970 (a test clock may start anywhere).
        let millis = now.unixMilliseconds
        let second = millis >= 0 ? millis / 1000 : (millis - 999) / 1000
        if second != self.second {
            self.second = second
            recordedThisSecond = 0
        }
        if recordedThisSecond < recordsPerSecond {
            recordedThisSecond += 1
            return true
        }
        held.append(Held(conversation: breach.conversation, sla: breach.sla, at: now))
        return false
    }

    /// Summaries of every breach held since the last flush (none when none is), each listing at most
    /// ``maximumListBytes`` of conversation ids; the held breaches are then forgotten.
    public mutating func flush() -> [BreachSummary] {
        guard !held.isEmpty else { return [] }
        var chunks: [ArraySlice<Held>] = []
        var start = held.startIndex
        var bytes = 0
        for index in held.indices {
            let length = held[index].conversation.description.utf8.count
            // An id joins the current list with a comma before it; a first id always fits, however long.
            if index > start && bytes + 1 + length > maximumListBytes {
                chunks.append(held[start..<index])
                start = index
                bytes = length
            } else {
                bytes += index > start ? 1 + length : length
            }
        }
        chunks.append(held[start...])
        held = []
        return chunks.enumerated().compactMap { offset, chunk in
            guard let first = chunk.first, let last = chunk.last else { return nil }
            let firstResponse = chunk.count { $0.sla == .firstResponse }
            var summary = BreachSummary(
                conversations: chunk.map(\.conversation), firstResponse: firstResponse,
                response: chunk.count { $0.sla == .response }, first: first.at, last: last.at,
                recordsPerSecond: recordsPerSecond, part: offset + 1, parts: chunks.count
            )
            summary.kind = kind
            return summary
        }
    }
}

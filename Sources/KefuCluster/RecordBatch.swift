import KefuCore
import KefuStore

/// A group of batches turned into the JSON argument of `kefu_commit` (see `RecordTables`).
///
/// Rows with a key (conversations, rounds, messages, notes) are whole rows, so only the last version of each within
/// the group is sent: the same as writing them one after another, and PostgreSQL's `ON CONFLICT` may not touch a row
/// twice in one statement. Assignments are appended in order.
struct RecordBatch {
    private var conversations: [ConversationID: Int] = [:]
    private var rounds: [RoundKey: Int] = [:]
    private var messages: [SeqKey: Int] = [:]
    private var notes: [SeqKey: Int] = [:]
    private var assignments: [Int] = []
    private var rows: [Record] = []

    private struct RoundKey: Hashable { var conversation: ConversationID; var round: Int }
    private struct SeqKey: Hashable { var conversation: ConversationID; var seq: Int }

    mutating func add(_ records: [Record]) {
        for record in records {
            let index = rows.count
            rows.append(record)
            // The later version of a keyed row replaces the earlier: the earlier's index is forgotten.
            switch record {
            case .conversation(let row): conversations[row.id] = index
            case .round(let row): rounds[RoundKey(conversation: row.conversation, round: row.round)] = index
            case .message(let row): messages[SeqKey(conversation: row.conversation, seq: row.seq)] = index
            case .note(let row): notes[SeqKey(conversation: row.conversation, seq: row.seq)] = index
            case .assignment: assignments.append(index)
            }
        }
    }

    /// `{"c":[…],"r":[…],"m":[…],"a":[…],"n":[…]}`, each array in the order the rows were added; empty ones
    /// left out.
    var json: String {
        var json = JSONText(capacity: 256 * rows.count + 32)
        json.begin("{")
        let sections: [(StaticString, [Int])] = [
            ("c", conversations.values.sorted()), ("r", rounds.values.sorted()), ("m", messages.values.sorted()),
            ("a", assignments), ("n", notes.values.sorted()),
        ]
        for (name, indices) in sections where !indices.isEmpty {
            json.key(name)
            json.begin("[")
            for index in indices { Self.write(rows[index], to: &json) }
            json.end("]")
        }
        json.end("}")
        return json.text
    }

    /// One row as an object keyed by its table's columns.
    private static func write(_ record: Record, to json: inout JSONText) {
        switch record {
        case .conversation(let row): write(row, to: &json)
        case .round(let row): write(row, to: &json)
        case .message(let row): write(row, to: &json)
        case .assignment(let row):
            json.begin("{")
            json.key("conversation"); json.number(row.conversation.rawValue)
            json.key("agent"); json.string(row.agent?.rawValue)
            json.key("at"); json.number(row.at.unixMilliseconds)
            json.key("reason"); json.string(row.reason.rawValue)
            json.key("explanation"); json.string(StoredDecision.text(of: row.decision))
            json.end("}")
        case .note(let row):
            json.begin("{")
            json.key("conversation"); json.number(row.conversation.rawValue)
            json.key("seq"); json.number(row.seq)
            json.key("author"); json.string(row.author)
            json.key("at"); json.number(row.at.unixMilliseconds)
            json.key("text"); json.string(row.text)
            json.end("}")
        }
    }

    private static func write(_ row: ConversationRecord, to json: inout JSONText) {
        json.begin("{")
        json.key("id"); json.number(row.id.rawValue)
        json.key("customer"); json.string(row.customer.rawValue)
        json.key("skill"); json.string(row.skill.name)
        json.key("priority"); json.string(row.priority.rawValue)
        json.key("state"); json.string(row.state.rawValue)
        json.key("agent"); json.string(row.agent?.rawValue)
        json.key("opened_at"); json.number(row.openedAt.unixMilliseconds)
        json.key("first_response_due_at"); json.number(row.firstResponseDueAt.unixMilliseconds)
        json.key("first_responded_at"); json.number(row.firstRespondedAt?.unixMilliseconds)
        json.key("breached_at"); json.number(row.breachedAt?.unixMilliseconds)
        json.key("closed_at"); json.number(row.closedAt?.unixMilliseconds)
        json.key("message_count"); json.number(row.messageCount)
        json.key("first_message"); json.string(row.firstMessage)
        json.key("store"); json.string(row.store)
        json.key("language"); json.string(row.language)
        json.key("gateway"); json.string(row.gateway)
        json.key("round"); json.number(row.round)
        json.key("round_started_at"); json.number(row.roundStartedAt?.unixMilliseconds)
        json.key("round_due_at"); json.number(row.roundDueAt?.unixMilliseconds)
        json.key("round_breached_at"); json.number(row.roundBreachedAt?.unixMilliseconds)
        json.key("round_warned_at"); json.number(row.roundWarnedAt?.unixMilliseconds)
        json.key("buyer_idle_since"); json.number(row.buyerIdleSince?.unixMilliseconds)
        json.key("held_since"); json.number(row.heldSince?.unixMilliseconds)
        json.key("hold_remaining_ms"); json.number(row.holdRemaining?.value)
        json.key("resolution_due_at"); json.number(row.resolutionDueAt?.unixMilliseconds)
        json.key("resolution_breached_at"); json.number(row.resolutionBreachedAt?.unixMilliseconds)
        json.end("}")
    }

    private static func write(_ row: RoundRecord, to json: inout JSONText) {
        json.begin("{")
        json.key("conversation"); json.number(row.conversation.rawValue)
        json.key("round"); json.number(row.round)
        json.key("started_at"); json.number(row.startedAt.unixMilliseconds)
        json.key("due_at"); json.number(row.dueAt.unixMilliseconds)
        json.key("answered_at"); json.number(row.answeredAt?.unixMilliseconds)
        json.key("breached_at"); json.number(row.breachedAt?.unixMilliseconds)
        json.key("closed_at"); json.number(row.closedAt?.unixMilliseconds)
        // Reports count the wait inside business hours, as in SQLite.
        json.key("waited_ms"); json.number((row.businessWaited ?? row.waited)?.value)
        json.key("escalation_level"); json.number(row.escalationLevel)
        json.key("agent"); json.string(row.agent?.rawValue)
        json.key("skill"); json.string(row.skill.name)
        json.key("store"); json.string(row.store)
        json.end("}")
    }

    private static func write(_ row: MessageRecord, to json: inout JSONText) {
        json.begin("{")
        json.key("conversation"); json.number(row.conversation.rawValue)
        json.key("seq"); json.number(row.seq)
        json.key("sender"); json.string(row.sender.rawValue)
        json.key("author"); json.string(row.author)
        json.key("at"); json.number(row.at.unixMilliseconds)
        json.key("text"); json.string(row.text)
        json.key("automatic"); json.bool(row.automatic)
        json.key("ref"); json.string(row.ref)
        json.end("}")
    }
}

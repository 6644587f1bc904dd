import KefuCore
import KefuStore
import NIOCore
import PostgresNIO

/// A group of batches turned into the arguments of one commit statement (see `RecordSection.commitStatement`): for
/// each kind of row present, one array per column.
///
/// Rows with a key (conversations, rounds, messages, notes) are whole rows, so only the last version of each within
/// the group is sent: the same as writing them one after another, and PostgreSQL's `ON CONFLICT` may not touch a row
/// twice in one statement. Assignments are appended in order.
struct RecordBatch {
    private var conversations: [ConversationID: Int] = [:]
    private var rounds: [RoundKey: Int] = [:]
    private var messages: [SeqKey: Int] = [:]
    private var notes: [SeqKey: Int] = [:]
    private var ratings: [ConversationID: Int] = [:]
    private var presence: [Int] = []
    private var assignments: [Int] = []
    private var journal: [Int] = []
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
            case .rating(let row): ratings[row.conversation] = index
            case .presence: presence.append(index)
            case .journal: journal.append(index)
            }
        }
    }

    /// The rows of each kind present, in the order they were added.
    private var sectionRows: [(RecordSection, [Int])] {
        [
            (.conversations, conversations.values.sorted()), (.rounds, rounds.values.sorted()),
            (.messages, messages.values.sorted()), (.assignments, assignments), (.notes, notes.values.sorted()),
            (.ratings, ratings.values.sorted()), (.presence, presence), (.journal, journal),
        ].filter { !$0.1.isEmpty }
    }

    /// The kinds of rows present: which statement commits this batch.
    var sections: [RecordSection] { sectionRows.map(\.0) }

    /// The statement's arguments: shop, node and epoch, then the column arrays of each section in `sections`.
    func arguments(shop: String, node: String, epoch: Int64) -> [PostgresData] {
        var arguments = [PostgresData(string: shop), PostgresData(string: node), PostgresData(int64: epoch)]
        for (section, indices) in sectionRows {
            var columns = ColumnArrays(section, rows: indices.count)
            for index in indices {
                Self.write(rows[index], to: &columns)
                columns.endRow()
            }
            arguments += columns.arguments
        }
        return arguments
    }

    /// One row's values, in the order of its section's `columns`.
    private static func write(_ record: Record, to columns: inout ColumnArrays) {
        switch record {
        case .conversation(let row): write(row, to: &columns)
        case .round(let row): write(row, to: &columns)
        case .message(let row):
            columns.bigint(row.conversation.rawValue)
            columns.bigint(row.seq)
            columns.text(row.sender.rawValue)
            columns.text(row.author)
            columns.bigint(row.at.unixMilliseconds)
            columns.text(row.text)
            columns.boolean(row.automatic)
            columns.text(row.ref)
        case .assignment(let row):
            columns.bigint(row.conversation.rawValue)
            columns.text(row.agent?.rawValue)
            columns.bigint(row.at.unixMilliseconds)
            columns.text(row.reason.rawValue)
            columns.text(StoredDecision.text(of: row.decision))
        case .note(let row):
            columns.bigint(row.conversation.rawValue)
            columns.bigint(row.seq)
            columns.text(row.author)
            columns.bigint(row.at.unixMilliseconds)
            columns.text(row.text)
        case .presence(let row):
            columns.text(row.agent.rawValue)
            columns.bigint(row.at.unixMilliseconds)
            columns.text(row.presence.rawValue)
        case .rating(let row):
            columns.bigint(row.conversation.rawValue)
            columns.text(row.customer.rawValue)
            columns.text(row.agent?.rawValue)
            columns.text(row.skill.name)
            columns.text(row.store)
            columns.bigint(row.requestedAt.unixMilliseconds)
            columns.bigint(row.expiresAt.unixMilliseconds)
            columns.bigint(row.rating)
            columns.text(row.comment)
            columns.bigint(row.ratedAt?.unixMilliseconds)
        case .journal(let chunk):
            columns.bigint(chunk.at.unixMilliseconds)
            columns.bigint(chunk.entries)
            columns.boolean(chunk.startsRun)
            columns.bytes(chunk.bytes)
        }
    }

    private static func write(_ row: ConversationRecord, to columns: inout ColumnArrays) {
        columns.bigint(row.id.rawValue)
        columns.text(row.customer.rawValue)
        columns.text(row.skill.name)
        columns.text(row.priority.rawValue)
        columns.text(row.state.rawValue)
        columns.text(row.agent?.rawValue)
        columns.bigint(row.openedAt.unixMilliseconds)
        columns.bigint(row.firstResponseDueAt.unixMilliseconds)
        columns.bigint(row.firstRespondedAt?.unixMilliseconds)
        columns.bigint(row.breachedAt?.unixMilliseconds)
        columns.bigint(row.closedAt?.unixMilliseconds)
        columns.bigint(row.messageCount)
        columns.text(row.firstMessage)
        columns.text(row.store)
        columns.text(row.language)
        columns.text(row.gateway)
        columns.bigint(row.round)
        columns.bigint(row.roundStartedAt?.unixMilliseconds)
        columns.bigint(row.roundDueAt?.unixMilliseconds)
        columns.bigint(row.roundBreachedAt?.unixMilliseconds)
        columns.bigint(row.roundWarnedAt?.unixMilliseconds)
        columns.bigint(row.buyerIdleSince?.unixMilliseconds)
        columns.bigint(row.heldSince?.unixMilliseconds)
        columns.bigint(row.holdRemaining?.value)
        columns.bigint(row.resolutionDueAt?.unixMilliseconds)
        columns.bigint(row.resolutionBreachedAt?.unixMilliseconds)
        columns.text(row.closedBy?.rawValue)
    }

    private static func write(_ row: RoundRecord, to columns: inout ColumnArrays) {
        columns.bigint(row.conversation.rawValue)
        columns.bigint(row.round)
        columns.bigint(row.startedAt.unixMilliseconds)
        columns.bigint(row.dueAt.unixMilliseconds)
        columns.bigint(row.answeredAt?.unixMilliseconds)
        columns.bigint(row.breachedAt?.unixMilliseconds)
        columns.bigint(row.closedAt?.unixMilliseconds)
        // Reports count the wait inside business hours, as in SQLite.
        columns.bigint((row.businessWaited ?? row.waited)?.value)
        columns.bigint(row.escalationLevel)
        columns.text(row.agent?.rawValue)
        columns.text(row.skill.name)
        columns.text(row.store)
        columns.bigint(row.warnedAt?.unixMilliseconds)
    }
}

/// One section's rows as PostgreSQL arrays in binary form, one per column, filled a row at a time. Written here
/// rather than with postgres-nio's `PostgresData(array:)`, which takes one boxed value per element.
struct ColumnArrays {
    private let types: [RecordSection.ColumnType]
    private var bodies: [ByteBuffer]
    private var hasNull: [Bool]
    private var column = 0
    private var count = 0

    init(_ section: RecordSection, rows: Int) {
        types = section.columns.map(\.value)
        bodies = types.map { _ in ByteBufferAllocator().buffer(capacity: 24 * rows) }
        hasNull = types.map { _ in false }
    }

    mutating func bigint<Integer: BinaryInteger>(_ value: Integer?) {
        precondition(types[column] == .bigint, "bigint written into a \(types[column]) column")
        if let value {
            bodies[column].writeInteger(Int32(8))
            bodies[column].writeInteger(Int64(value))
        } else {
            null()
        }
        column += 1
    }

    mutating func text(_ value: String?) {
        precondition(types[column] == .text, "text written into a \(types[column]) column")
        if let value {
            let length = bodies[column].writerIndex
            bodies[column].writeInteger(Int32(0))
            let written = bodies[column].writeString(value)
            bodies[column].setInteger(Int32(written), at: length)
        } else {
            null()
        }
        column += 1
    }

    mutating func bytes(_ value: [UInt8]) {
        precondition(types[column] == .bytea, "bytea written into a \(types[column]) column")
        bodies[column].writeInteger(Int32(value.count))
        bodies[column].writeBytes(value)
        column += 1
    }

    mutating func boolean(_ value: Bool?) {
        precondition(types[column] == .boolean, "boolean written into a \(types[column]) column")
        if let value {
            bodies[column].writeInteger(Int32(1))
            bodies[column].writeInteger(UInt8(value ? 1 : 0))
        } else {
            null()
        }
        column += 1
    }

    private mutating func null() {
        bodies[column].writeInteger(Int32(-1))
        hasNull[column] = true
    }

    mutating func endRow() {
        precondition(column == types.count, "a row of \(column) values for \(types.count) columns")
        column = 0
        count += 1
    }

    /// Each column as a one-dimensional array: PostgreSQL's binary array format (`array_recv`).
    var arguments: [PostgresData] {
        zip(types, zip(bodies, hasNull)).map { type, column in
            let (body, hasNull) = column
            let (element, arrayType): (PostgresDataType, PostgresDataType) = switch type {
            case .bigint: (.int8, .int8Array)
            case .text: (.text, .textArray)
            case .boolean: (.bool, .boolArray)
            case .bytea: (.bytea, .byteaArray)
            }
            var array = ByteBufferAllocator().buffer(capacity: 20 + body.readableBytes)
            array.writeInteger(Int32(count == 0 ? 0 : 1))  // dimensions
            array.writeInteger(Int32(hasNull ? 1 : 0))
            array.writeInteger(element.rawValue)
            if count > 0 {
                array.writeInteger(Int32(count))
                array.writeInteger(Int32(1))  // lower bound
                array.writeImmutableBuffer(body)
            }
            return PostgresData(type: arrayType, formatCode: .binary, value: array)
        }
    }
}

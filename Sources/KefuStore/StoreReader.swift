import KefuCore

/// Read access to the store, handed to the body of `ConversationStore.enqueueRead(_:completion:)` and
/// `ConversationStore.read(_:)`.
///
/// A reader is valid only while that body runs, on the store's writer thread; it sees every write enqueued before
/// the read. It is not `Sendable`, and a reader kept past its body throws instead of touching the database.
public final class StoreReader {
    private var connection: Connection?
    private let path: String

    init(connection: Connection) {
        self.connection = connection
        self.path = connection.path
    }

    /// Ends the reader's validity once its body has returned.
    func invalidate() {
        connection = nil
    }

    /// The messages of a conversation, ordered by `seq`; empty when there are none.
    public func history(of conversation: ConversationID) throws -> [MessageRecord] {
        let statement = try prepare(
            "SELECT seq, sender, author, at, text FROM messages WHERE conversation = ?1 ORDER BY seq"
        )
        defer { statement.reset() }
        statement.bind(1, conversation.rawValue)
        var messages: [MessageRecord] = []
        while try statement.step(.read) {
            let senderText = statement.string(1)
            guard let sender = MessageSender(rawValue: senderText) else {
                let message = "message of conversation \(conversation): unknown sender '\(senderText)'"
                throw StoreError(.read, path: path, message: message)
            }
            messages.append(
                MessageRecord(
                    conversation: conversation,
                    seq: Int(statement.int64(0)),
                    sender: sender,
                    author: statement.string(2),
                    at: Instant(unixMilliseconds: statement.int64(3)),
                    text: statement.string(4)
                )
            )
        }
        return messages
    }

    /// The stored state of a conversation, or nil if it was never written.
    public func conversation(_ id: ConversationID) throws -> ConversationRecord? {
        let statement = try prepare("SELECT \(RecordSQL.conversationColumns) FROM conversations WHERE id = ?1")
        defer { statement.reset() }
        statement.bind(1, id.rawValue)
        guard try statement.step(.read) else { return nil }
        return try RecordSQL.conversation(from: statement, path: path)
    }

    /// Every agent that has held the conversation, each once, in order of their first assignment.
    public func agentsWhoHeld(_ conversation: ConversationID) throws -> [AgentID] {
        let statement = try prepare(
            """
            SELECT agent FROM assignments WHERE conversation = ?1 AND agent IS NOT NULL
            GROUP BY agent ORDER BY MIN(id)
            """
        )
        defer { statement.reset() }
        statement.bind(1, conversation.rawValue)
        var agents: [AgentID] = []
        while try statement.step(.read) {
            agents.append(AgentID(statement.string(0)))
        }
        return agents
    }

    /// The conversation's changes of hands, in the order they were written.
    public func assignments(of conversation: ConversationID) throws -> [AssignmentRecord] {
        let statement = try prepare(
            "SELECT \(RecordSQL.assignmentColumns) FROM assignments WHERE conversation = ?1 ORDER BY id"
        )
        defer { statement.reset() }
        statement.bind(1, conversation.rawValue)
        var rows: [AssignmentRecord] = []
        while try statement.step(.read) {
            rows.append(RecordSQL.assignment(from: statement, of: conversation))
        }
        return rows
    }

    /// The conversation's last change of hands (the last one written), or nil if it never had one. Answers
    /// `EXPLAIN` for a conversation the core no longer holds, such as a closed one.
    public func latestAssignment(of conversation: ConversationID) throws -> AssignmentRecord? {
        let statement = try prepare(
            """
            SELECT \(RecordSQL.assignmentColumns) FROM assignments WHERE conversation = ?1
            ORDER BY id DESC LIMIT 1
            """
        )
        defer { statement.reset() }
        statement.bind(1, conversation.rawValue)
        guard try statement.step(.read) else { return nil }
        return RecordSQL.assignment(from: statement, of: conversation)
    }

    /// The conversation's internal notes, ordered by `seq`; empty when there are none.
    public func notes(of conversation: ConversationID) throws -> [NoteRecord] {
        let statement = try prepare(
            "SELECT \(RecordSQL.noteColumns) FROM notes WHERE conversation = ?1 ORDER BY seq"
        )
        defer { statement.reset() }
        statement.bind(1, conversation.rawValue)
        var notes: [NoteRecord] = []
        while try statement.step(.read) {
            notes.append(RecordSQL.note(from: statement, of: conversation))
        }
        return notes
    }

    /// Everything the daemon needs to resume serving after a restart; what `ConversationStore.recover()` returns.
    public func recoveredState() throws -> RecoveredState {
        var open: [ConversationRecord] = []
        do {
            let statement = try prepare(
                "SELECT \(RecordSQL.conversationColumns) FROM conversations WHERE state != 'closed' ORDER BY id"
            )
            defer { statement.reset() }
            while try statement.step(.read) {
                open.append(try RecordSQL.conversation(from: statement, path: path))
            }
        }
        var nextID: Int64 = 1
        do {
            let statement = try prepare("SELECT COALESCE(MAX(id), 0) + 1 FROM conversations")
            defer { statement.reset() }
            if try statement.step(.read) {
                nextID = statement.int64(0)
            }
        }
        var lastAssignedAt: [AgentID: Instant] = [:]
        do {
            let statement = try prepare(
                "SELECT agent, MAX(at) FROM assignments WHERE agent IS NOT NULL GROUP BY agent"
            )
            defer { statement.reset() }
            while try statement.step(.read) {
                lastAssignedAt[AgentID(statement.string(0))] = Instant(unixMilliseconds: statement.int64(1))
            }
        }
        return RecoveredState(
            openConversations: open,
            nextConversationID: ConversationID(nextID),
            lastAssignedAt: lastAssignedAt
        )
    }

    /// Runs arbitrary SQL on the store's connection. Tests use it to provoke failures (e.g. a full disk).
    func executeForTesting(_ sql: String) throws {
        guard let connection else { throw invalidError }
        try connection.execute(sql, .read)
    }

    private func prepare(_ sql: String) throws(StoreError) -> Statement {
        guard let connection else { throw invalidError }
        return try connection.statement(sql, .read)
    }

    private var invalidError: StoreError {
        StoreError(.read, path: path, message: "StoreReader used after its read body returned")
    }
}

// A reader is bound to the writer thread's connection; sending it elsewhere would race with the writer.
@available(*, unavailable)
extension StoreReader: Sendable {}

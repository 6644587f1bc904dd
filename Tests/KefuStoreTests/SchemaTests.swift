import KefuTestSupport
import Foundation
import KefuCore
import Testing

@testable import KefuStore

/// The layout the previous release (schema version 1) created, frozen here on purpose: `Schema.migrations[0]` must
/// never change, and databases in the field were made by exactly this.
private let version1SQL = """
    CREATE TABLE conversations (
        id INTEGER PRIMARY KEY,
        customer TEXT NOT NULL,
        skill TEXT NOT NULL,
        priority TEXT NOT NULL,
        state TEXT NOT NULL,
        agent TEXT,
        opened_at INTEGER NOT NULL,
        first_response_due_at INTEGER NOT NULL,
        first_responded_at INTEGER,
        breached_at INTEGER,
        closed_at INTEGER,
        message_count INTEGER NOT NULL,
        first_message TEXT NOT NULL
    );
    -- Recovery reads the conversations that are not closed.
    CREATE INDEX conversations_state ON conversations(state);

    CREATE TABLE messages (
        conversation INTEGER NOT NULL REFERENCES conversations(id),
        seq INTEGER NOT NULL,
        sender TEXT NOT NULL,
        author TEXT NOT NULL,
        at INTEGER NOT NULL,
        text TEXT NOT NULL,
        PRIMARY KEY (conversation, seq)
    ) WITHOUT ROWID;

    CREATE TABLE assignments (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        conversation INTEGER NOT NULL REFERENCES conversations(id),
        agent TEXT,
        at INTEGER NOT NULL,
        reason TEXT NOT NULL
    );
    CREATE INDEX assignments_conversation ON assignments(conversation);
    -- Recovery asks for each agent's latest assignment.
    CREATE INDEX assignments_agent_at ON assignments(agent, at);
    """

/// Rows as the previous release wrote them: an assigned conversation with history, a closed one, a queued one.
private let version1Rows = """
    INSERT INTO conversations VALUES
        (1, 'buyer-1', 'presales', 'normal', 'queued', NULL, 1700000000001, 1700000060001, NULL, NULL, NULL, 1,
         'hello'),
        (2, 'buyer-2', 'presales', 'vip', 'assigned', 'alice', 1700000000002, 1700000060002, 1700000000500, NULL,
         NULL, 2, '多行
    文本'),
        (3, 'buyer-3', 'presales', 'normal', 'closed', 'bob', 1700000000003, 1700000060003, NULL, 1700000000900,
         1700000001000, 1, 'hello');
    INSERT INTO messages VALUES
        (2, 1, 'customer', 'buyer-2', 1700000000001, '在吗'),
        (2, 2, 'agent', 'alice', 1700000000002, '在的');
    INSERT INTO assignments (conversation, agent, at, reason) VALUES
        (2, 'alice', 100, 'routed'),
        (3, 'bob', 200, 'routed');
    """

/// Makes `<directory>/kefu.sqlite` the way the previous release left it, with `version1Rows` in it.
private func makeVersion1Database(in directory: String) throws {
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    let connection = try SQLiteConnection(path: directory + "/kefu.sqlite")
    defer { connection.close() }
    try connection.execute("PRAGMA journal_mode = WAL", .open)
    try connection.execute(version1SQL, .migrate)
    try connection.execute("PRAGMA user_version = 1", .migrate)
    try connection.execute(version1Rows, .write)
}

/// `PRAGMA user_version` of the database file, read on a connection of its own (the store must be closed).
private func schemaVersion(in directory: String) throws -> Int64 {
    let connection = try SQLiteConnection(path: directory + "/kefu.sqlite")
    defer { connection.close() }
    return try Schema.userVersion(connection)
}

/// Every table and index with its SQL, whitespace collapsed, so two layouts can be compared.
private func layout(in directory: String) throws -> [String] {
    let connection = try SQLiteConnection(path: directory + "/kefu.sqlite")
    defer { connection.close() }
    let statement = try connection.statement(
        "SELECT type, name, COALESCE(sql, '') FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' ORDER BY name",
        .read
    )
    defer { statement.reset() }
    var rows: [String] = []
    while try statement.step(.read) {
        let sql = statement.string(2).split(whereSeparator: \.isWhitespace).joined(separator: " ")
        rows.append("\(statement.string(0)) \(statement.string(1)): \(sql)")
    }
    return rows
}

@Suite struct SchemaTests {
    @Test func aFreshStoreIsAtTheCurrentVersionWithEveryTable() async throws {
        try await withTemporaryDirectory { directory in
            let store = try openStore(directory)
            await store.shutdown()
            #expect(Schema.currentVersion == 10)
            #expect(try schemaVersion(in: directory) == 10)
            let names = try layout(in: directory).map { $0.prefix { $0 != ":" } }
            // The input journal (version 10), and the run starts a replay begins at.
            #expect(names.contains("table input_journal"))
            #expect(names.contains("index input_journal_runs"))
            // Retention (version 9): the conversations still to purge, and those being purged.
            #expect(names.contains("index conversations_unpurged"))
            #expect(names.contains("table purging"))
            #expect(names.contains("table notes"))
            #expect(names.contains("table rounds"))
            #expect(names.contains("table ratings"))
            #expect(names.contains("table presence"))
            #expect(names.contains("index conversations_closed_at"))
            #expect(names.contains("index conversations_open"))
            #expect(names.contains("index messages_ref"))
            #expect(names.contains("index messages_seq"))
            #expect(!names.contains("index conversations_state"))
            // Messages are a log in the order they were written (version 5): the table has a rowid.
            let messages = try layout(in: directory).first { $0.hasPrefix("table messages:") }
            #expect(messages?.contains("id INTEGER PRIMARY KEY") == true, "\(messages ?? "no messages table")")
        }
    }

    @Test func aVersion1DatabaseOpensMigratedWithEveryRowKept() async throws {
        try await withTemporaryDirectory { directory in
            try makeVersion1Database(in: directory)
            #expect(try schemaVersion(in: directory) == 1)
            let carolChosen = decision(
                2, "carol", 300, rule: .capacityAppeared("carol"),
                [Candidate(agent: "carol", verdict: .chosen)])

            do {
                let store = try openStore(directory)
                let queued = conversation(1)
                let assigned = conversation(
                    2, state: .assigned, agent: "alice", priority: .vip, firstRespondedAt: at(1_700_000_000_500),
                    messageCount: 2, firstMessage: "多行\n文本"
                )
                let closed = conversation(
                    3, state: .closed, agent: "bob", breachedAt: at(1_700_000_000_900),
                    closedAt: at(1_700_000_001_000)
                )
                // Old rows read back whole, with the new columns empty.
                #expect(try await store.read { try $0.conversation(ConversationID(1)) } == queued)
                #expect(try await store.read { try $0.conversation(ConversationID(2)) } == assigned)
                #expect(try await store.read { try $0.conversation(ConversationID(3)) } == closed)
                #expect(
                    try await store.read { try $0.history(of: ConversationID(2)) } == [
                        MessageRecord(
                            conversation: ConversationID(2), seq: 1, sender: .customer, author: "buyer-2",
                            at: at(1_700_000_000_001), text: "在吗"
                        ),
                        MessageRecord(
                            conversation: ConversationID(2), seq: 2, sender: .agent, author: "alice",
                            at: at(1_700_000_000_002), text: "在的"
                        ),
                    ]
                )
                let oldAssignments = try await store.read { try $0.assignments(of: ConversationID(2)) }
                #expect(oldAssignments == [assignment(2, "alice", 100)])
                let oldLatest = try await store.read { try $0.latestAssignment(of: ConversationID(3)) }
                #expect(oldLatest == assignment(3, "bob", 200))
                #expect(try await store.read { try $0.notes(of: ConversationID(2)) }.isEmpty)

                let state = try store.recover(returningBuyersSince: at(0))
                #expect(state.openConversations == [queued, assigned])
                #expect(state.nextConversationID == ConversationID(4))
                #expect(state.lastAssignedAt == ["alice": at(100), "bob": at(200)])
                #expect(state.notes.isEmpty)
                #expect(
                    state.returningBuyers == ["buyer-3": ReturningBuyer(agent: "bob", closedAt: at(1_700_000_001_000))]
                )

                // The new columns and table take writes, next to the old rows.
                var tagged = assigned
                tagged.store = "天猫旗舰店"
                tagged.language = "zh-CN"
                try await store.commit([
                    .conversation(tagged),
                    .assignment(assignment(2, "carol", 300, decision: carolChosen)),
                    .note(note(2, 1, "VIP, handle with care")),
                ])
                #expect(try await store.read { try $0.conversation(ConversationID(2)) } == tagged)
                #expect(
                    try await store.read { try $0.latestAssignment(of: ConversationID(2)) }
                        == assignment(2, "carol", 300, decision: carolChosen)
                )
                let newNotes = try await store.read { try $0.notes(of: ConversationID(2)) }
                #expect(newNotes == [note(2, 1, "VIP, handle with care")])
                await store.shutdown()
            }
            #expect(try schemaVersion(in: directory) == Schema.currentVersion)

            // Reopening an upgraded database runs no step again and keeps what was written.
            let store = try openStore(directory)
            #expect(try await store.read { try $0.notes(of: ConversationID(2)) }.count == 1)
            #expect(try await store.read { try $0.conversation(ConversationID(2)) }?.store == "天猫旗舰店")
            let decisions = try await store.read { try $0.assignments(of: ConversationID(2)) }.map(\.decision)
            #expect(decisions == [nil, carolChosen])
            await store.shutdown()
            #expect(try schemaVersion(in: directory) == Schema.currentVersion)
        }
    }

    @Test func anUpgradedDatabaseHasTheSameLayoutAsAFreshOne() async throws {
        try await withTemporaryDirectory { root in
            let fresh = root + "/fresh"
            let upgraded = root + "/upgraded"
            try openStore(fresh).close()
            try makeVersion1Database(in: upgraded)
            try openStore(upgraded).close()
            let freshLayout = try layout(in: fresh)
            #expect(!freshLayout.isEmpty)
            #expect(try layout(in: upgraded) == freshLayout)
        }
    }

    @Test func aHistoryPageIsReadThroughTheSeqIndex() async throws {
        try await withTemporaryDirectory { directory in
            let store = try openStore(directory)
            let sql = """
                SELECT seq, sender, author, at, text, automatic, ref FROM messages
                WHERE conversation = ?1 AND seq > ?2 AND seq <= ?3 ORDER BY seq LIMIT ?4
                """
            let plan = try await store.read { try $0.queryPlanForTesting(sql) }
            #expect(plan.contains("messages_seq"), "plan:\n\(plan)")
            #expect(!plan.contains("TEMP B-TREE"), "plan:\n\(plan)")
            await store.shutdown()
        }
    }

    @Test func lastAgentsIsAnsweredFromTheClosedAtIndex() async throws {
        try await withTemporaryDirectory { directory in
            let store = try openStore(directory)
            let plan = try await store.read { try $0.queryPlanForTesting(StoreReader.lastAgentsSQL) }
            #expect(plan.contains("conversations_closed_at"), "plan:\n\(plan)")
            #expect(!plan.contains("SCAN c"), "plan:\n\(plan)")
            await store.shutdown()
        }
    }
}

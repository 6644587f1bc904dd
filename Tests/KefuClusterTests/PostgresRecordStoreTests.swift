import Foundation
import KefuCluster
import KefuConfig
import KefuCore
import KefuStore
import KefuTestSupport
import Logging
import Synchronization
import Testing

/// A shop's records in PostgreSQL: read back as the SQLite store reads them, group-committed, fenced by the lease,
/// and still written after PostgreSQL restarts.
@Suite("The PostgreSQL record store", .serialized)
struct PostgresRecordStoreTests {
    private let logger = Logger(label: "pg-store-test") { _ in SwiftLogNoOpLogHandler() }

    private func settings(_ server: PostgresServer, node: String) -> ClusterSettings {
        ClusterSettings(
            postgres: PostgresURL(host: "127.0.0.1", port: server.port, user: "kefu", database: "kefu"), node: node,
            advertise: ListenAddress(host: "127.0.0.1", port: 7390))
    }

    /// Node `a` joins, takes `shop` and opens its store under the epoch it was granted.
    private func openStore(
        _ server: PostgresServer, shop: String = "acme", lease: Duration = .seconds(30),
        onFenced: @escaping @Sendable () -> Void = {}
    ) async throws -> (ShopLeases, PostgresRecordStore) {
        let leases = try await ShopLeases.join(settings(server, node: "a"), logger: logger)
        let epoch = try #require(try await leases.acquire(shop, for: lease))
        let store = try await PostgresRecordStore.open(
            settings(server, node: "a"), shop: shop, epoch: epoch, logger: logger, onFenced: onFenced)
        return (leases, store)
    }

    /// Every kind of row, with the cases the readers treat apart: an open conversation with an automatic reply, an
    /// internal line, a resend ref, a note and a round on the ladder; one closed with its holder; one closed back in the
    /// queue (its holder found through its assignments); and a conversation rewritten within the same batch.
    private static var records: [[Record]] {
        var open = conversation(1, state: .assigned, agent: "alice", messageCount: 4)
        open.round = 1
        var round = RoundRecord(
            conversation: ConversationID(1), round: 1, startedAt: at(1_700_000_000_001), dueAt: at(1_700_000_120_001),
            agent: "alice", skill: "presales", store: "flagship")
        round.escalationLevel = 2
        var withRef = message(1, 2, "我要退货 🙏")
        withRef.ref = "r-1"
        var automatic = message(1, 3, "您好，请稍等", sender: .agent)
        automatic.automatic = true
        let internalLine = MessageRecord(
            conversation: ConversationID(1), seq: 4, sender: .system, author: "system", at: at(1_700_000_000_004),
            text: "transfer: \"refunds\"\nsecond line")
        // Conversation 2's rounds: one met, one breached (what today's response rate counts).
        let met = RoundRecord(
            conversation: ConversationID(2), round: 1, startedAt: at(1_700_000_000_020), dueAt: at(1_700_000_120_020),
            answeredAt: at(1_700_000_000_050), agent: "bob", skill: "presales", store: nil)
        let breached = RoundRecord(
            conversation: ConversationID(2), round: 2, startedAt: at(1_700_000_001_000), dueAt: at(1_700_000_181_000),
            breachedAt: at(1_700_000_181_000), agent: "bob", skill: "presales", store: nil)
        // Its survey, sent at the close and rated in the same group (the later version is the one kept).
        let survey = RatingRecord(
            conversation: ConversationID(2), customer: "buyer-1", agent: "bob", skill: "presales", store: nil,
            requestedAt: at(1_700_000_500_000), expiresAt: at(1_700_086_900_000))
        var rated = survey
        rated.rating = 5
        rated.comment = "很好"
        rated.ratedAt = at(1_700_000_600_000)
        let routed = decision(
            1, "alice", 1_700_000_000_010,
            [Candidate(agent: "alice", verdict: .chosen), Candidate(agent: "bob", verdict: .higherLoad(held: 5, max: 5))])
        return [
            [.conversation(conversation(1)), .message(message(1, 1))],
            [
                .conversation(open), .message(withRef), .message(automatic), .message(internalLine),
                .assignment(assignment(1, "alice", 1_700_000_000_010, decision: routed)), .note(note(1, 1, "VIP 客户")),
                .round(round),
            ],
            [
                .conversation(conversation(2, state: .closed, agent: "bob", closedAt: at(1_700_000_500_000))),
                .message(message(2, 1)), .message(message(2, 2, "好的", sender: .agent)),
                .assignment(assignment(2, "bob", 1_700_000_000_020)), .round(met), .round(breached),
                .rating(survey), .rating(rated),
            ],
            [
                .conversation(conversation(3, customer: "buyer-2", state: .closed, closedAt: at(1_700_000_400_000))),
                .assignment(assignment(3, "carol", 1_700_000_000_030)),
                .assignment(assignment(3, nil, 1_700_000_000_040, .reassigned)),
            ],
        ]
    }

    @Test func recordsReadBackExactlyAsFromSQLite() async throws {
        guard let server = try await PostgresServer.startForTest() else { return }
        defer { server.stop() }
        let (leases, postgres) = try await openStore(server)
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("kefu-pg-compare-\(UUID())").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let sqlite = try ConversationStore(directory: directory, logger: logger)
        // Both stores get the batches in one group (and so the conversation written twice in one statement).
        let gate = await postgres.holdWriter()
        let outcomes = Outcomes()
        for (index, batch) in Self.records.enumerated() {
            postgres.enqueue(batch, onCommit: outcomes.callback(index))
            try await sqlite.commit(batch)
        }
        gate.signal()
        try await postgres.drain()
        #expect(outcomes.firingOrder == Array(Self.records.indices))
        #expect(Self.records.indices.allSatisfy(outcomes.succeeded))
        #expect(postgres.statistics.transactions == 1)

        @Sendable func everything(_ reader: any RecordReader) throws -> String {
            var text = ""
            for id in [1, 2, 3, 4].map(ConversationID.init) {
                text += "\(try reader.conversation(id) as Any)\n\(try reader.history(of: id))\n"
                text += "\(try reader.history(of: id, after: 1, upTo: 3, limit: 5, includeInternal: false))\n"
                text += "\(try reader.lastSeq(of: id)) \(try reader.agentsWhoHeld(id)) \(try reader.notes(of: id))\n"
                text += "\(try reader.rounds(of: id))\n\(try reader.assignments(of: id))\n"
                text += "\(try reader.latestAssignment(of: id) as Any)\n"
            }
            text += "\(try reader.sentMessage(ConversationID(1), author: "buyer-1", ref: "r-1") as Any)"
            text += " \(try reader.sentMessage(ConversationID(1), author: "buyer-1", ref: "r-2") as Any)\n"
            text += "\(try reader.dayRecords(since: at(0))) \(try reader.dayRecords(since: at(1_700_000_000_500)))\n"
            text += "\(try reader.openSurveys(at: at(0))) \(try reader.openSurveys(at: at(1_700_086_900_000)))\n"
            text += "\(try reader.survey(of: ConversationID(2)) as Any) \(try reader.survey(of: ConversationID(1)) as Any)\n"
            return text
        }
        let fromSQLite = try await sqlite.read(everything)
        let fromPostgres = try await postgres.read(everything)
        #expect(fromPostgres == fromSQLite)
        let recoveredFromSQLite = try await sqlite.read { try $0.recoveredState(returningBuyersSince: at(0)) }
        let recoveredFromPostgres = try await postgres.read { try $0.recoveredState(returningBuyersSince: at(0)) }
        #expect(recoveredFromPostgres == recoveredFromSQLite)
        // Not vacuous: the reads saw the rows.
        let state = try await postgres.read { try $0.recoveredState(returningBuyersSince: at(0)) }
        #expect(state.openConversations.map(\.id) == [ConversationID(1)])
        #expect(state.openConversations.first?.roundEscalationLevel == 2)
        #expect(state.returningBuyers[CustomerID("buyer-2")]?.agent == AgentID("bob"))
        #expect(state.nextConversationID == ConversationID(4))
        let day = try await postgres.read { try $0.dayRecords(since: at(0)) }
        #expect(day.rounds.count == 3 && day.surveys.count == 1 && day.openings.count == 3)
        #expect(try await postgres.read { try $0.openSurveys(at: at(0)) }.map(\.rating) == [5])
        await sqlite.shutdown()
        await postgres.shutdown()
        await leases.leave()
    }

    /// `kefuctl report --layout` of a cluster's shop: the same sheets from PostgreSQL as from SQLite, for the same day.
    @Test func daySheetsFromPostgreSQLAreTheSheetsFromSQLite() async throws {
        guard let server = try await PostgresServer.startForTest() else { return }
        defer { server.stop() }
        let (leases, postgres) = try await openStore(server)
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("kefu-pg-sheets-\(UUID())").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let sqlite = try ConversationStore(directory: directory, logger: logger)
        let day = ScriptedDay.records()
        try await sqlite.commit(day)
        try await postgres.commit(day)
        await sqlite.shutdown()
        await postgres.shutdown()
        for layout in DayReport.Layout.allCases {
            let (from, until) = (ScriptedDay.local(0, 0), ScriptedDay.local(24, 0))
            let expected = try DayReport.read(
                directory: directory, layout: layout, from: from, until: until, utcOffsetMinutes: 480, shop: "acme")
            let sheet = try await ClusterDayReport.read(
                settings(server, node: "a").postgres, shop: "acme", layout: layout, from: from, until: until,
                utcOffsetMinutes: 480, logger: logger)
            #expect(sheet == expected, "\(layout)")
            #expect(!sheet.rows.isEmpty, "\(layout)")
        }
        await leases.leave()
    }

    @Test func aBadBatchFailsAloneAndTheOthersOfItsGroupCommit() async throws {
        guard let server = try await PostgresServer.startForTest() else { return }
        defer { server.stop() }
        let (leases, store) = try await openStore(server)
        let gate = await store.holdWriter()
        let outcomes = Outcomes()
        store.enqueue([.conversation(conversation(1)), .message(message(1, 1))], onCommit: outcomes.callback(1))
        // PostgreSQL's text cannot hold a NUL character: refused for its data.
        store.enqueue([.message(message(1, 5, "bad\u{0}text"))], onCommit: outcomes.callback(2))
        store.enqueue([.message(message(1, 2))], onCommit: outcomes.callback(3))
        gate.signal()
        try await store.drain()
        #expect(outcomes.firingOrder == [1, 2, 3])
        #expect(outcomes.succeeded(1) && outcomes.succeeded(3))
        #expect(outcomes.error(2)?.operation == .write)
        // PostgreSQL's own words, and its error code.
        #expect(outcomes.error(2)?.message.contains("0x00") == true, "\(String(describing: outcomes.error(2)))")
        #expect(outcomes.error(2)?.message.hasSuffix("(22021)") == true)
        #expect(try await store.read { try $0.history(of: ConversationID(1)).map(\.seq) } == [1, 2])
        #expect(try await server.psql("SELECT count(*) FROM kefu_messages") == "2")
        await store.shutdown()
        await leases.leave()
    }

    /// "Committed" means on PostgreSQL's disk before the callback runs, even where the server's default lets commits
    /// return before their WAL is flushed: each of the store's commits makes PostgreSQL sync its WAL.
    @Test func everyCommitIsOnDiskBeforeItIsReportedWhateverTheServersDefault() async throws {
        guard let server = try await PostgresServer.startForTest() else { return }
        defer { server.stop() }
        // A server that acknowledges commits at once and flushes their WAL in the background every 10 s.
        _ = try await server.psql("ALTER SYSTEM SET synchronous_commit = off")
        _ = try await server.psql("ALTER SYSTEM SET wal_writer_delay = '10s'")
        _ = try await server.psql("SELECT pg_reload_conf()")
        let (leases, store) = try await openStore(server)
        try await store.commit([.conversation(conversation(1))])
        let syncs = { try await Int(server.psql("SELECT wal_sync FROM pg_stat_wal")) ?? 0 }
        let before = try await syncs()
        for seq in 1...10 { try await store.commit([.message(message(1, seq))]) }
        // Its session ends, and with it reports its statistics.
        await store.shutdown()
        let deadline = ContinuousClock.now + .seconds(5)
        var after = try await syncs()
        while after < before + 10 && ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(100))
            after = try await syncs()
        }
        #expect(after - before >= 10, "\(after - before) WAL syncs for 10 commits")
        await leases.leave()
    }

    @Test func afterTheLeaseMovedNothingMoreIsWrittenAndTheNodeIsTold() async throws {
        guard let server = try await PostgresServer.startForTest() else { return }
        defer { server.stop() }
        let fencings = Mutex(0)
        let (a, store) = try await openStore(server, lease: .milliseconds(300)) { fencings.withLock { $0 += 1 } }
        try await store.commit([.conversation(conversation(1)), .message(message(1, 1))])
        // a pauses past its lease; b takes the shop.
        try await Task.sleep(for: .milliseconds(400))
        let b = try await ShopLeases.join(settings(server, node: "b"), logger: logger)
        #expect(try await b.acquire("acme", for: .seconds(30)) == 2)
        // a's store, still believing, tries to write: refused by PostgreSQL, and again without asking.
        for seq in 2...3 {
            let result = await store.outcome(of: [.message(message(1, seq))])
            guard case .failure(let error) = result else {
                Issue.record("a write under the old epoch committed")
                continue
            }
            #expect(error.operation == .fenced)
        }
        #expect(fencings.withLock { $0 } == 1)
        #expect(try await server.psql("SELECT seq FROM kefu_messages ORDER BY seq") == "1")
        await store.shutdown()
        await a.leave()
        await b.leave()
    }

    @Test func afterPostgreSQLRestartsNothingCommitsBehindAFailedWriteAndTheShopIsRetakenAfresh() async throws {
        guard let server = try await PostgresServer.startForTest() else { return }
        defer { server.stop() }
        let (leases, store) = try await openStore(server)
        try await store.commit([.conversation(conversation(1)), .message(message(1, 1))])
        try await server.restartImmediately()
        // The store either notices the closed connection before writing and opens a new one, or its write fails;
        // after a failure nothing more commits (the records keep no hole), so the successes are a prefix.
        var outcomes: [Bool] = []
        for seq in 2...4 {
            if case .success = await store.outcome(of: [.message(message(1, seq))]) {
                outcomes.append(true)
            } else {
                outcomes.append(false)
            }
        }
        #expect(outcomes == outcomes.sorted(by: { $0 && !$1 }))
        let committed = [1] + (2...4).filter { outcomes[$0 - 2] }
        #expect(try await server.psql("SELECT string_agg(seq::text, ',' ORDER BY seq) FROM kefu_messages")
            == committed.map(String.init).joined(separator: ","))
        await store.shutdown()
        // The node takes its shop again under a new epoch and writes on a store opened afresh.
        let epoch = try #require(try await leases.acquire("acme", for: .seconds(30)))
        let again = try await PostgresRecordStore.open(
            settings(server, node: "a"), shop: "acme", epoch: epoch, logger: logger)
        try await again.commit([.message(message(1, 5))])
        #expect(try await again.read { try $0.lastSeq(of: ConversationID(1)) } == 5)
        await again.shutdown()
        await leases.leave()
    }

    // MARK: - Retention

    /// The same purge over PostgreSQL as over SQLite: the same rows go, the same stay, and every sheet is the same
    /// after it as before.
    @Test func aPurgeOverPostgreSQLTakesWhatSQLiteTakesAndTheSheetsStay() async throws {
        guard let server = try await PostgresServer.startForTest() else { return }
        defer { server.stop() }
        let (leases, postgres) = try await openStore(server)
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("kefu-pg-purge-\(UUID())").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let sqlite = try ConversationStore(directory: directory, logger: logger)
        let day =
            ScriptedDay.records() + [
                .note(
                    NoteRecord(
                        conversation: ConversationID(1), seq: 1, author: "alice", at: ScriptedDay.local(9, 15),
                        text: "地址: 上海市徐汇区")),
                .note(
                    NoteRecord(
                        conversation: ConversationID(2), seq: 1, author: "alice", at: ScriptedDay.local(13, 30, 20),
                        text: "要退货")),
            ]
        try await sqlite.commit(day)
        try await postgres.commit(day)
        let url = settings(server, node: "a").postgres
        let (from, until) = (ScriptedDay.local(0, 0), ScriptedDay.local(24, 0))
        func sheets() async throws -> [DayReport.Sheet] {
            var sheets: [DayReport.Sheet] = []
            for layout in DayReport.Layout.allCases {
                sheets.append(
                    try await ClusterDayReport.read(
                        url, shop: "acme", layout: layout, from: from, until: until, utcOffsetMinutes: 480,
                        logger: logger))
            }
            return sheets
        }
        let before = try await sheets()
        @Sendable func everything(_ reader: any RecordReader) throws -> String {
            var text = ""
            for id in [1, 2].map(ConversationID.init) {
                text += "\(try reader.conversation(id) as Any)\n\(try reader.history(of: id))\n"
                text += "\(try reader.notes(of: id)) \(try reader.purgedAt(id) as Any)\n"
            }
            return text
        }
        func purge(before cutoff: Instant, on store: any RecordStore) async throws -> PurgeOutcome {
            var total = PurgeOutcome()
            repeat {
                // Small batches: a conversation spans several.
                total.add(try await store.purge(PurgeRequest(closedBefore: cutoff, rows: 3, at: ScriptedDay.local(23, 0))))
            } while !total.finished && total.batches < 100
            return total
        }
        for cutoff in [ScriptedDay.local(12, 0), until] {
            let preview = try await ClusterRetention.preview(url, shop: "acme", closedBefore: cutoff, logger: logger)
            #expect(preview == (try StoreRetention.preview(directory: directory, closedBefore: cutoff)))
            #expect(preview.conversations == 1)
            let fromPostgres = try await purge(before: cutoff, on: postgres)
            let fromSQLite = try await purge(before: cutoff, on: sqlite)
            #expect(fromPostgres == fromSQLite)
            #expect(fromPostgres.conversations == 1 && fromPostgres.notes == 1 && fromPostgres.messages > 0)
            #expect(try await postgres.read(everything) == (try await sqlite.read(everything)))
        }
        let purged = try await postgres.read { try $0.history(of: ConversationID(2)) }
        #expect(!purged.isEmpty && purged.allSatisfy { $0.text.isEmpty })
        #expect(try await postgres.read { try $0.purgedAt(ConversationID(1)) } == ScriptedDay.local(23, 0))
        #expect(try await sheets() == before)
        // Nothing is left half purged.
        #expect(try await server.psql("SELECT count(*) FROM kefu_purging") == "0")
        await sqlite.shutdown()
        await postgres.shutdown()
        await leases.leave()
    }

    @Test func aPurgeAfterTheLeaseMovedChangesNothing() async throws {
        guard let server = try await PostgresServer.startForTest() else { return }
        defer { server.stop() }
        let (a, store) = try await openStore(server, lease: .milliseconds(300))
        try await store.commit([
            .conversation(conversation(1, state: .closed, closedAt: at(1_700_000_500_000))), .message(message(1, 1)),
            .note(note(1, 1)),
        ])
        try await Task.sleep(for: .milliseconds(400))
        let b = try await ShopLeases.join(settings(server, node: "b"), logger: logger)
        #expect(try await b.acquire("acme", for: .seconds(30)) == 2)
        do {
            _ = try await store.purge(PurgeRequest(closedBefore: at(1_800_000_000_000), rows: 500, at: at(1_800_000_000_000)))
            Issue.record("a purge under the old epoch went through")
        } catch {
            #expect(error.operation == .fenced)
        }
        #expect(try await server.psql("SELECT text FROM kefu_messages") == "text")
        #expect(try await server.psql("SELECT count(*) FROM kefu_notes") == "1")
        #expect(try await server.psql("SELECT count(*) FROM kefu_conversations WHERE purged_at IS NOT NULL") == "0")
        await store.shutdown()
        await a.leave()
        await b.leave()
    }
}

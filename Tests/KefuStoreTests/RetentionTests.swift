import Foundation
import KefuCore
import KefuTestSupport
import Synchronization
import Testing

@testable import KefuStore

/// `[retention]`: the texts of conversations closed before a cutoff go, a batch at a time; every report figure stays.
@Suite("Retention")
struct RetentionTests {
    /// The scripted day (c1 closed 09:20, c2 closed 13:40) with a note on each conversation, as the daemon writes
    /// notes.
    static func dayWithNotes() -> [Record] {
        ScriptedDay.records() + [
            .note(
                NoteRecord(
                    conversation: ConversationID(1), seq: 1, author: "alice", at: ScriptedDay.local(9, 15),
                    text: "地址: 上海市徐汇区 13800138000")),
            .note(
                NoteRecord(
                    conversation: ConversationID(2), seq: 1, author: "alice", at: ScriptedDay.local(13, 30, 20),
                    text: "要退货")),
        ]
    }

    static func purgeAll(
        _ store: ConversationStore, before cutoff: Instant, rows: Int = 500
    ) async throws -> PurgeOutcome {
        var total = PurgeOutcome()
        repeat {
            total.add(try await store.purge(PurgeRequest(closedBefore: cutoff, rows: rows, at: ScriptedDay.local(23, 0))))
        } while !total.finished && total.batches < 10_000
        return total
    }

    @Test func textsAndNotesOfConversationsClosedBeforeTheCutoffGoAndTheRestStays() async throws {
        try await withTemporaryDirectory { directory in
            let store = try openStore(directory)
            try await store.commit(Self.dayWithNotes())
            let before = try await store.read { reader throws in
                (try reader.history(of: ConversationID(1)), try reader.history(of: ConversationID(2)),
                 try reader.rounds(of: ConversationID(1)), try reader.assignments(of: ConversationID(1)),
                 try reader.survey(of: ConversationID(1)), try reader.conversation(ConversationID(1)))
            }
            #expect(before.0.count == 4 && before.0.allSatisfy { !$0.text.isEmpty })

            // Between c1's close (09:20) and c2's (13:40): c1 goes, c2 stays whole.
            let outcome = try await Self.purgeAll(store, before: ScriptedDay.local(12, 0))
            #expect(outcome.conversations == 1)
            #expect(outcome.messages == before.0.count)
            #expect(outcome.notes == 1)
            #expect(outcome.finished)

            try await store.read { reader throws in
                let history = try reader.history(of: ConversationID(1))
                // The rows stay for the counts, without their texts.
                #expect(history.map(\.seq) == before.0.map(\.seq))
                #expect(history.map(\.sender) == before.0.map(\.sender))
                #expect(history.map(\.author) == before.0.map(\.author))
                #expect(history.map(\.at) == before.0.map(\.at))
                #expect(history.allSatisfy { $0.text.isEmpty })
                #expect(try reader.notes(of: ConversationID(1)).isEmpty)
                #expect(try reader.purgedAt(ConversationID(1)) == ScriptedDay.local(23, 0))
                let conversation = try #require(try reader.conversation(ConversationID(1)))
                #expect(conversation.firstMessage == "")
                var expected = try #require(before.5)
                expected.firstMessage = ""
                #expect(conversation == expected)
                // Rounds, changes of hands and the rating (with its comment) are the reports': kept as they were.
                #expect(try reader.rounds(of: ConversationID(1)) == before.2)
                #expect(try reader.assignments(of: ConversationID(1)) == before.3)
                #expect(try reader.survey(of: ConversationID(1)) == before.4)
                // c2 was closed after the cutoff: untouched.
                #expect(try reader.history(of: ConversationID(2)) == before.1)
                #expect(try reader.notes(of: ConversationID(2)).map(\.text) == ["要退货"])
                #expect(try reader.purgedAt(ConversationID(2)) == nil)
                #expect(try reader.conversation(ConversationID(2))?.firstMessage == "退货")
            }
            // A second pass over the same cutoff finds nothing more.
            let again = try await store.purge(
                PurgeRequest(closedBefore: ScriptedDay.local(12, 0), rows: 500, at: ScriptedDay.local(23, 30)))
            #expect(again == PurgeOutcome(batches: 1, finished: true))
            #expect(try await store.read { try $0.purgedAt(ConversationID(1)) } == ScriptedDay.local(23, 0))
            await store.shutdown()
        }
    }

    @Test func everyReportIsTheSameAfterThePurge() async throws {
        try await withTemporaryDirectory { directory in
            let store = try openStore(directory)
            try await store.commit(Self.dayWithNotes())
            await store.shutdown()
            let (from, until) = (ScriptedDay.local(0, 0), ScriptedDay.local(24, 0))
            func reports() throws -> [String] {
                var all: [String] = []
                for layout in DayReport.Layout.allCases {
                    for offset in [480, 0, -300] {
                        let sheet = try DayReport.read(
                            directory: directory, layout: layout, from: from, until: until, utcOffsetMinutes: offset)
                        all.append(DayReport.csv(sheet))
                        // Without a range too: every day the store has.
                        all.append(DayReport.csv(try DayReport.read(directory: directory, layout: layout)))
                    }
                }
                for grouping in ResponseReport.Grouping.allCases {
                    all.append("\(try ResponseReport.read(directory: directory, by: grouping))")
                }
                return all
            }
            let before = try reports()
            #expect(before.contains { $0.contains("buyer_messages") })
            let reopened = try openStore(directory)
            let day = try await reopened.read { try $0.dayRecords(since: from) }
            let buyers = try await reopened.read { try $0.lastAgents(closedSince: from) }
            let outcome = try await Self.purgeAll(reopened, before: until)
            #expect(outcome.conversations == 2)
            #expect(try await reopened.read { try $0.dayRecords(since: from) } == day)
            #expect(try await reopened.read { try $0.lastAgents(closedSince: from) } == buyers)
            await reopened.shutdown()
            let after = try reports()
            #expect(after == before)
        }
    }

    @Test func aBatchChangesAtMostItsRowsAndALongConversationSpansBatches() async throws {
        try await withTemporaryDirectory { directory in
            let store = try openStore(directory)
            var records: [Record] = [
                .conversation(conversation(1, state: .closed, closedAt: at(1_700_000_500_000), messageCount: 1_200))
            ]
            records += (1...1_200).map { .message(message(1, $0, "第\($0)条")) }
            records += (1...30).map { .note(note(1, $0)) }
            // Closed later than the cutoff, and open: neither is touched.
            records.append(.conversation(conversation(2, state: .closed, closedAt: at(1_800_000_000_000))))
            records.append(.message(message(2, 1)))
            records.append(.conversation(conversation(3, state: .assigned, agent: "alice")))
            records.append(.message(message(3, 1)))
            records.append(.note(note(3, 1)))
            try await store.commit(records)

            let cutoff = at(1_700_000_600_000)
            let first = try await store.purge(PurgeRequest(closedBefore: cutoff, rows: 100, at: at(1_700_001_000_000)))
            #expect(first == PurgeOutcome(conversations: 0, messages: 70, notes: 30, batches: 1, finished: false))
            // Marked from its first batch on: HISTORY says purged rather than show it half emptied.
            #expect(try await store.read { try $0.purgedAt(ConversationID(1)) } == at(1_700_001_000_000))
            var total = first
            while !total.finished {
                let batch = try await store.purge(
                    PurgeRequest(closedBefore: cutoff, rows: 100, at: at(1_700_002_000_000)))
                #expect(batch.messages + batch.notes <= 100)
                total.add(batch)
            }
            #expect(total.conversations == 1)
            #expect(total.messages == 1_200)
            #expect(total.notes == 30)
            #expect(total.batches == 13)
            try await store.read { reader throws in
                #expect(try reader.history(of: ConversationID(1)).count == 1_200)
                #expect(try reader.history(of: ConversationID(1)).allSatisfy { $0.text.isEmpty })
                #expect(try reader.notes(of: ConversationID(1)).isEmpty)
                // The later marks did not move the first.
                #expect(try reader.purgedAt(ConversationID(1)) == at(1_700_001_000_000))
                #expect(try reader.history(of: ConversationID(2)).map(\.text) == ["text"])
                #expect(try reader.history(of: ConversationID(3)).map(\.text) == ["text"])
                #expect(try reader.notes(of: ConversationID(3)).count == 1)
                #expect(try reader.purgedAt(ConversationID(2)) == nil)
                #expect(try reader.purgedAt(ConversationID(3)) == nil)
            }
            await store.shutdown()
        }
    }

    @Test func thePurgeFindsItsConversationsThroughTheirIndex() async throws {
        try await withTemporaryDirectory { directory in
            let store = try openStore(directory)
            let plan = try await store.read {
                try $0.queryPlanForTesting(SQLitePurgeTables.candidates + " ORDER BY closed_at, id LIMIT 50")
            }
            #expect(plan.contains("conversations_unpurged"), "\(plan)")
            await store.shutdown()
        }
    }

    @Test func purgedTextsAreNotLeftInTheDatabaseFile() async throws {
        try await withTemporaryDirectory { directory in
            let store = try openStore(directory)
            let secret = "收货地址-上海市徐汇区-13800138000"
            try await store.commit([
                .conversation(conversation(1, state: .closed, closedAt: at(1_700_000_500_000), firstMessage: secret)),
                .message(message(1, 1, secret)), .message(message(1, 2, "好的", sender: .agent)),
                .note(note(1, 1, secret)),
            ])
            // Another shop's worth of rows, so that the pages are not simply dropped.
            try await store.commit(
                [.conversation(conversation(2, state: .assigned, agent: "alice"))]
                    + (1...200).map { .message(message(2, $0, "留着的消息 \($0)")) })
            // On disk first: a checkpoint moves the text from the WAL into the main file.
            try await store.read { try $0.executeForTesting("PRAGMA wal_checkpoint(TRUNCATE)") }
            #expect(try Data(contentsOf: URL(fileURLWithPath: directory + "/kefu.sqlite")).range(of: Data(secret.utf8)) != nil)
            _ = try await Self.purgeAll(store, before: at(1_700_000_600_000))
            await store.shutdown()
            for file in try FileManager.default.contentsOfDirectory(atPath: directory) {
                let bytes = try Data(contentsOf: URL(fileURLWithPath: directory + "/" + file))
                #expect(bytes.range(of: Data(secret.utf8)) == nil, "\(file) still holds the text")
            }
            #expect(try Data(contentsOf: URL(fileURLWithPath: directory + "/kefu.sqlite")).range(of: Data("留着的消息 200".utf8)) != nil)
        }
    }

    @Test func aDryRunSaysWhatWouldGoAndChangesNothing() async throws {
        try await withTemporaryDirectory { directory in
            let store = try openStore(directory)
            try await store.commit(Self.dayWithNotes())
            let cutoff = ScriptedDay.local(24, 0)
            let preview = try StoreRetention.preview(directory: directory, closedBefore: cutoff)
            let messages = try await store.read {
                try $0.history(of: ConversationID(1)).count + $0.history(of: ConversationID(2)).count
            }
            #expect(
                preview
                    == PurgePreview(
                        conversations: 2, messages: messages, notes: 2, oldestClose: ScriptedDay.local(9, 20),
                        newestClose: ScriptedDay.local(13, 40)))
            #expect(try StoreRetention.preview(directory: directory, closedBefore: ScriptedDay.local(9, 0)) == PurgePreview())
            #expect(try await store.read { try $0.purgedAt(ConversationID(1)) } == nil)
            let outcome = try await Self.purgeAll(store, before: cutoff)
            #expect(outcome.messages == preview.messages)
            #expect(outcome.notes == preview.notes)
            #expect(outcome.conversations == preview.conversations)
            #expect(try StoreRetention.preview(directory: directory, closedBefore: cutoff) == PurgePreview())
            await store.shutdown()
        }
    }

    /// `kefuctl purge`: a connection of its own beside a store that keeps committing.
    @Test func aPurgeFromOutsideRunsBesideAServingStore() async throws {
        try await withTemporaryDirectory { directory in
            let store = try openStore(directory)
            var records: [Record] = []
            for id in Int64(1)...200 {
                records.append(.conversation(conversation(id, state: .closed, closedAt: at(1_700_000_500_000 + id))))
                records += (1...5).map { .message(message(id, $0)) }
                records.append(.note(note(id, 1)))
            }
            try await store.commit(records)
            let busy = Atomic(true)
            let writes = Task {
                var id: Int64 = 1_000
                while busy.load(ordering: .relaxed) {
                    try await store.commit([.conversation(conversation(id, state: .queued)), .message(message(id, 1))])
                    id += 1
                }
                return id - 1_000
            }
            let batches = Mutex(0)
            let total = try await onOwnThread {
                Result { () throws(StoreError) in
                    try StoreRetention.purge(
                        directory: directory, closedBefore: at(1_700_000_600_000), rows: 50, pause: .milliseconds(1),
                        now: { at(1_700_001_000_000) }, progress: { _ in batches.withLock { $0 += 1 } })
                }
            }.get()
            busy.store(false, ordering: .relaxed)
            let written = try await writes.value
            #expect(written > 0)
            #expect(total.conversations == 200)
            #expect(total.messages == 1_000)
            #expect(total.notes == 200)
            #expect(batches.withLock { $0 } == total.batches)
            #expect(total.batches >= 24)
            try await store.read { reader throws in
                #expect(try reader.history(of: ConversationID(7)).allSatisfy { $0.text.isEmpty })
                #expect(try reader.history(of: ConversationID(1_000)).map(\.text) == ["text"])
            }
            await store.shutdown()
        }
    }
}

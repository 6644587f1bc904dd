import Foundation
import KefuServer
import KefuSystemd
import KefuTestSupport
import Testing

@testable import KefuCore

/// `journalctl -x` on a real breach: the catalog text from `deploy/kefud.catalog`, with the record's fields filled in.
@Suite("Catalog text in journalctl -x", .serialized)
struct JournaldCatalogTests {
    static let catalogURL = packageRoot.appendingPathComponent("deploy/kefud.catalog")

    static func entry(_ id: String) throws -> MessageCatalog.Entry {
        let catalog = try MessageCatalog(parsing: String(contentsOf: catalogURL, encoding: .utf8))
        return try #require(catalog.entries.first { $0.id == id }, "no catalog entry for \(id)")
    }

    /// A placeholder naming a field the record lacks would show as a bare field name in `journalctl -x`.
    @Test func placeholdersOfEmittedEventsAreFieldsTheirRecordsCarry() throws {
        let breach = SLABreach(
            sla: .firstResponse, conversation: ConversationID(7), customer: "b1", agent: "alice", skill: "refund",
            priority: .normal, waited: Milliseconds(130_000), threshold: Milliseconds(120_000),
            at: Instant(unixMilliseconds: 0))
        let away = AgentAutoAway(
            agent: "alice", breaches: 2, window: Milliseconds(600_000),
            movedConversations: [ConversationID(7)], at: Instant(unixMilliseconds: 0))
        let notices = BreachSummary(
            conversations: [ConversationID(7)], firstResponse: 1, response: 0, first: Instant(unixMilliseconds: 0),
            last: Instant(unixMilliseconds: 0), recordsPerSecond: 200)
        var noticeSummary = notices
        noticeSummary.kind = .notices
        let records = [
            JournaldRecorder.journalRecord(for: breach), JournaldRecorder.journalRecord(for: away),
            JournaldRecorder.journalRecord(for: SLANotice(kind: .warning, facts: breach, left: Milliseconds(30_000))),
            JournaldRecorder.journalRecord(for: SLANotice(kind: .met, facts: breach)),
            JournaldRecorder.journalRecord(for: noticeSummary),
        ]
        for record in records {
            let id = try #require(record.messageID)
            let sent = Set(record.journalFields.map(\.name))
            for line in try Self.entry(id).textLines {
                for field in MessageCatalog.placeholders(in: line) {
                    #expect(sent.contains(field), "catalog entry \(id) uses @\(field)@, which the record lacks")
                }
            }
        }
    }

    /// The catalog must be in the system catalog database for `journalctl -x` on the real journal, so this test
    /// installs it as `/usr/lib/systemd/catalog/kefud.catalog` and runs `journalctl --update-catalog`. It leaves
    /// it installed: that is where `make install` puts it too, and a later run only refreshes it.
    @Test func journalctlExplainsARealBreach() async throws {
        guard await JournaldHarness.isRunningForTest() else { return }
        guard JournaldHarness.isRootForTest("installing the catalog in /usr/lib/systemd/catalog") else { return }
        let journalctl = try #require(JournaldHarness.journalctlPath)
        let installed = URL(fileURLWithPath: "/usr/lib/systemd/catalog/kefud.catalog")
        try FileManager.default.createDirectory(
            at: installed.deletingLastPathComponent(), withIntermediateDirectories: true)
        try? FileManager.default.removeItem(at: installed)
        try FileManager.default.copyItem(at: Self.catalogURL, to: installed)
        let update = try await runCommand(journalctl, ["--update-catalog"])
        try #require(update.status == 0, "journalctl --update-catalog: \(update.errorOutput)")

        let (kefud, customer) = try await BreachingKefud.start(prefix: "jcatalog")

        // The unique customer id narrows both queries to this test's one record.
        let matches = ["MESSAGE_ID=\(SystemdMessageID.slaBreach)", "KEFU_CUSTOMER=\(customer)"]
        let records = await JournaldHarness.query(matches, timeout: .seconds(10))
        try #require(records.count == 1, "journal entries: \(records); kefud output: \(kefud.output)")
        let explained = try await runCommand(journalctl, ["-x", "--no-pager", "-o", "short"] + matches)
        try #require(explained.status == 0, "journalctl -x: \(explained.errorOutput)")
        let text = explained.output

        // Every line of the entry, substituted as journalctl does, from the record's own fields...
        let entry = try Self.entry(SystemdMessageID.slaBreach)
        for line in entry.textLines where !line.isEmpty {
            let expected = MessageCatalog.substitute(line, fields: records[0])
            #expect(text.contains(expected), "journalctl -x lacks \"\(expected)\":\n\(text)")
        }
        // ...and, independently of that reading of the catalog, the values this breach must show.
        #expect(text.contains("Subject: SLA breach: conversation 1 got no agent reply in time"), "\(text)")
        #expect(text.contains("Conversation 1 (customer \(customer), skill logistics,"), "\(text)")
        #expect(text.contains("over the 1500 ms first_response limit of round 1. Agent: \"alice\""), "\(text)")
        #expect(text.contains("journalctl KEFU_CONVERSATION=1"), "\(text)")
        #expect(!text.contains("@KEFU_"), "unsubstituted placeholder:\n\(text)")
        kefud.signal(SIGTERM)
        #expect(await kefud.waitForExit() == 0)
    }
}

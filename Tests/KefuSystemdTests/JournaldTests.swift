import Foundation
import KefuSystemd
import KefuTestSupport
import Logging
import Testing

/// Round trips through a real journald (started by the harness when needed) and `journalctl -o json`.
struct JournaldTests {
    @Test func recordRoundTrip() async throws {
        guard await JournaldHarness.isRunningForTest() else { return }
        let testID = UUID().uuidString
        let record = JournalRecord(
            message: "SLA breached for conversation 42",
            messageID: SystemdMessageID.slaBreach,
            priority: JournalPriority.warning,
            fields: [
                JournalField("KEFU_TEST_ID", testID),
                JournalField("KEFU_EVENT", "sla_breach"),
                JournalField("KEFU_DETAIL", "first line\nsecond line\n\tindented"),
                JournalField("queue name", "vip"),
            ]
        )
        #expect(record.send())
        let entries = await JournaldHarness.query(["KEFU_TEST_ID=\(testID)"], timeout: .seconds(10))
        try #require(entries.count == 1, "entries: \(entries)")
        let entry = entries[0]
        #expect(entry["MESSAGE"] == "SLA breached for conversation 42")
        #expect(entry["MESSAGE_ID"] == SystemdMessageID.slaBreach)
        #expect(entry["PRIORITY"] == "4")
        #expect(entry["SYSLOG_IDENTIFIER"] == "kefud")
        #expect(entry["KEFU_EVENT"] == "sla_breach")
        #expect(entry["KEFU_DETAIL"] == "first line\nsecond line\n\tindented")
        #expect(entry["QUEUE_NAME"] == "vip")
        #expect(entry["_TRANSPORT"] == "journal")
    }

    @Test func multiLineMessage() async throws {
        guard await JournaldHarness.isRunningForTest() else { return }
        let testID = UUID().uuidString
        #expect(Journal.send([("MESSAGE", "line one\nline two"), ("KEFU_TEST_ID", testID)]))
        let entries = await JournaldHarness.query(["KEFU_TEST_ID=\(testID)"], timeout: .seconds(10))
        #expect(entries.first?["MESSAGE"] == "line one\nline two")
    }

    @Test func logHandlerWritesStructuredFields() async throws {
        guard await JournaldHarness.isRunningForTest() else { return }
        let testID = UUID().uuidString
        var logger = Logger(label: "kefu.test.journal") { JournalLogHandler(label: $0) }
        logger[metadataKey: "test_id"] = "\(testID)"
        logger[metadataKey: "queue"] = "handler-level"
        logger.warning(
            "agent went away",
            metadata: [
                "conversation-id": "42", "_sneaky": "x", "queue": "vip", "tags": ["a", "b"],
                "message_id": "\(SystemdMessageID.shopLost)",
            ]
        )
        let line = #line - 7
        logger.debug("below the level, never sent")

        let entries = await JournaldHarness.query(["KEFU_TEST_ID=\(testID)"], timeout: .seconds(10))
        try #require(entries.count == 1, "entries: \(entries)")
        let entry = entries[0]
        #expect(entry["MESSAGE"] == "agent went away")
        #expect(entry["PRIORITY"] == "4")
        #expect(entry["SYSLOG_IDENTIFIER"] == "kefud")
        #expect(entry["KEFU_LOGGER"] == "kefu.test.journal")
        #expect(entry["KEFU_CONVERSATION_ID"] == "42")
        #expect(entry["KEFU_SNEAKY"] == "x")
        #expect(entry["MESSAGE_ID"] == SystemdMessageID.shopLost, "message_id is the record's MESSAGE_ID")
        #expect(entry["KEFU_MESSAGE_ID"] == nil)
        #expect(entry["KEFU_QUEUE"] == "vip", "call metadata wins over handler metadata")
        #expect(entry["KEFU_TAGS"] == "[a, b]" || entry["KEFU_TAGS"] == "[\"a\", \"b\"]")
        #expect(entry["CODE_FILE"]?.hasSuffix("JournaldTests.swift") == true)
        #expect(entry["CODE_LINE"] == String(line))
        #expect(entry["CODE_FUNC"]?.hasPrefix("logHandlerWritesStructuredFields") == true)
    }
}

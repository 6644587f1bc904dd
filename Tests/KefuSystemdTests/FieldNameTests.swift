import KefuSystemd
import Logging
import Testing

struct FieldNameTests {
    @Test(arguments: [
        ("MESSAGE", "MESSAGE"),
        ("conversation_id", "CONVERSATION_ID"),
        ("conversation-id", "CONVERSATION_ID"),
        ("queue.name", "QUEUE_NAME"),
        ("Agent ID", "AGENT_ID"),
        ("_PID", "PID"),
        ("__private", "PRIVATE"),
        ("-x", "X"),
        ("9lives", "F_9LIVES"),
        ("_9", "F_9"),
        ("café", "CAF_"),
        ("", "FIELD"),
        ("___", "FIELD"),
        ("ü", "FIELD"),
    ])
    func sanitizes(key: String, expected: String) {
        #expect(Journal.fieldName(key) == expected)
        #expect(Journal.isValidFieldName(Journal.fieldName(key)))
    }

    /// journald silently drops a field whose name it does not accept: every field kefud's records use must pass.
    @Test func everyKefuFieldNameIsValidAndDistinct() {
        for name in KefuJournalField.all { #expect(Journal.isValidFieldName(name), "\(name)") }
        #expect(Set(KefuJournalField.all).count == KefuJournalField.all.count)
        #expect(KefuJournalField.all.allSatisfy { $0.hasPrefix(KefuJournalField.metadataPrefix) })
    }

    @Test func truncatesToSixtyFourCharacters() {
        let name = Journal.fieldName(String(repeating: "a", count: 100))
        #expect(name == String(repeating: "A", count: 64))
        #expect(Journal.isValidFieldName(name))
    }

    @Test func validity() {
        #expect(Journal.isValidFieldName("KEFU_EVENT"))
        #expect(Journal.isValidFieldName("A1"))
        #expect(!Journal.isValidFieldName("_KEFU"))
        #expect(!Journal.isValidFieldName("1A"))
        #expect(!Journal.isValidFieldName("kefu"))
        #expect(!Journal.isValidFieldName(""))
        #expect(!Journal.isValidFieldName(String(repeating: "A", count: 65)))
    }

    @Test func recordFieldsInOrder() {
        let record = JournalRecord(
            message: "SLA breached",
            messageID: SystemdMessageID.slaBreach,
            priority: JournalPriority.warning,
            fields: [JournalField("KEFU_CONVERSATION", "42")]
        )
        let fields = record.journalFields.map { "\($0.name)=\($0.value)" }
        #expect(fields == [
            "MESSAGE=SLA breached",
            "MESSAGE_ID=\(SystemdMessageID.slaBreach)",
            "PRIORITY=4",
            "SYSLOG_IDENTIFIER=kefud",
            "KEFU_CONVERSATION=42",
        ])
        let plain = JournalRecord(message: "hello").journalFields.map(\.name)
        #expect(plain == ["MESSAGE", "PRIORITY", "SYSLOG_IDENTIFIER"])
    }

    @Test func levelsMapToSyslogPriorities() {
        let expected: [(Logger.Level, Int)] = [
            (.trace, 7), (.debug, 7), (.info, 6), (.notice, 5), (.warning, 4), (.error, 3), (.critical, 2),
        ]
        for (level, priority) in expected {
            #expect(JournalLogHandler.priority(for: level) == priority, "\(level)")
        }
    }

    @Test func messageIDsAreDistinct128BitHex() {
        let ids = SystemdMessageID.all.map(\.id)
        #expect(ids.count == 15)  // every id declared in SystemdMessageID
        #expect(Set(ids).count == ids.count)
        for id in ids {
            #expect(id.count == 32 && id.allSatisfy { $0.isHexDigit && !$0.isUppercase }, "\(id)")
        }
    }

    @Test func handlerKeepsMetadataAsValue() {
        var first = JournalLogHandler(label: "a")
        first[metadataKey: "only-on"] = "first"
        var second = first
        second[metadataKey: "only-on"] = "second"
        second.logLevel = .error
        #expect(first[metadataKey: "only-on"] == "first")
        #expect(second[metadataKey: "only-on"] == "second")
        #expect(first.logLevel == .info)
    }
}

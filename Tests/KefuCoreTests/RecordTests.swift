import KefuCore
import Testing

@Suite("Records")
struct RecordTests {
    static let opened = Instant(unixMilliseconds: 1_700_000_000_000)

    static func record() -> ConversationRecord {
        ConversationRecord(
            id: ConversationID(7), customer: "c1", skill: "presales", priority: .normal, state: .queued, agent: nil,
            openedAt: opened, firstResponseDueAt: opened + .seconds(120), firstRespondedAt: nil, breachedAt: nil,
            closedAt: nil, messageCount: 1, firstMessage: "在吗")
    }

    /// The record shares one box between copies: a change to one copy must never show in another (a step's
    /// persisted record stays what it was when the core changes the conversation afterwards).
    @Test func aCopyOfAConversationRecordIsAValueOfItsOwn() {
        let persisted = Self.record()
        var live = persisted
        #expect(live == persisted)
        live.state = .assigned
        live.agent = "alice"
        live.messageCount += 1
        #expect(persisted.state == .queued)
        #expect(persisted.agent == nil)
        #expect(persisted.messageCount == 1)
        #expect(live.state == .assigned && live.agent == "alice" && live.messageCount == 2)
        #expect(live != persisted)
        // Equal by fields, whichever box holds them.
        var again = Self.record()
        #expect(again == persisted)
        again.firstMessage = "在吗?"
        #expect(again != persisted)
    }

    @Test func aConversationRecordPrintsItsFields() {
        let text = String(describing: Self.record())
        #expect(text.hasPrefix("ConversationRecord(id: 7, customer: c1, skill: presales"))
    }
}

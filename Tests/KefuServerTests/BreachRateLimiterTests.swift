import KefuServer
import KefuSystemd
import Testing

@testable import KefuCore

/// The storm valve on its own, with an injected clock: which breaches get a record each, and what the summaries say.
@Suite("Breach rate limiter")
struct BreachRateLimiterTests {
    /// A breach of `conversation` (round 1 unless `round` says otherwise).
    static func breach(_ conversation: Int64, round: Int = 1) -> SLABreach {
        SLABreach(
            sla: round == 1 ? .firstResponse : .response, conversation: ConversationID(conversation), round: round,
            customer: CustomerID("buyer-\(conversation)"), agent: nil, skill: "refund", priority: .normal,
            waited: Milliseconds(1000), threshold: Milliseconds(1000), at: Instant(unixMilliseconds: 0)
        )
    }

    static let start = Instant(unixMilliseconds: 1_750_000_000_000)

    /// What a run of breaches came to: the conversations recorded one by one, and the summaries.
    struct Outcome {
        var individual: [Int64] = []
        var summaries: [BreachSummary] = []
        var summarised: [Int64] { summaries.flatMap { $0.conversations.map(\.rawValue) } }
    }

    /// Admits `conversations` at `at(index)`, then flushes.
    static func run(
        _ limiter: inout BreachRateLimiter, _ conversations: some Sequence<Int64>,
        at instant: (Int) -> Instant = { _ in start }, flush: Bool = true
    ) -> Outcome {
        var outcome = Outcome()
        for (index, conversation) in conversations.enumerated()
        where limiter.admit(breach(conversation), at: instant(index)) {
            outcome.individual.append(conversation)
        }
        if flush { outcome.summaries = limiter.flush() }
        return outcome
    }

    @Test func underTheRateEveryBreachIsItsOwnRecord() {
        var limiter = BreachRateLimiter(recordsPerSecond: 200)
        // 200 a second for five seconds, spread over each second.
        let outcome = Self.run(&limiter, 1...1000) { index in Self.start + Milliseconds(Int64(index) * 5) }
        #expect(outcome.individual == Array(1...1000))
        #expect(outcome.summaries.isEmpty)
        #expect(limiter.heldBreaches == 0)
    }

    @Test func aStormOf20000InOneSecondIsLimitRecordsAndSummariesOfTheRest() {
        var limiter = BreachRateLimiter(recordsPerSecond: 200)
        let storm = Int64(1)...20_000
        // All within one second: 20 000 breaches over 999 ms.
        let outcome = Self.run(&limiter, storm) { index in Self.start + Milliseconds(Int64(index) / 21) }
        #expect(outcome.individual == Array(1...200))
        #expect(outcome.summaries.map(\.breaches).reduce(0, +) == 20_000 - 200)
        #expect(outcome.summarised == Array(201...20_000))  // each once, none missing, in order
        #expect(Set(outcome.individual).isDisjoint(with: outcome.summarised))
        for summary in outcome.summaries {
            #expect(summary.firstResponse == summary.breaches)
            #expect(summary.response == 0)
            #expect(summary.recordsPerSecond == 200)
            #expect(summary.parts == outcome.summaries.count)
            #expect(summary.conversationList.utf8.count <= BreachRateLimiter.defaultMaximumListBytes)
        }
        // 19 800 ids of 3 to 5 digits and commas: about 118 KB, so two records.
        #expect(outcome.summaries.map(\.part) == [1, 2])
        #expect(outcome.summaries.first?.first == Self.start + Milliseconds(200 / 21))
        #expect(outcome.summaries.last?.last == Self.start + Milliseconds(19_999 / 21))
        #expect(limiter.heldBreaches == 0)
        #expect(limiter.flush().isEmpty)
    }

    @Test func theNextSecondStartsFresh() {
        var limiter = BreachRateLimiter(recordsPerSecond: 10)
        // 25 in second 0 (held until the flush), then 25 in second 1.
        let first = Self.run(&limiter, 1...25, flush: false)
        let second = Self.run(&limiter, 26...50) { _ in Self.start + Milliseconds(1000) }
        #expect(first.individual == Array(1...10))
        #expect(second.individual == Array(26...35))
        // One flush a second takes both seconds' overflow: still each breach once.
        #expect(second.summaries.count == 1)
        #expect(second.summarised == Array(11...25) + Array(36...50))
        #expect(second.summaries.first?.first == Self.start)
        #expect(second.summaries.first?.last == Self.start + Milliseconds(1000))
        // A flush on its own (housekeeping in a quiet second) writes nothing.
        #expect(limiter.flush().isEmpty)
        // A clock stepped back is a new second too: the budget is not stuck.
        let stepped = Self.run(&limiter, 51...52) { _ in Self.start + Milliseconds(-5000) }
        #expect(stepped.individual == [51, 52])
    }

    @Test func aFlushAtShutdownEmitsWhatIsPending() throws {
        var limiter = BreachRateLimiter(recordsPerSecond: 3)
        var breaches = [Self.breach(1), Self.breach(2), Self.breach(3), Self.breach(4), Self.breach(5, round: 2)]
        breaches.append(Self.breach(4, round: 3))  // a conversation breaching twice is listed twice
        let recorded = breaches.filter { limiter.admit($0, at: Self.start) }
        #expect(recorded.map(\.conversation.rawValue) == [1, 2, 3])
        #expect(limiter.heldBreaches == 3)
        let summaries = limiter.flush()
        #expect(summaries.count == 1)
        let summary = try #require(summaries.first)
        #expect(summary.conversations.map(\.rawValue) == [4, 5, 4])
        #expect(summary.breaches == 3)
        #expect(summary.firstResponse == 1)
        #expect(summary.response == 2)
        #expect(summary.conversationList == "4,5,4")
        #expect(summary.part == 1)
        #expect(summary.parts == 1)
    }

    @Test func zeroNeverSummarises() {
        var limiter = BreachRateLimiter(recordsPerSecond: 0)
        let outcome = Self.run(&limiter, 1...20_000)
        #expect(outcome.individual.count == 20_000)
        #expect(outcome.summaries.isEmpty)
    }

    @Test func aRaisedOrLoweredLimitAppliesToTheNextBreach() {
        var limiter = BreachRateLimiter(recordsPerSecond: 5)
        let before = Self.run(&limiter, 1...5, flush: false)
        limiter.recordsPerSecond = 8  // a reload within the same second
        let after = Self.run(&limiter, 6...10)
        #expect(before.individual + after.individual == Array(1...8))
        #expect(after.summarised == [9, 10])
        #expect(after.summaries.first?.recordsPerSecond == 8)
    }

    @Test func aLongListIsSplitSoEveryIdIsListedOnceWithinTheCap() throws {
        // A cap of 20 bytes: "1,2,3,4,5,6,7,8,9,10" and "11,12,13,14,15,16,17" are exactly 20 each.
        var limiter = BreachRateLimiter(recordsPerSecond: 1, maximumListBytes: 20)
        let outcome = Self.run(&limiter, 0...99)
        #expect(outcome.individual == [0])
        let summaries = outcome.summaries
        #expect(summaries.first?.conversationList == "1,2,3,4,5,6,7,8,9,10")
        #expect(summaries.dropFirst().first?.conversationList == "11,12,13,14,15,16,17")
        #expect(outcome.summarised == Array(1...99))
        #expect(summaries.map(\.breaches).reduce(0, +) == 99)
        for (index, summary) in summaries.enumerated() {
            #expect(summary.conversationList.utf8.count <= 20)
            #expect(summary.part == index + 1)
            #expect(summary.parts == summaries.count)
            #expect(summary.firstResponse == summary.breaches)
        }
        // Every part but the last is full: one more id would not have fitted.
        for (summary, next) in zip(summaries, summaries.dropFirst()) {
            let grown = summary.conversationList + "," + (next.conversations.first?.description ?? "")
            #expect(grown.utf8.count > 20)
        }
        // An id longer than the cap is still listed, alone in its summary.
        var tiny = BreachRateLimiter(recordsPerSecond: 1, maximumListBytes: 2)
        let long = Self.run(&tiny, [1, 12345, 678])
        #expect(long.summaries.map(\.conversationList) == ["12345", "678"])
    }

    @Test func noticesBeyondTheBudgetAreCountedInADebugSummary() {
        var summary = BreachSummary(
            conversations: [ConversationID(3), ConversationID(4)], firstResponse: 1, response: 1, first: Self.start,
            last: Self.start + Milliseconds(10), recordsPerSecond: 200)
        summary.kind = .notices
        let record = JournaldRecorder.journalRecord(for: summary)
        #expect(record.messageID == SystemdMessageID.slaNoticeSummary)
        #expect(record.priority == JournalPriority.debug)
        let fields = Dictionary(uniqueKeysWithValues: record.fields.map { ($0.name, $0.value) })
        #expect(fields["KEFU_EVENT"] == "sla_notice_summary")
        #expect(fields["KEFU_NOTICES"] == "2")
        #expect(fields["KEFU_CONVERSATIONS"] == "3,4")
        #expect(record.fields.allSatisfy { Journal.isValidFieldName($0.name) })
    }

    @Test func aSummaryIsOneJournaldRecordWithItsCountsAndIds() {
        let summary = BreachSummary(
            conversations: [ConversationID(7), ConversationID(9), ConversationID(7)], firstResponse: 2, response: 1,
            first: Self.start, last: Self.start + Milliseconds(640), recordsPerSecond: 200, part: 2, parts: 3
        )
        let record = JournaldRecorder.journalRecord(for: summary)
        #expect(record.messageID == SystemdMessageID.breachSummary)
        #expect(record.priority == JournalPriority.warning)
        let fields = Dictionary(uniqueKeysWithValues: record.fields.map { ($0.name, $0.value) })
        #expect(fields["KEFU_EVENT"] == "sla_breach_summary")
        #expect(fields["KEFU_BREACHES"] == "3")
        #expect(fields["KEFU_CONVERSATIONS"] == "7,9,7")
        #expect(fields["KEFU_SLA_FIRST_RESPONSE"] == "2")
        #expect(fields["KEFU_SLA_RESPONSE"] == "1")
        #expect(fields["KEFU_RECORDS_PER_S"] == "200")
        #expect(fields["KEFU_FIRST_AT_MS"] == "1750000000000")
        #expect(fields["KEFU_LAST_AT_MS"] == "1750000000640")
        #expect(fields["KEFU_PART"] == "2")
        #expect(fields["KEFU_PARTS"] == "3")
        #expect(record.fields.allSatisfy { Journal.isValidFieldName($0.name) })
        #expect(
            record.message == "SLA breach storm: 3 breaches (2 first response, 1 response) beyond 200 records a second "
                + "are summarised here (part 2 of 3); their conversations are in KEFU_CONVERSATIONS, each breach's "
                + "details in the store")
    }
}

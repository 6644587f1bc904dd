import KefuTestSupport
import KefuCore
import Testing

@testable import KefuStore

/// The response score from the rounds table: met, breached, closed unanswered, the rate and the mean answer time,
/// by agent, skill, store and local day.
@Suite("Response report")
struct ResponseReportTests {
    /// 2026-11-24 00:00 in Shanghai is 2026-11-23 16:00 UTC.
    static let shanghaiMidnight: Int64 = 1_795_449_600_000

    static func round(
        _ conversation: Int64, _ round: Int = 1, startedAt: Int64, answeredAfter: Int64? = nil, breached: Bool = false,
        closed: Bool = false, agent: AgentID?, skill: Skill = "presales", store: String? = "tmall"
    ) -> RoundRecord {
        var record = RoundRecord(
            conversation: ConversationID(conversation), round: round, startedAt: at(startedAt),
            dueAt: at(startedAt + 180_000), answeredAt: answeredAfter.map { at(startedAt + $0) },
            breachedAt: breached ? at(startedAt + 180_000) : nil, closedAt: closed ? at(startedAt + 60_000) : nil,
            agent: agent, skill: skill, store: store)
        record.businessWaited = answeredAfter.map { Milliseconds($0) } ?? (closed ? Milliseconds(60_000) : nil)
        return record
    }

    @Test func ratesByAgentSkillStoreAndDay() async throws {
        try await withTemporaryDirectory { directory in
            let store = try openStore(directory)
            let day = Self.shanghaiMidnight
            let rounds: [RoundRecord] = [
                Self.round(1, startedAt: day + 1_000, answeredAfter: 30_000, agent: "alice"),
                Self.round(1, 2, startedAt: day + 100_000, answeredAfter: 90_000, agent: "alice"),
                Self.round(2, startedAt: day + 2_000, answeredAfter: 240_000, breached: true, agent: "bob"),
                Self.round(3, startedAt: day + 3_000, breached: true, agent: nil, skill: "refund", store: nil),
                Self.round(4, startedAt: day + 4_000, closed: true, agent: "bob"),
                // Still running: not counted.
                Self.round(5, startedAt: day + 5_000, agent: "alice"),
                // The next Shanghai day (16:00 UTC).
                Self.round(6, startedAt: day + 86_400_000, answeredAfter: 60_000, agent: "alice"),
            ]
            let conversations = (1...6).map { conversation($0, state: .assigned, agent: "alice") }
            try await store.commit(conversations.map(Record.conversation) + rounds.map(Record.round))
            await store.shutdown()

            let byAgent = try ResponseReport.read(directory: directory, by: .agent)
            #expect(byAgent.map(\.group) == ["(queued)", "alice", "bob"])
            #expect(byAgent.map(\.met) == [0, 3, 0])
            #expect(byAgent.map(\.breached) == [1, 0, 1])
            #expect(byAgent.map(\.closedUnanswered) == [0, 0, 1])
            #expect(byAgent[1].rate == 1.0)
            #expect(byAgent[1].meanAnsweredWait == Milliseconds(60_000))  // 30, 90 and 60 s
            #expect(byAgent[2].rate == 0.0)
            #expect(byAgent[2].meanAnsweredWait == Milliseconds(240_000))  // answered late: still an answer time

            let bySkill = try ResponseReport.read(directory: directory, by: .skill)
            #expect(bySkill.map(\.group) == ["presales", "refund"])
            #expect(bySkill[0].rate == 0.75)
            let byStore = try ResponseReport.read(directory: directory, by: .store)
            #expect(byStore.map(\.group) == ["(none)", "tmall"])

            let byDay = try ResponseReport.read(directory: directory, by: .day, utcOffsetMinutes: 480)
            #expect(byDay.map(\.group) == ["2026-11-24", "2026-11-25"])
            #expect(byDay.map(\.met) == [2, 1])
            // Counted in UTC, the first day's rounds fall on the 23rd.
            #expect(
                try ResponseReport.read(directory: directory, by: .day, utcOffsetMinutes: 0).first?.group
                    == "2026-11-23")
            let secondDay = try ResponseReport.read(
                directory: directory, by: .agent, from: at(day + 86_400_000), until: at(day + 2 * 86_400_000))
            #expect(secondDay.map(\.group) == ["alice"])
            #expect(secondDay.first?.met == 1)
        }
    }

    @Test func aMissingStoreIsAnErrorNamingIt() throws {
        #expect(throws: StoreError.self) { try ResponseReport.read(directory: "/nonexistent/kefu", by: .day) }
    }
}

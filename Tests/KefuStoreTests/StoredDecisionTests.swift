import KefuTestSupport
import Foundation
import KefuCore
import Testing

@testable import KefuStore

/// A decision with every kind of verdict and of standing, as `EXPLAIN` can show them.
private let everyVerdict = Decision(
    conversation: ConversationID(7), at: at(1_700_000_000_000), agent: "amy", rule: .higherProficiency,
    candidates: [
        Candidate(agent: "amy", verdict: .chosen), Candidate(agent: "ben", verdict: .offline),
        Candidate(agent: "cat", verdict: .away), Candidate(agent: "dan", verdict: .disconnected),
        Candidate(agent: "eve", verdict: .notSkilled),
        Candidate(agent: "fay", verdict: .levelTooLow(level: 1, required: 3)),
        Candidate(agent: "gus", verdict: .store("天猫旗舰店")), Candidate(agent: "hal", verdict: .language("en")),
        Candidate(agent: "ida", verdict: .full(held: 5, max: 5)),
        Candidate(agent: "jon", verdict: .reservedForAnother("amy")),
        Candidate(agent: "kim", verdict: .excluded(.letResponseBreach)),
        Candidate(agent: "lee", verdict: .excluded(.handingOver)),
        Candidate(agent: "mo", verdict: .higherLoad(held: 2, max: 3)), Candidate(agent: "ned", verdict: .lowerLevel(2)),
        Candidate(agent: "oz", verdict: .lessIdle), Candidate(agent: "pat", verdict: .laterID),
    ],
    others: OtherAgents.Standing.allCases.enumerated().map {
        OtherAgents(skill: "presales", standing: $1, count: $0 + 1)
    })

/// How kefud wrote a decision before it was stored as JSON (`Decision.text` until then), frozen here on purpose:
/// rows in the field were written by exactly this.
private func legacyText(_ decision: Decision) -> String {
    let lines =
        [decision.rule.text] + decision.candidates.map { "\($0.agent) \($0.verdict.code): \($0.verdict.text)" }
        + decision.others.map { "*\($0.skill) \($0.standing.code) \($0.count): \($0.standing.text)" }
    return lines.joined(separator: "\n")
}

private func read(_ text: String) -> Decision? {
    StoredDecision.decision(from: text, conversation: ConversationID(7), agent: "amy", at: at(1_700_000_000_000))
}

@Suite struct StoredDecisionTests {
    @Test func everyVerdictReadsBackAsItWasDecided() {
        #expect(read(StoredDecision.text(of: everyVerdict)) == everyVerdict)
        // Kept from an older kefud's words, it is kept again as it reads.
        var recorded = everyVerdict
        recorded.candidates = [Candidate(agent: "qi", verdict: .recorded(code: "", text: "at capacity (5/5)"))]
        #expect(read(StoredDecision.text(of: recorded)) == recorded)
        // No decision kept: the empty string.
        #expect(StoredDecision.text(of: nil) == "")
        #expect(read("") == nil)
    }

    @Test func theStoredDecisionIsJSONOfCodesAndFacts() throws {
        let text = StoredDecision.text(of: everyVerdict)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
        #expect((object["rule"] as? [String: Any])?["code"] as? String == "higher-proficiency")
        #expect(object["agent"] as? String == "amy")
        #expect((object["at"] as? NSNumber)?.int64Value == 1_700_000_000_000)
        let candidates = try #require(object["candidates"] as? [[String: Any]])
        let fay = try #require(candidates.first { $0["agent"] as? String == "fay" })
        #expect(fay["verdict"] as? String == "level-too-low")
        #expect((fay["level"] as? NSNumber)?.intValue == 1)
        #expect((fay["required"] as? NSNumber)?.intValue == 3)
        let kim = try #require(candidates.first { $0["agent"] as? String == "kim" })
        #expect(kim["why"] as? String == "let the response breach")
        // Words are made again when read, never stored.
        #expect(!text.contains("higher load ratio") && !text.contains("equal load"))
        let others = try #require(object["others"] as? [[String: Any]])
        #expect(others.first?["standing"] as? String == "offline")
    }

    @Test(arguments: [
        DecisionRule.lowestLoadRatio, .higherProficiency, .idleLongest, .lowestID, .onlyEligibleAgent,
        .noEligibleAgent, .returningBuyer("amy"), .waitingForReturningAgent("amy", seconds: 90),
        .capacityAppeared("amy"), .transfer(by: "amy", reason: "退款: \"找\" bob"), .forced(by: "lead"),
        .unknownConversation, .recorded("rule: least-recently-assigned"), .recorded(""),
    ])
    func everyRuleReadsBackFromJSONAndFromAnOlderKefudsText(rule: DecisionRule) {
        var decision = everyVerdict
        decision.rule = rule
        #expect(read(StoredDecision.text(of: decision)) == decision)
        #expect(read(legacyText(decision)) == decision)
    }

    @Test func textAnOlderKefudWroteReadsAsTheDecisionItDescribed() {
        #expect(read(legacyText(everyVerdict)) == everyVerdict)
        let onlyRule = Decision(
            conversation: ConversationID(7), at: at(1_700_000_000_000), agent: "amy", rule: .forced(by: "lead"),
            candidates: [])
        #expect(read("forced by supervisor lead") == onlyRule)
    }

    /// The first format had no verdict codes, and words a version wrote differently do not read back as this one's:
    /// both are kept as they read, so `EXPLAIN` still shows them as it did.
    @Test func wordsThisKefudWouldNotWriteAreKeptAsTheyRead() {
        let decision = read("rule: least-recently-assigned\nalice: chosen (2/5)\nbob: at capacity (5/5)\n")
        #expect(decision?.rule == .recorded("rule: least-recently-assigned"))
        #expect(
            decision?.candidates == [
                Candidate(agent: "alice", verdict: .recorded(code: "", text: "chosen (2/5)")),
                Candidate(agent: "bob", verdict: .recorded(code: "", text: "at capacity (5/5)")),
                Candidate(agent: "", verdict: .recorded(code: "", text: "")),
            ])
        #expect(
            read("r\nbob full: full 2 of 2\ncat excluded: excluded: on a break")?.candidates == [
                Candidate(agent: "bob", verdict: .recorded(code: "full", text: "full 2 of 2")),
                Candidate(agent: "cat", verdict: .recorded(code: "excluded", text: "excluded: on a break")),
            ])
    }

    @Test func rowsOlderVersionsWroteReadFromTheDatabase() async throws {
        try await withTemporaryDirectory { directory in
            var store = try openStore(directory)
            try await store.commit([.conversation(conversation(7)), .conversation(conversation(8))])
            await store.shutdown()
            let connection = try SQLiteConnection(path: directory + "/kefu.sqlite")
            try connection.execute(
                """
                INSERT INTO assignments (conversation, agent, at, reason, explanation) VALUES
                    (7, 'amy', 1700000000000, 'routed', '\(legacyText(everyVerdict).replacingOccurrences(of: "'", with: "''"))'),
                    (8, NULL, 1700000000000, 'offline', '');
                """, .write)
            connection.close()
            store = try openStore(directory)
            #expect(
                try await store.read { try $0.latestAssignment(of: ConversationID(7)) }
                    == AssignmentRecord(
                        conversation: ConversationID(7), agent: "amy", at: at(1_700_000_000_000), reason: .routed,
                        decision: everyVerdict))
            #expect(
                try await store.read { try $0.latestAssignment(of: ConversationID(8)) }
                    == AssignmentRecord(
                        conversation: ConversationID(8), agent: nil, at: at(1_700_000_000_000), reason: .offline))
            await store.shutdown()
        }
    }
}

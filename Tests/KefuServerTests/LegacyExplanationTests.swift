import KefuCore
import KefuProtocol
import Testing

@testable import KefuStore

/// `EXPLAIN` of a conversation only the store has, for rows an older kefud wrote: the lines must be the bytes that
/// version answered. The old way is frozen here on purpose: the decision text parsed back into data lines
/// (`RoutingCore.explanation(stored:)` until the decision was stored as JSON), written as `* NAME key=value :text`.
private func oldExplanation(_ text: String, agent: AgentID?, at: Instant, tag: String) -> [String] {
    var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
    let rule = lines.isEmpty ? "routed" : lines.removeFirst()
    var candidates: [(String, String, String)] = []
    var others: [(String, String, Int, String)] = []
    for line in lines {
        let head = line.prefix { $0 != ":" }
        let text = String(line.dropFirst(head.count + 1).drop { $0 == " " })
        let words = head.split(separator: " ").map(String.init)
        if let first = words.first, first.hasPrefix("*"), words.count == 3, let count = Int(words[2]) {
            others.append((String(first.dropFirst()), words[1], count, text))
        } else {
            candidates.append((words.first ?? "", words.count > 1 ? words[1] : "", text))
        }
    }
    let conv = ("conv", "7")
    var rendered = [
        ServerLine.event("EXPLAIN", [conv, ("agent", agent?.rawValue ?? "none"), ("at", at.description)], text: rule)
    ]
    for (agent, code, text) in candidates {
        var fields = [conv, ("agent", agent)]
        if !code.isEmpty { fields.append(("verdict", code)) }
        rendered.append(ServerLine.event("CANDIDATE", fields, text: text))
    }
    for (skill, code, count, text) in others {
        rendered.append(
            ServerLine.event("OTHERS", [conv, ("skill", skill), ("verdict", code), ("count", "\(count)")], text: text))
    }
    var fields = [("count", "\(candidates.count)")]
    if !others.isEmpty { fields.append(("others", "\(others.reduce(0) { $0 + $1.2 })")) }
    return rendered + [ServerLine.ok(tag, fields)]
}

private func newExplanation(_ text: String, agent: AgentID?, at: Instant, tag: String) -> [String] {
    let decision = StoredDecision.decision(from: text, conversation: ConversationID(7), agent: agent, at: at)
    let assignment = AssignmentRecord(
        conversation: ConversationID(7), agent: agent, at: at, reason: .routed, decision: decision)
    let explained = RoutingCore.explanation(of: assignment)
    return (OutboundLine.explaining(explained) + [OutboundLine.explained(tag: tag, explained)]).map(\.rendered)
}

@Suite struct LegacyExplanationTests {
    @Test(arguments: [
        // As versions with verdict codes wrote it, a large team's others included.
        """
        equal load: higher proficiency
        amy chosen: chosen
        ben lower-level: same load, lower level 2
        cat full: full (5/5)
        dan level-too-low: level 1 is below the required 3
        eve store: does not serve store 天猫 旗舰店
        fay reserved: reserved for returning buyer's agent amy
        gus excluded: excluded: let the first-response breach
        hal higher-load: higher load ratio (2/3)
        *presales offline 10: offline
        *presales ranked-lower 6: free, ranked after the agents examined
        """,
        // The first format (no codes), an empty line, a trailing line feed.
        "rule: least-recently-assigned\nalice: chosen (2/5)\n\nbob: at capacity (5/5)\n",
        // Words that version wrote differently, a rule alone, text with a backslash.
        "r\nbob full: full 2 of 2\ncat excluded: excluded: on a break \\ back soon",
        "forced by supervisor lead",
        "returning buyer: waits up to 90 s for amy\namy full: full (5/5)",
        "transfer by amy: 退款: 找 bob\nbob chosen: chosen",
        "capacity appeared: the longest-waiting chat bob can serve\nbob chosen: chosen",
        "returning buyer: amy served them last, within the sticky window\namy chosen: chosen\nben reserved: reserved for returning buyer's agent amy",
        // A decision never kept: only the holder and instant of the assignment.
        "",
    ])
    func explainShowsWhatTheVersionThatWroteTheRowShowed(text: String) {
        for agent: AgentID? in ["amy", nil] {
            let at = Instant(unixMilliseconds: 1_700_000_000_123)
            #expect(
                newExplanation(text, agent: agent, at: at, tag: "e1")
                    == oldExplanation(text, agent: agent, at: at, tag: "e1"))
        }
    }

    /// A decision made now, explained from memory, reads as the old data lines did.
    @Test func aDecisionMadeNowReadsAsBefore() {
        let decision = Decision(
            conversation: ConversationID(7), at: Instant(unixMilliseconds: 5), agent: nil,
            rule: .noEligibleAgent,
            candidates: [
                Candidate(agent: "amy", verdict: .excluded(.handingOver)), Candidate(agent: "ben", verdict: .away),
            ],
            others: [OtherAgents(skill: "售后", standing: .otherStore, count: 3)])
        let text =
            [decision.rule.text] + decision.candidates.map { "\($0.agent) \($0.verdict.code): \($0.verdict.text)" }
            + decision.others.map { "*\($0.skill) \($0.standing.code) \($0.count): \($0.standing.text)" }
        let old = oldExplanation(text.joined(separator: "\n"), agent: nil, at: decision.at, tag: "t")
        let now = (OutboundLine.explaining(decision) + [OutboundLine.explained(tag: "t", decision)]).map(\.rendered)
        #expect(now == old)
    }
}

import Foundation
import KefuCore

/// Decisions as kefud kept them before `StoredDecision`: text, the rule on the first line, then one line per agent,
/// `<agent> <code>: <words>` (the first format had no code: `<agent>: <words>`), then one per group of others,
/// `*<skill> <standing> <count>: <words>`. Read for the rows those versions wrote; nothing writes it any more. The
/// holder and instant such a row explains are the row's own. `EXPLAIN` shows these rows as those versions did:
/// words that do not read back as this kefud would write them are kept as they are (`Verdict.recorded`). (Every
/// standing those versions wrote is one this kefud knows; a line with another is read as an agent's.)
enum LegacyDecisionText {
    static func decision(from text: String, conversation: ConversationID, agent: AgentID?, at: Instant) -> Decision {
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let rule = self.rule(lines.isEmpty ? "" : lines.removeFirst())
        var candidates: [Candidate] = []
        var others: [OtherAgents] = []
        for line in lines {
            let head = line.prefix { $0 != ":" }
            let words = String(line.dropFirst(head.count + 1).drop { $0 == " " })
            let parts = head.split(separator: " ").map(String.init)
            if let first = parts.first, first.hasPrefix("*"), parts.count == 3, let count = Int(parts[2]),
                let standing = OtherAgents.Standing(rawValue: parts[1])
            {
                others.append(OtherAgents(skill: Skill(String(first.dropFirst())), standing: standing, count: count))
            } else {
                let verdict = verdict(code: parts.count > 1 ? parts[1] : "", words: words)
                candidates.append(Candidate(agent: AgentID(parts.first ?? ""), verdict: verdict))
            }
        }
        return Decision(
            conversation: conversation, at: at, agent: agent, rule: rule, candidates: candidates, others: others)
    }

    /// The rule its words stand for, when they are the words this kefud makes from it.
    static func rule(_ words: String) -> DecisionRule {
        var facts = StoredDecision.Rule()
        func after(_ prefix: String) -> String? {
            words.hasPrefix(prefix) ? String(words.dropFirst(prefix.count)) : nil
        }
        func before(_ suffix: String, _ text: String?) -> String? {
            guard let text, text.hasSuffix(suffix) else { return nil }
            return String(text.dropLast(suffix.count))
        }
        let fixed: [DecisionRule] = [
            .lowestLoadRatio, .higherProficiency, .idleLongest, .lowestID, .onlyEligibleAgent, .noEligibleAgent,
            .unknownConversation,
        ]
        if let rule = fixed.first(where: { $0.text == words }) { return rule }
        if let agent = before(" served them last, within the sticky window", after("returning buyer: ")) {
            (facts.code, facts.agent) = ("returning-buyer", agent)
        } else if let wait = after("returning buyer: waits up to ")?.components(separatedBy: " s for "),
            wait.count == 2
        {
            (facts.code, facts.seconds, facts.agent) = ("waiting-for-returning-agent", Int64(wait[0]), wait[1])
        } else if let agent = before(" can serve", after("capacity appeared: the longest-waiting chat ")) {
            (facts.code, facts.agent) = ("capacity-appeared", agent)
        } else if let transfer = after("transfer by "), let colon = transfer.range(of: ": ") {
            (facts.code, facts.agent) = ("transfer", String(transfer[..<colon.lowerBound]))
            facts.reason = String(transfer[colon.upperBound...])
        } else if let supervisor = after("forced by supervisor ") {
            (facts.code, facts.supervisor) = ("forced", supervisor)
        }
        let rule = facts.readRule
        return rule.text == words ? rule : .recorded(words)
    }

    /// The verdict a code and its words stand for, when the words are the ones this kefud makes from it.
    static func verdict(code: String, words: String) -> Verdict {
        var facts = StoredDecision.Candidate(agent: "", verdict: code)
        func after(_ prefix: String) -> String? {
            words.hasPrefix(prefix) ? String(words.dropFirst(prefix.count)) : nil
        }
        // `<prefix><held>/<max>)`
        func fraction(after prefix: String) -> (held: Int?, max: Int?) {
            guard let rest = after(prefix), rest.hasSuffix(")") else { return (nil, nil) }
            let numbers = rest.dropLast().split(separator: "/", omittingEmptySubsequences: false)
            guard numbers.count == 2 else { return (nil, nil) }
            return (Int(numbers[0]), Int(numbers[1]))
        }
        switch code {
        case "level-too-low":
            let numbers = after("level ")?.components(separatedBy: " is below the required ") ?? []
            if numbers.count == 2 { (facts.level, facts.required) = (Int(numbers[0]), Int(numbers[1])) }
        case "store": facts.store = after("does not serve store ")
        case "language": facts.language = after("does not speak ")
        case "full": (facts.held, facts.max) = fraction(after: "full (")
        case "higher-load": (facts.held, facts.max) = fraction(after: "higher load ratio (")
        case "reserved": facts.reservedFor = after("reserved for returning buyer's agent ")
        case "excluded": facts.why = after("excluded: ")
        case "lower-level": facts.level = after("same load, lower level ").flatMap { Int($0) }
        default: break
        }
        let verdict = facts.readVerdict
        return verdict.code == code && verdict.text == words ? verdict : .recorded(code: code, text: words)
    }
}

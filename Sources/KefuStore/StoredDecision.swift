import Foundation
import KefuCore

/// How a routing decision is kept with its assignment, in the TEXT column `assignments.explanation`: JSON of the
/// decision's own fields,
/// `{"at":<unix-ms>,"agent":"<id>","rule":{"code":"<rule>",…},"candidates":[{"agent":"<id>","verdict":"<code>",…}],
/// "others":[…]}`: the rule by a code of its own with its facts (`agent`, `seconds`, `reason`, `supervisor`), each
/// verdict as its protocol code (`EXPLAIN`'s `verdict=`) with its facts by name (`level`, `required`, `held`, `max`,
/// `store`, `language`, `reservedFor`, `why`), so the words are made again when read. The empty string: no decision
/// was kept. Anything else was written by a kefud before this format (`LegacyDecisionText`).
package struct StoredDecision: Decodable {
    var at: Int64
    var agent: String?
    var rule: Rule
    var candidates: [Candidate]
    var others: [Others]?

    struct Rule: Decodable {
        var code: String?
        var agent: String?
        var seconds: Int64?
        var reason: String?
        var supervisor: String?
        /// Only for a rule kept in an older kefud's words (`DecisionRule.recorded`).
        var text: String?
    }

    struct Candidate: Decodable {
        var agent: String
        var verdict: String
        var level: Int?
        var required: Int?
        var held: Int?
        var max: Int?
        var store: String?
        var language: String?
        var reservedFor: String?
        var why: String?
        /// Only for a verdict kept in an older kefud's words (`Verdict.recorded`).
        var text: String?
    }

    struct Others: Decodable {
        var skill: String
        var standing: String
        var count: Int
    }

    /// What the column holds for a decision (the empty string for none). Written by hand rather than with
    /// `JSONEncoder`: every assignment carries one, and the encoder took six times as long as the text format
    /// before it (this takes less).
    package static func text(of decision: Decision?) -> String {
        guard let decision else { return "" }
        var json = JSONText(capacity: 64 + 48 * decision.candidates.count + 48 * decision.others.count)
        json.begin("{")
        json.key("at")
        json.number(decision.at.unixMilliseconds)
        if let agent = decision.agent {
            json.key("agent")
            json.string(agent.rawValue)
        }
        json.key("rule")
        write(decision.rule, to: &json)
        json.key("candidates")
        json.begin("[")
        for candidate in decision.candidates { write(candidate, to: &json) }
        json.end("]")
        if !decision.others.isEmpty {
            json.key("others")
            json.begin("[")
            for group in decision.others {
                json.begin("{")
                json.key("skill")
                json.string(group.skill.name)
                json.key("standing")
                json.string(group.standing.rawValue)
                json.key("count")
                json.number(group.count)
                json.end("}")
            }
            json.end("]")
        }
        json.end("}")
        return json.text
    }

    private static func write(_ rule: DecisionRule, to json: inout JSONText) {
        json.begin("{")
        if case .recorded(let text) = rule {
            json.key("text")
            json.string(text)
        } else {
            json.key("code")
            json.string(Rule.code(of: rule))
        }
        switch rule {
        case .lowestLoadRatio, .higherProficiency, .idleLongest, .lowestID, .onlyEligibleAgent, .noEligibleAgent,
            .unknownConversation, .recorded:
            break
        case .returningBuyer(let agent), .capacityAppeared(let agent):
            json.key("agent")
            json.string(agent.rawValue)
        case .waitingForReturningAgent(let agent, let seconds):
            json.key("agent")
            json.string(agent.rawValue)
            json.key("seconds")
            json.number(seconds)
        case .transfer(let agent, let reason):
            json.key("agent")
            json.string(agent.rawValue)
            json.key("reason")
            json.string(reason)
        case .forced(let supervisor):
            json.key("supervisor")
            json.string(supervisor.rawValue)
        }
        json.end("}")
    }

    private static func write(_ candidate: KefuCore.Candidate, to json: inout JSONText) {
        json.begin("{")
        json.key("agent")
        json.string(candidate.agent.rawValue)
        json.key("verdict")
        json.string(candidate.verdict.code)
        switch candidate.verdict {
        case .chosen, .offline, .away, .disconnected, .notSkilled, .lessIdle, .laterID: break
        case .levelTooLow(let level, let required):
            json.key("level")
            json.number(level)
            json.key("required")
            json.number(required)
        case .store(let store):
            json.key("store")
            json.string(store)
        case .language(let language):
            json.key("language")
            json.string(language)
        case .full(let held, let max), .higherLoad(let held, let max):
            json.key("held")
            json.number(held)
            json.key("max")
            json.number(max)
        case .reservedForAnother(let agent):
            json.key("reservedFor")
            json.string(agent.rawValue)
        case .excluded(let why):
            json.key("why")
            json.string(why.rawValue)
        case .lowerLevel(let level):
            json.key("level")
            json.number(level)
        case .recorded(_, let text):
            json.key("text")
            json.string(text)
        }
        json.end("}")
    }

    /// The decision kept in the column of an assignment row (nil for none). The row gives what older formats did
    /// not keep: the conversation, and for text written before this format, the holder and the instant.
    package static func decision(
        from text: String, conversation: ConversationID, agent: AgentID?, at: Instant
    ) -> Decision? {
        if text.isEmpty { return nil }
        // No rule an older kefud wrote starts with a brace.
        if text.hasPrefix("{"), let stored = try? JSONDecoder().decode(StoredDecision.self, from: Data(text.utf8)) {
            return stored.decision(of: conversation)
        }
        return LegacyDecisionText.decision(from: text, conversation: conversation, agent: agent, at: at)
    }

    func decision(of conversation: ConversationID) -> Decision {
        Decision(
            conversation: conversation, at: Instant(unixMilliseconds: at), agent: agent.map { AgentID($0) },
            rule: rule.readRule, candidates: candidates.map(\.candidate),
            others: (others ?? []).map { group in
                // A standing this kefud does not know counts as ranked lower: free, not examined.
                OtherAgents(
                    skill: Skill(group.skill), standing: OtherAgents.Standing(rawValue: group.standing) ?? .rankedLower,
                    count: group.count)
            })
    }
}

extension StoredDecision.Rule {
    /// The rule's code in the stored form (none for `recorded`, kept as its words).
    static func code(of rule: DecisionRule) -> String {
        switch rule {
        case .lowestLoadRatio: "lowest-load-ratio"
        case .higherProficiency: "higher-proficiency"
        case .idleLongest: "idle-longest"
        case .lowestID: "lowest-id"
        case .onlyEligibleAgent: "only-eligible-agent"
        case .noEligibleAgent: "no-eligible-agent"
        case .returningBuyer: "returning-buyer"
        case .waitingForReturningAgent: "waiting-for-returning-agent"
        case .capacityAppeared: "capacity-appeared"
        case .transfer: "transfer"
        case .forced: "forced"
        case .unknownConversation: "unknown-conversation"
        case .recorded: ""
        }
    }

    /// The rule its code and facts stand for; one this kefud cannot make again is kept in its words.
    var readRule: DecisionRule {
        let known: DecisionRule? =
            switch code {
            case "lowest-load-ratio": .lowestLoadRatio
            case "higher-proficiency": .higherProficiency
            case "idle-longest": .idleLongest
            case "lowest-id": .lowestID
            case "only-eligible-agent": .onlyEligibleAgent
            case "no-eligible-agent": .noEligibleAgent
            case "returning-buyer": agent.map { .returningBuyer(AgentID($0)) }
            case "waiting-for-returning-agent":
                agent.flatMap { agent in seconds.map { .waitingForReturningAgent(AgentID(agent), seconds: $0) } }
            case "capacity-appeared": agent.map { .capacityAppeared(AgentID($0)) }
            case "transfer": agent.flatMap { agent in reason.map { .transfer(by: AgentID(agent), reason: $0) } }
            case "forced": supervisor.map { .forced(by: SupervisorID($0)) }
            case "unknown-conversation": .unknownConversation
            default: nil
            }
        if let known, text == nil { return known }
        return .recorded(text ?? code ?? "")
    }
}

extension StoredDecision.Candidate {
    var candidate: KefuCore.Candidate { KefuCore.Candidate(agent: AgentID(agent), verdict: readVerdict) }

    /// The verdict its code and facts stand for; one this kefud cannot make again is kept as it reads.
    var readVerdict: Verdict {
        let known: Verdict? =
            switch verdict {
            case "chosen": .chosen
            case "offline": .offline
            case "away": .away
            case "disconnected": .disconnected
            case "not-skilled": .notSkilled
            case "level-too-low": level.flatMap { level in required.map { .levelTooLow(level: level, required: $0) } }
            case "store": store.map { .store($0) }
            case "language": language.map { .language($0) }
            case "full": held.flatMap { held in max.map { .full(held: held, max: $0) } }
            case "reserved": reservedFor.map { .reservedForAnother(AgentID($0)) }
            case "excluded": why.flatMap(Exclusion.init(rawValue:)).map { .excluded($0) }
            case "higher-load": held.flatMap { held in max.map { .higherLoad(held: held, max: $0) } }
            case "lower-level": level.map { .lowerLevel($0) }
            case "less-idle": .lessIdle
            case "tie-break": .laterID
            default: nil
            }
        if let known, text == nil { return known }
        return .recorded(code: verdict, text: text ?? why.map { "excluded: \($0)" } ?? verdict)
    }
}

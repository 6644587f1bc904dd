import KefuCore
import KefuProtocol

/// How core events look on the wire (`* NAME key=value ... [:text]`). Documented in protocol/PROTOCOL.md.
extension Event {
    var line: String {
        switch self {
        case .queued(let conversation, let position, let eta, let offline):
            var fields = [("conv", conversation.description), ("position", "\(position)")]
            if let eta { fields.append(("eta_s", "\(eta)")) }
            if offline { fields.append(("offline", "1")) }
            return ServerLine.event("QUEUED", fields)
        case .joined(let conversation, let agent):
            return ServerLine.event("JOINED", [("conv", conversation.description), ("agent", agent.rawValue)])
        case .assigned(let notice):
            var fields = [
                ("conv", notice.conversation.description), ("customer", notice.customer.rawValue),
                ("skill", notice.skill.name), ("priority", notice.priority.rawValue),
                ("waited_ms", notice.waited.description),
            ]
            if notice.resumed { fields.append(("resumed", "1")) }
            if notice.via != "routed" { fields.append(("via", notice.via)) }
            if notice.via == "handover" { fields.append(("handover", "1")) }
            return ServerLine.event("ASSIGNED", fields, text: notice.firstMessage)
        case .message(let conversation, let sender, let text):
            return ServerLine.event("MSG", [("conv", conversation.description), ("from", sender.rawValue)], text: text)
        case .autoMessage(let conversation, let sender, let text):
            return ServerLine.event(
                "MSG", [("conv", conversation.description), ("from", sender.rawValue), ("auto", "1")], text: text
            )
        case .revoked(let conversation, let reason):
            return ServerLine.event("REVOKED", [("conv", conversation.description), ("reason", reason)])
        case .escalated(let conversation, let reason, let agent, let waited, let level):
            return ServerLine.event(
                "ESCALATED",
                [
                    ("conv", conversation.description), ("reason", reason), ("agent", agent?.rawValue ?? "none"),
                    ("waited_ms", waited.description), ("level", "\(level)"),
                ])
        case .slaWarning(let conversation, let sla, let left):
            return ServerLine.event(
                "SLA-WARN", [("conv", conversation.description), ("sla", sla.rawValue), ("left_ms", left.description)]
            )
        case .closed(let conversation, let closer):
            return ServerLine.event("CLOSED", [("conv", conversation.description), ("by", closer.rawValue)])
        case .note(let note):
            return RoutingCore.noteLine(note).rendered
        case .presence(let presence, let reason):
            // `* PRESENCE away reason=unresponsive`: the presence is a positional word, as in the PRESENCE verb.
            return ServerLine.event("PRESENCE \(presence.rawValue)", [("reason", reason)])
        case .agentAway(let agent, let reason, let breaches):
            return ServerLine.event(
                "AGENT-AWAY", [("agent", agent.rawValue), ("reason", reason), ("breaches", "\(breaches)")]
            )
        }
    }
}

extension MessageRecord {
    /// `* HISTORY conv= seq= from= at= :text`
    var historyLine: String {
        var fields = [
            ("conv", conversation.description), ("seq", "\(seq)"), ("from", sender.rawValue), ("at", at.description),
        ]
        if automatic { fields.append(("auto", "1")) }
        return ServerLine.event("HISTORY", fields, text: text)
    }
}

extension Refusal {
    var code: ErrorCode {
        switch self {
        case .notFound: .notFound
        case .forbidden: .forbidden
        case .badArgs: .badArgs
        case .conflict: .conflict
        case .busy: .busy
        }
    }
}

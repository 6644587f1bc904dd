import KefuCore
import NIOCore

/// One line the server sends, as a typed value. Every line kefud writes is rendered here, once, by `write(to:)`:
/// completions, events in each of their forms (to the person, to the gateway speaking for a buyer, the copy a watching
/// supervisor gets), data lines and farewells. Nobody edits a rendered line. Lines wait by the thousand in the commit
/// gate and are moved about by value, so the large and rare payloads are boxed (`indirect`).
public enum OutboundLine: Sendable, Equatable {
    /// `TAG OK [key=value ...]`
    case ok(tag: String, [Field])
    /// `TAG OK seq=<n>`: the completion of a `SEND`, the commonest line there is.
    case sent(tag: String, seq: Int)
    /// `TAG ERR <code> :<text>`
    case error(tag: String, ProtocolError)
    /// `* NAME key=value ... [:text]`, in one of its forms.
    case event(Event, EventForm = .plain)
    /// `* WAITING conv= position= skill= priority= customer= waited_ms= required_level= [store=] [lang=] [reserved=]
    /// [rank=]`: a waiting conversation in `QUEUE`.
    indirect case waiting(WaitingEntry)
    /// `* AGENT agent= presence= connected= held= wrap_up= max= skills= last_assigned=`: an agent in `AGENTS`.
    indirect case agent(AgentEntry)
    /// `* EXPLAIN conv= agent= at= :rule`: the head of `EXPLAIN` (`explaining(_:)` gives all its lines).
    indirect case explanation(Decision)
    /// `* CANDIDATE conv= agent= verdict= :words`: an agent a decision examined.
    indirect case candidate(ConversationID, Candidate)
    /// `* OTHERS conv= skill= verdict= count= :words`: agents of a large team a decision counted by standing.
    indirect case others(ConversationID, OtherAgents)
    /// `* HISTORY conv= seq= from= at= [auto=1] [ref=<id>] :text`
    indirect case history(MessageRecord)
    /// `* NOTE conv= seq= author= at= :text`
    indirect case note(NoteRecord)
    /// `* CONV conv= state= agent= [customer=]`: where an open conversation stands, replayed to a buyer (or its
    /// gateway, with the buyer named) that logs in again.
    case conversation(ConversationID, state: ConversationState, agent: AgentID?, customer: CustomerID?)
    /// `* NAME key=value ...` with no text: the supervisor board's lines (`* BOARD-SHOP …`, answered and then pushed
    /// when they change) and `CHATS`' (`* CHAT …`).
    indirect case data(name: String, [Field])
    /// `* BYE [reason=<why>]`: the server closes the connection.
    case bye(reason: SignOutReason?)
    /// `* MOVED shop=<shop> node=<host:port> epoch=<n>`: in a cluster, the node that serves the shop, under the epoch
    /// of its lease; before `ERR moved`, or before the connection closes when this node stops serving the shop.
    case moved(shop: String, node: String, epoch: Int64)

    /// Whether this line completes a client's line (`OK` or `ERR`).
    public var isCompletion: Bool {
        switch self {
        case .ok, .sent, .error: true
        default: false
        }
    }

    /// Appends the line and its LF.
    public func write(to buffer: inout ByteBuffer) {
        switch self {
        case .ok(let tag, let fields):
            buffer.writeString(tag)
            buffer.writeStaticString(" OK")
            for field in fields { buffer.writeField(named: field.key, field.value) }
        case .sent(let tag, let seq):
            buffer.writeString(tag)
            buffer.writeStaticString(" OK")
            buffer.writeField("seq", seq)
        case .error(let tag, let error):
            buffer.writeString(tag)
            buffer.writeStaticString(" ERR ")
            buffer.writeString(error.code.rawValue)
            buffer.writeText(error.message)
        case .event(let event, let form):
            event.write(form, to: &buffer)
            return
        case .data(let name, let fields):
            buffer.writeStaticString("* ")
            buffer.writeString(name)
            for field in fields { buffer.writeField(named: field.key, field.value) }
        case .waiting(let entry):
            buffer.writeStaticString("* WAITING")
            buffer.writeField("conv", entry.conversation.rawValue)
            buffer.writeField("position", entry.position)
            buffer.writeField("skill", entry.skill.name)
            buffer.writeField("priority", entry.priority.rawValue)
            buffer.writeField("customer", entry.customer.rawValue)
            buffer.writeField("waited_ms", entry.waited.value)
            buffer.writeField("required_level", entry.requiredLevel)
            if let store = entry.store { buffer.writeField("store", store) }
            if let language = entry.language { buffer.writeField("lang", language) }
            if let reserved = entry.reservedFor { buffer.writeField("reserved", reserved.rawValue) }
            if let rank = entry.rank { buffer.writeField("rank", rank) }
        case .agent(let entry):
            buffer.writeStaticString("* AGENT")
            buffer.writeField("agent", entry.agent.rawValue)
            buffer.writeField("presence", entry.presence.rawValue)
            buffer.writeField("connected", entry.connected ? 1 : 0)
            buffer.writeField("held", entry.held)
            buffer.writeField("wrap_up", entry.wrapUps)
            buffer.writeField("max", entry.maxChats)
            buffer.writeField("skills", entry.skills.map { "\($0.skill.name):\($0.level)" }.joined(separator: ","))
            if let last = entry.lastAssignedAt {
                buffer.writeField("last_assigned", last.unixMilliseconds)
            } else {
                buffer.writeField("last_assigned", "never")
            }
        case .explanation(let decision):
            buffer.writeStaticString("* EXPLAIN")
            buffer.writeField("conv", decision.conversation.rawValue)
            buffer.writeField("agent", decision.agent?.rawValue ?? "none")
            buffer.writeField("at", decision.at.unixMilliseconds)
            buffer.writeText(decision.rule.text)
        case .candidate(let conversation, let candidate):
            buffer.writeStaticString("* CANDIDATE")
            buffer.writeField("conv", conversation.rawValue)
            buffer.writeField("agent", candidate.agent.rawValue)
            // Only a verdict an older kefud kept in its first format has no code.
            let code = candidate.verdict.code
            if !code.isEmpty { buffer.writeField("verdict", code) }
            buffer.writeText(candidate.verdict.text)
        case .others(let conversation, let group):
            buffer.writeStaticString("* OTHERS")
            buffer.writeField("conv", conversation.rawValue)
            buffer.writeField("skill", group.skill.name)
            buffer.writeField("verdict", group.standing.code)
            buffer.writeField("count", group.count)
            buffer.writeText(group.standing.text)
        case .history(let message):
            buffer.writeStaticString("* HISTORY")
            buffer.writeField("conv", message.conversation.rawValue)
            buffer.writeField("seq", message.seq)
            buffer.writeField("from", message.sender.rawValue)
            buffer.writeField("at", message.at.unixMilliseconds)
            if message.automatic { buffer.writeStaticString(" auto=1") }
            if let ref = message.ref { buffer.writeField("ref", ref) }
            buffer.writeText(message.text)
        case .note(let note):
            buffer.writeStaticString("* NOTE")
            note.writeFields(to: &buffer)
            buffer.writeText(note.text)
        case .conversation(let id, let state, let agent, let customer):
            buffer.writeStaticString("* CONV")
            buffer.writeField("conv", id.rawValue)
            buffer.writeField("state", state.rawValue)
            buffer.writeField("agent", agent?.rawValue ?? "none")
            if let customer { buffer.writeField("customer", customer.rawValue) }
        case .bye(let reason):
            buffer.writeStaticString("* BYE")
            if let reason { buffer.writeField("reason", reason.rawValue) }
        case .moved(let shop, let node, let epoch):
            buffer.writeStaticString("* MOVED")
            buffer.writeField("shop", shop)
            buffer.writeField("node", node)
            buffer.writeField("epoch", Int(epoch))
        }
        buffer.endLine()
    }

    /// `EXPLAIN`'s data lines: the decision, one `CANDIDATE` per agent examined, one `OTHERS` per group counted.
    public static func explaining(_ decision: Decision) -> [OutboundLine] {
        [.explanation(decision)] + decision.candidates.map { .candidate(decision.conversation, $0) }
            + decision.others.map { .others(decision.conversation, $0) }
    }

    /// `EXPLAIN`'s completion: `count=` agents examined, and on a large team `others=` the agents counted.
    public static func explained(tag: String, _ decision: Decision) -> OutboundLine {
        var fields = [Field("count", "\(decision.candidates.count)")]
        if !decision.others.isEmpty { fields.append(Field("others", "\(decision.others.reduce(0) { $0 + $1.count })")) }
        return .ok(tag: tag, fields)
    }

    /// A listing's completion: `count=`, and for a page `more=0|1` (nil: the whole listing was asked for); `purged=1`
    /// when retention deleted the conversation's texts (`HISTORY`, `NOTES`).
    public static func listed(tag: String, count: Int, more: Bool? = nil, purged: Bool = false) -> OutboundLine {
        var fields = [Field("count", "\(count)")]
        if let more { fields.append(Field("more", more ? "1" : "0")) }
        if purged { fields.append(Field("purged", "1")) }
        return .ok(tag: tag, fields)
    }

    /// The line as a string, without its LF (tests, logs, the restart's records).
    public var rendered: String {
        var buffer = ByteBufferAllocator().buffer(capacity: 128)
        write(to: &buffer)
        buffer.moveWriterIndex(to: buffer.writerIndex - 1)
        return String(buffer: buffer)
    }
}

/// Who an event line is written for.
public enum EventForm: Sendable, Equatable {
    /// The principal it concerns: `* NAME fields [:text]`.
    case plain
    /// The gateway speaking for a buyer: the buyer is named after the other fields, `* NAME fields customer=<id>
    /// [:text]`.
    case forGateway(CustomerID)
    /// The copy a `WATCH`ing supervisor gets: `* WATCHED to=<audience> event=<NAME> fields [:text]`.
    case watched(WatchAudience)
}

/// Whom a watched event went to, as `WATCHED to=` names it.
public enum WatchAudience: Sendable, Equatable {
    /// The session that sent the command (`caller:<session>`).
    case caller(String)
    case agent(AgentID)
    case customer(CustomerID)
    case supervisors
    case managers

    func write(to buffer: inout ByteBuffer) {
        switch self {
        case .caller(let session):
            buffer.writeStaticString("caller:")
            buffer.writeString(session)
        case .agent(let agent):
            buffer.writeStaticString("agent:")
            buffer.writeString(agent.rawValue)
        case .customer(let customer):
            buffer.writeStaticString("customer:")
            buffer.writeString(customer.rawValue)
        case .supervisors: buffer.writeStaticString("supervisors")
        case .managers: buffer.writeStaticString("managers")
        }
    }
}

extension Event {
    /// The event's name on the wire (`PRESENCE` carries the presence as a positional word: `PRESENCE away`).
    public var wireName: String {
        switch self {
        case .queued: "QUEUED"
        case .joined: "JOINED"
        case .assigned: "ASSIGNED"
        case .message, .autoMessage: "MSG"
        case .revoked: "REVOKED"
        case .escalated: "ESCALATED"
        case .slaWarning: "SLA-WARN"
        case .closed: "CLOSED"
        case .note: "NOTE"
        case .presence(let presence, _): "PRESENCE \(presence.rawValue)"
        case .agentAway: "AGENT-AWAY"
        case .ratingRequest: "CSAT-REQUEST"
        }
    }

    /// Writes `* NAME key=value ... [:text]` in the given form. Documented in protocol/PROTOCOL.md.
    func write(_ form: EventForm, to buffer: inout ByteBuffer) {
        switch form {
        case .plain, .forGateway:
            buffer.writeStaticString("* ")
        case .watched(let audience):
            buffer.writeStaticString("* WATCHED to=")
            audience.write(to: &buffer)
            buffer.writeStaticString(" event=")
        }
        var text: String?
        switch self {
        case .queued(let conversation, let position, let eta, let offline):
            buffer.writeStaticString("QUEUED")
            buffer.writeField("conv", conversation.rawValue)
            buffer.writeField("position", position)
            if let eta { buffer.writeField("eta_s", eta) }
            if offline { buffer.writeStaticString(" offline=1") }
        case .joined(let conversation, let agent):
            buffer.writeStaticString("JOINED")
            buffer.writeField("conv", conversation.rawValue)
            buffer.writeField("agent", agent.rawValue)
        case .assigned(let notice):
            buffer.writeStaticString("ASSIGNED")
            buffer.writeField("conv", notice.conversation.rawValue)
            buffer.writeField("customer", notice.customer.rawValue)
            buffer.writeField("skill", notice.skill.name)
            buffer.writeField("priority", notice.priority.rawValue)
            buffer.writeField("waited_ms", notice.waited.value)
            if notice.resumed { buffer.writeStaticString(" resumed=1") }
            if notice.via != .routed { buffer.writeField("via", notice.via.rawValue) }
            if notice.via == .handover { buffer.writeStaticString(" handover=1") }
            text = notice.firstMessage
        case .message(let conversation, let sender, let message):
            buffer.writeStaticString("MSG")
            buffer.writeField("conv", conversation.rawValue)
            buffer.writeField("from", sender.rawValue)
            text = message
        case .autoMessage(let conversation, let sender, let message):
            buffer.writeStaticString("MSG")
            buffer.writeField("conv", conversation.rawValue)
            buffer.writeField("from", sender.rawValue)
            buffer.writeStaticString(" auto=1")
            text = message
        case .revoked(let conversation, let reason):
            buffer.writeStaticString("REVOKED")
            buffer.writeField("conv", conversation.rawValue)
            buffer.writeField("reason", reason.rawValue)
        case .escalated(let conversation, let reason, let agent, let waited, let level):
            buffer.writeStaticString("ESCALATED")
            buffer.writeField("conv", conversation.rawValue)
            buffer.writeField("reason", reason.reason)
            buffer.writeField("agent", agent?.rawValue ?? "none")
            buffer.writeField("waited_ms", waited.value)
            buffer.writeField("level", level)
        case .slaWarning(let conversation, let sla, let left):
            buffer.writeStaticString("SLA-WARN")
            buffer.writeField("conv", conversation.rawValue)
            buffer.writeField("sla", sla.rawValue)
            buffer.writeField("left_ms", left.value)
        case .closed(let conversation, let closer):
            buffer.writeStaticString("CLOSED")
            buffer.writeField("conv", conversation.rawValue)
            buffer.writeField("by", closer.rawValue)
        case .ratingRequest(let conversation, let scale, let question):
            buffer.writeStaticString("CSAT-REQUEST")
            buffer.writeField("conv", conversation.rawValue)
            buffer.writeField("scale", scale)
            text = question
        case .note(let note):
            buffer.writeStaticString("NOTE")
            note.writeFields(to: &buffer)
            text = note.text
        case .presence(let presence, let reason):
            buffer.writeStaticString("PRESENCE ")
            buffer.writeString(presence.rawValue)
            buffer.writeField("reason", reason.rawValue)
        case .agentAway(let agent, let reason, let breaches):
            buffer.writeStaticString("AGENT-AWAY")
            buffer.writeField("agent", agent.rawValue)
            buffer.writeField("reason", reason.rawValue)
            buffer.writeField("breaches", breaches)
        }
        if case .forGateway(let customer) = form { buffer.writeField("customer", customer.rawValue) }
        if let text { buffer.writeText(text) }
        buffer.endLine()
    }
}

extension NoteRecord {
    func writeFields(to buffer: inout ByteBuffer) {
        buffer.writeField("conv", conversation.rawValue)
        buffer.writeField("seq", seq)
        buffer.writeField("author", author)
        buffer.writeField("at", at.unixMilliseconds)
    }
}

import KefuCore
import NIOCore

/// One line the server sends, as a typed value. Every line kefud writes is rendered here, once, by `write(to:)`:
/// completions, events in each of their forms (to the person, to the gateway speaking for a buyer, the copy a watching
/// supervisor gets), data lines and farewells. Nobody edits a rendered line.
public enum OutboundLine: Sendable, Equatable {
    /// `TAG OK [key=value ...]`
    case ok(tag: String, [Field])
    /// `TAG OK seq=<n>`: the completion of a `SEND`, the commonest line there is.
    case sent(tag: String, seq: Int)
    /// `TAG ERR <code> :<text>`
    case error(tag: String, ProtocolError)
    /// `* NAME key=value ... [:text]`, in one of its forms.
    case event(Event, EventForm = .plain)
    /// A data line of a listing (`EXPLAIN`, `CANDIDATE`, `OTHERS`, `WAITING`, `AGENT`).
    case data(DataLine)
    /// `* HISTORY conv= seq= from= at= [auto=1] [ref=<id>] :text`
    case history(MessageRecord)
    /// `* NOTE conv= seq= author= at= :text`
    case note(NoteRecord)
    /// `* CONV conv= state= agent= [customer=]`: where an open conversation stands, replayed to a buyer (or its
    /// gateway, with the buyer named) that logs in again.
    case conversation(ConversationID, state: ConversationState, agent: AgentID?, customer: CustomerID?)
    /// `* BYE [reason=<why>]`: the server closes the connection.
    case bye(reason: SignOutReason?)

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
        case .data(let line):
            buffer.writeStaticString("* ")
            buffer.writeString(line.name)
            for field in line.fields { buffer.writeField(named: field.key, field.value) }
            if let text = line.text { buffer.writeText(text) }
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
        }
        buffer.endLine()
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

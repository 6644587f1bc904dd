/// Internal notes (备注): appended, never shown to the buyer, given to whoever receives the chat.
extension RoutingCore {
    mutating func note(_ principal: Principal, _ id: ConversationID, text: String, at now: Instant) -> Reply {
        guard !text.isEmpty else { return .refused(.badArgs, "NOTE needs a text") }
        let author: String
        switch principal {
        case .customer: return .refused(.forbidden, "notes are internal: agents and supervisors only")
        case .agent(let agent):
            guard conversations[id]?.record.agent == agent else { return notFound(id) }
            author = agent.rawValue
        case .supervisor(let supervisor):
            guard conversations[id] != nil else { return notFound(id) }
            author = supervisor.rawValue
        }
        let seq = conversations[id]!.notes.count + 1
        let note = NoteRecord(conversation: id, seq: seq, author: author, at: now, text: text)
        conversations[id]!.notes.append(note)
        effects.append(.persist(.note(note)))
        return .ok([Field("seq", "\(seq)")])
    }

    func notes(_ principal: Principal, _ id: ConversationID) -> Reply {
        if case .customer = principal { return .refused(.forbidden, "notes are internal: agents and supervisors only") }
        switch access(principal, id) {
        case .denied: return notFound(id)
        case .askStore: return .fromStore(.notes, id, viewer: principal, verifyOwnership: true)
        case .granted:
            let notes = conversations[id]?.notes ?? []
            return .notes(notes)
        }
    }
}

/// Messages in a conversation: `SEND` by the buyer and the agent, canned replies (`auto=1`), the daemon's own
/// lines, and resends (`SEND ref=`) that change nothing.
extension RoutingCore {
    /// `SEND`: the buyer's message (which may start a response round) or the holding agent's human answer (which ends
    /// one).
    mutating func send(
        _ principal: Principal, _ id: ConversationID, text: String, ref: String? = nil, at now: Instant
    ) -> Reply {
        guard !text.isEmpty else { return .refused(.badArgs, "SEND needs a message text") }
        // Checked and changed where the conversation lies: a copy taken out and written back would make its record's
        // copy-on-write box be copied on every message.
        let author: String
        switch principal {
        case .customer(let customer): author = customer.rawValue
        case .agent(let agent): author = agent.rawValue
        case .supervisor:
            guard conversations[id] != nil else { return notFound(id) }
            return .refused(.forbidden, "supervisors do not write in conversations")
        }
        let seen = conversations.inspect(id) { open in
            (Self.writesIn(open.record, principal), Self.sentBefore(ref, by: author, in: open))
        }
        guard let (mayWrite, sentBefore) = seen else { return resent(by: principal, ref: ref, to: id) }
        guard mayWrite else { return notFound(id) }
        if let sentBefore { return Self.duplicate(sentBefore) }
        // The conversation's row is written only when more changed than what its messages tell anyway (the count,
        // and while the buyer stays silent the time of the agent's latest answer: `ConversationRecord.catchUp`):
        // a message is one row in the store, not two.
        let rowChanged: Bool
        let seq: Int
        if case .agent = principal {
            // A human answer ends the round (the first one also stops the first-response clock). Now it is the
            // buyer's turn: if they stay silent, the daemon warns them and then closes.
            let moreChanged = conversations.modify(id) { open in
                open.record.messageCount += 1
                open.passedOnBy = nil  // answered by its new agent: the one who passed it on may serve it again later
                return open.record.firstRespondedAt == nil || open.record.roundStartedAt != nil
                    || open.record.buyerIdleSince == nil
            }!
            rowChanged = moreChanged
            if moreChanged {
                var record = conversations[id]!.record
                if record.firstRespondedAt == nil { record.firstRespondedAt = now }
                if record.roundStartedAt != nil { answerRound(of: &record, at: now) }
                record.buyerIdleSince = now
                conversations[id]!.record = record
            } else {
                conversations[id]!.record.buyerIdleSince = now
            }
            let record = conversations[id]!.record
            seq = record.messageCount
            armBuyerIdle(record)
            append(id, sender: .agent, author: author, text: text, at: now, ref: ref)
            effects.append(.deliver(.customer(record.customer), .message(id, from: .agent, text: text)))
        } else {
            // The buyer spoke: no idle close; a hold ends; while a round is waiting, more buyer messages do not
            // restart it.
            // (Ending a hold and starting a round change neither the count nor the holder.)
            let (moreChanged, count, agent) = conversations.modify(id) { open in
                open.record.messageCount += 1
                let moreChanged =
                    open.record.buyerIdleSince != nil || open.record.heldSince != nil
                    || open.record.roundStartedAt == nil
                return (moreChanged, open.record.messageCount, open.record.agent)
            }!
            rowChanged = moreChanged
            if moreChanged {
                var record = conversations[id]!.record
                record.buyerIdleSince = nil
                if record.heldSince != nil { endHold(of: &record, at: now) }
                if record.roundStartedAt == nil { startRound(of: &record, at: now) }
                conversations[id]!.record = record
            }
            seq = count
            append(id, sender: .customer, author: author, text: text, at: now, ref: ref)
            if let agent { effects.append(.deliver(.agent(agent), .message(id, from: .customer, text: text))) }
        }
        if rowChanged { persist(id) }
        return .ok([Field("seq", "\(seq)")])
    }

    /// Whether `principal` writes in the conversation: its buyer, or the agent holding it.
    static func writesIn(_ record: ConversationRecord, _ principal: Principal) -> Bool {
        switch principal {
        case .customer(let customer): record.customer == customer
        case .agent(let agent): record.agent == agent
        case .supervisor: false
        }
    }

    /// `SEND <conv> auto=1`: a canned reply from the holding agent. The buyer gets it, marked `auto=1`; the round
    /// keeps running (the platforms do not count auto-replies as answers).
    mutating func autoReply(
        _ principal: Principal, _ id: ConversationID, text: String, ref: String? = nil, at now: Instant
    ) -> Reply {
        guard !text.isEmpty else { return .refused(.badArgs, "SEND needs a message text") }
        guard case .agent(let agent) = principal else {
            if case .supervisor = principal {
                return .refused(.forbidden, "supervisors do not write in conversations")
            }
            return .refused(.badArgs, "auto=1 is for agents' canned replies")
        }
        guard let open = conversations[id] else { return resent(by: principal, ref: ref, to: id) }
        guard open.record.agent == agent else { return notFound(id) }
        if let seq = Self.sentBefore(ref, by: agent.rawValue, in: open) { return Self.duplicate(seq) }
        automaticMessage(id, text, from: .agent, author: agent.rawValue, at: now, persistRow: false, ref: ref)
        return .ok([Field("seq", "\(open.record.messageCount + 1)")])
    }

    /// A sender's id for one of its messages (`SEND ref=`), unique per sender and conversation.
    public struct SentRef: Hashable, Sendable, Codable {
        public var author: String
        public var ref: String

        public init(author: String, ref: String) {
            self.author = author
            self.ref = ref
        }
    }

    /// The seq of the message this sender already sent under `ref` in the conversation, if it did.
    static func sentBefore(_ ref: String?, by author: String, in open: OpenConversation) -> Int? {
        guard let ref, !open.sentRefs.isEmpty else { return nil }
        return open.sentRefs[SentRef(author: author, ref: ref)]
    }

    /// A resend: the original seq, and nothing else happens.
    static func duplicate(_ seq: Int) -> Reply {
        .ok([Field("seq", "\(seq)"), Field("duplicate", "1")])
    }

    /// A SEND to a conversation that is not open: with a `ref`, it may be the resend of a message acknowledged
    /// before the conversation closed, which only the store still knows; without, the conversation is not found.
    func resent(by principal: Principal, ref: String?, to id: ConversationID) -> Reply {
        let author: String
        switch principal {
        case .customer(let customer): author = customer.rawValue
        case .agent(let agent): author = agent.rawValue
        case .supervisor: return notFound(id)
        }
        guard let ref else { return notFound(id) }
        return .fromStore(.sentMessage(author: author, ref: ref), id, viewer: principal, verifyOwnership: true)
    }

    /// An automatic message to the buyer (`auto=1`), kept in the history: the daemon's own (`from=system`) or an
    /// agent's canned reply.
    mutating func automaticMessage(
        _ id: ConversationID, _ text: String, from sender: MessageSender = .system, author: String = "system",
        at now: Instant, persistRow: Bool = true, ref: String? = nil
    ) {
        guard let record = conversations[id]?.record else { return }
        conversations[id]!.record.messageCount += 1
        append(id, sender: sender, author: author, text: text, at: now, automatic: true, ref: ref)
        effects.append(.deliver(.customer(record.customer), .autoMessage(id, from: sender, text: text)))
        // A canned reply changes only the count, which the messages tell (`ConversationRecord.catchUp`).
        if persistRow { persist(id) }
    }

    /// Appends a system line to the history (visible in HISTORY, not sent to anyone).
    mutating func systemMessage(_ id: ConversationID, _ text: String, at now: Instant) {
        guard conversations[id] != nil else { return }
        conversations[id]!.record.messageCount += 1
        append(id, sender: .system, author: "system", text: text, at: now)
        persist(id)
    }

    /// Appends a message to the history (the caller has already counted it in `messageCount`).
    mutating func append(
        _ id: ConversationID, sender: MessageSender, author: String, text: String, at now: Instant,
        automatic: Bool = false, ref: String? = nil
    ) {
        guard let record = conversations[id]?.record else { return }
        let message = MessageRecord(
            conversation: id, seq: record.messageCount, sender: sender, author: author, at: now, text: text,
            automatic: automatic, ref: ref
        )
        if let ref { conversations[id]!.sentRefs[SentRef(author: author, ref: ref)] = record.messageCount }
        effects.append(.persist(.message(message)))
    }
}

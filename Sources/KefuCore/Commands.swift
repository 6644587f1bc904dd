/// Who is speaking: a logged-in session's role and id. Authentication happens before the core.
public enum Principal: Hashable, Sendable, CustomStringConvertible {
    case customer(CustomerID)
    case agent(AgentID)
    case supervisor(SupervisorID)

    public var description: String {
        switch self {
        case .customer(let id): "customer \(id)"
        case .agent(let id): "agent \(id)"
        case .supervisor(let id): "supervisor \(id)"
        }
    }
}

/// Everything that can happen to the routing state. Each command is applied at an instant given by the caller.
public enum Command: Sendable, Equatable {
    /// A session has logged in as this principal.
    case connect(Principal)
    /// A session of this principal has ended (closed, dropped, or logged out).
    case disconnect(Principal)
    /// `PRESENCE online|away|offline`.
    case setPresence(Principal, Presence)
    /// `OPEN <skill> [priority=...] :<first message>`.
    case open(Principal, skill: Skill, priority: Priority, text: String)
    /// `SEND <conv> :<text>`.
    case send(Principal, ConversationID, text: String)
    /// `CLOSE <conv>`.
    case close(Principal, ConversationID)
    /// `HISTORY <conv>`: the core decides who may read; the store has the messages.
    case history(Principal, ConversationID)
    /// Time has passed: fire every deadline due by now.
    case tick
}

/// Why a command was refused, in the protocol's error codes.
public enum Refusal: String, Sendable, Equatable {
    case notFound = "not-found"
    case forbidden
    case badArgs = "bad-args"
    case conflict
}

/// A `key=value` pair of a reply or event, in order.
public struct Field: Sendable, Equatable {
    public var key: String
    public var value: String
    public init(_ key: String, _ value: String) {
        self.key = key
        self.value = value
    }
}

/// The answer to the command's caller.
public enum Reply: Sendable, Equatable {
    /// `TAG OK key=value ...`.
    case ok([Field])
    /// `TAG ERR <code> :<text>`.
    case refused(Refusal, String)
    /// Read the conversation's history from the store and answer with it. When `verifyOwnership` is set, the
    /// core could not decide alone (the conversation is closed, or the agent held it before): the store must
    /// confirm that the viewer is its customer or one of its agents, else answer `not-found`.
    case history(ConversationID, viewer: Principal, verifyOwnership: Bool)
}

/// Whom an event goes to. The server maps these to sessions.
public enum Recipient: Hashable, Sendable {
    /// The session that sent the command being handled.
    case caller
    case customer(CustomerID)
    case agent(AgentID)
    /// Every supervisor session.
    case supervisors
}

/// An assignment as the agent sees it.
public struct AssignmentNotice: Sendable, Equatable {
    public var conversation: ConversationID
    public var customer: CustomerID
    public var skill: Skill
    public var priority: Priority
    /// How long the customer has been waiting since opening.
    public var waited: Milliseconds
    public var firstMessage: String
    /// True when replayed after a restart or reconnect rather than newly given.
    public var resumed: Bool
}

/// Unsolicited events (`* EVENT ...` lines).
public enum Event: Sendable, Equatable {
    /// The customer's conversation waits in the queue at this 1-based position.
    case queued(ConversationID, position: Int)
    /// An agent took the customer's conversation.
    case joined(ConversationID, agent: AgentID)
    /// A conversation was given to the agent.
    case assigned(AssignmentNotice)
    /// A chat message.
    case message(ConversationID, from: MessageSender, text: String)
    /// The conversation was taken away from the agent.
    case revoked(ConversationID, reason: String)
    /// A stalled conversation is handed up to supervisors.
    case escalated(ConversationID, reason: String, agent: AgentID?, waited: Milliseconds)
    /// The other party (or a supervisor) closed the conversation.
    case closed(ConversationID, by: Closer)
}

/// Who closed a conversation.
public enum Closer: String, Sendable, Equatable {
    case customer
    case agent
    case supervisor
}

/// Which response clock was breached.
public enum SLAKind: String, Sendable, Equatable {
    case firstResponse = "first_response"
}

/// One SLA breach, to be written to journald (and already recorded in the store by the same step).
public struct SLABreach: Sendable, Equatable {
    public var sla: SLAKind
    public var conversation: ConversationID
    public var customer: CustomerID
    /// The agent holding the conversation when it breached, nil when it was still queued.
    public var agent: AgentID?
    public var skill: Skill
    public var priority: Priority
    public var waited: Milliseconds
    public var threshold: Milliseconds
    public var at: Instant
}

/// What should happen as a consequence of a command, in order.
public enum Effect: Sendable, Equatable {
    /// Send an event line.
    case deliver(Recipient, Event)
    /// Persist a record before anything of this step is shown to anyone.
    case persist(Record)
    /// Write a journald breach record.
    case breach(SLABreach)
}

/// The outcome of one command: the caller's reply and everything else that follows.
public struct Step: Sendable, Equatable {
    public var reply: Reply
    public var effects: [Effect]

    public init(reply: Reply = .ok([]), effects: [Effect] = []) {
        self.reply = reply
        self.effects = effects
    }

    /// The records this step persists, in order.
    public var records: [Record] {
        effects.compactMap { if case .persist(let record) = $0 { record } else { nil } }
    }
}

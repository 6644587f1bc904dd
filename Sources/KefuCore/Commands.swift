/// Who is speaking: a logged-in session's role and id. Authentication happens before the core.
public enum Principal: Hashable, Sendable, CustomStringConvertible {
    case customer(CustomerID)
    case agent(AgentID)
    case supervisor(SupervisorID)

    var isSupervisor: Bool {
        if case .supervisor = self { true } else { false }
    }

    public var isCustomer: Bool {
        if case .customer = self { true } else { false }
    }

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
    /// `OPEN <skill> [store=...] [priority=...] [lang=...] :<first message>`.
    /// `gateway` names the platform bridge that brought the buyer, if any.
    case open(
        Principal, skill: Skill, priority: Priority, text: String, store: String? = nil, language: String? = nil,
        gateway: String? = nil
    )
    /// `SEND <conv> [ref=<id>] :<text>`. A `ref` the sender already used in the conversation is a resend: answered
    /// with the original seq (`duplicate=1`), nothing else happens.
    case send(Principal, ConversationID, text: String, ref: String? = nil)
    /// `CLOSE <conv>`.
    case close(Principal, ConversationID)
    /// `HISTORY <conv>`: the core decides who may read; the store has the messages.
    case history(Principal, ConversationID)
    /// `TRANSFER <conv> agent=<id>|skill=<skill> :<reason>` by the holding agent.
    case transfer(Principal, ConversationID, to: TransferTarget, reason: String)
    /// `NOTE <conv> :<text>`: an internal note, never shown to the customer.
    case note(Principal, ConversationID, text: String)
    /// `NOTES <conv>`: the conversation's notes.
    case notes(Principal, ConversationID)
    /// `HANDOVER [:<note>]`: end of shift; every open chat is passed on with the note, the agent goes offline.
    case handover(Principal, note: String?)
    /// `ASSIGN <conv> <agent>`: a supervisor's forced assignment (may exceed capacity, and says so).
    case assign(Principal, ConversationID, AgentID)
    /// `EXPLAIN <conv>`: why the conversation is where it is.
    case explain(Principal, ConversationID)
    /// `QUEUE [after=<rank>] [limit=<n>]`: waiting conversations in serving order (supervisors).
    case queue(Principal, page: ListingPage = ListingPage())
    /// `AGENTS [after=<agent>] [limit=<n>]`: every agent's presence and load, by id (supervisors).
    case agents(Principal, after: AgentID? = nil, limit: Int? = nil)
    /// `SEND <conv> auto=1`: an agent's canned reply (快捷回复). The buyer gets it, but it is no human answer: it
    /// ends no round.
    case autoReply(Principal, ConversationID, text: String, ref: String? = nil)
    /// `HOLD <conv> :<reason>`: the holding agent waits on someone else (warehouse, courier): the round's clock and
    /// the silent-buyer clock pause until the buyer writes again.
    case hold(Principal, ConversationID, reason: String)
    /// Time has passed: fire every deadline due by now.
    case tick
    /// `DUE`: how long the open conversation's waiting round has before its deadline (the workspace's countdown).
    case due(Principal, ConversationID)
    /// `RATE`: the buyer rates a closed conversation's survey, 1–5, with an optional comment.
    case rate(Principal, ConversationID, rating: Int, comment: String?)
    /// The configuration was reloaded: route by these rules from now on (see `RoutingCore.reconfigure`). Boxed: the
    /// policy is 281 bytes and a reload is rare, while every other command, one per client line, would be as large.
    indirect case reconfigure(RoutingPolicy)
}

/// A page of a listing: the items after `after` (a rank from 1 in the listing's order; 0 or nil: from the start), at
/// most `limit` of them (nil: all). A paged listing's completion says `more=1` when items remain.
public struct ListingPage: Sendable, Equatable {
    public var after: Int?
    public var limit: Int?

    public init(after: Int? = nil, limit: Int? = nil) {
        self.after = after
        self.limit = limit
    }

    /// Whether the client asked for a page (its completion then says `more=`).
    public var isPaged: Bool { after != nil || limit != nil }
}

/// Where a transfer goes.
public enum TransferTarget: Sendable, Equatable {
    case agent(AgentID)
    case skill(Skill)
}

/// Why a command was refused, in the protocol's error codes.
public enum Refusal: String, Sendable, Equatable {
    case notFound = "not-found"
    case forbidden
    case badArgs = "bad-args"
    case conflict
    /// The queue for the skill is full (`max_queue`).
    case busy
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
    /// `QUEUE`: waiting conversations in serving order; `more` when a page was asked for (nil: the whole queue).
    case queue([WaitingEntry], more: Bool?)
    /// `AGENTS`: agents by id; `more` when a page was asked for (nil: every agent).
    case agents([AgentEntry], more: Bool?)
    /// `EXPLAIN`: the conversation's last routing decision.
    case explanation(Decision)
    /// `NOTES`: the conversation's notes, in order.
    case notes([NoteRecord])
    /// The conversation is closed: read what is asked from the store (same ownership rule as `history`).
    case fromStore(StoreQuery, ConversationID, viewer: Principal, verifyOwnership: Bool)
}

/// What a reply must read from the store for a conversation that is no longer in memory.
public enum StoreQuery: Sendable, Equatable {
    case notes
    case explanation
    /// A resend (`SEND ref=`) to a conversation that has closed since: the message the sender stored under `ref`
    /// (answered with its seq and `duplicate=1`), else `not-found`.
    case sentMessage(author: String, ref: String)
}

/// Whom an event goes to. The server maps these to sessions.
public enum Recipient: Hashable, Sendable {
    /// The session that sent the command being handled.
    case caller
    case customer(CustomerID)
    case agent(AgentID)
    /// Every supervisor session.
    case supervisors
    /// Every manager session (`[[manager]]`), for the top of the escalation ladder.
    case managers
}

/// An assignment as the agent sees it.
public struct AssignmentNotice: Sendable, Equatable, Codable {
    public var conversation: ConversationID
    public var customer: CustomerID
    public var skill: Skill
    public var priority: Priority
    /// How long the customer has been waiting since opening.
    public var waited: Milliseconds
    public var firstMessage: String
    /// True when replayed after a restart or reconnect rather than newly given.
    public var resumed: Bool
    /// How it came (`routed` unless a transfer, handover, `ASSIGN` or returning buyer brought it).
    public var via: AssignmentVia = .routed
}

/// Unsolicited events (`* EVENT ...` lines). The rare large ones are boxed (`indirect`): an event travels through
/// several hands on its way to a connection (the step's effects, the commit gate, the session's output), and inline
/// they made every event, the commonest `MSG` included, as large as the largest.
public enum Event: Sendable, Equatable, Codable {
    /// The customer's conversation waits in the queue at this 1-based position, with an estimate of the wait;
    /// `offline` when no agent who could serve it is online (the buyer leaves a message, 留言).
    case queued(ConversationID, position: Int, etaSeconds: Int? = nil, offline: Bool = false)
    /// An agent took the customer's conversation.
    case joined(ConversationID, agent: AgentID)
    /// A conversation was given to the agent.
    indirect case assigned(AssignmentNotice)
    /// A chat message.
    case message(ConversationID, from: MessageSender, text: String)
    /// The conversation was taken away from the agent.
    case revoked(ConversationID, reason: AssignmentReason)
    /// A stalled conversation is handed up to supervisors.
    /// A step of the escalation ladder (`level` 1 at the breach by default).
    indirect case escalated(ConversationID, reason: SLAKind, agent: AgentID?, waited: Milliseconds, level: Int = 1)
    /// An automatic message (the daemon's greeting or queue message, or an agent's canned reply): `auto=1`.
    case autoMessage(ConversationID, from: MessageSender, text: String)
    /// To the holding agent, once per round: the round's deadline is near (`left` until it breaches).
    case slaWarning(ConversationID, sla: SLAKind, left: Milliseconds)
    /// The other party (or a supervisor) closed the conversation.
    case closed(ConversationID, by: Closer)
    /// A note on a conversation the agent just received (transfer, handover).
    indirect case note(NoteRecord)
    /// The daemon changed the agent's presence.
    case presence(Presence, reason: PresenceReason)
    /// An agent was set away by the daemon (to supervisors).
    case agentAway(AgentID, reason: PresenceReason, breaches: Int)
    /// To the buyer when the conversation closed after a human answered: rate it 1…`scale` (`RATE`).
    indirect case ratingRequest(ConversationID, scale: Int, question: String)
}

/// Who closed a conversation.
public enum Closer: String, Sendable, Equatable, Codable {
    case customer
    case agent
    case supervisor
    /// The daemon: the buyer stayed silent after the agent's last message (`customer_idle_close_s`).
    case system
}

/// Which response clock was breached.
public enum SLAKind: String, Sendable, Equatable, Codable {
    /// Round 1: from the opening message to the first human answer (`first_response_s`).
    case firstResponse = "first_response"
    /// Every later round: from a buyer message after an answer to the next human answer (`response_s`).
    case response
    /// Open to close (`resolution_s`).
    case resolution

    /// The clock a response round runs on.
    public init(round: Int) { self = round <= 1 ? .firstResponse : .response }

    /// How events name it (`ESCALATED reason=`, `REVOKED reason=`).
    public var reason: String {
        switch self {
        case .firstResponse: "first-response"
        case .response: "response"
        case .resolution: "resolution"
        }
    }
}

/// One SLA breach, to be written to journald (and already recorded in the store by the same step).
public struct SLABreach: Sendable, Equatable {
    public var sla: SLAKind
    public var conversation: ConversationID
    /// The response round that breached (1 for the first response).
    public var round: Int = 1
    public var customer: CustomerID
    /// The agent holding the conversation when it breached, nil when it was still queued.
    public var agent: AgentID?
    public var skill: Skill
    public var store: String? = nil
    public var priority: Priority
    public var waited: Milliseconds
    /// The limit, in business time.
    public var threshold: Milliseconds
    public var at: Instant
    /// How long it waited inside business hours (what the platforms count; `waited` without `[business_hours]`).
    public var businessWaited: Milliseconds?

    public init(
        sla: SLAKind, conversation: ConversationID, round: Int = 1, customer: CustomerID, agent: AgentID?,
        skill: Skill, store: String? = nil, priority: Priority, waited: Milliseconds, threshold: Milliseconds,
        at: Instant
    ) {
        self.sla = sla
        self.conversation = conversation
        self.round = round
        self.customer = customer
        self.agent = agent
        self.skill = skill
        self.store = store
        self.priority = priority
        self.waited = waited
        self.threshold = threshold
        self.at = at
    }
}

/// One step of the escalation ladder for a breached round, to be written to journald.
public struct SLAEscalation: Sendable, Equatable {
    public var breach: SLABreach
    /// 1 for the first step; the ladder climbs while the round stays unanswered.
    public var level: Int
    public var actions: [EscalationAction]
    /// Whether the step moved the conversation to another agent.
    public var reassignedTo: AgentID?
    public var at: Instant

    public init(breach: SLABreach, level: Int, actions: [EscalationAction], reassignedTo: AgentID?, at: Instant) {
        self.breach = breach
        self.level = level
        self.actions = actions
        self.reassignedTo = reassignedTo
        self.at = at
    }
}

/// An agent the daemon set away for letting chats breach (no idle hanging, 严禁空挂).
public struct AgentAutoAway: Sendable, Equatable {
    public var agent: AgentID
    public var breaches: Int
    public var window: Milliseconds
    /// Unanswered conversations taken from the agent and passed on or requeued.
    public var movedConversations: [ConversationID]
    public var at: Instant
}

/// What should happen as a consequence of a command, in order.
public enum Effect: Sendable, Equatable {
    /// Send an event line.
    case deliver(Recipient, Event)
    /// Persist a record before anything of this step is shown to anyone.
    case persist(Record)
    /// Write a journald breach record. (This and the other journald cases are boxed: they are rare, and inline
    /// they would make every effect, the many records and events of each decision included, as large as the
    /// largest of them.)
    indirect case breach(SLABreach)
    /// Write a journald record that an agent was set away.
    indirect case autoAway(AgentAutoAway)
    /// End every session of an agent who may no longer log in (removed from the configuration), telling it why.
    case signOut(AgentID, reason: SignOutReason)
    /// Write a journald record of an escalation step.
    indirect case escalation(SLAEscalation)
    /// Write a debug-level journald record of an SLA fact that is no breach: a warning, or a round met.
    indirect case slaNotice(SLANotice)
}

extension Effect {
    /// The conversation and agent of an assignment to an agent (`.persist(.assignment)`), nil for any other
    /// effect. Read where the effect lies (`step.effects[i].assignedTo`): a consumer looking only for assignments,
    /// as the routing benchmark is, does not copy each effect out of the step to find them.
    @_spi(Benchmarks) public var assignedTo: (conversation: ConversationID, agent: AgentID)? {
        // The tag first: binding the payload copies the effect, which only an assignment is worth.
        guard case .persist(.assignment) = self, case .persist(.assignment(let assignment)) = self,
            let agent = assignment.agent
        else { return nil }
        return (assignment.conversation, agent)
    }
}

/// What journald keeps at debug level about rounds that did not breach: the warning sent to the holder before a
/// round's deadline, and a round answered by a human in time. (Breaches and escalations are warning level and up.)
public struct SLANotice: Sendable, Equatable {
    public enum Kind: String, Sendable, Equatable {
        /// `SLA-WARN` was sent to the holder.
        case warning
        /// A human answered the round before its deadline.
        case met
    }

    public var kind: Kind
    /// The round as a breach record describes one: `waited` until the warning or the answer, `threshold` its limit.
    public var facts: SLABreach
    /// Time left before the deadline (a warning); nil for a round met.
    public var left: Milliseconds?

    public init(kind: Kind, facts: SLABreach, left: Milliseconds? = nil) {
        self.kind = kind
        self.facts = facts
        self.left = left
    }
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

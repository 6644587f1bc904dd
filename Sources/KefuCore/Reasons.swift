/// Why a conversation changed hands, in the protocol's words: the store's `assignments.reason`, and the
/// `REVOKED reason=` the agent it was taken from hears.
public enum AssignmentReason: String, Sendable, Equatable, Codable, CaseIterable {
    /// The routing rule chose the agent: at the opening, when capacity appeared, after widening or a sticky wait.
    case routed
    /// A returning buyer (老客户) went back to the agent who served them.
    case sticky
    /// `TRANSFER` by the holding agent.
    case transfer
    /// `HANDOVER` (交接): the holder's shift ended.
    case handover
    /// `ASSIGN` by a supervisor, as the new holder's assignment says.
    case forced
    /// `ASSIGN` by a supervisor, as the former holder hears it (`REVOKED` only; never stored).
    case reassigned
    /// The escalation ladder moved a round that breached: the first response, or a later one.
    case firstResponse = "first-response"
    case response
    /// A reload took the holder out of the configuration.
    case removed
    /// The holder set itself offline.
    case offline
    /// The holder's connection dropped and did not come back within the reconnect grace.
    case disconnected
    /// The holder let chats breach and was set away (auto-away, 严禁空挂).
    case unresponsive

    /// The ladder's move of a round that breached: named after the round's clock.
    init(breachedRound round: Int) { self = round <= 1 ? .firstResponse : .response }
}

/// How an assigned chat reached its agent (`ASSIGNED via=`).
public enum AssignmentVia: String, Sendable, Equatable, Codable {
    /// Chosen by the routing rule (not written on the line).
    case routed
    case sticky
    case transfer
    case handover
    case forced

    /// A transfer or handover comes with the chat's notes, and stays one when it had to wait.
    var passesNotes: Bool { self == .transfer || self == .handover }
}

/// Why a decision left an agent out on purpose (`verdict=excluded`, the words after `excluded: `).
public enum Exclusion: String, Sendable, Equatable, CaseIterable {
    /// The agent is handing its chats over (`HANDOVER`).
    case handingOver = "handing over"
    /// The agent transferred the chat away: it does not come back until another agent has answered it.
    case transferredAway = "transferred it away"
    /// The holder whose round breached, when the ladder moves the chat.
    case letFirstResponseBreach = "let the first-response breach"
    case letResponseBreach = "let the response breach"
    /// The holder whose chats are moving off it: offline, not back within the reconnect grace, or set away.
    case offline
    case disconnected
    case unresponsive

    /// The holder whose round breached, named after the round's clock.
    init(breachedRound round: Int) { self = round <= 1 ? .letFirstResponseBreach : .letResponseBreach }
}

/// Why the daemon changed an agent's presence (`PRESENCE away reason=`, `AGENT-AWAY reason=`).
public enum PresenceReason: String, Sendable, Equatable, Codable {
    /// It let `auto_away_breaches` chats breach within the window (no idle hanging, 严禁空挂).
    case unresponsive
}

/// Why the daemon ends a session (`BYE reason=`; a stopping daemon gives none).
public enum SignOutReason: String, Sendable, Equatable, Codable {
    /// A reload took the agent out of the configuration (the core's `Effect.signOut`).
    case removed
    /// Nothing came from the client for `idle_timeout_s` (the server's rule).
    case idle
    /// In a cluster, this node stopped serving the shop and does not know yet which node will: log in again (any
    /// node answers with `MOVED` or `tryagain`).
    case moved
    /// The daemon restarts and cannot hand this connection over (a WebSocket): reconnect.
    case restart
}

/// A point in wall-clock time, in milliseconds since the Unix epoch.
///
/// Deadlines are stored as absolute instants so that SLA clocks survive a restart. The core never reads a
/// clock: every command arrives with the instant at which it happens.
public struct Instant: Hashable, Comparable, Sendable, Codable, CustomStringConvertible {
    public var unixMilliseconds: Int64

    public init(unixMilliseconds: Int64) {
        self.unixMilliseconds = unixMilliseconds
    }

    public static func < (lhs: Instant, rhs: Instant) -> Bool { lhs.unixMilliseconds < rhs.unixMilliseconds }

    public static func + (lhs: Instant, rhs: Milliseconds) -> Instant {
        Instant(unixMilliseconds: lhs.unixMilliseconds + rhs.value)
    }

    public static func - (lhs: Instant, rhs: Instant) -> Milliseconds {
        Milliseconds(lhs.unixMilliseconds - rhs.unixMilliseconds)
    }

    public var description: String { String(unixMilliseconds) }
}

/// A span of time in milliseconds (SLA thresholds, waits).
public struct Milliseconds: Hashable, Comparable, Sendable, Codable, CustomStringConvertible {
    public var value: Int64

    public init(_ value: Int64) { self.value = value }

    /// Converts configuration seconds (which may be fractional, e.g. 1.5) to milliseconds.
    public static func seconds(_ seconds: Double) -> Milliseconds { Milliseconds(Int64((seconds * 1000).rounded())) }

    public static func < (lhs: Milliseconds, rhs: Milliseconds) -> Bool { lhs.value < rhs.value }

    public var description: String { String(value) }
}

/// An agent's id as configured (`[[agent]] id = "alice"`).
public struct AgentID: Hashable, Comparable, Sendable, Codable, CustomStringConvertible, ExpressibleByStringLiteral {
    public let rawValue: String
    public init(_ rawValue: String) { self.rawValue = rawValue }
    public init(stringLiteral value: String) { self.rawValue = value }
    public static func < (lhs: AgentID, rhs: AgentID) -> Bool { lhs.rawValue < rhs.rawValue }
    public var description: String { rawValue }
}

/// A buyer's id as the customer login or gateway names it.
public struct CustomerID: Hashable, Comparable, Sendable, Codable, CustomStringConvertible, ExpressibleByStringLiteral {
    public let rawValue: String
    public init(_ rawValue: String) { self.rawValue = rawValue }
    public init(stringLiteral value: String) { self.rawValue = value }
    public static func < (lhs: CustomerID, rhs: CustomerID) -> Bool { lhs.rawValue < rhs.rawValue }
    public var description: String { rawValue }
}

/// A supervisor's id as configured (`[[supervisor]] id = "lead"`).
public struct SupervisorID: Hashable, Comparable, Sendable, Codable, CustomStringConvertible, ExpressibleByStringLiteral {
    public let rawValue: String
    public init(_ rawValue: String) { self.rawValue = rawValue }
    public init(stringLiteral value: String) { self.rawValue = value }
    public static func < (lhs: SupervisorID, rhs: SupervisorID) -> Bool { lhs.rawValue < rhs.rawValue }
    public var description: String { rawValue }
}

/// A conversation's id: a positive integer handed out in opening order, never reused.
public struct ConversationID: Hashable, Comparable, Sendable, Codable, CustomStringConvertible {
    public let rawValue: Int64
    public init(_ rawValue: Int64) { self.rawValue = rawValue }
    public static func < (lhs: ConversationID, rhs: ConversationID) -> Bool { lhs.rawValue < rhs.rawValue }
    public var description: String { String(rawValue) }

    public func hash(into hasher: inout Hasher) { hasher.combine(rawValue) }

    /// Conversation ids are handed out by the core, never chosen by a client, so they need no protection against
    /// hash flooding: a multiplicative mix spreads sequential ids over a table for a fraction of SipHash's cost
    /// (the core looks conversations up several times per decision).
    public func _rawHashValue(seed: Int) -> Int {
        Int(bitPattern: (UInt(bitPattern: Int(rawValue)) ^ UInt(bitPattern: seed)) &* 0x9E37_79B9_7F4A_7C15)
    }
}

/// A skill (技能组): a matter type an agent can serve, e.g. `presales`, `refund`.
public struct Skill: Hashable, Comparable, Sendable, Codable, CustomStringConvertible, ExpressibleByStringLiteral {
    public let name: String
    public init(_ name: String) { self.name = name }
    public init(stringLiteral value: String) { self.name = value }
    public static func < (lhs: Skill, rhs: Skill) -> Bool { lhs.name < rhs.name }
    public var description: String { name }
}

/// Queue priority of a conversation: vip waits ahead of normal.
public enum Priority: String, Sendable, Codable, CaseIterable, Comparable {
    case normal
    case vip

    /// Higher ranks are served first.
    var rank: Int { self == .vip ? 1 : 0 }

    public static func < (lhs: Priority, rhs: Priority) -> Bool { lhs.rank < rhs.rank }
}

/// Presence an agent sets for itself. `away` and `offline` take no new chats.
public enum Presence: String, Sendable, Codable, CaseIterable {
    case online
    case away
    case offline
}

/// Who wrote a message in a conversation.
public enum MessageSender: String, Sendable, Codable {
    case customer
    case agent
    case system
}

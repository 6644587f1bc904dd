/// The roles a session can log in as.
public enum LoginRole: String, Sendable, CaseIterable {
    case agent
    case supervisor
    case customer
}

/// Presence values of `PRESENCE`.
public enum PresenceValue: String, Sendable, CaseIterable {
    case online
    case away
    case offline
}

/// Priorities of `OPEN`.
public enum PriorityValue: String, Sendable, CaseIterable {
    case normal
    case vip
}

/// A client request, checked for shape (arguments present and well-formed). Who may do what is decided later.
public enum Request: Equatable, Sendable {
    case login(role: LoginRole, id: String, token: String)
    case ping
    case quit
    case open(skill: String, priority: PriorityValue, text: String)
    case send(conversation: Int64, text: String)
    case close(conversation: Int64)
    case presence(PresenceValue)
    case history(conversation: Int64)

    /// Every verb the protocol knows, for `unknown-verb` errors.
    public static let verbs = ["LOGIN", "PING", "QUIT", "OPEN", "SEND", "CLOSE", "PRESENCE", "HISTORY"]

    /// Ids (agents, customers, supervisors) are 1-64 of `A-Za-z0-9._:@-`: they appear as `key=value` in events.
    public static func isValidID(_ id: String) -> Bool {
        (1...64).contains(id.utf8.count)
            && id.utf8.allSatisfy { byte in
                ClientLine.isAlphanumeric(byte)
                    || [
                        UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: ":"),
                        UInt8(ascii: "@"), UInt8(ascii: "-"),
                    ].contains(byte)
            }
    }

    /// Turns a parsed line into a request, or the error to answer it with.
    public init(_ line: ClientLine) throws(ProtocolError) {
        switch line.verb {
        case "LOGIN":
            // Taken from the raw arguments: a token (base64 with padding, say) may contain `=`.
            let usage = "LOGIN <agent|supervisor|customer> <id> <token>"
            guard line.arguments.count == 3, line.text == nil else { throw ProtocolError(.badArgs, "usage: \(usage)") }
            guard let role = LoginRole(rawValue: line.arguments[0].lowercased()) else {
                throw ProtocolError(.badArgs, "role must be agent, supervisor or customer")
            }
            guard Self.isValidID(line.arguments[1]) else {
                throw ProtocolError(.badArgs, "id must be 1-64 of A-Za-z0-9._:@-")
            }
            self = .login(role: role, id: line.arguments[1], token: line.arguments[2])
        case "PING":
            try line.expect(words: 0, options: [], text: false, usage: "PING")
            self = .ping
        case "QUIT":
            try line.expect(words: 0, options: [], text: false, usage: "QUIT")
            self = .quit
        case "OPEN":
            let usage = "OPEN <skill> [priority=normal|vip] :<first message>"
            try line.expect(words: 1, options: ["priority"], text: true, usage: usage)
            var priority = PriorityValue.normal
            if let given = line.option("priority") {
                guard let value = PriorityValue(rawValue: given.lowercased()) else {
                    throw ProtocolError(.badArgs, "priority must be normal or vip")
                }
                priority = value
            }
            self = .open(skill: line.words[0], priority: priority, text: line.text ?? "")
        case "SEND":
            try line.expect(words: 1, options: [], text: true, usage: "SEND <conv> :<text>")
            self = .send(conversation: try line.conversation(), text: line.text ?? "")
        case "CLOSE":
            try line.expect(words: 1, options: [], text: false, usage: "CLOSE <conv>")
            self = .close(conversation: try line.conversation())
        case "PRESENCE":
            try line.expect(words: 1, options: [], text: false, usage: "PRESENCE online|away|offline")
            guard let presence = PresenceValue(rawValue: line.words[0].lowercased()) else {
                throw ProtocolError(.badArgs, "presence must be online, away or offline")
            }
            self = .presence(presence)
        case "HISTORY":
            try line.expect(words: 1, options: [], text: false, usage: "HISTORY <conv>")
            self = .history(conversation: try line.conversation())
        default:
            throw ProtocolError(.unknownVerb, "unknown verb \(line.verb); verbs: \(Self.verbs.joined(separator: " "))")
        }
    }

    /// Verbs accepted before LOGIN.
    public var allowedBeforeLogin: Bool {
        switch self {
        case .login, .ping, .quit: true
        default: false
        }
    }
}

extension ClientLine {
    /// Checks the line has exactly `words` positional arguments, only the listed options, and a text part iff
    /// one is expected (a required text may not be empty).
    func expect(words count: Int, options allowed: Set<String>, text: Bool, usage: String) throws(ProtocolError) {
        guard words.count == count else { throw ProtocolError(.badArgs, "usage: \(usage)") }
        for option in options where !allowed.contains(option.key) {
            throw ProtocolError(.badArgs, "unknown argument \(option.key)=; usage: \(usage)")
        }
        if text {
            guard let given = self.text, !given.isEmpty else {
                throw ProtocolError(.badArgs, "text required; usage: \(usage)")
            }
        } else if self.text != nil {
            throw ProtocolError(.badArgs, "no text expected; usage: \(usage)")
        }
    }

    /// The conversation id in the first positional argument.
    func conversation() throws(ProtocolError) -> Int64 {
        // Canonical decimal only: no sign, no leading zeros, so one conversation has one spelling.
        let digits = words[0].utf8
        guard digits.first != UInt8(ascii: "0"), digits.allSatisfy({ (48...57).contains($0) }),
            let id = Int64(words[0]), id > 0
        else {
            throw ProtocolError(.badArgs, "conversation id must be a positive integer")
        }
        return id
    }
}

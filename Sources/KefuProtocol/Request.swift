/// The roles a session can log in as.
public enum LoginRole: String, Sendable, CaseIterable, Codable {
    case agent
    case supervisor
    case customer
    /// A platform bridge bringing many buyers over one connection (they are named with `customer=`).
    case gateway
    /// A supervisor's powers, and the top of the escalation ladder (`[[manager]]`).
    case manager
}

/// Presence values of `PRESENCE`.
public enum PresenceValue: String, Sendable, CaseIterable {
    case online
    case away
    case offline
}

/// Where a paged listing starts and how long it may be: `after=` the last item of the page before, `limit=` at most
/// this many items (the completion says `more=1` when items remain).
public struct Page: Equatable, Sendable {
    public var after: Int64?
    public var limit: Int?

    public init(after: Int64? = nil, limit: Int? = nil) {
        self.after = after
        self.limit = limit
    }

    /// The most items one page may ask for.
    public static let maximumLimit = 10_000
}

/// Priorities of `OPEN`.
public enum PriorityValue: String, Sendable, CaseIterable {
    case normal
    case vip
}

/// A client request, checked for shape (arguments present and well-formed). Who may do what is decided later.
public enum Request: Equatable, Sendable {
    /// `shop=` names the shop (店铺) the session belongs to; without it, the node's default shop.
    case login(role: LoginRole, id: String, token: String, shop: String? = nil)
    case ping
    case quit
    /// `customer=` is given by gateways only: the buyer the gateway speaks for.
    case open(
        skill: String, priority: PriorityValue, text: String, store: String? = nil, language: String? = nil,
        customer: String? = nil
    )
    /// `automatic`: `auto=1`, a canned reply that does not count as a human answer. `ref`: the sender's own id for
    /// the message; a resend with the same ref is answered with the original seq and changes nothing.
    case send(conversation: Int64, text: String, customer: String? = nil, automatic: Bool = false, ref: String? = nil)
    case close(conversation: Int64, customer: String? = nil)
    case presence(PresenceValue)
    /// `page`: `after=<seq>` and `limit=<n>`; without them every message.
    case history(conversation: Int64, customer: String? = nil, page: Page = Page())
    case transfer(conversation: Int64, agent: String?, skill: String?, reason: String)
    case note(conversation: Int64, text: String)
    /// `HOLD <conv> :<reason>`: waiting on the warehouse or the courier; pauses the response clock.
    case hold(conversation: Int64, reason: String)
    case notes(conversation: Int64)
    case handover(note: String?)
    case assign(conversation: Int64, agent: String)
    case explain(conversation: Int64)
    /// `after=<rank>` and `limit=<n>` (ranks in serving order, from 1).
    case queue(page: Page = Page())
    /// `after=<agent id>` and `limit=<n>` (agents in id order).
    case agents(after: String? = nil, limit: Int? = nil)
    case watch
    /// `BOARD`: the supervisor board, then its changes pushed every second.
    case board
    /// `DUE <conv>`: the waiting round's time left.
    case due(conversation: Int64)
    /// `CHATS [agent=] [skill=] [store=] [unanswered=1]`: the open conversations behind a board number.
    case chats(agent: String?, skill: String?, store: String?, unanswered: Bool)
    /// `RATE <conv> <1-5> [customer=<id>] [:<comment>]`: the buyer answers the survey of a closed conversation.
    case rate(conversation: Int64, rating: Int, comment: String?, customer: String? = nil)

    /// Every verb the protocol knows, for `unknown-verb` errors.
    public static let verbs = [
        "LOGIN", "PING", "QUIT", "OPEN", "SEND", "CLOSE", "PRESENCE", "HISTORY", "TRANSFER", "NOTE", "NOTES",
        "HANDOVER", "ASSIGN", "EXPLAIN", "QUEUE", "AGENTS", "WATCH", "HOLD", "RATE", "BOARD", "DUE", "CHATS",
    ]

    /// Shop, store, language and skill names: 1-64 of `a-z0-9_-`, as in the configuration (a shop's name can name
    /// its file, `<shop>.toml`, as it is).
    public static func isValidName(_ name: String) -> Bool {
        (1...64).contains(name.utf8.count)
            && name.utf8.allSatisfy { byte in
                (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte)
                    || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
                    || byte == UInt8(ascii: "_") || byte == UInt8(ascii: "-")
            }
    }

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

    /// A client's message id (`SEND ref=`): 1-64 of `A-Za-z0-9._:-`.
    public static func isValidRef(_ ref: String) -> Bool {
        (1...64).contains(ref.utf8.count)
            && ref.utf8.allSatisfy { byte in
                ClientLine.isAlphanumeric(byte)
                    || byte == UInt8(ascii: ".") || byte == UInt8(ascii: "_") || byte == UInt8(ascii: ":")
                    || byte == UInt8(ascii: "-")
            }
    }

    /// Turns a parsed line into a request, or the error to answer it with.
    public init(_ line: ClientLine) throws(ProtocolError) {
        switch line.verb {
        case "LOGIN":
            // Taken from the raw arguments: a token (base64 with padding, say) may contain `=`.
            let usage = "LOGIN <agent|supervisor|customer|gateway> <id> <token> [shop=<shop>]"
            guard (3...4).contains(line.arguments.count), line.text == nil else {
                throw ProtocolError(.badArgs, "usage: \(usage)")
            }
            var shop: String?
            if line.arguments.count == 4 {
                guard line.arguments[3].hasPrefix("shop=") else { throw ProtocolError(.badArgs, "usage: \(usage)") }
                let name = String(line.arguments[3].dropFirst("shop=".count))
                guard Self.isValidName(name) else { throw ProtocolError(.badArgs, "shop must be 1-64 of a-z0-9_-") }
                shop = name
            }
            guard let role = LoginRole(rawValue: line.arguments[0].lowercased()) else {
                throw ProtocolError(.badArgs, "role must be agent, supervisor, manager, customer or gateway")
            }
            guard Self.isValidID(line.arguments[1]) else {
                throw ProtocolError(.badArgs, "id must be 1-64 of A-Za-z0-9._:@-")
            }
            self = .login(role: role, id: line.arguments[1], token: line.arguments[2], shop: shop)
        case "PING":
            try line.expect(words: 0, options: [], text: false, usage: "PING")
            self = .ping
        case "QUIT":
            try line.expect(words: 0, options: [], text: false, usage: "QUIT")
            self = .quit
        case "OPEN":
            let usage = "OPEN <skill> [store=<name>] [priority=normal|vip] [lang=<code>] :<first message>"
            try line.expect(words: 1, options: ["priority", "store", "lang", "customer"], text: true, usage: usage)
            for key in ["store", "lang"] {
                if let value = line.option(key), !Self.isValidName(value) {
                    throw ProtocolError(.badArgs, "\(key) must be 1-64 of a-z0-9_-")
                }
            }
            let customer = try line.customer()
            var priority = PriorityValue.normal
            if let given = line.option("priority") {
                guard let value = PriorityValue(rawValue: given.lowercased()) else {
                    throw ProtocolError(.badArgs, "priority must be normal or vip")
                }
                priority = value
            }
            self = .open(
                skill: line.words[0], priority: priority, text: line.text ?? "", store: line.option("store"),
                language: line.option("lang"), customer: customer
            )
        case "SEND":
            let usage = "SEND <conv> [auto=1] [ref=<id>] :<text>"
            try line.expect(words: 1, options: ["customer", "auto", "ref"], text: true, usage: usage)
            let ref = line.option("ref")
            if let ref, !Self.isValidRef(ref) {
                throw ProtocolError(.badArgs, "ref must be 1-64 of A-Za-z0-9._:-")
            }
            var automatic = false
            if let given = line.option("auto") {
                guard given == "1" else { throw ProtocolError(.badArgs, "auto must be 1 (a canned reply)") }
                automatic = true
            }
            self = .send(
                conversation: try line.conversation(), text: line.text ?? "", customer: try line.customer(),
                automatic: automatic, ref: ref
            )
        case "RATE":
            let usage = "RATE <conv> <1-5> [:<comment>]"
            let positional = line.arguments.filter { ClientLine.optionSplit($0) == nil }
            guard positional.count == 2 else { throw ProtocolError(.badArgs, "usage: \(usage)") }
            for argument in line.arguments where ClientLine.optionSplit(argument).map({ $0.key != "customer" }) ?? false {
                throw ProtocolError(.badArgs, "unknown argument \(argument); usage: \(usage)")
            }
            guard let rating = Int(positional[1]), (1...5).contains(rating) else {
                throw ProtocolError(.badArgs, "a rating is 1 to 5 (5 非常满意)")
            }
            self = .rate(
                conversation: try line.conversation(), rating: rating,
                comment: line.text.flatMap { $0.isEmpty ? nil : $0 }, customer: try line.customer())
        case "CLOSE":
            try line.expect(words: 1, options: ["customer"], text: false, usage: "CLOSE <conv>")
            self = .close(conversation: try line.conversation(), customer: try line.customer())
        case "PRESENCE":
            try line.expect(words: 1, options: [], text: false, usage: "PRESENCE online|away|offline")
            guard let presence = PresenceValue(rawValue: line.words[0].lowercased()) else {
                throw ProtocolError(.badArgs, "presence must be online, away or offline")
            }
            self = .presence(presence)
        case "HISTORY":
            let usage = "HISTORY <conv> [after=<seq>] [limit=<n>]"
            try line.expect(words: 1, options: ["customer", "after", "limit"], text: false, usage: usage)
            self = .history(
                conversation: try line.conversation(), customer: try line.customer(),
                page: Page(after: try line.count("after", from: 0), limit: try line.limit()))
        case "TRANSFER":
            let usage = "TRANSFER <conv> agent=<id>|skill=<skill> :<reason>"
            try line.expect(words: 1, options: ["agent", "skill"], text: true, usage: usage)
            guard (line.option("agent") == nil) != (line.option("skill") == nil) else {
                throw ProtocolError(.badArgs, "name exactly one of agent= or skill=; usage: \(usage)")
            }
            self = .transfer(
                conversation: try line.conversation(), agent: line.option("agent"), skill: line.option("skill"),
                reason: line.text ?? ""
            )
        case "NOTE":
            try line.expect(words: 1, options: [], text: true, usage: "NOTE <conv> :<text>")
            self = .note(conversation: try line.conversation(), text: line.text ?? "")
        case "HOLD":
            try line.expect(words: 1, options: [], text: true, usage: "HOLD <conv> :<reason>")
            self = .hold(conversation: try line.conversation(), reason: line.text ?? "")
        case "NOTES":
            try line.expect(words: 1, options: [], text: false, usage: "NOTES <conv>")
            self = .notes(conversation: try line.conversation())
        case "HANDOVER":
            guard line.arguments.isEmpty else { throw ProtocolError(.badArgs, "usage: HANDOVER [:<note>]") }
            self = .handover(note: line.text.flatMap { $0.isEmpty ? nil : $0 })
        case "ASSIGN":
            try line.expect(words: 2, options: [], text: false, usage: "ASSIGN <conv> <agent>")
            guard Self.isValidID(line.words[1]) else { throw ProtocolError(.badArgs, "invalid agent id") }
            self = .assign(conversation: try line.conversation(), agent: line.words[1])
        case "EXPLAIN":
            try line.expect(words: 1, options: [], text: false, usage: "EXPLAIN <conv>")
            self = .explain(conversation: try line.conversation())
        case "QUEUE":
            try line.expect(words: 0, options: ["after", "limit"], text: false, usage: "QUEUE [after=<rank>] [limit=<n>]")
            self = .queue(page: Page(after: try line.count("after", from: 0), limit: try line.limit()))
        case "AGENTS":
            try line.expect(words: 0, options: ["after", "limit"], text: false, usage: "AGENTS [after=<agent>] [limit=<n>]")
            if let after = line.option("after"), !Self.isValidID(after) {
                throw ProtocolError(.badArgs, "after must be an agent id")
            }
            self = .agents(after: line.option("after"), limit: try line.limit())
        case "WATCH":
            try line.expect(words: 0, options: [], text: false, usage: "WATCH")
            self = .watch
        case "CHATS":
            let usage = "CHATS [agent=<id>] [skill=<skill>] [store=<store>] [unanswered=1]"
            try line.expect(words: 0, options: ["agent", "skill", "store", "unanswered"], text: false, usage: usage)
            if let flag = line.option("unanswered"), flag != "1" {
                throw ProtocolError(.badArgs, "unanswered must be 1; usage: \(usage)")
            }
            self = .chats(
                agent: line.option("agent"), skill: line.option("skill"), store: line.option("store"),
                unanswered: line.option("unanswered") == "1")
        case "DUE":
            try line.expect(words: 1, options: [], text: false, usage: "DUE <conv>")
            self = .due(conversation: try line.conversation())
        case "BOARD":
            try line.expect(words: 0, options: [], text: false, usage: "BOARD")
            self = .board
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
    func expect(words count: Int, options allowed: [String], text: Bool, usage: String) throws(ProtocolError) {
        var positional = 0
        var unknown: String?
        for argument in arguments {
            if let (key, _) = Self.optionSplit(argument) {
                if unknown == nil && !allowed.contains(key) { unknown = key }
            } else {
                positional += 1
            }
        }
        guard positional == count else { throw ProtocolError(.badArgs, "usage: \(usage)") }
        if let unknown { throw ProtocolError(.badArgs, "unknown argument \(unknown)=; usage: \(usage)") }
        if text {
            guard let given = self.text, !given.isEmpty else {
                throw ProtocolError(.badArgs, "text required; usage: \(usage)")
            }
        } else if self.text != nil {
            throw ProtocolError(.badArgs, "no text expected; usage: \(usage)")
        }
    }

    /// The `customer=` a gateway names, checked like any id.
    func customer() throws(ProtocolError) -> String? {
        guard let customer = option("customer") else { return nil }
        guard Request.isValidID(customer) else {
            throw ProtocolError(.badArgs, "customer must be 1-64 of A-Za-z0-9._:@-")
        }
        return customer
    }

    /// A non-negative decimal option (`after=<seq>`), nil when not given.
    func count(_ key: String, from minimum: Int64) throws(ProtocolError) -> Int64? {
        guard let given = option(key) else { return nil }
        let digits = given.utf8
        guard !digits.isEmpty, digits.count <= 18, digits.allSatisfy({ (48...57).contains($0) }),
            digits.count == 1 || digits.first != UInt8(ascii: "0"), let value = Int64(given), value >= minimum
        else { throw ProtocolError(.badArgs, "\(key) must be a number of at least \(minimum)") }
        return value
    }

    /// `limit=<n>`: 1 to ``Page/maximumLimit``.
    func limit() throws(ProtocolError) -> Int? {
        guard let value = try count("limit", from: 1) else { return nil }
        guard value <= Int64(Page.maximumLimit) else {
            throw ProtocolError(.badArgs, "limit must be at most \(Page.maximumLimit)")
        }
        return Int(value)
    }

    /// The conversation id in the first positional argument.
    func conversation() throws(ProtocolError) -> Int64 {
        // Canonical decimal only: no sign, no leading zeros, so one conversation has one spelling.
        let word = arguments.first { Self.optionSplit($0) == nil } ?? ""
        let digits = word.utf8
        guard digits.first != UInt8(ascii: "0"), digits.allSatisfy({ (48...57).contains($0) }),
            let id = Int64(word), id > 0
        else {
            throw ProtocolError(.badArgs, "conversation id must be a positive integer")
        }
        return id
    }
}

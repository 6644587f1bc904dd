import Foundation

/// Every input a shop's routing core receives, with its instant, in the order the core took them: what a replay runs
/// through the core again (`kefuctl replay`). The core is deterministic, so the same inputs at the same instants give
/// the same decisions; the journal also notes the decisions each input caused (assignments, breaches, escalations),
/// so that a replay can say which input first decided differently.
///
/// Compact by design (the daemon writes it for every message): an entry is the time since the previous one (varint),
/// a tag and the command's fields; texts are not kept (the messages table has them, and no rule reads them) — only
/// whether one was given, so that a replay is refused or accepted exactly as the original was. A run of entries
/// goes to the store as one `Chunk`, in the same commit as the records its inputs caused.
public struct InputJournal: Sendable {
    /// One store row: entries in order, the first at `at`.
    public struct Chunk: Sendable, Equatable {
        public var at: Instant
        public var entries: Int
        /// Whether it holds a restore point (a run of the owner starts there; a replay can start there).
        public var startsRun: Bool
        public var bytes: [UInt8]

        public init(at: Instant, entries: Int, startsRun: Bool, bytes: [UInt8]) {
            self.at = at
            self.entries = entries
            self.startsRun = startsRun
            self.bytes = bytes
        }
    }

    /// What a journal holds.
    public enum Entry: Sendable, Equatable {
        /// The owner started from this state (a start, a restart, a takeover).
        case restore(RestorePoint)
        /// An input, at its instant.
        case input(Command, at: Instant)
        /// What the input before it decided (only written when it decided something).
        case decisions([Decision])
    }

    /// A decision worth checking a replay against.
    public enum Decision: Sendable, Equatable, Hashable, CustomStringConvertible {
        case assigned(ConversationID, agent: AgentID?, reason: AssignmentReason)
        case breached(ConversationID, round: Int, sla: SLAKind)
        case escalated(ConversationID, round: Int, level: Int)

        /// The decisions a step made, in the order it made them.
        public static func of(_ step: Step) -> [Decision] {
            var decisions: [Decision] = []
            for effect in step.effects {
                switch effect {
                case .persist(.assignment(let assignment)):
                    decisions.append(.assigned(assignment.conversation, agent: assignment.agent, reason: assignment.reason))
                case .breach(let breach):
                    decisions.append(.breached(breach.conversation, round: breach.round, sla: breach.sla))
                case .escalation(let escalation):
                    decisions.append(
                        .escalated(escalation.breach.conversation, round: escalation.breach.round, level: escalation.level))
                default:
                    break
                }
            }
            return decisions
        }

        public var description: String {
            switch self {
            case .assigned(let conversation, let agent, let reason):
                "conv=\(conversation) \(agent.map { "assigned to \($0)" } ?? "unassigned") (\(reason.rawValue))"
            case .breached(let conversation, let round, let sla):
                "conv=\(conversation) round \(round) breached \(sla.rawValue)"
            case .escalated(let conversation, let round, let level):
                "conv=\(conversation) round \(round) escalated to level \(level)"
            }
        }
    }

    /// What a text that was given reads as in a replay (its words are not kept).
    public static let keptOutText = "·"

    private var bytes: [UInt8] = []
    private var first: Instant?
    private var last = Instant(unixMilliseconds: 0)
    private var entries = 0
    private var startsRun = false

    public init() {}

    public var isEmpty: Bool { entries == 0 }

    /// Bytes gathered since the last `take()`.
    public var byteCount: Int { bytes.count }

    /// A restore point: a run of the owner starts from it.
    public mutating func record(_ point: RestorePoint) {
        stamp(point.at)
        bytes.append(Tag.restore)
        // A start is rare and its state large and nested: JSON, which the core's types already speak.
        let json = (try? JSONEncoder().encode(point)) ?? Data()
        writeCount(json.count)
        bytes.append(contentsOf: json)
        startsRun = true
    }

    /// An input the core took at `now`, and what its step decided.
    public mutating func record(_ command: Command, at now: Instant, step: Step) {
        stamp(now)
        write(command)
        // Most steps (a message in a running round) decide nothing: a walk of their few effects, no entry.
        let decisions = Decision.of(step)
        guard !decisions.isEmpty else { return }
        entries += 1
        writeSigned(0)
        bytes.append(Tag.decisions)
        writeCount(decisions.count)
        for decision in decisions { write(decision) }
    }

    /// Where the journal is now, to undo what follows (a command whose step was undone).
    public struct Mark: Sendable {
        fileprivate var bytes: Int
        fileprivate var first: Instant?
        fileprivate var last: Instant
        fileprivate var entries: Int
        fileprivate var startsRun: Bool
    }

    public var mark: Mark { Mark(bytes: bytes.count, first: first, last: last, entries: entries, startsRun: startsRun) }

    public mutating func rollBack(to mark: Mark) {
        bytes.removeSubrange(mark.bytes...)
        first = mark.first
        last = mark.last
        entries = mark.entries
        startsRun = mark.startsRun
    }

    /// The entries gathered so far, as one chunk; the journal starts empty again.
    public mutating func take() -> Chunk? {
        guard let first, entries > 0 else { return nil }
        let chunk = Chunk(at: first, entries: entries, startsRun: startsRun, bytes: bytes)
        bytes = []
        bytes.reserveCapacity(min(chunk.bytes.count, 1 << 16))
        self.first = nil
        entries = 0
        startsRun = false
        return chunk
    }

    // MARK: - Writing

    enum Tag {
        static let connect: UInt8 = 0
        static let disconnect: UInt8 = 1
        static let setPresence: UInt8 = 2
        static let open: UInt8 = 3
        static let send: UInt8 = 4
        static let close: UInt8 = 5
        static let history: UInt8 = 6
        static let transfer: UInt8 = 7
        static let note: UInt8 = 8
        static let notes: UInt8 = 9
        static let handover: UInt8 = 10
        static let assign: UInt8 = 11
        static let explain: UInt8 = 12
        static let queue: UInt8 = 13
        static let agents: UInt8 = 14
        static let autoReply: UInt8 = 15
        static let hold: UInt8 = 16
        static let tick: UInt8 = 17
        static let due: UInt8 = 18
        static let rate: UInt8 = 19
        static let reconfigure: UInt8 = 20
        static let restore: UInt8 = 100
        static let decisions: UInt8 = 101
    }

    /// Each entry starts with the milliseconds since the one before (zig-zag: a wall clock may step back).
    private mutating func stamp(_ now: Instant) {
        if first == nil {
            first = now
            last = now
        }
        writeSigned(now.unixMilliseconds - last.unixMilliseconds)
        last = now
        entries += 1
    }

    private mutating func write(_ command: Command) {
        switch command {
        case .connect(let who):
            bytes.append(Tag.connect)
            write(who)
        case .disconnect(let who):
            bytes.append(Tag.disconnect)
            write(who)
        case .setPresence(let who, let presence):
            bytes.append(Tag.setPresence)
            write(who)
            bytes.append(presence.code)
        case .open(let who, let skill, let priority, let text, let store, let language, let gateway):
            bytes.append(Tag.open)
            write(who)
            write(skill.name)
            bytes.append(priority == .vip ? 1 : 0)
            writeGiven(text)
            writeOptional(store)
            writeOptional(language)
            writeOptional(gateway)
        case .send(let who, let conversation, let text, let ref):
            bytes.append(Tag.send)
            write(who)
            writeCount(Int(conversation.rawValue))
            writeGiven(text)
            writeOptional(ref)
        case .close(let who, let conversation):
            bytes.append(Tag.close)
            write(who)
            writeCount(Int(conversation.rawValue))
        case .history(let who, let conversation):
            bytes.append(Tag.history)
            write(who)
            writeCount(Int(conversation.rawValue))
        case .transfer(let who, let conversation, let target, let reason):
            bytes.append(Tag.transfer)
            write(who)
            writeCount(Int(conversation.rawValue))
            switch target {
            case .agent(let agent):
                bytes.append(0)
                write(agent.rawValue)
            case .skill(let skill):
                bytes.append(1)
                write(skill.name)
            }
            writeGiven(reason)
        case .note(let who, let conversation, let text):
            bytes.append(Tag.note)
            write(who)
            writeCount(Int(conversation.rawValue))
            writeGiven(text)
        case .notes(let who, let conversation):
            bytes.append(Tag.notes)
            write(who)
            writeCount(Int(conversation.rawValue))
        case .handover(let who, let note):
            bytes.append(Tag.handover)
            write(who)
            writeGiven(note)
        case .assign(let who, let conversation, let agent):
            bytes.append(Tag.assign)
            write(who)
            writeCount(Int(conversation.rawValue))
            write(agent.rawValue)
        case .explain(let who, let conversation):
            bytes.append(Tag.explain)
            write(who)
            writeCount(Int(conversation.rawValue))
        case .queue(let who, let page):
            bytes.append(Tag.queue)
            write(who)
            writeOptional(page.after)
            writeOptional(page.limit)
        case .agents(let who, let after, let limit):
            bytes.append(Tag.agents)
            write(who)
            writeOptional(after?.rawValue)
            writeOptional(limit)
        case .autoReply(let who, let conversation, let text, let ref):
            bytes.append(Tag.autoReply)
            write(who)
            writeCount(Int(conversation.rawValue))
            writeGiven(text)
            writeOptional(ref)
        case .hold(let who, let conversation, let reason):
            bytes.append(Tag.hold)
            write(who)
            writeCount(Int(conversation.rawValue))
            writeGiven(reason)
        case .tick:
            bytes.append(Tag.tick)
        case .due(let who, let conversation):
            bytes.append(Tag.due)
            write(who)
            writeCount(Int(conversation.rawValue))
        case .rate(let who, let conversation, let rating, let comment):
            bytes.append(Tag.rate)
            write(who)
            writeCount(Int(conversation.rawValue))
            writeSigned(Int64(rating))
            writeGiven(comment)
        case .reconfigure(let policy):
            bytes.append(Tag.reconfigure)
            let json = (try? JSONEncoder().encode(policy)) ?? Data()
            writeCount(json.count)
            bytes.append(contentsOf: json)
        }
    }

    private mutating func write(_ decision: Decision) {
        switch decision {
        case .assigned(let conversation, let agent, let reason):
            bytes.append(0)
            writeCount(Int(conversation.rawValue))
            writeOptional(agent?.rawValue)
            write(reason.rawValue)
        case .breached(let conversation, let round, let sla):
            bytes.append(1)
            writeCount(Int(conversation.rawValue))
            writeCount(round)
            write(sla.rawValue)
        case .escalated(let conversation, let round, let level):
            bytes.append(2)
            writeCount(Int(conversation.rawValue))
            writeCount(round)
            writeCount(level)
        }
    }

    private mutating func write(_ principal: Principal) {
        switch principal {
        case .customer(let id):
            bytes.append(0)
            write(id.rawValue)
        case .agent(let id):
            bytes.append(1)
            write(id.rawValue)
        case .supervisor(let id):
            bytes.append(2)
            write(id.rawValue)
        }
    }

    private mutating func write(_ string: String) {
        var string = string
        string.withUTF8 { utf8 in
            writeCount(utf8.count)
            bytes.append(contentsOf: utf8)
        }
    }

    private mutating func writeOptional(_ string: String?) {
        guard let string else { return bytes.append(0) }
        bytes.append(1)
        write(string)
    }

    private mutating func writeOptional(_ value: Int?) {
        guard let value else { return bytes.append(0) }
        bytes.append(1)
        writeSigned(Int64(value))
    }

    /// A text: absent, empty, or given (its words are not kept).
    private mutating func writeGiven(_ text: String?) {
        bytes.append(text == nil ? 0 : text!.isEmpty ? 1 : 2)
    }

    private mutating func writeCount(_ value: Int) {
        var value = UInt64(truncatingIfNeeded: value)
        while value >= 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: value) | 0x80)
            value >>= 7
        }
        bytes.append(UInt8(value))
    }

    private mutating func writeSigned(_ value: Int64) {
        writeCount(Int(bitPattern: UInt(truncatingIfNeeded: (value << 1) ^ (value >> 63))))
    }
}

extension Presence {
    fileprivate var code: UInt8 {
        switch self {
        case .online: 0
        case .away: 1
        case .offline: 2
        }
    }

    fileprivate init?(code: UInt8) {
        switch code {
        case 0: self = .online
        case 1: self = .away
        case 2: self = .offline
        default: return nil
        }
    }
}

// MARK: - Reading

extension InputJournal {
    /// A journal that cannot be read: the store row and where in it.
    public struct ReadError: Error, CustomStringConvertible {
        public var offset: Int
        public var message: String
        public var description: String { "input journal unreadable at byte \(offset): \(message)" }

        public init(offset: Int, message: String) {
            self.offset = offset
            self.message = message
        }
    }

    /// The entries of a chunk, in order.
    public struct Reader: Sendable {
        private let bytes: [UInt8]
        private var offset = 0
        private var last: Instant

        public init(_ chunk: Chunk) {
            bytes = chunk.bytes
            last = chunk.at
        }

        /// The next entry; nil at the end of the chunk.
        public mutating func next() throws(ReadError) -> Entry? {
            guard offset < bytes.count else { return nil }
            // Every entry starts with the time since the one before (0 for the decisions of an input).
            let delta = try readSigned()
            let tag = try readByte()
            if tag == Tag.decisions {
                let count = try readCount()
                var decisions: [Decision] = []
                for _ in 0..<count { decisions.append(try readDecision()) }
                return .decisions(decisions)
            }
            let at = Instant(unixMilliseconds: last.unixMilliseconds + delta)
            last = at
            if tag == Tag.restore {
                let json = try readBytes(try readCount())
                do {
                    return .restore(try JSONDecoder().decode(RestorePoint.self, from: Data(json)))
                } catch {
                    throw ReadError(offset: offset, message: "restore point: \(error)")
                }
            }
            return .input(try readCommand(tag), at: at)
        }

        private mutating func readCommand(_ tag: UInt8) throws(ReadError) -> Command {
            switch tag {
            case Tag.connect: return .connect(try readPrincipal())
            case Tag.disconnect: return .disconnect(try readPrincipal())
            case Tag.setPresence:
                let who = try readPrincipal()
                guard let presence = Presence(code: try readByte()) else { throw failure("presence") }
                return .setPresence(who, presence)
            case Tag.open:
                let who = try readPrincipal()
                let skill = Skill(try readString())
                let priority: Priority = try readByte() == 1 ? .vip : .normal
                let text = try readGiven() ?? ""
                return .open(
                    who, skill: skill, priority: priority, text: text, store: try readOptionalString(),
                    language: try readOptionalString(), gateway: try readOptionalString())
            case Tag.send:
                return .send(
                    try readPrincipal(), try readConversation(), text: try readGiven() ?? "", ref: try readOptionalString())
            case Tag.close: return .close(try readPrincipal(), try readConversation())
            case Tag.history: return .history(try readPrincipal(), try readConversation())
            case Tag.transfer:
                let who = try readPrincipal()
                let conversation = try readConversation()
                let target: TransferTarget =
                    switch try readByte() {
                    case 0: .agent(AgentID(try readString()))
                    case 1: .skill(Skill(try readString()))
                    default: throw failure("transfer target")
                    }
                return .transfer(who, conversation, to: target, reason: try readGiven() ?? "")
            case Tag.note: return .note(try readPrincipal(), try readConversation(), text: try readGiven() ?? "")
            case Tag.notes: return .notes(try readPrincipal(), try readConversation())
            case Tag.handover: return .handover(try readPrincipal(), note: try readGiven())
            case Tag.assign:
                return .assign(try readPrincipal(), try readConversation(), AgentID(try readString()))
            case Tag.explain: return .explain(try readPrincipal(), try readConversation())
            case Tag.queue:
                let who = try readPrincipal()
                return .queue(who, page: ListingPage(after: try readOptionalInt(), limit: try readOptionalInt()))
            case Tag.agents:
                let who = try readPrincipal()
                return .agents(who, after: try readOptionalString().map { AgentID($0) }, limit: try readOptionalInt())
            case Tag.autoReply:
                return .autoReply(
                    try readPrincipal(), try readConversation(), text: try readGiven() ?? "", ref: try readOptionalString())
            case Tag.hold: return .hold(try readPrincipal(), try readConversation(), reason: try readGiven() ?? "")
            case Tag.tick: return .tick
            case Tag.due: return .due(try readPrincipal(), try readConversation())
            case Tag.rate:
                return .rate(
                    try readPrincipal(), try readConversation(), rating: Int(try readSigned()), comment: try readGiven())
            case Tag.reconfigure:
                let json = try readBytes(try readCount())
                do {
                    return .reconfigure(try JSONDecoder().decode(RoutingPolicy.self, from: Data(json)))
                } catch {
                    throw ReadError(offset: offset, message: "configuration: \(error)")
                }
            default:
                throw failure("unknown entry tag \(tag)")
            }
        }

        private mutating func readDecision() throws(ReadError) -> Decision {
            switch try readByte() {
            case 0:
                let conversation = try readConversation()
                let agent = try readOptionalString().map { AgentID($0) }
                guard let reason = AssignmentReason(rawValue: try readString()) else { throw failure("reason") }
                return .assigned(conversation, agent: agent, reason: reason)
            case 1:
                let conversation = try readConversation()
                let round = try readCount()
                guard let sla = SLAKind(rawValue: try readString()) else { throw failure("sla") }
                return .breached(conversation, round: round, sla: sla)
            case 2:
                return .escalated(try readConversation(), round: try readCount(), level: try readCount())
            default:
                throw failure("unknown decision")
            }
        }

        private func failure(_ what: String) -> ReadError { ReadError(offset: offset, message: what) }

        private mutating func readByte() throws(ReadError) -> UInt8 {
            guard offset < bytes.count else { throw failure("cut short") }
            defer { offset += 1 }
            return bytes[offset]
        }

        private mutating func readBytes(_ count: Int) throws(ReadError) -> ArraySlice<UInt8> {
            guard count >= 0, count <= bytes.count - offset else { throw failure("cut short") }
            defer { offset += count }
            return bytes[offset..<offset + count]
        }

        private mutating func readCount() throws(ReadError) -> Int {
            var value: UInt64 = 0
            var shift: UInt64 = 0
            while true {
                let byte = try readByte()
                guard shift < 64 else { throw failure("varint too long") }
                value |= UInt64(byte & 0x7f) << shift
                if byte < 0x80 { break }
                shift += 7
            }
            return Int(truncatingIfNeeded: value)
        }

        private mutating func readSigned() throws(ReadError) -> Int64 {
            let raw = UInt64(truncatingIfNeeded: try readCount())
            return Int64(bitPattern: raw >> 1) ^ -Int64(bitPattern: raw & 1)
        }

        private mutating func readString() throws(ReadError) -> String {
            let utf8 = try readBytes(try readCount())
            return String(decoding: utf8, as: UTF8.self)
        }

        private mutating func readOptionalString() throws(ReadError) -> String? {
            try readByte() == 0 ? nil : try readString()
        }

        private mutating func readOptionalInt() throws(ReadError) -> Int? {
            try readByte() == 0 ? nil : Int(try readSigned())
        }

        private mutating func readGiven() throws(ReadError) -> String? {
            switch try readByte() {
            case 0: return nil
            case 1: return ""
            case 2: return InputJournal.keptOutText
            default: throw failure("text flag")
            }
        }

        private mutating func readPrincipal() throws(ReadError) -> Principal {
            let role = try readByte()
            let id = try readString()
            switch role {
            case 0: return .customer(CustomerID(id))
            case 1: return .agent(AgentID(id))
            case 2: return .supervisor(SupervisorID(id))
            default: throw failure("role")
            }
        }

        private mutating func readConversation() throws(ReadError) -> ConversationID {
            ConversationID(Int64(try readCount()))
        }
    }
}

import CSystemd

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Structured logging straight to journald's native protocol (`sd_journal_sendv(3)`).
public enum Journal {
    /// Where journald listens for native-protocol datagrams.
    public static let socketPath = "/run/systemd/journal/socket"

    /// Longest field name journald accepts; longer ones are dropped without a word.
    public static let maximumFieldNameLength = 64

    /// Sends one journal entry made of the given fields.
    ///
    /// Values may contain newlines or any other bytes: libsystemd switches those fields to the binary
    /// framing. Names go through ``fieldName(_:)`` so that journald never silently drops a field.
    ///
    /// - Returns: `true` when libsystemd handed the entry to journald.
    @discardableResult
    public static func send(_ fields: [(name: String, value: String)]) -> Bool {
        guard !fields.isEmpty else { return false }
        // One contiguous "NAME=value" buffer plus offsets: a single allocation, and the iovecs can point
        // into it for the duration of the call.
        var bytes: [UInt8] = []
        bytes.reserveCapacity(fields.reduce(0) { $0 + $1.name.utf8.count + $1.value.utf8.count + 1 })
        var ranges: [Range<Int>] = []
        ranges.reserveCapacity(fields.count)
        for field in fields {
            let start = bytes.count
            bytes.append(contentsOf: fieldName(field.name).utf8)
            bytes.append(UInt8(ascii: "="))
            bytes.append(contentsOf: field.value.utf8)
            ranges.append(start..<bytes.count)
        }
        return bytes.withUnsafeMutableBytes { buffer -> Bool in
            guard let base = buffer.baseAddress else { return false }
            var vectors = ranges.map { iovec(iov_base: base + $0.lowerBound, iov_len: $0.count) }
            return sd_journal_sendv(&vectors, Int32(vectors.count)) >= 0
        }
    }

    /// Turns an arbitrary key into a name journald accepts: `[A-Z0-9_]`, not starting with `_` (those are
    /// trusted fields journald sets itself) or a digit, at most 64 characters.
    ///
    /// Lowercase ASCII is uppercased, every other character becomes `_`, leading underscores are
    /// dropped, a leading digit gets an `F_` prefix and an empty result becomes `FIELD`.
    /// `"conversation-id"` → `CONVERSATION_ID`, `"_pid"` → `PID`, `"9lives"` → `F_9LIVES`.
    public static func fieldName(_ key: String) -> String {
        if isValidFieldName(key) {
            return key
        }
        var name: [UInt8] = []
        name.reserveCapacity(key.utf8.count)
        for character in key {
            switch character.asciiValue {
            case let byte? where isUpper(byte) || isDigit(byte) || byte == UInt8(ascii: "_"):
                name.append(byte)
            case let byte? where byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z"):
                name.append(byte - 32)
            default:
                name.append(UInt8(ascii: "_"))
            }
        }
        let trimmed = name.drop { $0 == UInt8(ascii: "_") }
        guard let first = trimmed.first else { return "FIELD" }
        let prefixed = isDigit(first) ? Array("F_".utf8) + trimmed : Array(trimmed)
        return String(decoding: prefixed.prefix(maximumFieldNameLength), as: UTF8.self)
    }

    /// Whether journald would accept `name` as it is (see ``fieldName(_:)``).
    public static func isValidFieldName(_ name: String) -> Bool {
        let bytes = name.utf8
        guard let first = bytes.first, bytes.count <= maximumFieldNameLength, isUpper(first) else {
            return false
        }
        return bytes.allSatisfy { isUpper($0) || isDigit($0) || $0 == UInt8(ascii: "_") }
    }

    /// Whether a journald is listening on ``socketPath``.
    ///
    /// Stronger than "the socket file exists": a journald that died leaves its socket behind, and
    /// connecting to that fails with `ECONNREFUSED`.
    public static func isAvailable(socketPath: String = Journal.socketPath) -> Bool {
        let descriptor = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard descriptor >= 0 else { return false }
        defer { close(descriptor) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let path = Array(socketPath.utf8)
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        guard path.count < capacity else { return false }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: path)
        }
        let connected = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        return connected == 0
    }

    private static func isUpper(_ byte: UInt8) -> Bool {
        byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z")
    }

    private static func isDigit(_ byte: UInt8) -> Bool {
        byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")
    }
}

/// Syslog priorities as journald's `PRIORITY=` field expects them.
public enum JournalPriority {
    /// System is unusable.
    public static let emergency = 0
    /// Action must be taken immediately.
    public static let alert = 1
    /// Critical condition.
    public static let critical = 2
    /// Error condition.
    public static let error = 3
    /// Warning condition.
    public static let warning = 4
    /// Normal but significant condition.
    public static let notice = 5
    /// Informational message.
    public static let info = 6
    /// Debug-level message.
    public static let debug = 7
}

/// One extra `NAME=value` field of a ``JournalRecord``.
public struct JournalField: Sendable, Hashable {
    /// Field name; sanitized with ``Journal/fieldName(_:)`` when sent.
    public var name: String
    /// Field value; may span lines.
    public var value: String

    /// Creates a field.
    public init(_ name: String, _ value: String) {
        self.name = name
        self.value = value
    }
}

/// A structured journal entry with a catalogued `MESSAGE_ID`, for events operators search for
/// (`journalctl MESSAGE_ID=...`), as opposed to free-form log lines.
public struct JournalRecord: Sendable {
    /// Human-readable text: `MESSAGE=`.
    public var message: String
    /// 128-bit id in 32 lowercase hex digits, usually one of ``SystemdMessageID``: `MESSAGE_ID=`.
    public var messageID: String?
    /// Syslog priority, see ``JournalPriority``: `PRIORITY=`.
    public var priority: Int
    /// Extra fields, sent after the standard ones.
    public var fields: [JournalField]
    /// `SYSLOG_IDENTIFIER=`, what `journalctl -t` filters on.
    public var syslogIdentifier: String

    /// Creates a record.
    public init(
        message: String,
        messageID: String? = nil,
        priority: Int = JournalPriority.info,
        fields: [JournalField] = [],
        syslogIdentifier: String = "kefud"
    ) {
        self.message = message
        self.messageID = messageID
        self.priority = priority
        self.fields = fields
        self.syslogIdentifier = syslogIdentifier
    }

    /// The complete field list ``send()`` hands to journald.
    public var journalFields: [(name: String, value: String)] {
        var all: [(name: String, value: String)] = [("MESSAGE", message)]
        if let messageID {
            all.append(("MESSAGE_ID", messageID))
        }
        all.append(("PRIORITY", String(priority)))
        all.append(("SYSLOG_IDENTIFIER", syslogIdentifier))
        for field in fields {
            all.append((field.name, field.value))
        }
        return all
    }

    /// Writes the record to journald.
    ///
    /// - Returns: `true` when libsystemd handed the entry to journald.
    @discardableResult
    public func send() -> Bool {
        Journal.send(journalFields)
    }
}

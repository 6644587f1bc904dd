import NIOCore

/// A client line split into its parts: `TAG VERB [ARG ...] [:TEXT]`.
public struct ClientLine: Equatable, Sendable {
    public var tag: String
    /// Upper-cased verb.
    public var verb: String
    /// Every word after the verb as sent, `key=value` ones included (a LOGIN token may contain `=`).
    public var arguments: [String] = []
    /// Positional words, in order.
    public var words: [String]
    /// `key=value` arguments, in order.
    public var options: [(key: String, value: String)]
    /// Everything after the first ` :`, unescaped; nil when the line has no text part.
    public var text: String?

    public static func == (lhs: ClientLine, rhs: ClientLine) -> Bool {
        lhs.tag == rhs.tag && lhs.verb == rhs.verb && lhs.arguments == rhs.arguments && lhs.text == rhs.text
            && lhs.options.map(\.key) == rhs.options.map(\.key) && lhs.options.map(\.value) == rhs.options.map(\.value)
    }

    /// The tag to answer a line with when the line itself could not be parsed: the client's tag when its first
    /// word is a valid tag, `*` otherwise.
    public static func replyTag(for bytes: ByteBuffer) -> String {
        let view = bytes.readableBytesView
        let end = view.firstIndex(of: UInt8(ascii: " ")) ?? view.endIndex
        let word = view[view.startIndex..<end]
        let tag = String(decoding: word, as: UTF8.self)
        return isValidTag(tag) ? tag : "*"
    }

    /// Tags are 1–32 of `A-Za-z0-9._-`, chosen by the client.
    public static func isValidTag(_ tag: String) -> Bool {
        (1...32).contains(tag.utf8.count) && tag.utf8.allSatisfy { byte in
            isAlphanumeric(byte) || byte == UInt8(ascii: ".") || byte == UInt8(ascii: "_") || byte == UInt8(ascii: "-")
        }
    }

    static func isAlphanumeric(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte)
            || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
    }

    /// Parses one framed line. Errors carry the code to answer with; `replyTag(for:)` gives the tag.
    public static func parse(_ bytes: ByteBuffer) -> Result<ClientLine, ProtocolError> {
        guard let string = try? bytes.getUTF8ValidatedString(at: bytes.readerIndex, length: bytes.readableBytes) else {
            return .failure(ProtocolError(.badEncoding, "line is not valid UTF-8"))
        }
        return parse(string)
    }

    /// Parses one line already known to be valid UTF-8.
    public static func parse(_ line: String) -> Result<ClientLine, ProtocolError> {
        // A raw CR could end a line for a client that splits on CR LF: only the escaped `\n` may break text.
        if line.utf8.contains(UInt8(ascii: "\r")) {
            return .failure(ProtocolError(.badArgs, "a CR is only allowed just before the LF that ends a line"))
        }
        var head = Substring(line)
        var text: String?
        if let marker = textMarker(in: line) {
            head = line[line.startIndex..<marker]
            switch unescape(line[line.index(marker, offsetBy: 2)...]) {
            case .success(let unescaped): text = unescaped
            case .failure(let error): return .failure(error)
            }
        }
        let parts = head.split(separator: " ", omittingEmptySubsequences: true)
        guard let first = parts.first else { return .failure(ProtocolError(.badArgs, "empty line")) }
        let tag = String(first)
        guard isValidTag(tag) else {
            return .failure(ProtocolError(.badArgs, "a line starts with a tag of 1-32 characters A-Za-z0-9._-"))
        }
        guard parts.count >= 2 else { return .failure(ProtocolError(.badArgs, "missing verb after tag")) }
        var result = ClientLine(tag: tag, verb: parts[1].uppercased(), words: [], options: [], text: text)
        result.arguments = parts.dropFirst(2).map(String.init)
        for part in parts.dropFirst(2) {
            if let equals = part.firstIndex(of: "="), equals != part.startIndex {
                let key = String(part[..<equals])
                if result.options.contains(where: { $0.key == key }) {
                    return .failure(ProtocolError(.badArgs, "\(key)= given twice"))
                }
                result.options.append((key, String(part[part.index(after: equals)...])))
            } else {
                result.words.append(String(part))
            }
        }
        return .success(result)
    }

    /// Index of the first ` :`, which starts the text part.
    public static func textMarker(in line: String) -> String.Index? {
        let utf8 = line.utf8
        var previousWasSpace = false
        for index in utf8.indices {
            let byte = utf8[index]
            if previousWasSpace && byte == UInt8(ascii: ":") { return utf8.index(before: index) }
            previousWasSpace = byte == UInt8(ascii: " ")
        }
        return nil
    }

    /// Undoes the text escapes: `\n` is a newline, `\\` a backslash. Any other escape is an error, so that a
    /// client that forgot to escape a backslash finds out instead of silently sending something else.
    ///
    /// Works on Unicode scalars, not characters: a backslash followed by a combining mark is still a backslash,
    /// and a CR next to an escaped newline must not merge with it into one "\r\n" character.
    public static func unescape(_ text: Substring) -> Result<String, ProtocolError> {
        guard text.utf8.contains(UInt8(ascii: "\\")) else { return .success(String(text)) }
        var result = String.UnicodeScalarView()
        var iterator = text.unicodeScalars.makeIterator()
        while let scalar = iterator.next() {
            guard scalar == "\\" else {
                result.append(scalar)
                continue
            }
            switch iterator.next() {
            case "n": result.append("\n")
            case "\\": result.append("\\")
            case let other:
                let shown = other.map { "\\\(Character($0))" } ?? "a trailing \\"
                return .failure(ProtocolError(.badArgs, "unknown escape \(shown) in text (use \\n or \\\\)"))
            }
        }
        return .success(String(result))
    }

    /// The option with this key, if given.
    public func option(_ key: String) -> String? { options.first { $0.key == key }?.value }
}

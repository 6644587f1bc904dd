import NIOCore

/// A client line split into its parts: `TAG VERB [ARG ...] [:TEXT]`.
public struct ClientLine: Equatable, Sendable {
    public var tag: String
    /// Upper-cased verb.
    public var verb: String
    /// Every word after the verb as sent, `key=value` ones included (a LOGIN token may contain `=`).
    public var arguments: [String] = []
    /// Everything after the first ` :`, unescaped; nil when the line has no text part.
    public var text: String?

    public init(tag: String, verb: String, arguments: [String] = [], text: String? = nil) {
        self.tag = tag
        self.verb = verb
        self.arguments = arguments
        self.text = text
    }

    /// Positional words, in order: the arguments that are not `key=value`.
    public var words: [String] { arguments.filter { Self.optionSplit($0) == nil } }

    /// `key=value` arguments, in order.
    public var options: [(key: String, value: String)] { arguments.compactMap(Self.optionSplit) }

    /// The option with this key, if given. (Compared byte by byte: `Request` asks for several options of every line.)
    public func option(_ key: String) -> String? {
        let name = key.utf8
        for argument in arguments {
            let bytes = argument.utf8
            guard bytes.count > name.count, bytes.starts(with: name) else { continue }
            let equals = bytes.index(bytes.startIndex, offsetBy: name.count)
            if bytes[equals] == UInt8(ascii: "=") { return String(argument[bytes.index(after: equals)...]) }
        }
        return nil
    }

    /// A word is an option when it has `=` after its first character.
    static func optionSplit(_ word: String) -> (key: String, value: String)? {
        guard let equals = word.utf8.firstIndex(of: UInt8(ascii: "=")), equals != word.utf8.startIndex else {
            return nil
        }
        return (String(word[..<equals]), String(word[word.utf8.index(after: equals)...]))
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

    /// Parses one line already known to be valid UTF-8.
    public static func parse(_ line: String) -> Result<ClientLine, ProtocolError> {
        parse(ByteBuffer(string: line))
    }

    /// Parses one framed line, straight from its bytes: each part becomes a string once, and nothing else is made
    /// (this runs for every line every client sends). Errors carry the code to answer with; `replyTag(for:)` gives
    /// the tag.
    ///
    /// The line is valid UTF-8 exactly when each of its parts is: they are separated by ASCII bytes (space, ` :`),
    /// which never occur inside a multi-byte character, so checking the parts checks the whole line.
    public static func parse(_ bytes: ByteBuffer) -> Result<ClientLine, ProtocolError> {
        bytes.withUnsafeReadableBytes { raw in parse(raw.bindMemory(to: UInt8.self)) }
    }

    private static func parse(_ line: UnsafeBufferPointer<UInt8>) -> Result<ClientLine, ProtocolError> {
        let space = UInt8(ascii: " ")
        // The text starts after the first ` :`.
        var headEnd = line.count
        var textStart: Int?
        var index = 1
        while index < line.count {
            if line[index] == UInt8(ascii: ":") && line[index - 1] == space {
                headEnd = index - 1
                textStart = index + 1
                break
            }
            index += 1
        }
        var parts: [String] = []
        var invalid = false
        var start = 0
        while start < headEnd {
            while start < headEnd && line[start] == space { start += 1 }
            var end = start
            while end < headEnd && line[end] != space { end += 1 }
            if end > start {
                guard let part = UTF8Validation.string(UnsafeBufferPointer(rebasing: line[start..<end])) else {
                    invalid = true
                    break
                }
                parts.append(part)
            }
            start = end
        }
        var rawText: String?
        if !invalid, let textStart {
            rawText = UTF8Validation.string(UnsafeBufferPointer(rebasing: line[textStart...]))
            invalid = rawText == nil
        }
        if invalid { return .failure(ProtocolError(.badEncoding, "line is not valid UTF-8")) }
        // A raw CR could end a line for a client that splits on CR LF: only the escaped `\n` may break text.
        if line.contains(UInt8(ascii: "\r")) {
            return .failure(ProtocolError(.badArgs, "a CR is only allowed just before the LF that ends a line"))
        }
        var text: String?
        if let rawText {
            switch unescape(Substring(rawText)) {
            case .success(let unescaped): text = unescaped
            case .failure(let error): return .failure(error)
            }
        }
        guard let tag = parts.first else { return .failure(ProtocolError(.badArgs, "empty line")) }
        guard isValidTag(tag) else {
            return .failure(ProtocolError(.badArgs, "a line starts with a tag of 1-32 characters A-Za-z0-9._-"))
        }
        guard parts.count >= 2 else { return .failure(ProtocolError(.badArgs, "missing verb after tag")) }
        var result = ClientLine(tag: tag, verb: parts[1].uppercased(), text: text)
        if parts.count > 2 {
            result.arguments = Array(parts[2...])
            var seen: [String] = []
            for argument in result.arguments {
                guard let (key, _) = optionSplit(argument) else { continue }
                if seen.contains(key) { return .failure(ProtocolError(.badArgs, "\(key)= given twice")) }
                seen.append(key)
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
        var text = text
        guard text.withUTF8({ $0.contains(UInt8(ascii: "\\")) }) else { return .success(String(text)) }
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
}

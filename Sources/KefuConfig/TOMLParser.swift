/// A recursive-descent parser for the TOML a configuration needs: everything but dates and times.
///
/// It works on UTF-8 bytes and builds a tree of mutable tables first, because TOML lets a later `[a.b]` header add
/// to a table opened earlier; the tree is frozen into `TOMLTable` values at the end. Inline tables also accept
/// newlines and a trailing comma, as TOML 1.1 does.
struct TOMLParser {
    private let bytes: [UInt8]
    private let file: String
    private let lineStarts: [Int]
    private var position = 0
    private let root: MutableTable
    // Where key/value lines go: the table of the last header, and its key path for error messages.
    private var current: MutableTable
    // Key paths in errors are lists of formatted segments, with the element index of an array of tables, e.g.
    // `["agent[1]", "skills"]`, so that they read like the configuration's own paths.
    private var currentPath: [String] = []
    private var nesting = 0

    // Deep enough for any sane file; stops a runaway `[[[[...` from exhausting the stack.
    private static let maximumNesting = 64

    init(text: String, file: String) {
        bytes = Array(text.utf8)
        self.file = file
        var starts = [0]
        for (offset, byte) in bytes.enumerated() where byte == .newline {
            starts.append(offset + 1)
        }
        lineStarts = starts
        root = MutableTable(kind: .header, line: nil)
        current = root
    }

    mutating func parse() throws(ConfigError) -> TOMLTable {
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) {
            position = 3
        }
        while true {
            skipSpaces()
            guard let byte = peek() else {
                break
            }
            switch byte {
            case .hash, .newline, .carriageReturn:
                try finishLine(after: "a comment")
            case .openBracket:
                try parseHeader()
            default:
                let path = try parseKeyValue(into: current, prefix: currentPath)
                try finishLine(after: "the value", key: path)
            }
        }
        return root.frozen()
    }

    // MARK: - Lines, headers and key/value pairs

    /// Consumes trailing blanks, an optional comment and the end of the line (or of the file).
    private mutating func finishLine(after what: String, key: [String]? = nil) throws(ConfigError) {
        skipSpaces()
        try skipComment()
        switch peek() {
        case nil:
            return
        case .newline?:
            position += 1
        case .carriageReturn? where peek(1) == .newline:
            position += 2
        default:
            throw failure(
                "unexpected \(describeCharacter(at: position)) after \(what); expected the end of the line", key: key
            )
        }
    }

    private mutating func parseHeader() throws(ConfigError) {
        let start = position
        let isArray = peek(1) == .openBracket
        position += isArray ? 2 : 1
        skipSpaces()
        let parts = try parseKey()
        let names = parts.map(\.name)
        let shown = names.map { TOMLKey.format($0) }
        skipSpaces()
        guard peek() == .closeBracket, !isArray || peek(1) == .closeBracket else {
            let expected = isArray ? "']]' to close the [[array of tables]] header" : "']' to close the table header"
            throw failure("expected \(expected), found \(describeCharacter(at: position))", key: shown)
        }
        position += isArray ? 2 : 1
        try finishLine(after: "the table header")

        let line = lineNumber(at: start)
        var table = root
        var display: [String] = []
        for (offset, part) in parts.dropLast().enumerated() {
            let partial = Array(names[...offset])
            guard let slot = table.slots[part.name] else {
                let created = MutableTable(kind: .implicit, line: line)
                table.insert(part.name, .table(created), line: line)
                table = created
                display.append(shown[offset])
                continue
            }
            switch slot.node {
            case .table(let existing):
                table = existing
                display.append(shown[offset])
            case .tableArray(let elements):
                // `[fruit.physical]` after `[[fruit]]` extends the latest element.
                table = elements[elements.count - 1]
                display.append("\(shown[offset])[\(elements.count - 1)]")
            case .value(let value):
                throw failure(
                    "cannot open this table: \(TOMLKey.format(partial)) is already \(Self.describe(value)) "
                        + "(line \(slot.line))",
                    at: start, key: display + shown[offset...]
                )
            }
        }
        let headerKey = display + [shown[shown.count - 1]]

        let last = names[names.count - 1]
        let existing = table.slots[last]
        if isArray {
            let element = MutableTable(kind: .header, line: line)
            switch existing?.node {
            case nil:
                table.insert(last, .tableArray([element]), line: line)
                display.append("\(shown[shown.count - 1])[0]")
            case .tableArray(let elements)?:
                table.slots[last]?.node = .tableArray(elements + [element])
                display.append("\(shown[shown.count - 1])[\(elements.count)]")
            case .table?, .value?:
                let what = existing.map { Self.describe($0.node) } ?? ""
                throw failure(
                    "cannot define an array of tables: the key is already \(what) (line \(existing?.line ?? line))",
                    at: start, key: headerKey
                )
            }
            current = element
        } else {
            switch existing?.node {
            case nil:
                let created = MutableTable(kind: .header, line: line)
                table.insert(last, .table(created), line: line)
                current = created
            case .table(let created)? where created.kind == .implicit:
                // `[a.b]` created `a` in passing; `[a]` may now define it, once.
                created.kind = .header
                created.line = line
                table.slots[last]?.line = line
                current = created
            case .table(let other)? where other.kind == .dotted:
                throw failure(
                    "duplicate table: already defined by dotted keys on line \(other.line ?? line)",
                    at: start, key: headerKey
                )
            case .table(let other)?:
                throw failure(
                    "duplicate table: already defined on line \(other.line ?? line)", at: start, key: headerKey
                )
            case .tableArray?, .value?:
                let what = existing.map { Self.describe($0.node) } ?? ""
                throw failure(
                    "cannot define a table: the key is already \(what) (line \(existing?.line ?? line))",
                    at: start, key: headerKey
                )
            }
        }
        currentPath = isArray ? display : headerKey
    }

    /// Parses `key = value` into `table` and returns the key's path; `prefix` is the path of `table`.
    @discardableResult
    private mutating func parseKeyValue(into table: MutableTable, prefix: [String]) throws(ConfigError) -> [String] {
        let start = position
        let parts = try parseKey()
        let path = prefix + parts.map { TOMLKey.format($0.name) }
        skipSpaces()
        guard peek() == .equals else {
            throw failure("expected '=' after the key, found \(describeCharacter(at: position))", key: path)
        }
        position += 1
        skipSpaces()

        let line = lineNumber(at: start)
        var target = table
        for (offset, part) in parts.dropLast().enumerated() {
            let partial = (prefix + parts[...offset].map { TOMLKey.format($0.name) }).joined(separator: ".")
            guard let slot = target.slots[part.name] else {
                let created = MutableTable(kind: .dotted, line: line)
                target.insert(part.name, .table(created), line: line)
                target = created
                continue
            }
            switch slot.node {
            case .table(let existing) where existing.kind == .dotted:
                target = existing
            case .table(let existing):
                // TOML forbids reaching back into a table opened by a header from elsewhere with dotted keys.
                throw failure(
                    "cannot add to table [\(partial)] (defined on line \(existing.line ?? line)) "
                        + "with dotted keys",
                    at: start, key: path
                )
            case .tableArray, .value:
                throw failure(
                    "cannot add a key: \(partial) is already \(Self.describe(slot.node)) "
                        + "(line \(slot.line))",
                    at: start, key: path
                )
            }
        }

        let last = parts[parts.count - 1]
        if let existing = target.slots[last.name] {
            throw failure("duplicate key (first defined on line \(existing.line))", at: last.position, key: path)
        }
        let value = try parseValue(key: path)
        target.insert(last.name, .value(value), line: line)
        return path
    }

    private struct KeyPart {
        let name: String
        let position: Int
    }

    /// Parses a bare, quoted or dotted key.
    private mutating func parseKey() throws(ConfigError) -> [KeyPart] {
        var parts: [KeyPart] = []
        while true {
            let start = position
            let name: String
            switch peek() {
            case .quote?:
                if peek(1) == .quote && peek(2) == .quote {
                    throw failure("a multi-line string cannot be a key")
                }
                name = try parseBasicString(key: parts.map { TOMLKey.format($0.name) })
            case .apostrophe?:
                if peek(1) == .apostrophe && peek(2) == .apostrophe {
                    throw failure("a multi-line string cannot be a key")
                }
                name = try parseLiteralString(key: parts.map { TOMLKey.format($0.name) })
            case let byte? where byte.isBareKeyCharacter:
                while let byte = peek(), byte.isBareKeyCharacter {
                    position += 1
                }
                name = String(decoding: bytes[start..<position], as: UTF8.self)
            default:
                throw failure("expected a key, found \(describeCharacter(at: position))")
            }
            parts.append(KeyPart(name: name, position: start))
            skipSpaces()
            guard peek() == .dot else {
                return parts
            }
            position += 1
            skipSpaces()
        }
    }

    // MARK: - Values

    private mutating func parseValue(key: [String]) throws(ConfigError) -> TOMLValue {
        switch peek() {
        case .quote?:
            if peek(1) == .quote && peek(2) == .quote {
                return .string(try parseMultilineString(literal: false, key: key))
            }
            return .string(try parseBasicString(key: key))
        case .apostrophe?:
            if peek(1) == .apostrophe && peek(2) == .apostrophe {
                return .string(try parseMultilineString(literal: true, key: key))
            }
            return .string(try parseLiteralString(key: key))
        case .openBracket?:
            return try parseArray(key: key)
        case .openBrace?:
            return try parseInlineTable(key: key)
        case nil, .newline?, .carriageReturn?, .hash?:
            throw failure("missing value", key: key)
        default:
            return try parseBareValue(key: key)
        }
    }

    /// Booleans and numbers: a run of `A-Za-z0-9_+-.` interpreted as a whole.
    private mutating func parseBareValue(key: [String]) throws(ConfigError) -> TOMLValue {
        let start = position
        while let byte = peek(), byte.isBareKeyCharacter || byte == .plus || byte == .dot {
            position += 1
        }
        let token = bytes[start..<position]
        guard !token.isEmpty else {
            throw failure("expected a value, found \(describeCharacter(at: position))", key: key)
        }
        if peek() == .colon || Self.looksLikeDate(token) {
            throw failure("dates and times are not supported", at: start, key: key)
        }
        let text = String(decoding: token, as: UTF8.self)
        switch text {
        case "true":
            return .bool(true)
        case "false":
            return .bool(false)
        default:
            break
        }
        switch TOMLNumber.parse(token) {
        case .value(let value):
            return value
        case .outOfRange:
            throw failure("number \(text) is out of range", at: start, key: key)
        case .invalid:
            let hint = token.first?.isASCIILetter == true ? " (strings must be quoted)" : ""
            throw failure("invalid value \(text)\(hint)", at: start, key: key)
        }
    }

    private static func looksLikeDate(_ token: ArraySlice<UInt8>) -> Bool {
        // YYYY-MM-DD, the start of every TOML date and date-time.
        let prefix = Array(token.prefix(10))
        return prefix.count == 10 && prefix[4] == .minus && prefix[7] == .minus
            && [0, 1, 2, 3, 5, 6, 8, 9].allSatisfy { prefix[$0].isASCIIDigit }
    }

    private mutating func parseArray(key: [String]) throws(ConfigError) -> TOMLValue {
        let start = position
        position += 1
        try enterNesting(key: key)
        defer { nesting -= 1 }
        var elements: [TOMLValue] = []
        while true {
            try skipBlankLines()
            switch peek() {
            case .closeBracket?:
                position += 1
                return .array(elements)
            case nil:
                throw failure("unterminated array: missing ']'", at: start, key: key)
            default:
                break
            }
            elements.append(try parseValue(key: key))
            try skipBlankLines()
            switch peek() {
            case .comma?:
                position += 1
            case .closeBracket?:
                position += 1
                return .array(elements)
            case nil:
                throw failure("unterminated array: missing ']'", at: start, key: key)
            default:
                throw failure(
                    "expected ',' or ']' after an array element, found \(describeCharacter(at: position))",
                    key: key
                )
            }
        }
    }

    private mutating func parseInlineTable(key: [String]) throws(ConfigError) -> TOMLValue {
        let start = position
        position += 1
        try enterNesting(key: key)
        defer { nesting -= 1 }
        // Dotted keys inside may build sub-tables; once closed, the value is frozen and nothing can extend it.
        let table = MutableTable(kind: .dotted, line: lineNumber(at: start))
        try skipBlankLines()
        if peek() == .closeBrace {
            position += 1
            return .table(table.frozen())
        }
        while true {
            guard peek() != nil else {
                throw failure("unterminated inline table: missing '}'", at: start, key: key)
            }
            try parseKeyValue(into: table, prefix: key)
            try skipBlankLines()
            switch peek() {
            case .comma?:
                position += 1
                try skipBlankLines()
                if peek() == .closeBrace {
                    position += 1
                    return .table(table.frozen())
                }
            case .closeBrace?:
                position += 1
                return .table(table.frozen())
            case nil:
                throw failure("unterminated inline table: missing '}'", at: start, key: key)
            default:
                throw failure(
                    "expected ',' or '}' in inline table, found \(describeCharacter(at: position))",
                    key: key
                )
            }
        }
    }

    private mutating func enterNesting(key: [String]) throws(ConfigError) {
        nesting += 1
        if nesting > Self.maximumNesting {
            throw failure("arrays and inline tables are nested too deeply", key: key)
        }
    }

    // MARK: - Strings

    private mutating func parseBasicString(key: [String]) throws(ConfigError) -> String {
        let start = position
        position += 1
        var text: [UInt8] = []
        while true {
            guard let byte = peek(), byte != .newline, byte != .carriageReturn else {
                throw failure("unterminated string", at: start, key: key)
            }
            switch byte {
            case .quote:
                position += 1
                return String(decoding: text, as: UTF8.self)
            case .backslash:
                try parseEscape(into: &text, key: key)
            default:
                try checkNotControl(byte, key: key)
                text.append(byte)
                position += 1
            }
        }
    }

    private mutating func parseLiteralString(key: [String]) throws(ConfigError) -> String {
        let start = position
        position += 1
        let contentStart = position
        while true {
            guard let byte = peek(), byte != .newline, byte != .carriageReturn else {
                throw failure("unterminated string", at: start, key: key)
            }
            if byte == .apostrophe {
                let text = String(decoding: bytes[contentStart..<position], as: UTF8.self)
                position += 1
                return text
            }
            try checkNotControl(byte, key: key)
            position += 1
        }
    }

    /// `"""..."""` or `'''...'''`: a newline right after the opening delimiter is dropped, CRLF becomes LF, and in
    /// the basic form a backslash ending a line swallows the line break and the blanks that follow.
    private mutating func parseMultilineString(literal: Bool, key: [String]) throws(ConfigError) -> String {
        let start = position
        let delimiter: UInt8 = literal ? .apostrophe : .quote
        position += 3
        if peek() == .newline {
            position += 1
        } else if peek() == .carriageReturn && peek(1) == .newline {
            position += 2
        }
        var text: [UInt8] = []
        while true {
            guard let byte = peek() else {
                throw failure("unterminated multi-line string", at: start, key: key)
            }
            switch byte {
            case delimiter:
                var run = 0
                while peek(run) == delimiter {
                    run += 1
                }
                if run >= 3 {
                    // Up to two delimiter characters may sit right before the closing three.
                    guard run <= 5 else {
                        throw failure("too many consecutive \(literal ? "'" : "\"") in a multi-line string", key: key)
                    }
                    text.append(contentsOf: repeatElement(delimiter, count: run - 3))
                    position += run
                    return String(decoding: text, as: UTF8.self)
                }
                text.append(contentsOf: repeatElement(delimiter, count: run))
                position += run
            case .backslash where !literal:
                if !skipLineEndingBackslash() {
                    try parseEscape(into: &text, key: key)
                }
            case .newline:
                text.append(.newline)
                position += 1
            case .carriageReturn where peek(1) == .newline:
                text.append(.newline)
                position += 2
            default:
                try checkNotControl(byte, key: key)
                text.append(byte)
                position += 1
            }
        }
    }

    /// At a backslash followed by optional blanks and a line break: skips them and all blank space after.
    private mutating func skipLineEndingBackslash() -> Bool {
        var probe = position + 1
        while probe < bytes.count, bytes[probe] == .space || bytes[probe] == .tab {
            probe += 1
        }
        guard probe < bytes.count,
            bytes[probe] == .newline
                || (bytes[probe] == .carriageReturn && probe + 1 < bytes.count && bytes[probe + 1] == .newline)
        else {
            return false
        }
        position = probe
        while let byte = peek(), byte == .space || byte == .tab || byte == .newline || byte == .carriageReturn {
            position += 1
        }
        return true
    }

    /// Decodes the escape sequence at the current backslash.
    private mutating func parseEscape(into text: inout [UInt8], key: [String]) throws(ConfigError) {
        let start = position
        position += 1
        guard let code = peek() else {
            // Let the caller report the unterminated string, which is the real problem.
            return
        }
        position += 1
        switch code {
        case UInt8(ascii: "b"): text.append(0x08)
        case UInt8(ascii: "t"): text.append(.tab)
        case UInt8(ascii: "n"): text.append(.newline)
        case UInt8(ascii: "f"): text.append(0x0C)
        case UInt8(ascii: "r"): text.append(.carriageReturn)
        case UInt8(ascii: "e"): text.append(0x1B)
        case .quote: text.append(.quote)
        case .backslash: text.append(.backslash)
        case UInt8(ascii: "u"), UInt8(ascii: "U"):
            let count = code == UInt8(ascii: "u") ? 4 : 8
            let digits = bytes[position..<min(position + count, bytes.count)]
            guard digits.count == count, digits.allSatisfy(\.isASCIIHexDigit),
                let value = UInt32(String(decoding: digits, as: UTF8.self), radix: 16),
                let scalar = Unicode.Scalar(value)
            else {
                let shown = "\\" + String(decoding: [code] + digits.prefix(while: \.isASCIIHexDigit), as: UTF8.self)
                throw failure(
                    "invalid unicode escape \(shown): expected \(count) hex digits naming a Unicode scalar value",
                    at: start, key: key
                )
            }
            text.append(contentsOf: String(Character(scalar)).utf8)
            position += count
        default:
            let shown = code == .newline || code == .carriageReturn ? "a line break" : describeCharacter(at: start + 1)
            throw failure(
                "invalid escape sequence: backslash followed by \(shown) "
                    + "(valid: \\b \\t \\n \\f \\r \\e \\\" \\\\ \\uXXXX \\UXXXXXXXX)",
                at: start, key: key
            )
        }
    }

    private func checkNotControl(_ byte: UInt8, key: [String]) throws(ConfigError) {
        if (byte < 0x20 && byte != .tab) || byte == 0x7F {
            throw failure("control character \(describeCharacter(at: position)) in a string; use an escape", key: key)
        }
    }

    // MARK: - Blanks and comments

    private mutating func skipSpaces() {
        while let byte = peek(), byte == .space || byte == .tab {
            position += 1
        }
    }

    private mutating func skipComment() throws(ConfigError) {
        guard peek() == .hash else {
            return
        }
        while let byte = peek(), byte != .newline {
            if byte == .carriageReturn && peek(1) == .newline {
                return
            }
            if (byte < 0x20 && byte != .tab) || byte == 0x7F {
                throw failure("control character \(describeCharacter(at: position)) in a comment")
            }
            position += 1
        }
    }

    /// Blanks, comments and line breaks, as allowed between the elements of arrays and inline tables.
    private mutating func skipBlankLines() throws(ConfigError) {
        while true {
            skipSpaces()
            try skipComment()
            if peek() == .newline {
                position += 1
            } else if peek() == .carriageReturn && peek(1) == .newline {
                position += 2
            } else {
                return
            }
        }
    }

    // MARK: - Positions and errors

    private func peek(_ offset: Int = 0) -> UInt8? {
        let index = position + offset
        return index < bytes.count ? bytes[index] : nil
    }

    private func lineNumber(at offset: Int) -> Int {
        // The last line start at or before `offset`.
        var low = 0
        var high = lineStarts.count - 1
        while low < high {
            let middle = (low + high + 1) / 2
            if lineStarts[middle] <= offset {
                low = middle
            } else {
                high = middle - 1
            }
        }
        return low + 1
    }

    private func failure(_ message: String, at offset: Int? = nil, key: [String]? = nil) -> ConfigError {
        let offset = min(offset ?? position, bytes.count)
        let line = lineNumber(at: offset)
        let lineStart = lineStarts[line - 1]
        let column = String(decoding: bytes[lineStart..<offset], as: UTF8.self).count + 1
        return ConfigError(
            file: file, line: line, column: column, key: key.flatMap { $0.isEmpty ? nil : $0.joined(separator: ".") },
            message: message
        )
    }

    private func describeCharacter(at offset: Int) -> String {
        guard offset < bytes.count else {
            return "the end of the file"
        }
        let byte = bytes[offset]
        switch byte {
        case .newline:
            return "the end of the line"
        case .carriageReturn where offset + 1 < bytes.count && bytes[offset + 1] == .newline:
            return "the end of the line"
        case .space:
            return "a space"
        case 0x21...0x7E:
            return "'\(Character(Unicode.Scalar(byte)))'"
        default:
            let tail = String(decoding: bytes[offset..<min(offset + 4, bytes.count)], as: UTF8.self)
            let value = tail.unicodeScalars.first?.value ?? UInt32(byte)
            let digits = String(value, radix: 16, uppercase: true)
            return "U+" + String(repeating: "0", count: max(0, 4 - digits.count)) + digits
        }
    }

    private static func describe(_ value: TOMLValue) -> String {
        switch value {
        case .table: "an inline table"
        case .array: "an array"
        case .integer: "an integer"
        default: "a \(value.typeName)"
        }
    }

    private static func describe(_ node: MutableTable.Node) -> String {
        switch node {
        case .value(let value): describe(value)
        case .table: "a table"
        case .tableArray: "an array of tables"
        }
    }
}

/// A table under construction.
private final class MutableTable {
    /// How the table came to be, which decides what may still add to it.
    enum Kind {
        /// Created in passing by a header such as `[a.b]` for `a`; a later `[a]` may still define it.
        case implicit
        /// Defined by its own `[header]` or `[[header]]`.
        case header
        /// Created by a dotted key such as `a.b = 1`, or an inline table under construction.
        case dotted
    }

    enum Node {
        case value(TOMLValue)
        case table(MutableTable)
        case tableArray([MutableTable])
    }

    struct Slot {
        var node: Node
        var line: Int
    }

    var kind: Kind
    var line: Int?
    var slots: [String: Slot] = [:]
    private var order: [String] = []

    init(kind: Kind, line: Int?) {
        self.kind = kind
        self.line = line
    }

    func insert(_ key: String, _ node: Node, line: Int) {
        order.append(key)
        slots[key] = Slot(node: node, line: line)
    }

    func frozen() -> TOMLTable {
        let entries = order.compactMap { key -> TOMLTable.Entry? in
            guard let slot = slots[key] else {
                return nil
            }
            let value: TOMLValue
            switch slot.node {
            case .value(let plain):
                value = plain
            case .table(let table):
                value = .table(table.frozen())
            case .tableArray(let tables):
                value = .array(tables.map { .table($0.frozen()) })
            }
            return TOMLTable.Entry(key: key, value: value, line: slot.line)
        }
        return TOMLTable(entries: entries, line: line)
    }
}

/// TOML integers (decimal, `0x`, `0o`, `0b`, with `_` between digits) and floats (`1.5`, `1e3`, `inf`, `nan`).
enum TOMLNumber {
    enum Result: Equatable {
        case value(TOMLValue)
        case outOfRange
        case invalid
    }

    static func parse(_ token: ArraySlice<UInt8>) -> Result {
        var body = token
        var negative = false
        var signed = false
        if let first = body.first, first == .plus || first == .minus {
            negative = first == .minus
            signed = true
            body = body.dropFirst()
        }
        switch String(decoding: body, as: UTF8.self) {
        case "inf":
            return .value(.float(negative ? -.infinity : .infinity))
        case "nan":
            return .value(.float(.nan))
        default:
            break
        }
        let digits = Array(body)
        if digits.count > 2, digits[0] == UInt8(ascii: "0") {
            let radix: Int? =
                switch digits[1] {
                case UInt8(ascii: "x"): 16
                case UInt8(ascii: "o"): 8
                case UInt8(ascii: "b"): 2
                default: nil
                }
            if let radix {
                // TOML allows no sign on these forms.
                return signed ? .invalid : parseRadix(Array(digits[2...]), radix: radix)
            }
        }
        return parseDecimal(digits, token: token)
    }

    private static func parseRadix(_ digits: [UInt8], radix: Int) -> Result {
        let isDigit: (UInt8) -> Bool = { byte in
            switch radix {
            case 16: byte.isASCIIHexDigit
            case 8: (0x30...0x37).contains(byte)
            default: byte == 0x30 || byte == 0x31
            }
        }
        guard wellPlacedUnderscores(digits, isDigit: isDigit) else {
            return .invalid
        }
        let clean = String(decoding: digits.filter { $0 != .underscore }, as: UTF8.self)
        guard let value = UInt64(clean, radix: radix), let integer = Int64(exactly: value) else {
            return .outOfRange
        }
        return .value(.integer(integer))
    }

    /// `0 | [1-9] (_? DIGIT)*`, then an optional `.DIGITS` fraction and `e[+-]DIGITS` exponent.
    private static func parseDecimal(_ digits: [UInt8], token: ArraySlice<UInt8>) -> Result {
        var index = 0
        func scanDigits() -> Int {
            var count = 0
            while index < digits.count {
                if digits[index].isASCIIDigit {
                    count += 1
                    index += 1
                } else if digits[index] == .underscore, count > 0, index + 1 < digits.count,
                    digits[index + 1].isASCIIDigit
                {
                    index += 1
                } else {
                    break
                }
            }
            return count
        }
        let integerStart = index
        guard scanDigits() > 0 else {
            return .invalid
        }
        if digits[integerStart] == UInt8(ascii: "0") && index - integerStart > 1 {
            return .invalid  // leading zeros
        }
        var isFloat = false
        if index < digits.count, digits[index] == .dot {
            index += 1
            isFloat = true
            guard scanDigits() > 0 else {
                return .invalid
            }
        }
        if index < digits.count, digits[index] == UInt8(ascii: "e") || digits[index] == UInt8(ascii: "E") {
            index += 1
            isFloat = true
            if index < digits.count, digits[index] == .plus || digits[index] == .minus {
                index += 1
            }
            guard scanDigits() > 0 else {
                return .invalid
            }
        }
        guard index == digits.count else {
            return .invalid
        }
        let clean = String(decoding: token.filter { $0 != .underscore }, as: UTF8.self)
        if isFloat {
            guard let value = Double(clean), value.isFinite else {
                return .outOfRange
            }
            return .value(.float(value))
        }
        guard let value = Int64(clean) else {
            return .outOfRange
        }
        return .value(.integer(value))
    }

    private static func wellPlacedUnderscores(_ digits: [UInt8], isDigit: (UInt8) -> Bool) -> Bool {
        guard let first = digits.first, let last = digits.last, isDigit(first), isDigit(last) else {
            return false
        }
        for (offset, byte) in digits.enumerated() {
            if byte == .underscore {
                guard isDigit(digits[offset + 1]), isDigit(digits[offset - 1]) else {
                    return false
                }
            } else if !isDigit(byte) {
                return false
            }
        }
        return true
    }
}

extension UInt8 {
    fileprivate static let tab: UInt8 = 0x09
    fileprivate static let newline: UInt8 = 0x0A
    fileprivate static let carriageReturn: UInt8 = 0x0D
    fileprivate static let space: UInt8 = 0x20
    fileprivate static let quote: UInt8 = 0x22
    fileprivate static let hash: UInt8 = 0x23
    fileprivate static let apostrophe: UInt8 = 0x27
    fileprivate static let plus: UInt8 = 0x2B
    fileprivate static let comma: UInt8 = 0x2C
    fileprivate static let minus: UInt8 = 0x2D
    fileprivate static let dot: UInt8 = 0x2E
    fileprivate static let colon: UInt8 = 0x3A
    fileprivate static let equals: UInt8 = 0x3D
    fileprivate static let openBracket: UInt8 = 0x5B
    fileprivate static let backslash: UInt8 = 0x5C
    fileprivate static let closeBracket: UInt8 = 0x5D
    fileprivate static let underscore: UInt8 = 0x5F
    fileprivate static let openBrace: UInt8 = 0x7B
    fileprivate static let closeBrace: UInt8 = 0x7D
}

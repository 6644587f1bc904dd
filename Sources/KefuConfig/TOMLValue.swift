/// A TOML value.
///
/// Dates and times are not represented: the configuration has no use for them, and the parser rejects them with a
/// clear error rather than misreading them.
public indirect enum TOMLValue: Sendable, Equatable {
    case string(String)
    case integer(Int64)
    case float(Double)
    case bool(Bool)
    /// A static array (`[1, 2]`) or an array of tables (`[[agent]]`), whose elements are `.table`s.
    case array([TOMLValue])
    /// A table from a `[header]`, dotted keys or an inline table.
    case table(TOMLTable)

    /// The TOML name of the value's type, for error messages: `string`, `integer`, `float`, `boolean`, `array` or
    /// `table`.
    public var typeName: String {
        switch self {
        case .string: "string"
        case .integer: "integer"
        case .float: "float"
        case .bool: "boolean"
        case .array: "array"
        case .table: "table"
        }
    }

    /// The string, if this is a string.
    public var stringValue: String? {
        if case .string(let value) = self { value } else { nil }
    }

    /// The integer, if this is an integer.
    public var integerValue: Int64? {
        if case .integer(let value) = self { value } else { nil }
    }

    /// The number as a `Double`, if this is a float or an integer.
    public var doubleValue: Double? {
        switch self {
        case .float(let value): value
        case .integer(let value): Double(value)
        default: nil
        }
    }

    /// The boolean, if this is a boolean.
    public var boolValue: Bool? {
        if case .bool(let value) = self { value } else { nil }
    }

    /// The elements, if this is an array.
    public var arrayValue: [TOMLValue]? {
        if case .array(let value) = self { value } else { nil }
    }

    /// The table, if this is a table.
    public var tableValue: TOMLTable? {
        if case .table(let value) = self { value } else { nil }
    }
}

/// A TOML table: its keys in source order, each with the 1-based line that defined it.
public struct TOMLTable: Sendable, Equatable {
    /// One key of a table with its value and the line of its definition.
    ///
    /// For a key holding a table opened by a header, the line is that of the header; for an array of tables, that of
    /// its first `[[...]]` header (each element table carries its own `line`).
    public struct Entry: Sendable, Equatable {
        /// The key, unquoted.
        public let key: String
        /// The value.
        public let value: TOMLValue
        /// The 1-based line the key was defined on.
        public let line: Int

        /// Creates an entry.
        public init(key: String, value: TOMLValue, line: Int) {
            self.key = key
            self.value = value
            self.line = line
        }
    }

    /// The entries in source order.
    public let entries: [Entry]
    /// The line of the table's `[header]`, `[[header]]`, inline table or first dotted key; nil for the root table.
    public let line: Int?
    // Key to position in `entries`, so lookups do not scan.
    private let index: [String: Int]

    /// Creates a table. Should a key repeat, lookups find its first entry.
    public init(entries: [Entry] = [], line: Int? = nil) {
        self.entries = entries
        self.line = line
        index = Dictionary(
            entries.enumerated().map { ($0.element.key, $0.offset) },
            uniquingKeysWith: { first, _ in first }
        )
    }

    /// The keys in source order.
    public var keys: [String] { entries.map(\.key) }

    /// Whether the table has no keys.
    public var isEmpty: Bool { entries.isEmpty }

    /// The entry for `key`, if present.
    public func entry(_ key: String) -> Entry? {
        index[key].map { entries[$0] }
    }

    /// The value for `key`, if present.
    public subscript(key: String) -> TOMLValue? {
        entry(key)?.value
    }

    /// The line that defined `key`, if present.
    public func line(of key: String) -> Int? {
        entry(key)?.line
    }

    /// The value at a path of keys through nested tables, e.g. `["server", "listen"]`.
    public func value(at path: [String]) -> TOMLValue? {
        guard let first = path.first, let value = self[first] else {
            return nil
        }
        if path.count == 1 {
            return value
        }
        return value.tableValue?.value(at: Array(path.dropFirst()))
    }
}

/// A parsed TOML file: the root table, in which every key and table remembers its source line.
public struct TOMLDocument: Sendable, Equatable {
    /// The file name used in errors.
    public let file: String
    /// The top-level table.
    public let root: TOMLTable

    /// Parses `text`; errors name `file`, the line and, where one is involved, the key.
    public init(parsing text: String, file: String) throws(ConfigError) {
        var parser = TOMLParser(text: text, file: file)
        self.file = file
        root = try parser.parse()
    }

    /// The top-level value for `key`.
    public subscript(key: String) -> TOMLValue? {
        root[key]
    }
}

/// Renders keys the way a user would write them, quoting only when a bare key would not do.
enum TOMLKey {
    static func format(_ key: String) -> String {
        let isBare = !key.isEmpty && key.utf8.allSatisfy(\.isBareKeyCharacter)
        if isBare {
            return key
        }
        var quoted = "\""
        for scalar in key.unicodeScalars {
            switch scalar {
            case "\"": quoted += "\\\""
            case "\\": quoted += "\\\\"
            case "\n": quoted += "\\n"
            case "\t": quoted += "\\t"
            case "\r": quoted += "\\r"
            default:
                if scalar.value < 0x20 || scalar.value == 0x7F {
                    let digits = String(scalar.value, radix: 16, uppercase: true)
                    quoted += "\\u" + String(repeating: "0", count: 4 - digits.count) + digits
                } else {
                    quoted.unicodeScalars.append(scalar)
                }
            }
        }
        return quoted + "\""
    }

    static func format(_ path: [String]) -> String {
        path.map { format($0) }.joined(separator: ".")
    }
}

extension UInt8 {
    /// `A-Z a-z 0-9 _ -`: the characters of a bare TOML key.
    var isBareKeyCharacter: Bool {
        isASCIIDigit || isASCIILetter || self == UInt8(ascii: "_") || self == UInt8(ascii: "-")
    }

    var isASCIIDigit: Bool { (0x30...0x39).contains(self) }

    var isASCIILetter: Bool { (0x41...0x5A).contains(self) || (0x61...0x7A).contains(self) }

    var isASCIIHexDigit: Bool { isASCIIDigit || (0x41...0x46).contains(self) || (0x61...0x66).contains(self) }
}

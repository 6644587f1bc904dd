import Foundation

/// A journal message catalog (`deploy/kefud.catalog`) read the way systemd reads it (`catalog_import_file` in
/// systemd 252), so tests can check its entries without journalctl and predict what `journalctl -x` prints.
///
/// Rules kept from systemd: lines starting with `#` or `;` are comments; an entry starts with `-- <32 hex digits>`
/// (optionally followed by a language) at the top of the file or after an empty line; anything else is text of
/// the current entry, and text before the first entry is an error. Runs of empty lines count as one.
public struct MessageCatalog: Sendable {
    /// One `-- <id>` entry.
    public struct Entry: Sendable {
        /// The MESSAGE_ID as written (systemd accepts either case; `SystemdMessageID` uses lowercase).
        public var id: String
        /// The language after the id, `nil` for the file's default.
        public var language: String?
        /// 1-based line of the `-- <id>` line, for messages.
        public var line: Int
        /// `Name: value` lines before the first empty line, in order.
        public var headers: [(name: String, value: String)]
        /// Lines after the first empty line; a paragraph break is one empty string.
        public var body: [String]
        /// Header lines that are not `Name: value`: systemd keeps them as text, so a missing colon goes unnoticed.
        public var malformedHeaders: [String]

        /// The value of the first header with this name.
        public func header(_ name: String) -> String? {
            headers.first { $0.name == name }?.value
        }

        /// Header and body lines as `journalctl -x` prints them: header lines, an empty line, the body.
        public var textLines: [String] {
            headers.map { "\($0.name): \($0.value)" } + malformedHeaders + [""] + body
        }
    }

    /// A catalog systemd would refuse (`journalctl --update-catalog` fails on it).
    public struct ParseError: Error, CustomStringConvertible {
        public var line: Int
        public var reason: String
        public var description: String { "line \(line): \(reason)" }
    }

    /// The entries, in file order.
    public var entries: [Entry]

    /// Parses catalog text.
    public init(parsing text: String) throws {
        var entries: [Entry] = []
        var payload: [String] = []
        var current: (id: String, language: String?, line: Int)?
        var emptyLine = true
        func finish(at line: Int) throws {
            guard let entry = current else { return }
            guard !payload.isEmpty else { throw ParseError(line: line, reason: "no text for \(entry.id)") }
            entries.append(Self.entry(entry, payload: payload))
            payload = []
        }
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        for (index, line) in lines.enumerated() {
            let number = index + 1
            if line.isEmpty {
                emptyLine = true
                continue
            }
            if line.hasPrefix("#") || line.hasPrefix(";") {
                continue
            }
            if emptyLine, let (id, language) = Self.entryHeader(line) {
                try finish(at: number)
                current = (id, language, number)
                emptyLine = false
                continue
            }
            guard current != nil else { throw ParseError(line: number, reason: "text before the first entry") }
            if emptyLine && !payload.isEmpty {
                payload.append("")
            }
            payload.append(line)
            emptyLine = false
        }
        try finish(at: lines.count)
        self.entries = entries
    }

    /// `-- <32 hex digits>[ <language>]`, the start of an entry.
    private static func entryHeader(_ line: String) -> (id: String, language: String?)? {
        guard line.hasPrefix("-- ") else { return nil }
        let rest = line.dropFirst(3)
        let id = String(rest.prefix(32))
        guard id.count == 32, id.allSatisfy(\.isHexDigit) else { return nil }
        let after = rest.dropFirst(32)
        guard after.isEmpty || after.first == " " else { return nil }
        let language = after.trimmingCharacters(in: .whitespaces)
        return (id, language.isEmpty ? nil : language)
    }

    private static func entry(_ start: (id: String, language: String?, line: Int), payload: [String]) -> Entry {
        let split = payload.firstIndex(of: "") ?? payload.endIndex
        var headers: [(name: String, value: String)] = []
        var malformed: [String] = []
        for line in payload[..<split] {
            if let colon = line.firstIndex(of: ":"), !line[..<colon].contains(" ") {
                let value = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
                headers.append((String(line[..<colon]), value))
            } else {
                malformed.append(line)
            }
        }
        let body = split < payload.endIndex ? Array(payload[payload.index(after: split)...]) : []
        return Entry(
            id: start.id, language: start.language, line: start.line, headers: headers, body: body,
            malformedHeaders: malformed)
    }
}

extension MessageCatalog {
    /// The `@FIELD@` placeholders of a text: what systemd substitutes (`[A-Z_]+` between two `@`).
    public static func placeholders(in text: String) -> [String] {
        var names: [String] = []
        var rest = Substring(text)
        while let start = rest.firstIndex(of: "@") {
            let after = rest[rest.index(after: start)...]
            let name = after.prefix { $0.isASCII && ($0.isUppercase || $0 == "_") }
            if !name.isEmpty, after.dropFirst(name.count).first == "@" {
                names.append(String(name))
                rest = after.dropFirst(name.count + 1)
            } else {
                rest = after
            }
        }
        return names
    }

    /// `text` with each `@FIELD@` replaced as `sd_journal_get_catalog(3)` does: by the field's value, or by the
    /// bare field name when the entry has no such field. Other `@`s are left alone.
    public static func substitute(_ text: String, fields: [String: String]) -> String {
        var result = ""
        var rest = Substring(text)
        while let start = rest.firstIndex(of: "@") {
            result += rest[..<start]
            let after = rest[rest.index(after: start)...]
            let name = after.prefix { $0.isASCII && ($0.isUppercase || $0 == "_") }
            if !name.isEmpty, after.dropFirst(name.count).first == "@" {
                result += fields[String(name)] ?? String(name)
                rest = after.dropFirst(name.count + 1)
            } else {
                result += "@"
                rest = after
            }
        }
        return result + rest
    }
}

import Foundation

/// A conformance transcript (`protocol/transcripts/*.txt`), parsed into steps. The format is documented in
/// protocol/PROTOCOL.md, section "Conformance transcripts".
struct Transcript: Sendable {
    /// One step, with the 1-based line of the file it came from.
    struct Step: Sendable, Equatable {
        var line: Int
        var action: Action
    }

    enum Action: Sendable, Equatable {
        /// `name> LINE` (the line plus LF) or `name>> BYTES` (raw bytes, nothing added).
        case send(connection: String, bytes: [UInt8])
        /// `name< PATTERN`: the next unread line on the connection matches the pattern.
        case expect(connection: String, pattern: String)
        /// `name closed`: the server closes the connection after the lines already expected.
        case closed(connection: String)
        /// `name quiet`: no line is pending on the connection (checked with a `quiet PING`).
        case quiet(connection: String)
        /// `wait SECONDS`
        case wait(seconds: Double)
        /// `stop`: graceful stop of the daemon, as on SIGTERM.
        case stop
        /// `start`: start the daemon again on the same state directory (after `stop`).
        case start
    }

    /// A line the parser does not understand.
    struct SyntaxError: Error, CustomStringConvertible {
        var line: Int
        var message: String
        var description: String { "line \(line): \(message)" }
    }

    /// `config first_response_s=`
    var firstResponseSeconds: Double = 120
    /// `config max_line_bytes=`
    var maxLineBytes = 16384
    /// `config alice_skills=`: a TOML inline table without spaces, e.g. `{presales=2,logistics=2}`.
    var aliceSkills: String?
    /// `config shops=acme,zeta`: more shops on the node (`[server] shops_dir`), each with `acmeConfiguration()`'s
    /// team: agent alice with bob's secret, supervisor lead, buyers with the tmall bridge's secret.
    var shops: [String] = []
    var steps: [Step] = []

    init(parsing text: String) throws(SyntaxError) {
        let lines = text.split(omittingEmptySubsequences: false) { $0 == "\n" || $0 == "\r\n" }
        for (index, rawLine) in lines.enumerated() {
            let number = index + 1
            let line = String(rawLine)
            if line.allSatisfy({ $0 == " " }) || line.hasPrefix("#") { continue }
            if line.hasPrefix("config ") {
                guard steps.isEmpty else {
                    throw SyntaxError(line: number, message: "config must come before any step")
                }
                try configure(line.dropFirst("config ".count), line: number)
            } else if line == "stop" {
                steps.append(Step(line: number, action: .stop))
            } else if line == "start" {
                steps.append(Step(line: number, action: .start))
            } else if line.hasPrefix("wait ") {
                guard let seconds = Double(line.dropFirst("wait ".count)), seconds >= 0 else {
                    throw SyntaxError(line: number, message: "usage: wait SECONDS")
                }
                steps.append(Step(line: number, action: .wait(seconds: seconds)))
            } else {
                steps.append(Step(line: number, action: try Self.connectionStep(line, line: number)))
            }
        }
    }

    private mutating func configure(_ settings: Substring, line: Int) throws(SyntaxError) {
        for setting in settings.split(separator: " ") {
            let parts = setting.split(separator: "=", maxSplits: 1)
            guard parts.count == 2 else {
                throw SyntaxError(line: line, message: "config takes key=value, got \(setting)")
            }
            let value = String(parts[1])
            switch parts[0] {
            case "first_response_s":
                guard let seconds = Double(value), seconds > 0 else {
                    throw SyntaxError(line: line, message: "first_response_s must be a positive number")
                }
                firstResponseSeconds = seconds
            case "max_line_bytes":
                guard let bytes = Int(value), bytes > 0 else {
                    throw SyntaxError(line: line, message: "max_line_bytes must be a positive integer")
                }
                maxLineBytes = bytes
            case "alice_skills":
                aliceSkills = value
            case "shops":
                shops = value.split(separator: ",").map(String.init)
            default:
                let known = "first_response_s, max_line_bytes, alice_skills, shops"
                throw SyntaxError(line: line, message: "unknown config key \(parts[0]) (\(known))")
            }
        }
    }

    /// `name> LINE`, `name>> BYTES`, `name< PATTERN`, `name closed`, `name quiet`.
    private static func connectionStep(_ text: String, line: Int) throws(SyntaxError) -> Action {
        let name = String(text.prefix { isNameCharacter($0) })
        let rest = text.dropFirst(name.count)
        guard !name.isEmpty else {
            let forms = "`name> `, `name>> `, `name< `, `name closed`, `name quiet`, `config`, `wait`, `stop`, `start`"
            throw SyntaxError(line: line, message: "expected one of \(forms)")
        }
        if rest.hasPrefix(">> ") {
            return .send(connection: name, bytes: try rawBytes(rest.dropFirst(3), line: line))
        } else if rest.hasPrefix("> ") || rest == ">" {
            return .send(connection: name, bytes: Array(rest.dropFirst(2).utf8) + [UInt8(ascii: "\n")])
        } else if rest.hasPrefix("< ") {
            return .expect(connection: name, pattern: String(rest.dropFirst(2)))
        } else if rest == " closed" {
            return .closed(connection: name)
        } else if rest == " quiet" {
            return .quiet(connection: name)
        }
        throw SyntaxError(line: line, message: "after `\(name)` expected `> `, `>> `, `< `, ` closed` or ` quiet`")
    }

    static func isNameCharacter(_ character: Character) -> Bool {
        character.isASCII && (character.isLetter || character.isNumber || character == "-" || character == "_")
    }

    /// Decodes the escapes of a `>>` step: `\r`, `\n`, `\t`, `\\` and `\xHH`; every other character is sent as
    /// its UTF-8 bytes.
    static func rawBytes(_ text: Substring, line: Int) throws(SyntaxError) -> [UInt8] {
        var bytes: [UInt8] = []
        var index = text.startIndex
        while index < text.endIndex {
            let character = text[index]
            index = text.index(after: index)
            guard character == "\\" else {
                bytes += Array(String(character).utf8)
                continue
            }
            guard index < text.endIndex else { throw SyntaxError(line: line, message: "trailing \\ in raw bytes") }
            let escaped = text[index]
            index = text.index(after: index)
            switch escaped {
            case "r": bytes.append(0x0D)
            case "n": bytes.append(0x0A)
            case "t": bytes.append(0x09)
            case "\\": bytes.append(UInt8(ascii: "\\"))
            case "x":
                let end = text.index(index, offsetBy: 2, limitedBy: text.endIndex) ?? text.endIndex
                guard let byte = UInt8(text[index..<end], radix: 16), text.distance(from: index, to: end) == 2 else {
                    throw SyntaxError(line: line, message: "\\x needs two hex digits")
                }
                bytes.append(byte)
                index = end
            default:
                let known = "\\r \\n \\t \\\\ \\xHH"
                throw SyntaxError(line: line, message: "unknown escape \\\(escaped) in raw bytes (\(known))")
            }
        }
        return bytes
    }
}

/// Matching a received line against a `name<` pattern.
enum LinePattern {
    /// The pattern and the line are split at their first ` :` (the text part, compared exactly). The parts before
    /// it are compared word by word (split at single spaces); a pattern word `key=*` matches `key=` with any
    /// non-empty value, and `key=>=N` matches `key=` with an integer value of at least N.
    static func matches(_ pattern: String, _ line: String) -> Bool {
        let (patternHead, patternText) = split(pattern)
        let (lineHead, lineText) = split(line)
        guard patternText == lineText else { return false }
        let patternWords = patternHead.split(separator: " ", omittingEmptySubsequences: false)
        let lineWords = lineHead.split(separator: " ", omittingEmptySubsequences: false)
        guard patternWords.count == lineWords.count else { return false }
        return zip(patternWords, lineWords).allSatisfy { wordMatches($0, $1) }
    }

    private static func wordMatches(_ pattern: Substring, _ word: Substring) -> Bool {
        if pattern == word { return true }
        guard let equals = pattern.firstIndex(of: "="), equals != pattern.startIndex else { return false }
        let key = pattern[...equals]  // including "="
        guard word.hasPrefix(key) else { return false }
        let expected = pattern[pattern.index(after: equals)...]
        let actual = word.dropFirst(key.count)
        if expected == "*" { return !actual.isEmpty }
        if expected.hasPrefix(">="), let minimum = Int64(expected.dropFirst(2)), let value = Int64(actual) {
            return value >= minimum
        }
        return false
    }

    private static func split(_ line: String) -> (head: Substring, text: Substring?) {
        guard let marker = line.range(of: " :") else { return (line[...], nil) }
        return (line[..<marker.lowerBound], line[marker.upperBound...])
    }
}

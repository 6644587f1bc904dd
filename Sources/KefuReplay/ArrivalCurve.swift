import Foundation
import KefuConfig
import KefuCore

/// How many buyers open a conversation, per skill, in each 15-minute slot of a local day (96 slots, 00:00 first).
/// Expected counts: a simulation draws the actual arrivals of each slot from a Poisson process with that mean.
public struct ArrivalCurve: Sendable, Equatable {
    public static let slotsPerDay = 96
    public static let slotLength = Milliseconds.seconds(900)

    /// Expected arrivals per skill per slot (every list has 96 entries).
    public private(set) var expected: [Skill: [Double]]

    /// Counts per skill, 96 slots a skill (a shorter list is padded with zeros, a longer one cut).
    public init(counts: [Skill: [Int]]) {
        self.init(expected: counts.mapValues { $0.map(Double.init) })
    }

    public init(expected: [Skill: [Double]]) {
        self.expected = expected.mapValues { slots in
            Array((slots + [Double](repeating: 0, count: Self.slotsPerDay)).prefix(Self.slotsPerDay))
        }
    }

    /// The same day with every count multiplied (a sale day: yesterday × 3).
    public func scaled(by factor: Double) -> ArrivalCurve {
        ArrivalCurve(expected: expected.mapValues { $0.map { $0 * factor } })
    }

    public var skills: [Skill] { expected.keys.sorted() }

    /// Expected arrivals of a skill in a local hour (its four slots).
    public func hourly(_ skill: Skill, hour: Int) -> Double {
        guard let slots = expected[skill], (0..<24).contains(hour) else { return 0 }
        return slots[(hour * 4)..<(hour * 4 + 4)].reduce(0, +)
    }

    /// Reads `start,skill,arrivals` lines (a header line first; `start` as `HH:MM` local, on a quarter hour;
    /// `arrivals` a count, fractions allowed). Blank lines and lines starting with `#` are skipped; a slot and skill
    /// given twice is an error. Errors name the file and line.
    public static func parse(_ text: String, file: String) throws -> ArrivalCurve {
        var expected: [Skill: [Double]] = [:]
        var seen: Set<String> = []
        var sawHeader = false
        for (index, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = index + 1
            let text = raw.hasSuffix("\r") ? String(raw.dropLast()) : String(raw)
            if text.trimmingCharacters(in: .whitespaces).isEmpty || text.hasPrefix("#") { continue }
            guard let split = CSVText.fields(of: text) else {
                throw ConfigError(file: file, line: line, message: "a quoted field is not closed")
            }
            let fields = split.map { $0.trimmingCharacters(in: .whitespaces) }
            if !sawHeader {
                sawHeader = true
                guard fields.map({ $0.lowercased() }) == ["start", "skill", "arrivals"] else {
                    throw ConfigError(
                        file: file, line: line,
                        message: "the first line must be the header start,skill,arrivals (found \(text))")
                }
                continue
            }
            guard fields.count == 3 else {
                throw ConfigError(
                    file: file, line: line, message: "expected 3 fields start,skill,arrivals, found \(fields.count)")
            }
            guard let slot = Self.slot(of: fields[0]) else {
                throw ConfigError(
                    file: file, line: line, key: "start",
                    message: "must be HH:MM on a quarter hour between 00:00 and 23:45 (found \(fields[0]))")
            }
            guard !fields[1].isEmpty else {
                throw ConfigError(file: file, line: line, key: "skill", message: "is empty")
            }
            guard let count = Double(fields[2]), count.isFinite, count >= 0 else {
                throw ConfigError(
                    file: file, line: line, key: "arrivals",
                    message: "must be a number of zero or more (found \(fields[2]))")
            }
            guard seen.insert("\(slot) \(fields[1])").inserted else {
                throw ConfigError(file: file, line: line, message: "\(fields[0]) \(fields[1]) is given twice")
            }
            expected[Skill(fields[1]), default: [Double](repeating: 0, count: slotsPerDay)][slot] = count
        }
        guard !expected.isEmpty else { throw ConfigError(file: file, message: "no arrivals in the file") }
        return ArrivalCurve(expected: expected)
    }

    /// The slot of `HH:MM`, nil unless it is a quarter hour of the day.
    static func slot(of text: String) -> Int? {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 2, parts.allSatisfy({ (1...2).contains($0.count) && $0.allSatisfy(\.isASCII) }),
            let hour = Int(parts[0]), let minute = Int(parts[1]), (0..<24).contains(hour), (0..<60).contains(minute),
            minute % 15 == 0
        else { return nil }
        return hour * 4 + minute / 15
    }
}

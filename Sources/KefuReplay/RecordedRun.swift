import KefuCore

/// A shop's recorded inputs (the rows `JournalReading` returns), read entry by entry: each input with the decisions
/// the daemon noted for it, and the restore points where the owner started again.
public struct RecordedRun: Sendable {
    /// One thing that happened to the core, as recorded.
    public enum Moment: Sendable, Equatable {
        /// The owner started (again) from this state.
        case restore(RestorePoint)
        /// An input at its instant, and what the daemon's core decided on it.
        case input(Command, at: Instant, decided: [InputJournal.Decision])
    }

    private let chunks: [InputJournal.Chunk]
    private var chunk = 0
    private var reader: InputJournal.Reader?
    private var ahead: InputJournal.Entry?

    public init(_ chunks: [InputJournal.Chunk]) {
        self.chunks = chunks
    }

    /// How many entries the rows hold (inputs, decisions and restore points).
    public var entryCount: Int { chunks.reduce(0) { $0 + $1.entries } }

    /// The next moment; nil at the end.
    public mutating func next() throws(InputJournal.ReadError) -> Moment? {
        guard let entry = try nextEntry() else { return nil }
        switch entry {
        case .restore(let point):
            return .restore(point)
        case .input(let command, let at):
            // The decisions of an input come right after it, when it made any.
            var decided: [InputJournal.Decision] = []
            if let following = try nextEntry() {
                if case .decisions(let decisions) = following {
                    decided = decisions
                } else {
                    ahead = following
                }
            }
            return .input(command, at: at, decided: decided)
        case .decisions:
            // Decisions with no input before them: the row was cut where it should not be.
            throw InputJournal.ReadError(offset: 0, message: "decisions with no input before them (row \(chunk))")
        }
    }

    private mutating func nextEntry() throws(InputJournal.ReadError) -> InputJournal.Entry? {
        if let ahead {
            self.ahead = nil
            return ahead
        }
        while true {
            if reader == nil {
                guard chunk < chunks.count else { return nil }
                reader = InputJournal.Reader(chunks[chunk])
                chunk += 1
            }
            if let entry = try reader!.next() { return entry }
            reader = nil
        }
    }
}

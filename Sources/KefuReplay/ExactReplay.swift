import KefuCore

/// A recorded run replayed with its own rules: the same inputs at the same instants through the core, from the restore
/// point the daemon started from. Every decision must be the one the daemon made — this is how a new kefud is checked
/// against real traffic before an upgrade. The first input that decides otherwise is reported with both versions.
public struct ExactReplay: Sendable {
    /// Where the replay first decided otherwise than the daemon.
    public struct Difference: Sendable, Equatable, CustomStringConvertible {
        /// The input's place among the run's inputs, from 1.
        public var input: Int
        public var at: Instant
        public var command: Command
        public var recorded: [InputJournal.Decision]
        public var replayed: [InputJournal.Decision]

        public var description: String {
            """
            first difference at input \(input) (\(at)): \(Self.describe(command))
              recorded: \(recorded.isEmpty ? "no decision" : recorded.map(\.description).joined(separator: "; "))
              replayed: \(replayed.isEmpty ? "no decision" : replayed.map(\.description).joined(separator: "; "))
            """
        }

        /// A command as a short line (its case and first fields), for the report.
        static func describe(_ command: Command) -> String {
            let text = "\(command)"
            return text.count > 160 ? String(text.prefix(160)) + "…" : text
        }
    }

    /// What a replay found.
    public struct Verdict: Sendable, Equatable {
        /// Inputs run through the core, from the run's start (before `from` too: they build the state at `from`).
        public var inputs = 0
        /// Inputs at or after `from`.
        public var inputsInWindow = 0
        /// Decisions compared within the window (assignments, breaches, escalations).
        public var decisions = 0
        /// Restarts (restore points) the window went through.
        public var restarts = 0
        public var firstDifference: Difference?

        public var identical: Bool { firstDifference == nil }
    }

    public let from: Instant
    public let to: Instant

    public init(from: Instant, to: Instant) {
        self.from = from
        self.to = to
    }

    /// Replays `run` up to `to`; `observe` sees every step (with its instant and command) in order, the restores'
    /// repairs included, for the day's figures. Stops comparing at the first difference but runs on to `to`, so that
    /// the figures cover the window.
    public func run(
        _ run: inout RecordedRun, observe: (Instant, Command, Step) -> Void = { _, _, _ in }
    ) throws(InputJournal.ReadError) -> Verdict {
        var verdict = Verdict()
        var core: RoutingCore?
        while let moment = try run.next() {
            switch moment {
            case .restore(let point):
                guard point.at <= to else { return verdict }
                let (restored, repair) = RoutingCore.restored(from: point)
                core = restored
                if point.at >= from { verdict.restarts += 1 }
                observe(point.at, .tick, repair)
            case .input(let command, let at, let decided):
                guard at <= to else { return verdict }
                // Inputs before the first restore point belong to a run whose start was purged: nothing to build on.
                guard core != nil else { continue }
                let step = core!.handle(command, at: at)
                verdict.inputs += 1
                observe(at, command, step)
                guard at >= from else { continue }
                verdict.inputsInWindow += 1
                guard verdict.firstDifference == nil else { continue }
                let replayed = InputJournal.Decision.of(step)
                if replayed != decided {
                    verdict.firstDifference = Difference(
                        input: verdict.inputs, at: at, command: command, recorded: decided, replayed: replayed)
                } else {
                    verdict.decisions += decided.count
                }
            }
        }
        return verdict
    }
}

import KefuCore

/// A discrete-event run of the real routing core: commands are scheduled at instants, and the run hands them to the
/// core in time order, with a `.tick` at each deadline that falls due before the next command, as the daemon's one
/// timer does. So a breach fires at its own instant, not at whatever command happens to come after it.
public struct FloorRun: Sendable {
    public private(set) var core: RoutingCore
    /// The instant of the last step taken (a command is never run before it).
    public private(set) var now: Instant?
    private var pending = ScheduledCommands()
    private var cancelled: Set<Int64> = []
    private var issued: Int64 = 0

    /// A scheduled command's receipt, to take it back (`cancel`).
    public struct Ticket: Hashable, Sendable {
        let number: Int64
    }

    public init(core: RoutingCore) { self.core = core }

    /// Commands at the same instant run in the order scheduled. A command scheduled before the last step's instant
    /// runs at that instant (the core's time never goes back).
    @discardableResult
    public mutating func schedule(_ command: Command, at instant: Instant) -> Ticket {
        issued += 1
        pending.insert(.init(at: max(instant, now ?? instant), order: issued, command: command))
        return Ticket(number: issued)
    }

    /// Takes back a command not yet run (a modelled answer to a chat that was revoked or closed meanwhile).
    public mutating func cancel(_ ticket: Ticket) { cancelled.insert(ticket.number) }

    /// The next step up to and including `end`: the earliest scheduled command, or a `.tick` at the core's next
    /// deadline when that comes first (breaches fire at their instants, as the daemon's timer makes them).
    /// nil when nothing is due by `end`.
    public mutating func next(until end: Instant) -> FloorStep? {
        while let first = pending.first, cancelled.contains(first.order) {
            cancelled.remove(first.order)
            pending.removeFirst()
        }
        let command = pending.first.flatMap { $0.at <= end ? $0 : nil }
        // A deadline strictly before the next command gets its own tick; one at the same instant fires as that
        // command is handled (the core fires due deadlines first).
        if let deadline = core.nextDeadline, deadline <= end, command.map({ deadline < $0.at }) ?? true {
            let at = max(deadline, now ?? deadline)
            return take(.tick, at: at)
        }
        guard let command else { return nil }
        pending.removeFirst()
        return take(command.command, at: command.at)
    }

    private mutating func take(_ command: Command, at instant: Instant) -> FloorStep {
        now = instant
        let step = core.handle(command, at: instant)
        return FloorStep(at: instant, command: command, step: step)
    }
}

/// One command the run handed to the core, when, and what the core made of it.
public struct FloorStep: Sendable {
    public var at: Instant
    public var command: Command
    public var step: Step

    public init(at: Instant, command: Command, step: Step) {
        self.at = at
        self.command = command
        self.step = step
    }
}

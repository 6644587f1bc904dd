import KefuCore

/// The shop's input journal (`[replay] keep_days`): every input the core takes goes through `step(_:at:)`, which
/// notes it; the notes go to the store with the next store job, so they commit with the records their inputs caused
/// (and inputs that caused none commit with the next that did, or at the next housekeeping).
extension ShopOwner {
    /// Most journal bytes gathered by inputs that write nothing (listings, refusals, quiet ticks) before they go to the
    /// store on their own.
    static let journalFlushBytes = 256 * 1024

    /// Runs `command` through the core at `now`, and notes it in the input journal.
    func step(_ command: Command, at now: Instant) -> Step {
        let step = core.handle(command, at: now)
        if recordsInputs { inputs.record(command, at: now, step: step) }
        return step
    }

    /// The journal gathered so far, for the store job being sent.
    func takeJournal() -> Record? {
        inputs.take().map { .journal($0) }
    }

    /// Whether gathered journal entries should go to the store now although no input wrote anything: at housekeeping
    /// (so that a quiet shop's inputs are not held for long), or when they have grown large.
    func journalNeedsFlush(housekeeping: Bool) -> Bool {
        !inputs.isEmpty && (housekeeping || inputs.byteCount >= Self.journalFlushBytes)
    }
}

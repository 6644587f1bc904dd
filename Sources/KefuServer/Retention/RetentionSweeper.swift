import KefuConfig
import KefuCore
import KefuStore
import Logging
import Synchronization

/// When a shop's retention purges run (`[retention]`): a pass shortly after the shop starts (or a reload changes its
/// `[retention]`), then one an hour; within a pass, one batch at a time with a pause between them.
public struct RetentionSchedule: Sendable {
    /// From the shop's start (or the reload) to its first pass.
    public var firstPass: Duration
    /// From the start of one pass to the start of the next.
    public var every: Duration
    /// Between two batches of a pass: the store's writer spends most of its time on routing's commits meanwhile.
    public var pause: Duration

    public init(firstPass: Duration, every: Duration, pause: Duration) {
        self.firstPass = firstPass
        self.every = every
        self.pause = pause
    }

    /// 10 s after the start (recovery and the reconnecting clients first), then hourly; 100 ms between batches.
    public static let standard = RetentionSchedule(
        firstPass: .seconds(10), every: .seconds(3600), pause: .milliseconds(100))
}

/// A shop's retention purge (`[retention] closed_after_days`): deletes the texts of conversations closed longer ago, a
/// batch at a time, each batch one job on the store's queue (SQLite's writer thread, or the PostgreSQL store's loop
/// under the shop's fence). It never runs on the routing owner's turn: the owner only starts it, stops it, and hands
/// it a reloaded `[retention]`. A routing commit queued while a batch runs waits for that batch alone (a few
/// milliseconds at 500 rows), and the pause between batches leaves the writer to routing.
///
/// Each pass writes one log line (`event=retention_purge`: conversations, messages and notes purged, the cutoff), so
/// journald shows what went and when (`journalctl -u kefud KEFU_EVENT=retention_purge`).
final class RetentionSweeper: Sendable {
    private struct State {
        var settings: RetentionSettings
        var journal: ReplaySettings
        var task: Task<Void, Never>?
        var stopped = false
    }

    private let state: Mutex<State>
    private let store: any RecordStore
    private let clock: any WallClock
    private let schedule: RetentionSchedule
    private let logger: Logger

    init(
        settings: RetentionSettings, journal: ReplaySettings = ReplaySettings(), store: any RecordStore,
        clock: any WallClock, schedule: RetentionSchedule, logger: Logger
    ) {
        self.state = Mutex(State(settings: settings, journal: journal))
        self.store = store
        self.clock = clock
        self.schedule = schedule
        self.logger = logger
    }

    /// The shop serves: its first pass runs after `schedule.firstPass`.
    func start() {
        restart()
    }

    /// A reload's `[retention]`: a change applies from a pass `schedule.firstPass` later (the pass under way stops
    /// after its current batch); turned off, no pass runs any more.
    func update(_ settings: RetentionSettings, journal: ReplaySettings = ReplaySettings()) {
        let changed = state.withLock { state in
            guard state.settings != settings || state.journal != journal else { return false }
            state.settings = settings
            state.journal = journal
            return true
        }
        guard changed else { return }
        logger.notice(
            "retention changed",
            metadata: [
                "event": "retention_changed",
                "closed_after_days": "\(settings.closedAfterDays.map(String.init) ?? "off")",
                "batch": "\(settings.batch)",
            ])
        restart()
    }

    /// The shop stops being served here: no batch is queued any more.
    func stop() {
        state.withLock { state in
            state.stopped = true
            state.task?.cancel()
            state.task = nil
        }
    }

    private func restart() {
        state.withLock { state in
            state.task?.cancel()
            state.task = nil
            guard !state.stopped, state.settings.isEnabled || state.journal.isEnabled else { return }
            let (settings, journal) = (state.settings, state.journal)
            state.task = Task { [self] in await self.run(settings, journal: journal) }
        }
    }

    private func run(_ settings: RetentionSettings, journal: ReplaySettings) async {
        var wait = schedule.firstPass
        while !Task.isCancelled {
            do {
                try await Task.sleep(for: wait)
            } catch {
                return
            }
            wait = schedule.every
            await pass(settings, journal: journal)
        }
    }

    /// One pass: batches until nothing closed before the cutoff is left, then one log line.
    func pass(_ settings: RetentionSettings, journal: ReplaySettings = ReplaySettings(keepDays: nil)) async {
        guard settings.isEnabled || journal.isEnabled else { return }
        let days = settings.closedAfterDays
        let began = ContinuousClock.now
        // Without `closed_after_days` no text goes: nothing closed before the epoch.
        let cutoff = days.map { clock.now() + Milliseconds(-Int64($0) * 86_400_000) } ?? Instant(unixMilliseconds: 0)
        let journalBefore = journal.keepDays.map { clock.now() + Milliseconds(-Int64($0) * 86_400_000) }
        var total = PurgeOutcome()
        var failure: StoreError?
        var interrupted = false
        while true {
            do {
                let batch = try await store.purge(
                    PurgeRequest(
                        closedBefore: cutoff, rows: settings.batch, at: clock.now(), journalBefore: journalBefore))
                total.add(batch)
                if batch.finished { break }
                if Task.isCancelled {
                    interrupted = true
                    break
                }
                try await Task.sleep(for: schedule.pause)
            } catch let error as StoreError {
                // A store closing under the pass (the shop stops being served here) is no failure.
                if error.operation != .closed { failure = error }
                interrupted = true
                break
            } catch {
                interrupted = true
                break
            }
        }
        let elapsed = ContinuousClock.now - began
        var metadata: Logger.Metadata = [
            "event": "retention_purge",
            "conversations": "\(total.conversations)",
            "messages": "\(total.messages)",
            "notes": "\(total.notes)",
            "journal_rows": "\(total.journalRows)",
            "batches": "\(total.batches)",
            "closed_after_days": "\(days.map(String.init) ?? "off")",
            "journal_keep_days": "\(journal.keepDays.map(String.init) ?? "off")",
            "closed_before": "\(cutoff.unixMilliseconds)",
            "duration_ms": "\(elapsed.components.seconds * 1000 + elapsed.components.attoseconds / 1_000_000_000_000_000)",
        ]
        if let failure {
            metadata["error"] = "\(failure)"
            logger.error("retention purge failed; the next pass carries on", metadata: metadata)
        } else if interrupted {
            logger.notice("retention purge interrupted", metadata: metadata)
        } else if total.conversations + total.messages + total.notes + total.journalRows > 0 {
            logger.notice("retention purge", metadata: metadata)
        } else {
            logger.info("retention purge: nothing to purge", metadata: metadata)
        }
    }
}

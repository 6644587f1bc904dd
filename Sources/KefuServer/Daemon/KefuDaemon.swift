import Foundation
import KefuConfig
import KefuCore
import KefuStore
import KefuSystemd
import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle
import Synchronization

/// The daemon as a service. Its run is six jobs, each in a file of its own: recover the store
/// (`KefuDaemon+Recovery`), start the shop's routing owner, bind the listener or take systemd's
/// (`KefuDaemon+Listening`), take back the connections a previous process handed over (`KefuDaemon+TakingOver`),
/// serve until asked to stop, then say BYE to every client or hand every connection to systemd
/// (`KefuDaemon+Stopping`).
public final class KefuDaemon: Service, Sendable {
    let configuration: KefuConfiguration
    let stateDirectory: String
    let clock: any WallClock
    let notifier: any ServiceNotifier
    /// How long recovery and the final flush may run before systemd hears `EXTEND_TIMEOUT_USEC=`.
    let timeoutExtension: TimeoutExtension
    let journal: any JournalRecorder
    let logger: Logger
    let readiness = Readiness()
    let invariantCheck: InvariantCheck
    /// The descriptors systemd passed with their names: socket activation's listener (`kefud`), and what the previous
    /// process left in the file descriptor store (`kefud-listener`, `conn-<n>`).
    let passedDescriptors: @Sendable () -> [(fd: Int32, name: String)]
    /// systemd's file descriptor store when it is enabled for kefud (`FileDescriptorStoreMax=`, `FDSTORE=`): a stop
    /// then hands the listener and every connection over instead of saying BYE, for the next process to take back.
    let fileDescriptorStore: FileDescriptorStore?
    /// Set by ``stopForRestart()``: the stop under way is a restart, so the connections go to the file descriptor
    /// store instead of hearing BYE.
    let restarting = Mutex(false)
    /// The routing owner while it runs, so a reload can reach it.
    let running = Mutex<OwnerLink?>(nil)

    public init(
        configuration: KefuConfiguration,
        stateDirectory: String,
        clock: any WallClock = SystemWallClock(),
        notifier: any ServiceNotifier = SilentNotifier(),
        journal: any JournalRecorder,
        logger: Logger,
        invariantCheck: InvariantCheck = InvariantCheck(),
        timeoutExtension: TimeoutExtension = TimeoutExtension(),
        fileDescriptorStore: FileDescriptorStore? = nil,
        passedDescriptors: @escaping @Sendable () -> [(fd: Int32, name: String)] = { SocketActivation.listeners() }
    ) {
        self.invariantCheck = invariantCheck
        self.timeoutExtension = timeoutExtension
        self.fileDescriptorStore = fileDescriptorStore
        self.passedDescriptors = passedDescriptors
        self.configuration = configuration
        self.stateDirectory = stateDirectory
        self.clock = clock
        self.notifier = notifier
        self.journal = journal
        self.logger = logger
    }

    /// Applies a configuration read again (on SIGHUP): `RELOADING=1` now, `READY=1` once applied or rejected. A
    /// configuration that could not be read leaves the one in force running; the error is logged and put in
    /// `STATUS=`. Agents, skills, capacities, routing rules, the SLA and tokens change; `[server]` settings (the
    /// listen address, line limit, idle timeout, state directory) apply at the next start.
    public func reload(_ outcome: Result<KefuConfiguration, any Error>) {
        notifier.reloading()
        guard let owner = running.withLock({ $0 }) else {
            // Not serving yet (or any more): nothing to apply it to; say so, and end the reload.
            logger.warning("reload ignored: the daemon is not serving")
            notifier.ready(status: "reload ignored: not serving")
            return
        }
        if case .success(let reloaded) = outcome {
            let changed = Self.serverKeysChanged(from: configuration.server, to: reloaded.server)
            if !changed.isEmpty {
                // Ops edited something a reload cannot apply: say so, rather than let them think it took effect.
                logger.warning(
                    "[server] settings changed; they apply at the next start (systemctl restart kefud)",
                    metadata: ["keys": "\(changed.joined(separator: ","))"])
            }
        }
        owner.post(.reload(outcome.mapError(ConfigurationLoadError.init)))
    }

    /// The `[server]` keys whose values differ (they need a restart; the rest of a reload applies at once).
    static func serverKeysChanged(from old: ServerSettings, to new: ServerSettings) -> [String] {
        var keys: [String] = []
        if old.listen != new.listen { keys.append("listen") }
        if old.stateDirectory != new.stateDirectory { keys.append("state_dir") }
        if old.maxLineBytes != new.maxLineBytes { keys.append("max_line_bytes") }
        if old.shutdownGraceSeconds != new.shutdownGraceSeconds { keys.append("shutdown_grace_s") }
        if old.idleTimeoutSeconds != new.idleTimeoutSeconds { keys.append("idle_timeout_s") }
        if old.maxPipelined != new.maxPipelined { keys.append("max_pipelined") }
        if old.slowClientBytes != new.slowClientBytes { keys.append("slow_client_bytes") }
        if old.slowClientGraceSeconds != new.slowClientGraceSeconds { keys.append("slow_client_grace_s") }
        if old.keptEventBytes != new.keptEventBytes { keys.append("kept_event_bytes") }
        return keys
    }

    /// The stop that follows is a restart (systemd's `RestartKillSignal=SIGUSR2`, see kefud): with the file
    /// descriptor store enabled, the listener and every connection are handed over to the next process. A stop
    /// without this (SIGTERM: `systemctl stop`) says BYE to every client and closes.
    public func stopForRestart() {
        restarting.withLock { $0 = true }
    }

    /// Waits until the listener is bound and returns its port (useful when configured with port 0).
    public func boundPort() async throws -> Int {
        try await readiness.wait()
    }

    public func run() async throws {
        do {
            try await serve()
        } catch {
            readiness.fail(error)
            throw error
        }
    }

    /// The bounds every connection keeps (`[server]`).
    var connectionLimits: ClientConnection.Limits {
        let server = configuration.server
        return ClientConnection.Limits(
            maxLineBytes: server.maxLineBytes, maxPipelined: server.maxPipelined,
            slowClientBytes: server.slowClientBytes,
            slowClientGrace: .milliseconds(Int64(server.slowClientGraceSeconds * 1000)),
            idleTimeout: server.idleTimeoutSeconds.map { .milliseconds(Int64($0 * 1000)) })
    }

    private func serve() async throws {
        let (store, core) = try await recover()
        let carried = takeCarriedSessions()
        let census = ConnectionCensus()
        // The owner's loop: one of NIO's loops, so connections on the same loop reach it without a thread hop.
        let loop = MultiThreadedEventLoopGroup.singleton.next()
        let serving = try await listen(census: census, loop: loop, store: store, core: core, carried: carried)
        running.withLock { $0 = serving.owner }
        defer { running.withLock { $0 = nil } }

        // READY=1 goes out from the owner's turn (see ``ShopOwner/start(housekeepingEvery:)``). Housekeeping pings
        // the watchdog at half its interval at most, and refreshes STATUS= every second.
        let period = TimeAmount(min(notifier.watchdogInterval ?? .seconds(1), .seconds(1)))
        let owner = serving.owner.owner
        try await loop.submit { owner.value.start(housekeepingEvery: max(period, .milliseconds(1))) }.get()
        // From here a SIGHUP reloads (kefud installs the handler); before, it would have nothing to apply to.
        readiness.fulfil(serving.port)

        let carriedOver = try await serveUntilStopped(serving, census: census)
        await stop(serving, store: store, census: census, carriedOver: carriedOver)
    }
}

extension TimeAmount {
    init(_ duration: Duration) {
        let (seconds, attoseconds) = duration.components
        self = .nanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
    }
}

/// A one-shot signal carrying the bound port.
final class Readiness: Sendable {
    private enum State {
        case waiting([CheckedContinuation<Int, any Error>])
        case ready(Int)
        case failed(any Error)
    }

    private let state = Mutex<State>(.waiting([]))

    func fulfil(_ port: Int) { resolve(.success(port)) }

    func fail(_ error: any Error) { resolve(.failure(error)) }

    private func resolve(_ result: Result<Int, any Error>) {
        let waiters: [CheckedContinuation<Int, any Error>] = state.withLock { state in
            guard case .waiting(let waiters) = state else { return [] }
            switch result {
            case .success(let port): state = .ready(port)
            case .failure(let error): state = .failed(error)
            }
            return waiters
        }
        waiters.forEach { $0.resume(with: result) }
    }

    func wait() async throws -> Int {
        try await withCheckedThrowingContinuation { continuation in
            let immediate: Result<Int, any Error>? = state.withLock { state in
                switch state {
                case .waiting(let waiters):
                    state = .waiting(waiters + [continuation])
                    return nil
                case .ready(let port): return .success(port)
                case .failed(let error): return .failure(error)
                }
            }
            if let immediate { continuation.resume(with: immediate) }
        }
    }
}

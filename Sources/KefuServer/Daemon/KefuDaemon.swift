import KefuMetrics
import Foundation
import KefuConfig
import KefuCore
import KefuStore
import KefuSystemd
import KefuTLS
import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle
import Synchronization

/// The daemon as a service. Its run is six jobs, each in a file of its own: recover each shop's store
/// (`KefuDaemon+Recovery`), start each shop's routing owner, bind the listener or take systemd's
/// (`KefuDaemon+Listening`), take back the connections a previous process handed over (`KefuDaemon+TakingOver`),
/// serve until asked to stop, then say BYE to every client or hand every connection to systemd
/// (`KefuDaemon+Stopping`).
///
/// A node serves one or more shops (`[server] shops_dir`), each with its own routing owner, store and
/// configuration; the owners are spread over NIO's loops (one per core), and share nothing but the listener, the
/// directory of which owner serves which shop, and what systemd is told (``NodeNotifier``).
public final class KefuDaemon: Service, Sendable {
    /// The configuration the daemon started with (`[server]` and the shops).
    let node: NodeConfiguration
    let stateDirectory: String
    let clock: any WallClock
    /// What systemd hears, for all the shops together.
    let notifier: NodeNotifier
    /// How long recovery and the final flush may run before systemd hears `EXTEND_TIMEOUT_USEC=`.
    let timeoutExtension: TimeoutExtension
    let journal: any JournalRecorder
    let logger: Logger
    let readiness = Readiness()
    /// Every metric of `/metrics`; each shop's owner counts its own through a `ShopMetrics` of it.
    public let metrics = KefuMetrics(version: KefuVersion.current)
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
    /// What the daemon serves while it runs, so a reload can reach the shops' owners.
    let running = Mutex<Serving?>(nil)
    /// The HTTP listener's port once bound (`[http] listen`; useful with port 0).
    let httpPort = Mutex<Int?>(nil)
    /// What systemd passed at start, taken once (`sd_listen_fds` clears the environment): HTTP takes its listener
    /// first, the line protocol the rest.
    private let passed = Mutex<[(fd: Int32, name: String)]?>(nil)
    /// A duplicate of the HTTP listener kefud bound itself, for the file descriptor store at a restart.
    let httpDuplicate = Mutex<Int32?>(nil)
    /// The HTTPS listener's port once bound (`[http] listen_tls`).
    let httpsPort = Mutex<Int?>(nil)
    /// What the shops kept for away buyers at a stop that said BYE (written next to the store by ``stop``).
    let keptAtStop = RestartCarryOver.KeptAtStop()
    /// Failed logins per address, for every shop this node serves.
    let loginGuard = LoginGuard()
    /// Each TLS listener's certificate context, by ``TLSListenerRole``: read at start, read again at a reload.
    let tlsContexts = Mutex<[String: TLSListenerContext]>([:])
    /// When each shop's retention purges run (`[retention]`; tests shorten it).
    let retentionSchedule: RetentionSchedule

    /// `[server]` settings (a reload does not change them).
    var server: ServerSettings { node.server }

    /// A daemon serving one shop, `default`, described by `configuration`.
    public convenience init(
        configuration: KefuConfiguration,
        stateDirectory: String,
        clock: any WallClock = SystemWallClock(),
        notifier: any ServiceNotifier = SilentNotifier(),
        journal: any JournalRecorder,
        logger: Logger,
        invariantCheck: InvariantCheck = InvariantCheck(),
        timeoutExtension: TimeoutExtension = TimeoutExtension(),
        fileDescriptorStore: FileDescriptorStore? = nil,
        passedDescriptors: @escaping @Sendable () -> [(fd: Int32, name: String)] = { SocketActivation.listeners() },
        retentionSchedule: RetentionSchedule = .standard
    ) {
        self.init(
            node: NodeConfiguration(configuration), stateDirectory: stateDirectory, clock: clock, notifier: notifier,
            journal: journal, logger: logger, invariantCheck: invariantCheck, timeoutExtension: timeoutExtension,
            fileDescriptorStore: fileDescriptorStore, passedDescriptors: passedDescriptors,
            retentionSchedule: retentionSchedule)
    }

    /// A daemon serving the shops of `node` whose configuration could be read (the others are logged, not served).
    public init(
        node: NodeConfiguration,
        stateDirectory: String,
        clock: any WallClock = SystemWallClock(),
        notifier: any ServiceNotifier = SilentNotifier(),
        journal: any JournalRecorder,
        logger: Logger,
        invariantCheck: InvariantCheck = InvariantCheck(),
        timeoutExtension: TimeoutExtension = TimeoutExtension(),
        fileDescriptorStore: FileDescriptorStore? = nil,
        passedDescriptors: @escaping @Sendable () -> [(fd: Int32, name: String)] = { SocketActivation.listeners() },
        retentionSchedule: RetentionSchedule = .standard
    ) {
        self.retentionSchedule = retentionSchedule
        self.invariantCheck = invariantCheck
        self.timeoutExtension = timeoutExtension
        self.fileDescriptorStore = fileDescriptorStore
        self.passedDescriptors = passedDescriptors
        self.node = node
        self.stateDirectory = stateDirectory
        self.clock = clock
        self.notifier = NodeNotifier(base: notifier)
        self.journal = journal
        self.logger = logger
    }

    /// Applies a configuration read again (on SIGHUP) to a daemon of one shop.
    public func reload(_ outcome: Result<KefuConfiguration, any Error>) {
        reload(node: outcome.map(NodeConfiguration.init))
    }

    /// Applies the configuration read again (on SIGHUP): `RELOADING=1` now, `READY=1` once every shop has applied
    /// or rejected its part. A main file that could not be read leaves every shop as it is; a shop's file that could
    /// not be read leaves that shop on its configuration and touches no other; either error is logged and put in
    /// `STATUS=` until a reload succeeds. Agents, skills, capacities, routing rules, the SLA and tokens change;
    /// `[server]` settings (the listen address, line limit, idle timeout, state directory, shops directory) apply at
    /// the next start.
    public func reload(node outcome: Result<NodeConfiguration, any Error>) {
        guard let serving = running.withLock({ $0 }) else {
            // Not serving yet (or any more): nothing to apply it to; say so, and end the reload.
            notifier.base.reloading()
            logger.warning("reload ignored: the daemon is not serving")
            notifier.base.ready(status: "reload ignored: not serving")
            return
        }
        if node.cluster != nil {
            // A cluster's shops are configured in PostgreSQL (`kefuctl shop apply`), applied within a probe.
            notifier.base.reloading()
            logger.warning("reload ignored: a node of a cluster takes its shops' configurations from PostgreSQL")
            notifier.base.ready(status: "reload ignored: shops are configured with kefuctl shop apply")
            return
        }
        let reloaded: NodeConfiguration
        switch outcome {
        case .failure(let error):
            logger.error(
                "configuration reload rejected; the previous configuration stays in force",
                metadata: ["event": "config_rejected", "error": "\(error)"])
            notifier.reloading(rejected: "\(error)")
            return
        case .success(let node):
            reloaded = node
        }
        let changed = Self.serverKeysChanged(from: server, to: reloaded.server)
        if !changed.isEmpty {
            // Ops edited something a reload cannot apply: say so, rather than let them think it took effect.
            logger.warning(
                "[server] settings changed; they apply at the next start (systemctl restart kefud)",
                metadata: ["keys": "\(changed.joined(separator: ","))"])
        }
        let certificates = reloadTLS(reloaded)
        notifier.reloading(rejected: certificates.isEmpty ? nil : certificates.joined(separator: "; "))
        let served = serving.shops.withLock { $0 }
        for shop in served {
            let outcome =
                reloaded.shops[shop.name]
                ?? .failure(
                    ConfigError(
                        file: ShopFiles.path(of: shop.name, in: server.shopsDirectory ?? "."),
                        message: "the file is gone; the shop is served as configured until kefud restarts"))
            shop.owner.post(.reload(outcome.mapError(ConfigurationLoadError.init)))
        }
        for name in reloaded.shopNames where !served.contains(where: { $0.name == name }) {
            // A shop whose file appeared since the start: served from the next start.
            switch reloaded.shops[name] {
            case .success?:
                logger.warning(
                    "a new shop's file is served from the next start (systemctl restart kefud)",
                    metadata: ["shop": "\(name)"])
            case .failure(let error)?:
                logger.error(
                    "a new shop's file has an error", metadata: ["shop": "\(name)", "error": "\(error)"])
            case nil:
                break
            }
        }
    }

    /// The `[server]` keys whose values differ (they need a restart; the rest of a reload applies at once).
    static func serverKeysChanged(from old: ServerSettings, to new: ServerSettings) -> [String] {
        var keys: [String] = []
        if old.listen != new.listen || old.listensPlaintext != new.listensPlaintext { keys.append("listen") }
        if old.stateDirectory != new.stateDirectory { keys.append("state_dir") }
        if old.shopsDirectory != new.shopsDirectory { keys.append("shops_dir") }
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

    /// The descriptors systemd passed, read once.
    func passedDescriptorsOnce() -> [(fd: Int32, name: String)] {
        passed.withLock { taken in
            if taken == nil { taken = passedDescriptors() }
            return taken!
        }
    }

    /// The HTTP listener's port, once `boundPort()` has returned (nil without `[http]`).
    public var boundHTTPPort: Int? { httpPort.withLock { $0 } }
    /// The HTTPS listener's port, once `boundPort()` has returned (nil without `[http] listen_tls`).
    public var boundHTTPSPort: Int? { httpsPort.withLock { $0 } }

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
        return ClientConnection.Limits(
            maxLineBytes: server.maxLineBytes, maxPipelined: server.maxPipelined,
            slowClientBytes: server.slowClientBytes,
            slowClientGrace: .milliseconds(Int64(server.slowClientGraceSeconds * 1000)),
            idleTimeout: server.idleTimeoutSeconds.map { .milliseconds(Int64($0 * 1000)) }, metrics: metrics)
    }

    /// The shops whose configuration could be read, `default` first; the others are logged and not served.
    var servableShops: [(name: String, configuration: KefuConfiguration)] {
        node.shopNames.compactMap { name in
            switch node.shops[name] {
            case .success(let configuration)?: return (name, configuration)
            case .failure(let error)?:
                logger.critical(
                    "shop not served: its configuration has an error",
                    metadata: ["event": "config_rejected", "shop": "\(name)", "error": "\(error)"])
                return nil
            case nil: return nil
            }
        }
    }

    /// HTTP (when configured) is served from before recovery until the line protocol has stopped.
    private func serve() async throws {
        try loadTLSContexts()
        let http = try await startHTTP()
        do {
            try await serveLineProtocol()
        } catch {
            for listener in http { await listener.close() }
            throw error
        }
        for listener in http { await listener.close() }
    }

    private func serveLineProtocol() async throws {
        if let cluster = node.cluster {
            try await serveCluster(cluster)
            return
        }
        let shops = servableShops
        guard !shops.isEmpty else { throw NoShopToServe() }
        var recovered: [(name: String, configuration: KefuConfiguration, store: any RecordStore, core: RoutingCore)] = []
        for shop in shops {
            let (store, core) = try await recover(shop.name, shop.configuration)
            recovered.append((shop.name, shop.configuration, store, core))
        }
        let carried = takeCarriedSessions()
        let census = ConnectionCensus()
        notifier.serve(shops.map(\.name))
        let serving = try await listen(census: census, shops: recovered, carried: carried)
        running.withLock { $0 = serving }
        defer { running.withLock { $0 = nil } }

        // READY=1 goes out once every owner has started (see ``ShopOwner/start(housekeepingEvery:)``). Housekeeping
        // pings the watchdog at half its interval at most, and refreshes STATUS= every second.
        let period = housekeepingPeriod
        for shop in serving.shops.withLock({ $0 }) {
            let owner = shop.owner.owner
            try await shop.owner.loop.submit { owner.value.start(housekeepingEvery: period) }.get()
        }
        // From here a SIGHUP reloads (kefud installs the handler); before, it would have nothing to apply to.
        readiness.fulfil(serving.port)

        let carriedOver = try await serveUntilStopped(serving, census: census)
        await stop(serving, census: census, carriedOver: carriedOver)
    }
}

/// Every shop's configuration has an error: there is nothing to serve.
struct NoShopToServe: Error, CustomStringConvertible {
    var description: String { "no shop to serve: every shop's configuration has an error (see the log)" }
}

extension TimeAmount {
    init(_ duration: Duration) {
        let (seconds, attoseconds) = duration.components
        self = .nanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
    }
}

/// A one-shot signal carrying the bound port; also what `/readyz` says (ready from then until the stop begins).
final class Readiness: Sendable {
    private enum State {
        case waiting([CheckedContinuation<Int, any Error>])
        case ready(Int)
        case failed(any Error)
    }

    private let state = Mutex<State>(.waiting([]))
    private let withdrawn = Atomic(false)

    /// Recovered and listening, and not stopping.
    var isReady: Bool {
        guard !withdrawn.load(ordering: .relaxed) else { return false }
        return state.withLock { if case .ready = $0 { true } else { false } }
    }

    /// The stop has begun: no longer ready (the port stays known to `wait()`).
    func withdraw() { withdrawn.store(true, ordering: .relaxed) }

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

import KefuConfig
import KefuCore
import KefuProtocol
import KefuStore
import KefuSystemd
import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle
import Synchronization

/// The daemon as a service: recover the store, bind the listener, report ready, route until asked to stop,
/// then say BYE to every client and flush the store.
public final class KefuDaemon: Service, Sendable {
    private let configuration: KefuConfiguration
    private let stateDirectory: String
    private let clock: any WallClock
    private let notifier: any ServiceNotifier
    /// How long recovery and the final flush may run before systemd hears `EXTEND_TIMEOUT_USEC=`.
    private let timeoutExtension: TimeoutExtension
    private let journal: any JournalRecorder
    private let logger: Logger
    private let readiness = Readiness()
    private let invariantCheck: InvariantCheck
    /// The listening socket systemd passed, if socket-activated (the one named `kefud`, else the first).
    private let activatedListener: @Sendable () -> (fd: Int32, name: String)?
    /// The routing owner's inbox while it runs, so a reload can reach it.
    private let running = Mutex<Mailbox?>(nil)

    public init(
        configuration: KefuConfiguration,
        stateDirectory: String,
        clock: any WallClock = SystemWallClock(),
        notifier: any ServiceNotifier = SilentNotifier(),
        journal: any JournalRecorder,
        logger: Logger,
        invariantCheck: InvariantCheck = InvariantCheck(),
        timeoutExtension: TimeoutExtension = TimeoutExtension(),
        activatedListener: @escaping @Sendable () -> (fd: Int32, name: String)? = {
            let listeners = SocketActivation.listeners()
            return listeners.first { $0.name == "kefud" } ?? listeners.first
        }
    ) {
        self.invariantCheck = invariantCheck
        self.timeoutExtension = timeoutExtension
        self.activatedListener = activatedListener
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
        let mailbox = running.withLock { $0 }
        guard let mailbox else {
            // Not serving yet (or any more): nothing to apply it to; say so, and end the reload.
            logger.warning("reload ignored: the daemon is not serving")
            notifier.ready(status: "reload ignored: not serving")
            return
        }
        mailbox.post(.reload(outcome.mapError(ConfigurationLoadError.init)))
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

    private func serve() async throws {
        let policy = RoutingPolicy(configuration)
        let startedAt = clock.now()
        // A large store takes a while to open and recover: systemd hears that kefud is still at it.
        let (store, recovered, core) = try await timeoutExtension.during(notifier) {
            let store = try ConversationStore(directory: self.stateDirectory, logger: self.logger)
            // Returning buyers within the sticky window go back to their agent after a restart too.
            let recovered = try store.recover(
                returningBuyersSince: startedAt + Milliseconds(-policy.rules.stickyWindow.value))
            var core = RoutingCore(policy: policy, nextConversationID: recovered.nextConversationID)
            let repair = core.restore(
                recovered.openConversations, lastAssignedAt: recovered.lastAssignedAt, notes: recovered.notes,
                returningBuyers: recovered.returningBuyers.mapValues { (agent: $0.agent, closedAt: $0.closedAt) },
                at: startedAt
            )
            if !repair.records.isEmpty { try await store.commit(repair.records) }
            return (store, recovered, core)
        }
        logger.info(
            "store recovered",
            metadata: [
                "open": "\(recovered.openConversations.count)", "next_conversation": "\(recovered.nextConversationID)",
            ])

        let (inputs, continuation) = AsyncStream<LoopInput>.makeStream()
        let mailbox = Mailbox(continuation: continuation)
        running.withLock { $0 = mailbox }
        defer { running.withLock { $0 = nil } }
        let maxLineBytes = configuration.server.maxLineBytes
        let idleTimeout = configuration.server.idleTimeoutSeconds.map { TimeAmount.milliseconds(Int64($0 * 1000)) }
        let initializer: @Sendable (Channel) -> EventLoopFuture<NIOAsyncChannel<InboundLine, ByteBuffer>> = { channel in
            channel.eventLoop.makeCompletedFuture {
                if let idleTimeout {
                    // A dead laptop sends nothing, not even a FIN: silence past the limit closes the connection.
                    try channel.pipeline.syncOperations.addHandler(IdleStateHandler(readTimeout: idleTimeout))
                    try channel.pipeline.syncOperations.addHandler(CloseWhenIdle())
                }
                try channel.pipeline.syncOperations.addHandler(
                    ByteToMessageHandler(LineFrameDecoder(maxLineBytes: maxLineBytes))
                )
                return try NIOAsyncChannel<InboundLine, ByteBuffer>(wrappingChannelSynchronously: channel)
            }
        }
        let bootstrap = ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .serverChannelOption(.backlog, value: 256)
            // A client that half-closes after its last command must still read the replies.
            .childChannelOption(.allowRemoteHalfClosure, value: true)
        // Socket activation (`kefud.socket`): systemd's listening socket, so connections made while kefud starts
        // wait in the kernel's backlog; otherwise `[server] listen`.
        let activated = activatedListener()
        let listener =
            if let activated {
                try await bootstrap.bind(activated.fd, childChannelInitializer: initializer)
            } else {
                try await bootstrap.bind(
                    host: configuration.server.listen.host, port: configuration.server.listen.port,
                    childChannelInitializer: initializer)
            }
        let port = listener.channel.localAddress?.port ?? configuration.server.listen.port
        let host = activated == nil ? configuration.server.listen.host : listener.channel.localAddress?.ipAddress ?? "?"
        let origin = activated.map { " (socket activation: \($0.name))" } ?? ""
        logger.info("listening", metadata: ["address": "\(host):\(port)\(origin)"])

        // The address goes into the first status so ops (and tests) can see where a port-0 listener landed.
        notifier.ready(status: "listening on \(host):\(port)\(origin); \(core.status.line)")
        // From here a SIGHUP reloads (kefud installs the handler); before, it would have nothing to apply to.
        readiness.fulfil(port)

        let housekeepingPeriod = min(notifier.watchdogInterval ?? .seconds(1), .seconds(1))
        let housekeeping = Task {
            while !Task.isCancelled {
                do { try await Task.sleep(for: housekeepingPeriod) } catch { return }
                mailbox.post(.housekeeping)
            }
        }
        defer { housekeeping.cancel() }

        let logger = self.logger
        let notifier = self.notifier
        let clock = self.clock
        let journal = self.journal
        let invariantCheck = self.invariantCheck
        let authenticator = Authenticator(configuration)
        let routedCore = core
        let breachRecordsPerSecond = configuration.sla.breachRecordsPerSecond
        let listening = "listening on \(host):\(port)\(origin)"
        try await withThrowingDiscardingTaskGroup { group in
            group.addTask {
                try await listener.executeThenClose { connections in
                    try await withThrowingDiscardingTaskGroup { sessions in
                        var next: UInt64 = 0
                        for try await connection in connections {
                            next += 1
                            let id = SessionID(rawValue: next)
                            sessions.addTask {
                                await Connection.serve(connection, id: id, mailbox: mailbox, logger: logger)
                            }
                        }
                    }
                }
            }
            group.addTask {
                // The routing owner lives inside this one task: nothing else can touch its state.
                let loop = RoutingLoop(
                    core: routedCore, store: store, mailbox: mailbox, clock: clock, authenticator: authenticator,
                    notifier: notifier, journal: journal, breachRecordsPerSecond: breachRecordsPerSecond,
                    logger: logger, listening: listening
                )
                loop.invariantCheck = invariantCheck
                try await loop.run(inputs)
            }
            group.addTask {
                // Graceful shutdown: stop accepting, then let the routing loop flush and say BYE.
                try? await gracefulShutdown()
                logger.info("stopping")
                notifier.stopping()
                try? await listener.channel.close()
                mailbox.post(.shutdown)
            }
        }
        // Flushing what the last moments wrote can take a while on a loaded disk: the same for TimeoutStopSec=.
        await timeoutExtension.during(notifier) { await store.shutdown() }
        logger.info("stopped")
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

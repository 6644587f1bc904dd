import Foundation
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

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// The daemon as a service: recover the store, bind the listener (or take it, and the connections the previous
/// process handed over, from systemd), report ready, route until asked to stop, then say BYE to every client and
/// flush the store, or, with systemd's file descriptor store, flush the store and hand every connection over.
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
    /// The descriptors systemd passed with their names: socket activation's listener (`kefud`), and what the previous
    /// process left in the file descriptor store (`kefud-listener`, `conn-<n>`).
    private let passedDescriptors: @Sendable () -> [(fd: Int32, name: String)]
    /// systemd's file descriptor store when it is enabled for kefud (`FileDescriptorStoreMax=`, `FDSTORE=`): a stop
    /// then hands the listener and every connection over instead of saying BYE, for the next process to take back.
    private let fileDescriptorStore: FileDescriptorStore?
    /// Set by ``stopForRestart()``: the stop under way is a restart, so the connections go to the file descriptor
    /// store instead of hearing BYE.
    private let restarting = Shared(false)
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
        let mailbox = running.withLock { $0 }
        guard let mailbox else {
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
        mailbox.post(.reload(outcome.mapError(ConfigurationLoadError.init)))
    }

    /// The `[server]` keys whose values differ (they need a restart; the rest of a reload applies at once).
    static func serverKeysChanged(from old: ServerSettings, to new: ServerSettings) -> [String] {
        var keys: [String] = []
        if old.listen != new.listen { keys.append("listen") }
        if old.stateDirectory != new.stateDirectory { keys.append("state_dir") }
        if old.maxLineBytes != new.maxLineBytes { keys.append("max_line_bytes") }
        if old.shutdownGraceSeconds != new.shutdownGraceSeconds { keys.append("shutdown_grace_s") }
        if old.idleTimeoutSeconds != new.idleTimeoutSeconds { keys.append("idle_timeout_s") }
        return keys
    }

    /// The stop that follows is a restart (systemd's `RestartKillSignal=SIGUSR2`, see kefud): with the file
    /// descriptor store enabled, the listener and every connection are handed over to the next process. A stop
    /// without this (SIGTERM: `systemctl stop`) says BYE to every client and closes.
    public func stopForRestart() {
        restarting.value.withLock { $0 = true }
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
            // Returning buyers within the sticky window go back to their agent after a restart too. Read on the
            // store's thread without blocking this one: the extender above needs a thread to say "still at it".
            let since = startedAt + Milliseconds(-policy.rules.stickyWindow.value)
            let recovered = try await store.read { try $0.recoveredState(returningBuyersSince: since) }
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
        let framed: @Sendable (Channel, LineFraming) -> EventLoopFuture<NIOAsyncChannel<ConnectionInput, ByteBuffer>> =
            {
                channel, framing in
                channel.eventLoop.makeCompletedFuture {
                    if let idleTimeout {
                        // A dead laptop sends nothing, not even a FIN: silence past the limit closes the connection.
                        try channel.pipeline.syncOperations.addHandler(IdleStateHandler(readTimeout: idleTimeout))
                        try channel.pipeline.syncOperations.addHandler(CloseWhenIdle())
                    }
                    try channel.pipeline.syncOperations.addHandler(framing)
                    return try NIOAsyncChannel<ConnectionInput, ByteBuffer>(wrappingChannelSynchronously: channel)
                }
            }
        let initializer: @Sendable (Channel) -> EventLoopFuture<NIOAsyncChannel<ConnectionInput, ByteBuffer>> = {
            framed($0, LineFraming(maxLineBytes: maxLineBytes))
        }
        let bootstrap = ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .serverChannelOption(.backlog, value: 256)
            // A client that half-closes after its last command must still read the replies.
            .childChannelOption(.allowRemoteHalfClosure, value: true)
        let passed = PassedDescriptors(passedDescriptors(), logger: logger)
        // Socket activation (`kefud.socket`): systemd's listening socket, so connections made while kefud starts
        // wait in the kernel's backlog; else the one the previous process left in the file descriptor store; else
        // `[server] listen`.
        let configured = configuration.server.listen
        var activated = passed.activated ?? passed.stored
        var bound =
            if let activated {
                try await bootstrap.bind(activated.fd, childChannelInitializer: initializer)
            } else {
                try await bootstrap.bind(
                    host: configured.host, port: configured.port, childChannelInitializer: initializer)
            }
        if let stored = passed.stored, passed.activated == nil,
            let address = bound.channel.localAddress,
            address.ipAddress != configured.host || (configured.port != 0 && address.port != configured.port)
        {
            // `[server] listen` changed (or names the host otherwise) since the listener was stored: the setting wins.
            logger.notice(
                "the listener kept by systemd is not [server] listen any more; binding that",
                metadata: ["kept": "\(address)", "listen": "\(configured)"])
            try? await bound.channel.close()
            FileDescriptorStore().remove(name: stored.name)
            FileDescriptorStore().barrier()
            activated = nil
            bound = try await bootstrap.bind(
                host: configured.host, port: configured.port, childChannelInitializer: initializer)
        }
        let listener = bound
        let fromStore = activated != nil && passed.activated == nil
        let port = listener.channel.localAddress?.port ?? configuration.server.listen.port
        let host = activated == nil ? configuration.server.listen.host : listener.channel.localAddress?.ipAddress ?? "?"
        let origin =
            passed.activated.map { " (socket activation: \($0.name))" }
            ?? (fromStore ? " (file descriptor store: \(HandoverFile.listenerName))" : "")
        logger.info("listening", metadata: ["address": "\(host):\(port)\(origin)"])

        // The connections the previous process handed over, taken back before READY=1.
        var takenOver: HandoverFile?
        do {
            takenOver = try HandoverFile.take(from: stateDirectory)
        } catch {
            logger.error(
                "hand-over records unreadable; connections handed over are closed", metadata: ["error": "\(error)"])
        }
        let records = Dictionary(
            (takenOver?.connections ?? []).map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        var adopted: [(NIOAsyncChannel<ConnectionInput, ByteBuffer>, HandedOverSession)] = []
        for (name, fd) in passed.connections.sorted(by: { $0.key < $1.key }) {
            // Out of the store now: a later restart must not find a connection that has ended since.
            FileDescriptorStore().remove(name: name)
            guard let record = records[name] else {
                logger.warning("connection without a session record closed", metadata: ["fd_name": "\(name)"])
                close(fd)
                continue
            }
            let leftover = Array(record.leftover)
            let discarding = record.discarding
            do {
                let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                    .channelOption(.allowRemoteHalfClosure, value: true)
                    .withConnectedSocket(fd) {
                        framed($0, LineFraming(maxLineBytes: maxLineBytes, leftover: leftover, discarding: discarding))
                    }
                adopted.append((channel, record.session))
            } catch {
                // Not closed here: NIO may own the descriptor already, and closing it twice could close another one.
                logger.warning(
                    "connection could not be taken over", metadata: ["fd_name": "\(name)", "error": "\(error)"])
            }
        }
        if let takenOver, passed.connections.isEmpty {
            // systemd closes the stored connections when kefud stops for good: the records are of no use then.
            logger.info(
                "the previous process handed its connections over but none came back (a stop, not a restart)",
                metadata: ["records": "\(takenOver.connections.count)", "from_pid": "\(takenOver.pid)"])
        } else if let takenOver {
            for record in takenOver.connections where passed.connections[record.name] == nil {
                logger.warning(
                    "session record without its connection ignored (closed meanwhile, or beyond FileDescriptorStoreMax=)",
                    metadata: ["fd_name": "\(record.name)"])
            }
            logger.info(
                "connections taken over from the previous process",
                metadata: [
                    "count": "\(adopted.count)", "records": "\(takenOver.connections.count)",
                    "from_pid": "\(takenOver.pid)",
                ])
        }

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
        // Connections can be handed over when systemd keeps descriptors for kefud; they are when the stop is a restart.
        let handingOver = fileDescriptorStore != nil
        let restarting = self.restarting
        let socketActivated = passed.activated != nil
        let collector = HandoverCollector()
        let handover = Shared<HandoverState?>(nil)
        let storedListener = Shared<Int32?>(nil)
        let handOverRequested = Shared(false)
        let adoptedChannels = adopted
        let takenOverFile = takenOver
        try await withThrowingDiscardingTaskGroup { group in
            group.addTask {
                try await listener.executeThenClose { connections in
                    try await withThrowingDiscardingTaskGroup { sessions in
                        var next: UInt64 = 0
                        for (channel, record) in adoptedChannels {
                            next += 1
                            let id = SessionID(rawValue: next)
                            let (outbox, outgoing) = Connection.announce(
                                channel, id: id, mailbox: mailbox, adopting: record)
                            sessions.addTask {
                                await Connection.serve(
                                    channel, id: id, outbox: outbox, outgoing: outgoing, mailbox: mailbox,
                                    logger: logger, handedOver: handingOver ? collector : nil)
                            }
                        }
                        for try await connection in connections {
                            next += 1
                            let id = SessionID(rawValue: next)
                            let (outbox, outgoing) = Connection.announce(connection, id: id, mailbox: mailbox)
                            sessions.addTask {
                                await Connection.serve(
                                    connection, id: id, outbox: outbox, outgoing: outgoing, mailbox: mailbox,
                                    logger: logger, handedOver: handingOver ? collector : nil)
                            }
                        }
                        // The listener is closed and every connection it accepted announced: the routing owner may
                        // hand them over now, none can come after.
                        if handOverRequested.value.withLock({ $0 }) { mailbox.post(.handOver) }
                    }
                }
                // Every connection has ended or been handed over: the routing owner has nothing more to wait for.
                if handOverRequested.value.withLock({ $0 }) { mailbox.finish() }
            }
            group.addTask {
                // The routing owner lives inside this one task: nothing else can touch its state.
                let loop = RoutingLoop(
                    core: routedCore, store: store, mailbox: mailbox, clock: clock, authenticator: authenticator,
                    notifier: notifier, journal: journal, breachRecordsPerSecond: breachRecordsPerSecond,
                    logger: logger, listening: listening, takenOver: takenOverFile
                )
                loop.invariantCheck = invariantCheck
                let state = try await loop.run(inputs)
                handover.value.withLock { $0 = state }
            }
            group.addTask {
                try? await gracefulShutdown()
                notifier.stopping()
                guard handingOver, restarting.value.withLock({ $0 }) else {
                    // Graceful shutdown: stop accepting, then let the routing loop flush and say BYE.
                    logger.info("stopping")
                    try? await listener.channel.close()
                    mailbox.post(.shutdown)
                    return
                }
                // A stop that keeps the connections (systemd closes them if it is not a restart): the listener too,
                // unless systemd's socket unit holds it anyway; connections made meanwhile wait in its backlog.
                logger.info("stopping: handing the connections over to systemd")
                if !socketActivated {
                    let channel = listener.channel
                    let fd = try? await channel.eventLoop.submit {
                        try channel.pipeline.syncOperations.withUnsafeTransportIfAvailable(
                            of: NIOBSDSocket.Handle.self
                        ) { fcntl($0, F_DUPFD_CLOEXEC, 0) }
                    }.get()
                    storedListener.value.withLock { $0 = fd.flatMap { $0 } }
                }
                // The listener task posts the hand-over once it has stopped accepting.
                handOverRequested.value.withLock { $0 = true }
                try? await listener.channel.close()
            }
        }
        // Flushing what the last moments wrote can take a while on a loaded disk: the same for TimeoutStopSec=.
        await timeoutExtension.during(notifier) { await store.shutdown() }
        if let fileDescriptorStore, let state = handover.value.withLock({ $0 }) {
            handOver(
                state, connections: collector.take(), listener: storedListener.value.withLock { $0 },
                to: fileDescriptorStore)
        }
        logger.info("stopped")
    }

    /// Writes the sessions' records next to the store, then gives systemd the listener and every connection; the
    /// barrier makes sure systemd has them before this process exits.
    private func handOver(
        _ state: HandoverState, connections: [SessionID: DetachedConnection], listener: Int32?,
        to store: FileDescriptorStore
    ) {
        var file = HandoverFile(
            pid: getpid(), connections: [], undelivered: state.undelivered, customerGateways: state.customerGateways)
        for (session, connection) in connections.sorted(by: { $0.key.rawValue < $1.key.rawValue }) {
            guard let record = state.sessions[session] else {
                close(connection.fd)
                continue
            }
            file.connections.append(
                .init(
                    name: HandoverFile.connectionPrefix + "\(session.rawValue)", session: record,
                    leftover: Data(connection.leftover), discarding: connection.discarding))
        }
        do {
            try file.write(to: stateDirectory)
        } catch {
            // Without the records the next process could not tell who is on which connection: keep none.
            logger.error("hand-over records not written; connections closed", metadata: ["error": "\(error)"])
            for connection in connections.values { close(connection.fd) }
            return
        }
        var stored = 0
        if let listener {
            store.store(listener, name: HandoverFile.listenerName)
            close(listener)
        }
        for (session, connection) in connections.sorted(by: { $0.key.rawValue < $1.key.rawValue }) {
            if state.sessions[session] != nil,
                store.store(connection.fd, name: HandoverFile.connectionPrefix + "\(session.rawValue)")
            {
                stored += 1
            }
            close(connection.fd)
        }
        store.barrier()
        logger.notice(
            "connections handed over to systemd's file descriptor store",
            metadata: ["event": "connections_handed_over", "count": "\(stored)"])
    }
}

/// The descriptors systemd passed at start, sorted by name. Anything else is closed.
struct PassedDescriptors {
    /// `kefud.socket`'s listener (`FileDescriptorName=kefud`).
    var activated: (fd: Int32, name: String)?
    /// The listener the previous process bound itself and left in the file descriptor store.
    var stored: (fd: Int32, name: String)?
    /// Client connections left in the file descriptor store, by `FDNAME=`.
    var connections: [String: Int32] = [:]

    init(_ descriptors: [(fd: Int32, name: String)], logger: Logger) {
        var listeners: [(fd: Int32, name: String)] = []
        for descriptor in descriptors {
            if descriptor.name.hasPrefix(HandoverFile.connectionPrefix) {
                connections[descriptor.name] = descriptor.fd
            } else if descriptor.name == HandoverFile.listenerName, stored == nil {
                stored = descriptor
            } else {
                listeners.append(descriptor)
            }
        }
        // `kefud` by name, else whatever a socket unit without FileDescriptorName= passed first.
        activated = listeners.first { $0.name == "kefud" } ?? listeners.first
        for descriptor in listeners where descriptor.fd != activated?.fd {
            logger.warning("unexpected descriptor closed", metadata: ["fd_name": "\(descriptor.name)"])
            close(descriptor.fd)
        }
        if activated != nil, let stored {
            // The socket unit holds the listener: a stored one (from a start without it) is not needed any more.
            close(stored.fd)
            FileDescriptorStore().remove(name: stored.name)
            self.stored = nil
        }
    }
}

/// A value the daemon's tasks share.
final class Shared<Value: Sendable>: Sendable {
    let value: Mutex<Value>
    init(_ initial: Value) { value = Mutex(initial) }
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

import KefuCore
import KefuStore
import Logging
import KefuSystemd
import NIOCore
import NIOPosix
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// What the daemon serves with: the listening channel, the routing owner its connections talk to, and what a stop
/// needs to know.
final class Serving: Sendable {
    let listener: any Channel
    let owner: OwnerLink
    /// Completed when the owner is done (with the sessions to hand over, for a restart).
    let done: EventLoopFuture<RestartCarryOver.Sessions?>
    let port: Int
    /// `listening on <host>:<port>[ (socket activation: …)]`, for `STATUS=`.
    let listening: String
    let socketActivated: Bool
    let sessions: SessionCounter
    /// A duplicate of the listener kefud bound itself, for systemd's file descriptor store when a restart hands it
    /// over (a socket-activated listener stays with `kefud.socket`).
    let storedListener: Mutex<Int32?>
    let collector = RestartCarryOver.Collector()

    init(
        listener: any Channel, owner: OwnerLink, done: EventLoopFuture<RestartCarryOver.Sessions?>, port: Int,
        listening: String, socketActivated: Bool, sessions: SessionCounter, storedListener: Int32?
    ) {
        self.listener = listener
        self.owner = owner
        self.done = done
        self.port = port
        self.listening = listening
        self.socketActivated = socketActivated
        self.sessions = sessions
        self.storedListener = Mutex(storedListener)
    }
}

/// Numbers connections in the order they arrive, from 1, for the life of the process.
final class SessionCounter: Sendable {
    private let last = Atomic<UInt64>(0)

    func next() -> SessionID { SessionID(rawValue: last.add(1, ordering: .relaxed).newValue) }
}

extension KefuDaemon {
    /// Starts the shop's routing owner on `loop`, takes back the connections the previous process handed over, then
    /// binds the listener: socket activation's (`kefud.socket`: connections made while kefud starts wait in the
    /// kernel's backlog), else the one the previous process left in the file descriptor store, else `[server]
    /// listen`.
    func listen(
        census: ConnectionCensus, loop: any EventLoop, store: ConversationStore, core: RoutingCore,
        carried: RestartCarryOver.File?
    ) async throws -> Serving {
        let passed = PassedDescriptors(passedDescriptors(), logger: logger)
        let (owner, done) = try await startOwner(on: loop, store: store, core: core, carried: carried)
        let sessions = SessionCounter()
        await takeOver(passed.connections, records: carried, census: census, owner: owner, sessions: sessions)

        let limits = connectionLimits
        let logger = self.logger
        // Connections live on the owner's loop: a line reaches the owner, and a reply its connection, without a
        // thread hop (the other core commits to SQLite). A node with many shops will spread owners over loops.
        let bootstrap = ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton, childGroup: loop)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .serverChannelOption(.backlog, value: 256)
            // A client that half-closes after its last command must still read the replies.
            .childChannelOption(.allowRemoteHalfClosure, value: true)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let connection = ClientConnection(
                        session: sessions.next(), owner: owner, limits: limits, census: census, logger: logger)
                    try channel.pipeline.syncOperations.addHandler(connection)
                    owner.post(.connected(connection.link(on: channel.eventLoop)))
                }
            }
        let configured = configuration.server.listen
        var activated = passed.activated ?? passed.stored
        var listener =
            if let activated {
                try await bootstrap.withBoundSocket(activated.fd).get()
            } else {
                try await bootstrap.bind(host: configured.host, port: configured.port).get()
            }
        if let stored = passed.stored, passed.activated == nil,
            let address = listener.localAddress,
            address.ipAddress != configured.host || (configured.port != 0 && address.port != configured.port)
        {
            // `[server] listen` changed (or names the host otherwise) since the listener was stored: the setting wins.
            logger.notice(
                "the listener kept by systemd is not [server] listen any more; binding that",
                metadata: ["kept": "\(address)", "listen": "\(configured)"])
            try? await listener.close()
            FileDescriptorStore().remove(name: stored.name)
            FileDescriptorStore().barrier()
            activated = nil
            listener = try await bootstrap.bind(host: configured.host, port: configured.port).get()
        }
        let fromStore = activated != nil && passed.activated == nil
        let port = listener.localAddress?.port ?? configured.port
        let host = activated == nil ? configured.host : listener.localAddress?.ipAddress ?? "?"
        let origin =
            passed.activated.map { " (socket activation: \($0.name))" }
            ?? (fromStore ? " (file descriptor store: \(RestartCarryOver.File.listenerName))" : "")
        logger.info("listening", metadata: ["address": "\(host):\(port)\(origin)"])
        let listening = "listening on \(host):\(port)\(origin)"
        let ownerRef = owner.owner
        try await loop.submit { ownerRef.value.listening = listening }.get()
        var duplicate: Int32?
        if passed.activated == nil && fileDescriptorStore != nil {
            let bound = listener
            duplicate = try await bound.eventLoop.submit {
                try bound.pipeline.syncOperations.withUnsafeTransportIfAvailable(of: NIOBSDSocket.Handle.self) {
                    fcntl($0, F_DUPFD_CLOEXEC, 0)
                }
            }.get()
        }
        return Serving(
            listener: listener, owner: owner, done: done, port: port, listening: listening,
            socketActivated: passed.activated != nil, sessions: sessions, storedListener: duplicate)
    }

    /// The routing owner, made on its loop: the only holder of the shop's routing state from here on.
    private func startOwner(
        on loop: any EventLoop, store: ConversationStore, core: RoutingCore, carried: RestartCarryOver.File?
    ) async throws -> (OwnerLink, EventLoopFuture<RestartCarryOver.Sessions?>) {
        let (clock, notifier, journal, logger, check) = (clock, notifier, journal, logger, invariantCheck)
        let authenticator = Authenticator(configuration)
        let breachRecordsPerSecond = configuration.sla.breachRecordsPerSecond
        let keptEventBytes = configuration.server.keptEventBytes
        return try await loop.submit {
            let owner = ShopOwner(
                loop: loop, core: core, store: store, clock: clock, authenticator: authenticator, notifier: notifier,
                journal: journal, breachRecordsPerSecond: breachRecordsPerSecond, keptEventBytes: keptEventBytes,
                logger: logger, carried: carried)
            owner.invariantCheck = check
            return (owner.link, owner.done.futureResult)
        }.get()
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
            if descriptor.name.hasPrefix(RestartCarryOver.File.connectionPrefix) {
                connections[descriptor.name] = descriptor.fd
            } else if descriptor.name == RestartCarryOver.File.listenerName, stored == nil {
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

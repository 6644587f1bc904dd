import KefuMetrics
import KefuConfig
import KefuCore
import KefuStore
import Logging
import KefuSystemd
import KefuTLS
import NIOCore
import NIOPosix
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// One shop served: its routing owner and store.
struct ServedShop: Sendable {
    let name: String
    let owner: OwnerLink
    let store: any RecordStore
    /// Completed when the owner is done (with the sessions to hand over, for a restart).
    let done: EventLoopFuture<RestartCarryOver.Sessions?>
}

/// What the daemon serves with: the listening channel, the shops' routing owners its connections talk to, and what
/// a stop needs to know.
final class Serving: Sendable {
    /// `[server] listen`'s listener (nil when only `listen_tls` is configured).
    let listener: (any Channel)?
    /// `[server] listen_tls`'s listener: its connections are TLS, and a restart tells them to reconnect.
    let tlsListener: (any Channel)?
    let shops: Mutex<[ServedShop]>
    /// The owner every connection starts with (shop `default`'s, else the first shop's): it answers the lines before
    /// `LOGIN`, and hands the connection to the owner of the shop its `LOGIN` names.
    let lobby: OwnerLink
    let directory: ShopDirectory
    /// The plaintext listener's port, else the TLS listener's.
    let port: Int
    /// The TLS listener's port (nil without `listen_tls`).
    let tlsPort: Int?
    /// `listening on <host>:<port>[ (socket activation: …)]`, for `STATUS=`.
    let listening: String
    let socketActivated: Bool
    let sessions: SessionCounter
    /// Every client connection, TCP or WebSocket.
    let census: ConnectionCensus
    /// A duplicate of the listener kefud bound itself, for systemd's file descriptor store when a restart hands it
    /// over (a socket-activated listener stays with `kefud.socket`).
    let storedListener: Mutex<Int32?>
    let collector = RestartCarryOver.Collector()

    init(
        listener: (any Channel)?, tlsListener: (any Channel)?, shops: [ServedShop], lobby: OwnerLink,
        directory: ShopDirectory, port: Int, tlsPort: Int?, listening: String, socketActivated: Bool,
        sessions: SessionCounter, census: ConnectionCensus, storedListener: Int32?
    ) {
        self.listener = listener
        self.tlsListener = tlsListener
        self.tlsPort = tlsPort
        self.shops = Mutex(shops)
        self.lobby = lobby
        self.directory = directory
        self.port = port
        self.listening = listening
        self.socketActivated = socketActivated
        self.sessions = sessions
        self.census = census
        self.storedListener = Mutex(storedListener)
    }

    /// Stops accepting connections on every listener.
    func closeListeners() {
        listener?.close(promise: nil)
        tlsListener?.close(promise: nil)
    }

    /// Posts `input` to every shop's owner.
    func postToEveryShop(_ input: OwnerInput) {
        for shop in shops.withLock({ $0 }) { shop.owner.post(input) }
    }
}

/// Numbers connections in the order they arrive, from 1, for the life of the process.
final class SessionCounter: Sendable {
    private let last = Atomic<UInt64>(0)

    func next() -> SessionID { SessionID(rawValue: last.add(1, ordering: .relaxed).newValue) }
}

extension KefuDaemon {
    /// Starts each shop's routing owner on a loop of its own (round the loops, one per core), takes back the
    /// connections the previous process handed over, then binds the listener: socket activation's (`kefud.socket`:
    /// connections made while kefud starts wait in the kernel's backlog), else the one the previous process left in
    /// the file descriptor store, else `[server] listen`.
    func listen(
        census: ConnectionCensus,
        shops recovered: [(name: String, configuration: KefuConfiguration, store: any RecordStore, core: RoutingCore)],
        carried: RestartCarryOver.File?, spreadConnections: Bool = false
    ) async throws -> Serving {
        let passed = PassedDescriptors(passedDescriptorsOnce(), logger: logger)
        let directory = ShopDirectory()
        var shops: [ServedShop] = []
        for shop in recovered {
            let loop = MultiThreadedEventLoopGroup.singleton.next()
            let (owner, done) = try await startOwner(
                shop.name, shop.configuration, on: loop, store: shop.store, core: shop.core, directory: directory,
                carried: carried?.kept(of: shop.name), keptAtStop: keptAtStop)
            directory.add(shop.name, owner)
            shops.append(ServedShop(name: shop.name, owner: owner, store: shop.store, done: done))
        }
        let lobby = shops[0].owner
        let sessions = SessionCounter()
        await takeOver(passed.connections, records: carried, census: census, directory: directory, sessions: sessions)

        let limits = connectionLimits
        let logger = self.logger
        // With one shop, connections live on its owner's loop: a line reaches the owner, and a reply its connection,
        // without a thread hop (the other core commits to SQLite). With more, connections spread over the loops as
        // the owners do; a connection's lines then reach its shop's owner through that owner's loop.
        let childGroup: any EventLoopGroup =
            shops.count == 1 && !spreadConnections ? lobby.loop : MultiThreadedEventLoopGroup.singleton
        /// TLS connections start with the handshake, and are not handed to the next process at a restart: their
        /// keys live in this one (they hear `* BYE reason=restart` and reconnect).
        func bootstrap(tls: TLSListenerContext?) -> ServerBootstrap {
            ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton, childGroup: childGroup)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .serverChannelOption(.backlog, value: 256)
                // A client that half-closes after its last command must still read the replies.
                .childChannelOption(.allowRemoteHalfClosure, value: true)
                .childChannelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        let pipeline = channel.pipeline.syncOperations
                        if let tls {
                            try pipeline.addHandler(tls.serverHandler())
                            try pipeline.addHandler(TLSHandshakeFailures(logger: logger))
                        }
                        let connection = ClientConnection(
                            session: sessions.next(), owner: lobby, limits: limits, census: census, logger: logger,
                            carriesOver: tls == nil)
                        try pipeline.addHandler(connection)
                        lobby.post(.connected(connection.link(on: channel.eventLoop)))
                    }
                }
        }
        var listener: (any Channel)?
        var activated = passed.activated ?? passed.stored
        var duplicate: Int32?
        var listening: [String] = []
        if server.listensPlaintext {
            let bootstrap = bootstrap(tls: nil)
            let configured = server.listen
            var bound =
                if let activated {
                    try await bootstrap.withBoundSocket(activated.fd).get()
                } else {
                    try await bootstrap.bind(host: configured.host, port: configured.port).get()
                }
            if let stored = passed.stored, passed.activated == nil,
                let address = bound.localAddress,
                address.ipAddress != configured.host || (configured.port != 0 && address.port != configured.port)
            {
                // `[server] listen` changed (or names the host otherwise) since the listener was stored: the setting
                // wins.
                logger.notice(
                    "the listener kept by systemd is not [server] listen any more; binding that",
                    metadata: ["kept": "\(address)", "listen": "\(configured)"])
                try? await bound.close()
                FileDescriptorStore().remove(name: stored.name)
                FileDescriptorStore().barrier()
                activated = nil
                bound = try await bootstrap.bind(host: configured.host, port: configured.port).get()
            }
            let fromStore = activated != nil && passed.activated == nil
            let port = bound.localAddress?.port ?? configured.port
            let host = activated == nil ? configured.host : bound.localAddress?.ipAddress ?? "?"
            let origin =
                passed.activated.map { " (socket activation: \($0.name))" }
                ?? (fromStore ? " (file descriptor store: \(RestartCarryOver.File.listenerName))" : "")
            logger.info("listening", metadata: ["address": "\(host):\(port)\(origin)"])
            listening.append("listening on \(host):\(port)\(origin)")
            if passed.activated == nil && fileDescriptorStore != nil {
                let bound = bound
                duplicate = try await bound.eventLoop.submit {
                    try bound.pipeline.syncOperations.withUnsafeTransportIfAvailable(of: NIOBSDSocket.Handle.self) {
                        fcntl($0, F_DUPFD_CLOEXEC, 0)
                    }
                }.get()
            }
            listener = bound
        } else {
            for unused in [passed.activated, passed.stored].compactMap({ $0 }) {
                // Plaintext was turned off since: nothing listens there any more.
                close(unused.fd)
                if unused.name == RestartCarryOver.File.listenerName {
                    FileDescriptorStore().remove(name: unused.name)
                    FileDescriptorStore().barrier()
                }
            }
        }
        var tlsListener: (any Channel)?
        if let tls = server.tls, let context = tlsContext(.server) {
            let bootstrap = bootstrap(tls: context)
            let bound =
                if let socket = passed.activatedTLS {
                    try await bootstrap.withBoundSocket(socket.fd).get()
                } else {
                    try await bootstrap.bind(host: tls.listen.host, port: tls.listen.port).get()
                }
            let port = bound.localAddress?.port ?? tls.listen.port
            let host = passed.activatedTLS == nil ? tls.listen.host : bound.localAddress?.ipAddress ?? "?"
            let origin = passed.activatedTLS.map { " (socket activation: \($0.name))" } ?? ""
            logger.info("listening for TLS", metadata: ["address": "\(host):\(port)\(origin)"])
            listening.append("TLS on \(host):\(port)\(origin)")
            tlsListener = bound
        } else if let unused = passed.activatedTLS {
            logger.warning("a TLS listener was passed but [server] listen_tls is not set; closed")
            close(unused.fd)
        }
        let summary = listening.joined(separator: ", ")
        notifier.listening(summary)
        let tlsPort = tlsListener?.localAddress?.port
        return Serving(
            listener: listener, tlsListener: tlsListener, shops: shops, lobby: lobby, directory: directory,
            port: listener?.localAddress?.port ?? tlsPort ?? 0, tlsPort: tlsPort, listening: summary,
            socketActivated: passed.activated != nil, sessions: sessions, census: census, storedListener: duplicate)
    }

    /// A shop's routing owner, made on its loop: the only holder of the shop's routing state from here on.
    func startOwner(
        _ shop: String, _ configuration: KefuConfiguration, on loop: any EventLoop, store: any RecordStore,
        core: RoutingCore, directory: ShopDirectory, carried: RestartCarryOver.Kept?,
        onStoreFailure: (@Sendable (String) -> Void)? = nil, keptAtStop: RestartCarryOver.KeptAtStop? = nil
    ) async throws -> (OwnerLink, EventLoopFuture<RestartCarryOver.Sessions?>) {
        let (clock, check, loginGuard) = (clock, invariantCheck, loginGuard)
        let notifier = self.notifier.forShop(shop)
        let journal = self.journal.forShop(shop)
        var logger = self.logger
        logger[metadataKey: "shop"] = "\(shop)"
        let authenticator = Authenticator(configuration)
        let breachRecordsPerSecond = configuration.sla.breachRecordsPerSecond
        let keptEventBytes = server.keptEventBytes
        let (nodeMetrics, assigned) = (metrics, core.openConversations(where: { $0.state == .assigned }).map(\.id))
        let retention = RetentionSweeper(
            settings: configuration.retention, journal: configuration.replay, store: store, clock: clock,
            schedule: retentionSchedule, logger: logger)
        return try await loop.submit { [logger] in
            let metrics = ShopMetrics(node: nodeMetrics, shop: shop, assigned: assigned, exposed: shop != Lobby.name)
            let owner = ShopOwner(
                shop: shop, directory: directory, loop: loop, core: core, store: store, clock: clock,
                authenticator: authenticator, notifier: notifier, journal: journal,
                breachRecordsPerSecond: breachRecordsPerSecond, keptEventBytes: keptEventBytes, metrics: metrics,
                logger: logger, carried: carried)
            owner.invariantCheck = check
            owner.loginGuard = loginGuard
            owner.keptAtStop = keptAtStop
            owner.onStoreFailure = onStoreFailure
            owner.retention = retention
            // The lobby of a cluster node routes nobody: no journal.
            owner.recordsInputs = configuration.replay.isEnabled && shop != Lobby.name
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
    /// `kefud-tls.socket`'s listener (`FileDescriptorName=kefud-tls`), for `[server] listen_tls`.
    var activatedTLS: (fd: Int32, name: String)?
    /// Client connections left in the file descriptor store, by `FDNAME=`.
    var connections: [String: Int32] = [:]

    init(_ descriptors: [(fd: Int32, name: String)], logger: Logger) {
        var listeners: [(fd: Int32, name: String)] = []
        for descriptor in descriptors {
            if RestartCarryOver.File.httpNames.contains(descriptor.name) {
                continue  // the HTTP listener's: `startHTTP` took it
            } else if descriptor.name == RestartCarryOver.File.tlsActivatedName {
                activatedTLS = descriptor
            } else if descriptor.name.hasPrefix(RestartCarryOver.File.connectionPrefix) {
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

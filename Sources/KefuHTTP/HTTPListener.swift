import KefuConfig
import KefuTLS
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

/// kefud's HTTP listener (`[http] listen`): HTTP/1.1 on NIO's own HTTP codec, with the answers of
/// `HTTPEndpoints`. Our own small server rather than a framework's: a handful of paths, and Hummingbird or Vapor
/// would add minutes to every cold build.
public final class HTTPListener: Sendable {
    /// Idle keep-alive connections are closed after this long: nothing of a client's is kept by the daemon for ever.
    static let idleTimeout = TimeAmount.seconds(60)

    private let listener: any Channel
    private let connections: OpenConnections

    /// The bound address (with the port the system chose for port 0).
    public var localAddress: SocketAddress? { listener.localAddress }

    private init(listener: any Channel, connections: OpenConnections) {
        self.listener = listener
        self.connections = connections
    }

    /// Binds `address`; `isReady` answers `/readyz`, `metrics` (when given) `/metrics`, `webSocket` (when given)
    /// `/ws`.
    public static func bind(
        _ address: ListenAddress, group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        metrics: MetricsSource? = nil, webSocket: WebSocketService? = nil, pages: StaticPages? = nil,
        boundSocket: Int32? = nil, tls: TLSListenerContext? = nil, logger: Logger? = nil,
        isReady: @escaping @Sendable () -> Bool
    ) async throws -> HTTPListener {
        let connections = OpenConnections()
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .serverChannelOption(.backlog, value: 256)
            .childChannelInitializer { channel in
                connections.add(channel)
                return channel.eventLoop.makeCompletedFuture {
                    let pipeline = channel.pipeline.syncOperations
                    if let tls {
                        // HTTPS, and `wss:` for /ws: the handshake comes first; the rest is the same.
                        try pipeline.addHandler(tls.serverHandler())
                        if let logger { try pipeline.addHandler(TLSHandshakeFailures(logger: logger)) }
                    }
                    try pipeline.addHandler(IdleStateHandler(allTimeout: idleTimeout), name: httpOnlyHandlers[0])
                    try pipeline.addHandler(CloseWhenIdle(), name: httpOnlyHandlers[1])
                    let upgrade: NIOHTTPServerUpgradeConfiguration? = webSocket.map { service in
                        (upgraders: [service.upgrader()], completionHandler: { _ in })
                    }
                    try pipeline.configureHTTPServerPipeline(withServerUpgrade: upgrade, withErrorHandling: true)
                    let endpoints = HTTPEndpoints(
                        isReady: isReady, metrics: metrics, hasWebSocket: webSocket != nil, pages: pages)
                    try pipeline.addHandler(endpoints, name: httpOnlyHandlers[2])
                }
            }
        // A socket systemd passed (socket activation, or the previous process's listener kept in its store).
        let listener =
            if let boundSocket {
                try await bootstrap.withBoundSocket(boundSocket).get()
            } else {
                try await bootstrap.bind(host: address.host, port: address.port).get()
            }
        return HTTPListener(listener: listener, connections: connections)
    }

    /// A duplicate of the listening socket, for systemd's file descriptor store at a restart (the caller closes it).
    public func duplicateDescriptor() async -> Int32? {
        let listener = self.listener
        return try? await listener.eventLoop.submit {
            try listener.pipeline.syncOperations.withUnsafeTransportIfAvailable(of: NIOBSDSocket.Handle.self) {
                fcntl($0, F_DUPFD_CLOEXEC, 0)
            }
        }.get()
    }

    /// Handlers only plain HTTP uses, by name: a WebSocket upgrade takes them out (the line protocol has its own
    /// idle rule).
    static let httpOnlyHandlers = ["http-idle", "http-close-when-idle", "http-endpoints"]

    /// Stops listening and closes every connection; returns once the listener is closed.
    public func close() async {
        try? await listener.close()
        connections.closeAll()
    }
}

/// The HTTP connections open, so that a stop can close them.
private final class OpenConnections: Sendable {
    private let open = Mutex<[ObjectIdentifier: any Channel]>([:])

    func add(_ channel: any Channel) {
        let key = ObjectIdentifier(channel)
        open.withLock { $0[key] = channel }
        channel.closeFuture.whenComplete { [self] _ in _ = open.withLock { $0.removeValue(forKey: key) } }
    }

    func closeAll() {
        for channel in open.withLock({ Array($0.values) }) { channel.close(promise: nil) }
    }
}

/// Closes a connection that has been idle for `HTTPListener.idleTimeout`.
private final class CloseWhenIdle: ChannelInboundHandler, Sendable {
    typealias InboundIn = NIOAny

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is IdleStateHandler.IdleStateEvent {
            context.close(promise: nil)
        } else {
            context.fireUserInboundEventTriggered(event)
        }
    }
}

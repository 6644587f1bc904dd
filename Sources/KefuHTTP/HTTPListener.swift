import KefuConfig
import NIOCore
import NIOHTTP1
import NIOPosix

/// kefud's HTTP listener (`[http] listen`): HTTP/1.1 on NIO's own HTTP codec, with the answers of
/// `HealthEndpoints`. Our own small server rather than a framework's: a handful of paths, and Hummingbird or Vapor
/// would add minutes to every cold build.
public enum HTTPListener {
    /// Idle keep-alive connections are closed after this long: nothing of a client's is kept by the daemon for ever.
    static let idleTimeout = TimeAmount.seconds(60)

    /// Binds `address`; `isReady` answers `/readyz`.
    public static func bind(
        _ address: ListenAddress, group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        isReady: @escaping @Sendable () -> Bool
    ) async throws -> any Channel {
        try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .serverChannelOption(.backlog, value: 256)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let pipeline = channel.pipeline.syncOperations
                    try pipeline.addHandler(IdleStateHandler(allTimeout: idleTimeout))
                    try pipeline.addHandler(CloseWhenIdle())
                    try pipeline.configureHTTPServerPipeline(withErrorHandling: true)
                    try pipeline.addHandler(HealthEndpoints(isReady: isReady))
                }
            }
            .bind(host: address.host, port: address.port).get()
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

import NIOCore
import NIOPosix
import Synchronization

/// Sends `request` (raw HTTP/1.1) to `127.0.0.1:port` and returns everything the server wrote until it closed the
/// connection (end the request with `Connection: close`), or throws after `timeout`.
public func httpExchange(_ port: Int, _ request: String, timeout: Duration = .seconds(5)) async throws -> String {
    let collected = CollectedBytes()
    let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
        .channelInitializer { channel in
            channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(collected) }
        }
        .connect(host: "127.0.0.1", port: port).get()
    try await channel.writeAndFlush(ByteBuffer(string: request)).get()
    try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask { try await channel.closeFuture.get() }
        group.addTask {
            try await Task.sleep(for: timeout)
            channel.close(promise: nil)
            throw HTTPExchangeTimedOut(received: collected.text)
        }
        try await group.next()
        group.cancelAll()
    }
    return collected.text
}

/// `GET path` with `Connection: close`: the whole response.
public func httpGet(_ port: Int, _ path: String) async throws -> String {
    try await httpExchange(port, "GET \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
}

public struct HTTPExchangeTimedOut: Error {
    public var received: String
}

/// The bytes a client connection received.
private final class CollectedBytes: ChannelInboundHandler, Sendable {
    typealias InboundIn = ByteBuffer
    private let received = Mutex("")

    var text: String { received.withLock { $0 } }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = unwrapInboundIn(data)
        received.withLock { $0 += String(buffer: buffer) }
    }
}

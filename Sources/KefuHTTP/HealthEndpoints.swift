import NIOCore
import NIOHTTP1

/// The HTTP listener's answers (issue #13): `GET /healthz` (the process is alive and its event loops turn) and
/// `GET /readyz` (200 once recovered and listening, 503 before and while stopping), for load balancers and
/// orchestrators. `HEAD` like `GET` without the body; other methods 405, other paths 404. The pages, `/metrics` and the
/// WebSocket will be more paths here.
///
/// One request at a time per connection, answered when its end arrives; a request body is read and dropped (none of
/// these paths takes one), so a client cannot make the daemon keep it.
final class HealthEndpoints: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let isReady: @Sendable () -> Bool
    private var request: HTTPRequestHead?

    init(isReady: @escaping @Sendable () -> Bool) {
        self.isReady = isReady
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            request = head
        case .body:
            break
        case .end:
            guard let head = request else { return }
            request = nil
            respond(to: head, context: context)
        }
    }

    /// What a request gets: status and a one-line plain-text body.
    static func answer(method: HTTPMethod, path: String, ready: Bool) -> (HTTPResponseStatus, String) {
        guard method == .GET || method == .HEAD else { return (.methodNotAllowed, "only GET and HEAD\n") }
        switch path {
        case "/healthz": return (.ok, "ok\n")
        case "/readyz": return ready ? (.ok, "ready\n") : (.serviceUnavailable, "not ready\n")
        default: return (.notFound, "not found\n")
        }
    }

    private func respond(to head: HTTPRequestHead, context: ChannelHandlerContext) {
        let path = head.uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init)
        let (status, text) = Self.answer(method: head.method, path: path ?? head.uri, ready: isReady())
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: "text/plain; charset=utf-8")
        headers.add(name: "Content-Length", value: "\(text.utf8.count)")
        headers.add(name: "Cache-Control", value: "no-store")
        if status == .methodNotAllowed { headers.add(name: "Allow", value: "GET, HEAD") }
        let keepAlive = head.isKeepAlive
        if !keepAlive { headers.add(name: "Connection", value: "close") }
        context.write(
            wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: status, headers: headers))),
            promise: nil)
        if head.method != .HEAD {
            context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(string: text)))), promise: nil)
        }
        let done = context.writeAndFlush(wrapOutboundOut(.end(nil)))
        if !keepAlive {
            let channel = context.channel
            done.whenComplete { _ in channel.close(promise: nil) }
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // A malformed request (NIOHTTP1 says 400 itself when it can): the connection ends, nothing else does.
        context.close(promise: nil)
    }
}

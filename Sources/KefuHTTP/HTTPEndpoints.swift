import NIOCore
import NIOHTTP1
import NIOWebSocket

/// Renders `/metrics`: called on the connection's event loop, completes with the text exposition. The daemon's
/// answer asks each shop's routing owner for its readings first, so its future may complete on another loop.
public typealias MetricsSource = @Sendable (any EventLoop) -> EventLoopFuture<[UInt8]>

/// The HTTP listener's answers (issue #13): `GET /healthz` (the process is alive and its event loops turn),
/// `GET /readyz` (200 once recovered and listening, 503 before and while stopping), for load balancers and
/// orchestrators, and `GET /metrics` (Prometheus text exposition) when the daemon gives a source. `HEAD` like `GET`
/// without the body; other methods 405, other paths 404. The pages (`StaticPages`) are served from here too; `/ws` is
/// upgraded before it reaches this handler (`WebSocketLines.swift`).
///
/// Requests are answered one at a time per connection, in order; a request body is read and dropped (none of these
/// paths takes one), and a client that pipelines more than a few requests behind a slow answer is disconnected, so a
/// client cannot make the daemon keep anything of its.
final class HTTPEndpoints: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    /// Requests a connection may have waiting behind one being answered.
    static let pipelined = 8

    private let isReady: @Sendable () -> Bool
    private let metrics: MetricsSource?
    private let hasWebSocket: Bool
    private let pages: StaticPages?
    private var request: HTTPRequestHead?
    /// Whole requests not answered yet, the first being answered (an answer that takes a while: `/metrics`).
    private var pending: [HTTPRequestHead] = []

    init(
        isReady: @escaping @Sendable () -> Bool, metrics: MetricsSource?, hasWebSocket: Bool = false,
        pages: StaticPages? = nil
    ) {
        self.pages = pages
        self.isReady = isReady
        self.metrics = metrics
        self.hasWebSocket = hasWebSocket
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
            guard pending.count <= Self.pipelined else {
                context.close(promise: nil)
                return
            }
            pending.append(head)
            if pending.count == 1 { answerNext(context: context) }
        }
    }

    /// What a request gets when it is answered at once: status and a one-line plain-text body (nil: `/metrics`).
    static func answer(
        method: HTTPMethod, path: String, ready: Bool, hasMetrics: Bool, hasWebSocket: Bool = false
    ) -> (HTTPResponseStatus, String)? {
        guard method == .GET || method == .HEAD else { return (.methodNotAllowed, "only GET and HEAD\n") }
        switch path {
        case "/healthz": return (.ok, "ok\n")
        case "/readyz": return ready ? (.ok, "ready\n") : (.serviceUnavailable, "not ready\n")
        case "/metrics" where hasMetrics: return nil
        // Reached only by a request that did not ask to upgrade (or asked wrongly).
        case "/ws" where hasWebSocket: return (.upgradeRequired, "a WebSocket (RFC 6455): Upgrade: websocket\n")
        default: return (.notFound, "not found\n")
        }
    }

    /// Answers the first pending request, then the next once that answer is written.
    private func answerNext(context: ChannelHandlerContext) {
        guard let head = pending.first else { return }
        let path = head.uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init)
        if head.method == .GET || head.method == .HEAD, let file = pages?.files[path ?? head.uri] {
            respond(to: head, status: .ok, contentType: file.contentType, body: file.bytes, context: context)
            return
        }
        if let (status, text) = Self.answer(
            method: head.method, path: path ?? head.uri, ready: isReady(), hasMetrics: metrics != nil,
            hasWebSocket: hasWebSocket)
        {
            respond(to: head, status: status, contentType: "text/plain; charset=utf-8", body: Array(text.utf8), context: context)
            return
        }
        let loop = context.eventLoop
        let bound = NIOLoopBound((self, context), eventLoop: loop)
        metrics!(loop).hop(to: loop).whenComplete { result in
            let (handler, context) = bound.value
            switch result {
            case .success(let text):
                // Prometheus's text format, version 0.0.4 (what swift-prometheus writes).
                handler.respond(
                    to: head, status: .ok, contentType: "text/plain; version=0.0.4; charset=utf-8", body: text,
                    context: context)
            case .failure(let error):
                handler.respond(
                    to: head, status: .serviceUnavailable, contentType: "text/plain; charset=utf-8",
                    body: Array("metrics unavailable: \(error)\n".utf8), context: context)
            }
        }
    }

    private func respond(
        to head: HTTPRequestHead, status: HTTPResponseStatus, contentType: String, body: [UInt8],
        context: ChannelHandlerContext
    ) {
        guard context.channel.isActive else { return }
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: contentType)
        headers.add(name: "Content-Length", value: "\(body.count)")
        headers.add(name: "Cache-Control", value: "no-store")
        if status == .methodNotAllowed { headers.add(name: "Allow", value: "GET, HEAD") }
        if status == .upgradeRequired {
            headers.add(name: "Upgrade", value: "websocket")
            headers.add(name: "Connection", value: "Upgrade")
        }
        let keepAlive = head.isKeepAlive
        if !keepAlive { headers.add(name: "Connection", value: "close") }
        context.write(
            wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: status, headers: headers))),
            promise: nil)
        if head.method != .HEAD {
            context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(bytes: body)))), promise: nil)
        }
        let done = context.writeAndFlush(wrapOutboundOut(.end(nil)))
        pending.removeFirst()
        if !keepAlive {
            pending = []
            let channel = context.channel
            done.whenComplete { _ in channel.close(promise: nil) }
        } else {
            answerNext(context: context)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // A WebSocket upgrade refused (another path, a bad key): NIO answers the request as plain HTTP next.
        if error is NIOWebSocketUpgradeError { return }
        // A malformed request (NIOHTTP1 says 400 itself when it can): the connection ends, nothing else does.
        context.close(promise: nil)
    }
}

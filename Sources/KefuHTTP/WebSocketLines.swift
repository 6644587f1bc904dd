import NIOCore
import NIOHTTP1
import NIOWebSocket

/// What `GET /ws` needs from the daemon: the longest line a client may send (a text frame carries one line), and how
/// to serve the line protocol on a channel that now carries lines (the daemon adds the same connection handler a TCP
/// client gets: verbs, errors, login, limits and backpressure are the line protocol's own).
public struct WebSocketService: Sendable {
    public var maxLineBytes: Int
    /// Called on the channel's event loop once the bridge is in place.
    public var serve: @Sendable (any Channel) throws -> Void

    public init(maxLineBytes: Int, serve: @escaping @Sendable (any Channel) throws -> Void) {
        self.maxLineBytes = maxLineBytes
        self.serve = serve
    }
}

/// `GET /ws` upgraded (RFC 6455) carries the line protocol: each text frame from the client is one line (without its
/// LF), each line kefud writes goes out as one text frame. The daemon's connection handler reads and writes lines in
/// byte buffers exactly as on TCP; this handler turns frames into those lines and back.
///
/// A frame holding an LF or CR (two lines in one frame, or a raw line break the protocol writes as `\n`) or a binary
/// frame closes the WebSocket with 1003/1007 and a reason: a client that frames lines wrongly learns it at once.
/// Pings are answered with pongs; a close is answered and the connection ends (the session ends as a dropped TCP
/// connection does). Fragmented messages are put together first (`NIOWebSocketFrameAggregator`, bounded by the line
/// limit; above it the WebSocket closes with 1009).
final class WebSocketLineBridge: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = WebSocketFrame
    typealias InboundOut = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = WebSocketFrame

    /// A line kefud wrote only in part (it writes whole lines; kept for safety).
    private var partial: ByteBuffer?
    /// The last frame written: an empty write (the connection's "has everything before this been written?") waits
    /// for it.
    private var lastWrite: EventLoopFuture<Void>?
    private var closing = false

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        guard !closing else { return }
        switch frame.opcode {
        case .text:
            var line = frame.unmaskedData
            if line.readableBytesView.contains(where: { $0 == UInt8(ascii: "\n") || $0 == UInt8(ascii: "\r") }) {
                return close(context: context, code: .dataInconsistentWithMessage, reason: "one line per text frame, without LF or CR")
            }
            line.writeInteger(UInt8(ascii: "\n"))
            context.fireChannelRead(wrapInboundOut(line))
        case .binary:
            close(context: context, code: .unacceptableData, reason: "text frames only: one line of the protocol each")
        case .ping:
            let pong = WebSocketFrame(fin: true, opcode: .pong, data: frame.unmaskedData)
            context.writeAndFlush(wrapOutboundOut(pong), promise: nil)
        case .connectionClose:
            // Answered with the client's code, then the connection ends.
            var data = frame.unmaskedData
            let code = data.readWebSocketErrorCode() ?? .normalClosure
            close(context: context, code: code, reason: "")
        default:
            break  // pong, and continuations the aggregator has already joined
        }
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        var bytes = unwrapOutboundIn(data)
        if var pending = partial {
            pending.writeBuffer(&bytes)
            bytes = pending
            partial = nil
        }
        var written: EventLoopFuture<Void>?
        while let newline = bytes.readableBytesView.firstIndex(of: UInt8(ascii: "\n")) {
            let length = newline - bytes.readerIndex
            let line = bytes.readSlice(length: length)!
            bytes.moveReaderIndex(forwardBy: 1)
            let done = context.write(wrapOutboundOut(WebSocketFrame(fin: true, opcode: .text, data: line)))
            written = done
        }
        if bytes.readableBytes > 0 { partial = bytes }
        if let written {
            lastWrite = written
            written.cascade(to: promise)
        } else if let lastWrite {
            lastWrite.cascade(to: promise)
        } else {
            promise?.succeed(())
        }
    }

    private func close(context: ChannelHandlerContext, code: WebSocketErrorCode, reason: String) {
        closing = true
        var data = context.channel.allocator.buffer(capacity: 2 + reason.utf8.count)
        data.write(webSocketErrorCode: code)
        data.writeString(reason)
        let frame = WebSocketFrame(fin: true, opcode: .connectionClose, data: data)
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(frame)).whenComplete { _ in channel.close(promise: nil) }
    }
}

extension WebSocketService {
    /// The upgrader of `GET /ws`: any other path is not upgraded (and gets its 404 as plain HTTP).
    func upgrader() -> NIOWebSocketServerUpgrader {
        let service = self
        return NIOWebSocketServerUpgrader(
            maxFrameSize: max(service.maxLineBytes, 1 << 14),
            shouldUpgrade: { channel, head in
                let path = head.uri.split(separator: "?", maxSplits: 1).first.map(String.init) ?? head.uri
                return channel.eventLoop.makeSucceededFuture(path == "/ws" ? HTTPHeaders() : nil)
            },
            upgradePipelineHandler: { channel, _ in
                channel.eventLoop.makeCompletedFuture {
                    let pipeline = channel.pipeline.syncOperations
                    // HTTP's own handlers go: the line protocol keeps its idle rule from here on.
                    for name in HTTPListener.httpOnlyHandlers {
                        if let context = try? pipeline.context(name: name) { pipeline.removeHandler(context: context, promise: nil) }
                    }
                    try pipeline.addHandler(
                        NIOWebSocketFrameAggregator(
                            minNonFinalFragmentSize: 1, maxAccumulatedFrameCount: 1 << 12,
                            maxAccumulatedFrameSize: service.maxLineBytes))
                    try pipeline.addHandler(WebSocketLineBridge())
                    try service.serve(channel)
                }
            })
    }
}

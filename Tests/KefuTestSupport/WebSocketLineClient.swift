import NIOCore
import NIOPosix
import NIOSSL
import Synchronization

/// A line-protocol client over kefud's `GET /ws`, as a browser page is one: the RFC 6455 handshake, then one line per
/// masked text frame out, one text frame per line in. Written here from the RFC (a few dozen lines) so that the test
/// checks the server against the wire format, not against the same library's client.
public final class WebSocketLineClient: LineConversation {
    /// A frame the server sent that is not a text frame.
    public enum Control: Sendable, Equatable {
        case close(code: UInt16?, reason: String)
        case pong(String)
    }

    public struct HandshakeRefused: Error, CustomStringConvertible {
        public let response: String
        public var description: String { "WebSocket handshake refused: \(response)" }
    }

    private let channel: any Channel
    private let outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>
    public let buffer: LineBuffer
    private let controls: ControlLog
    private let reader: Task<Void, Never>

    /// `tls`: `wss:` (the HTTPS listener), checking the server against that authority.
    public static func connect(
        port: Int, path: String = "/ws", tls: LineClient.TLS? = nil
    ) async throws -> WebSocketLineClient {
        let context = try tls?.context()
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connect(host: "127.0.0.1", port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let context {
                        try channel.pipeline.syncOperations.addHandler(
                            try NIOSSLClientHandler(context: context, serverHostname: nil))
                    }
                    try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(ServerFrameDecoder()))
                    return try NIOAsyncChannel<ServerFrame, ByteBuffer>(wrappingChannelSynchronously: channel)
                }
            }
        let buffer = LineBuffer()
        let handshake = AsyncStream<Result<NIOAsyncChannelOutboundWriter<ByteBuffer>, HandshakeRefused>>.makeStream()
        let controls = ControlLog()
        let reader = Task {
            do {
                try await channel.executeThenClose { inbound, outbound in
                    var request = "GET \(path) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nUpgrade: websocket\r\n"
                    request += "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                    request += "Sec-WebSocket-Version: 13\r\n\r\n"
                    try await outbound.write(ByteBuffer(string: request))
                    for try await frame in inbound {
                        switch frame {
                        case .handshake(let response):
                            if response.hasPrefix("HTTP/1.1 101") {
                                handshake.continuation.yield(.success(outbound))
                            } else {
                                handshake.continuation.yield(.failure(HandshakeRefused(response: response)))
                            }
                            handshake.continuation.finish()
                        case .text(let line): await buffer.append(line)
                        case .control(let control): controls.frames.withLock { $0.append(control) }
                        }
                    }
                }
            } catch {}
            handshake.continuation.finish()
            await buffer.finish()
        }
        var results = handshake.stream.makeAsyncIterator()
        guard let result = await results.next() else { throw ChannelError.alreadyClosed }
        return WebSocketLineClient(
            channel: channel.channel, outbound: try result.get(), buffer: buffer, controls: controls, reader: reader)
    }

    private init(
        channel: any Channel, outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>, buffer: LineBuffer,
        controls: ControlLog, reader: Task<Void, Never>
    ) {
        self.channel = channel
        self.outbound = outbound
        self.buffer = buffer
        self.reader = reader
        self.controls = controls
    }

    /// Sends one line as one text frame.
    public func send(_ line: String) async throws { try await sendFrame(opcode: 0x1, Array(line.utf8)) }

    /// Sends one frame (FIN set, masked as a client must).
    public func sendFrame(opcode: UInt8, _ payload: [UInt8]) async throws {
        var frame = ByteBuffer()
        frame.writeInteger(0x80 | opcode)
        switch payload.count {
        case ..<126: frame.writeInteger(0x80 | UInt8(payload.count))
        case ..<65536:
            frame.writeInteger(UInt8(0x80 | 126))
            frame.writeInteger(UInt16(payload.count))
        default:
            frame.writeInteger(UInt8(0x80 | 127))
            frame.writeInteger(UInt64(payload.count))
        }
        let mask: [UInt8] = [0x37, 0xfa, 0x21, 0x3d]
        frame.writeBytes(mask)
        frame.writeBytes(payload.enumerated().map { $0.element ^ mask[$0.offset % 4] })
        try await outbound.write(frame)
    }

    /// True when the server has closed the connection and every line has been read.
    public func isClosedByServer(timeout: Duration = .seconds(5)) async -> Bool {
        await buffer.waitForEnd(timeout: timeout)
    }

    /// The server's frames other than text, so far (read once the connection ended to see them all).
    public var controlFrames: [Control] { controls.frames.withLock { $0 } }

    public func close() async {
        try? await channel.close()
        reader.cancel()
    }
}

/// The server's non-text frames, shared by the reader task and the client.
final class ControlLog: Sendable {
    let frames = Mutex<[WebSocketLineClient.Control]>([])
}

/// What the server sent: its handshake response, then frames.
enum ServerFrame: Sendable {
    case handshake(String)
    case text(String)
    case control(WebSocketLineClient.Control)
}

/// The handshake response (up to the blank line), then RFC 6455 frames as the server sends them: unmasked, and
/// whole (kefud does not fragment its lines).
struct ServerFrameDecoder: ByteToMessageDecoder {
    typealias InboundOut = ServerFrame
    private var upgraded = false

    mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        if !upgraded {
            guard let end = buffer.readableBytesView.firstRange(of: Array("\r\n\r\n".utf8)) else { return .needMoreData }
            let response = buffer.readString(length: end.upperBound - buffer.readerIndex)!
            upgraded = true
            context.fireChannelRead(Self.wrapInboundOut(.handshake(response)))
            return .continue
        }
        var peek = buffer
        guard let first = peek.readInteger(as: UInt8.self), let second = peek.readInteger(as: UInt8.self) else {
            return .needMoreData
        }
        var length = Int(second & 0x7f)
        if length == 126 {
            guard let extended = peek.readInteger(as: UInt16.self) else { return .needMoreData }
            length = Int(extended)
        } else if length == 127 {
            guard let extended = peek.readInteger(as: UInt64.self) else { return .needMoreData }
            length = Int(extended)
        }
        guard let payload = peek.readBytes(length: length) else { return .needMoreData }
        buffer = peek
        switch first & 0x0f {
        case 0x1: context.fireChannelRead(Self.wrapInboundOut(.text(String(decoding: payload, as: UTF8.self))))
        case 0x8:
            let code = payload.count >= 2 ? UInt16(payload[0]) << 8 | UInt16(payload[1]) : nil
            let reason = String(decoding: payload.dropFirst(2), as: UTF8.self)
            context.fireChannelRead(Self.wrapInboundOut(.control(.close(code: code, reason: reason))))
        case 0xA: context.fireChannelRead(Self.wrapInboundOut(.control(.pong(String(decoding: payload, as: UTF8.self)))))
        default: break
        }
        return .continue
    }
}

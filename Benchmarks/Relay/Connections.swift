import NIOCore
import NIOPosix

// The load generator's connections: plain NIO handlers confined to their event loop, with no per-line allocation on
// the measured path (a line is handed over as a view into the read buffer), writes gathered and flushed once per
// read burst, the way a careful client library does it.

/// How a connection splits what it reads: lines for kefud, RESP values for redis.
enum Framing {
    case lines
    case resp
}

/// One client connection, used only on its event loop.
final class Conn {
    let channel: any Channel
    /// A complete line (without LF), or a complete RESP value (its bytes), as a view into the read buffer.
    var onFrame: (ByteBufferView) -> Void = { _ in }
    /// The end of a read burst: flush what the frames caused.
    var onReadComplete: () -> Void = {}
    var closed = false
    private var outbound: ByteBuffer

    init(channel: any Channel) {
        self.channel = channel
        outbound = channel.allocator.buffer(capacity: 4096)
    }

    func write(_ line: String) {
        outbound.writeString(line)
    }

    func write(bytes: some Collection<UInt8>) {
        outbound.writeBytes(bytes)
    }

    func flush() {
        guard outbound.readableBytes > 0, !closed else { return }
        channel.writeAndFlush(outbound, promise: nil)
        outbound = channel.allocator.buffer(capacity: 4096)
    }

    /// Sends `line` (LF added) and collects what comes back until `until` says the answer is complete.
    func request(_ line: String, until done: @escaping (String) -> Bool) -> EventLoopFuture<[String]> {
        let promise = channel.eventLoop.makePromise(of: [String].self)
        var lines: [String] = []
        onFrame = { view in
            let text = String(decoding: view, as: UTF8.self)
            lines.append(text)
            if done(text) { promise.succeed(lines) }
        }
        write(line + "\n")
        flush()
        return promise.futureResult
    }

    /// Sends raw RESP and waits for `count` replies.
    func resp(_ command: [String], replies count: Int = 1) -> EventLoopFuture<[String]> {
        let promise = channel.eventLoop.makePromise(of: [String].self)
        var replies: [String] = []
        onFrame = { view in
            replies.append(String(decoding: view, as: UTF8.self))
            if replies.count == count { promise.succeed(replies) }
        }
        write(bytes: RESP.command(command))
        flush()
        return promise.futureResult
    }
}

final class FrameHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    let framing: Framing
    var conn: Conn?
    private var pending: ByteBuffer?

    init(framing: Framing) { self.framing = framing }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var incoming = unwrapInboundIn(data)
        if pending != nil {
            pending!.writeBuffer(&incoming)
        } else {
            pending = incoming
        }
        guard let conn else { return }
        var buffer = pending!
        pending = nil
        switch framing {
        case .lines:
            while let newline = buffer.readableBytesView.firstIndex(of: UInt8(ascii: "\n")) {
                let view = buffer.readableBytesView[buffer.readerIndex..<newline]
                conn.onFrame(ByteBufferView(view))
                buffer.moveReaderIndex(to: newline + 1)
            }
        case .resp:
            while let length = RESP.completeValueLength(buffer.readableBytesView) {
                let start = buffer.readerIndex
                conn.onFrame(ByteBufferView(buffer.readableBytesView[start..<start + length]))
                buffer.moveReaderIndex(forwardBy: length)
            }
        }
        if buffer.readableBytes > 0 {
            buffer.discardReadBytes()
            pending = buffer
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        conn?.onReadComplete()
    }

    func channelInactive(context: ChannelHandlerContext) {
        conn?.closed = true
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}

extension ByteBufferView {
    init(_ slice: Slice<ByteBufferView>) {
        self = slice.base[slice.startIndex..<slice.endIndex]
    }
}

/// Opens a connection on `loop` and returns it, bound to that loop.
func connect(port: Int, on loop: any EventLoop, framing: Framing) -> EventLoopFuture<NIOLoopBound<Conn>> {
    ClientBootstrap(group: loop)
        .channelOption(.socketOption(.tcp_nodelay), value: 1)
        .channelInitializer { channel in
            channel.eventLoop.makeCompletedFuture {
                try channel.pipeline.syncOperations.addHandler(FrameHandler(framing: framing))
            }
        }
        .connect(host: "127.0.0.1", port: port)
        .flatMapThrowing { channel in
            let handler = try channel.pipeline.syncOperations.handler(type: FrameHandler.self)
            let conn = Conn(channel: channel)
            handler.conn = conn
            return NIOLoopBound(conn, eventLoop: loop)
        }
}

/// Just enough of the Redis protocol for XADD, XREAD and PING.
enum RESP {
    static func command(_ words: [String]) -> [UInt8] {
        var bytes = Array("*\(words.count)\r\n".utf8)
        for word in words {
            bytes += Array("$\(word.utf8.count)\r\n".utf8)
            bytes += Array(word.utf8)
            bytes += [13, 10]
        }
        return bytes
    }

    /// The length of the complete RESP value at the start of `bytes`, nil when it is not complete yet.
    static func completeValueLength(_ bytes: ByteBufferView) -> Int? {
        var index = bytes.startIndex
        guard skipValue(bytes, &index) else { return nil }
        return index - bytes.startIndex
    }

    private static func skipValue(_ bytes: ByteBufferView, _ index: inout Int) -> Bool {
        guard index < bytes.endIndex else { return false }
        let type = bytes[index]
        guard let lineEnd = lineEnd(bytes, from: index) else { return false }
        let number = integer(bytes, index + 1, lineEnd)
        index = lineEnd + 2
        switch type {
        case UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: ":"):
            return true
        case UInt8(ascii: "$"):
            if number < 0 { return true }
            guard index + number + 2 <= bytes.endIndex else { return false }
            index += number + 2
            return true
        case UInt8(ascii: "*"):
            if number < 0 { return true }
            for _ in 0..<number where !skipValue(bytes, &index) { return false }
            return true
        default:
            return true
        }
    }

    static func lineEnd(_ bytes: ByteBufferView, from start: Int) -> Int? {
        var index = start
        while index + 1 < bytes.endIndex {
            if bytes[index] == 13 && bytes[index + 1] == 10 { return index }
            index += 1
        }
        return nil
    }

    static func integer(_ bytes: ByteBufferView, _ from: Int, _ to: Int) -> Int {
        var value = 0
        var negative = false
        for index in from..<to {
            let byte = bytes[index]
            if byte == UInt8(ascii: "-") {
                negative = true
            } else {
                value = value * 10 + Int(byte &- 48)
            }
        }
        return negative ? -value : value
    }

    /// The entries of an XREAD reply for one stream: their count and the last entry's id.
    static func xreadEntries(_ bytes: ByteBufferView) -> (count: Int, lastID: String?) {
        // *1 *2 $<key> *<n> then n × (*2 $<id> *2 $m $<payload>)
        var index = bytes.startIndex
        func header() -> Int? {
            guard let end = lineEnd(bytes, from: index) else { return nil }
            let value = integer(bytes, index + 1, end)
            index = end + 2
            return value
        }
        func bulk() -> String? {
            guard let length = header(), length >= 0 else { return nil }
            let text = String(decoding: bytes[index..<index + length], as: UTF8.self)
            index += length + 2
            return text
        }
        guard bytes.first == UInt8(ascii: "*"), let streams = header(), streams > 0 else { return (0, nil) }
        _ = header()  // *2
        _ = bulk()  // key
        guard let entries = header() else { return (0, nil) }
        var last: String?
        for _ in 0..<entries {
            _ = header()  // *2
            last = bulk()
            guard let fields = header() else { break }
            for _ in 0..<fields { _ = bulk() }
        }
        return (entries, last)
    }
}

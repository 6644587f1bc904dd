import NIOCore

/// One framed client line, before parsing.
public enum InboundLine: Equatable, Sendable {
    /// A complete line without its LF (and without a CR just before the LF).
    case line(ByteBuffer)
    /// A line longer than the limit; its bytes were discarded. `prefix` is its beginning, so the reply can
    /// still carry the client's tag.
    case tooLong(prefix: ByteBuffer)
}

/// Splits the byte stream into LF-terminated lines, enforcing a per-line length limit.
///
/// The limit is checked on every line, not only on the buffer: a complete overlong line that arrives in one read
/// must be rejected too. After an overlong line the decoder skips to the next LF, so the connection stays usable.
public struct LineFrameDecoder: ByteToMessageDecoder {
    public typealias InboundOut = InboundLine

    /// How many leading bytes of an overlong line are kept to recover its tag.
    static let prefixBytes = 40

    private let maxLineBytes: Int
    /// True while skipping the rest of an overlong line.
    private var discarding = false

    /// - Parameter discarding: start inside an overlong line, skipping to its LF (a connection taken over from the
    ///   previous kefud process in the middle of one).
    public init(maxLineBytes: Int, discarding: Bool = false) {
        self.maxLineBytes = maxLineBytes
        self.discarding = discarding
    }

    /// Whether the decoder is skipping the rest of an overlong line.
    public var isDiscarding: Bool { discarding }

    public mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let line = nextLine(&buffer) else { return .needMoreData }
        context.fireChannelRead(Self.wrapInboundOut(line))
        return .continue
    }

    public mutating func decodeLast(
        context: ChannelHandlerContext,
        buffer: inout ByteBuffer,
        seenEOF: Bool
    ) throws -> DecodingState {
        // A final line without LF at close is dropped: the client did not finish it.
        if let line = nextLine(&buffer) {
            context.fireChannelRead(Self.wrapInboundOut(line))
            return .continue
        }
        buffer.moveReaderIndex(to: buffer.writerIndex)
        return .needMoreData
    }

    /// The framing itself, free of NIO's channel machinery so it can be tested directly.
    public mutating func nextLine(_ buffer: inout ByteBuffer) -> InboundLine? {
        while true {
            let view = buffer.readableBytesView
            let newline = view.firstIndex(of: UInt8(ascii: "\n"))
            if discarding {
                guard let newline else {
                    buffer.moveReaderIndex(to: buffer.writerIndex)
                    return nil
                }
                buffer.moveReaderIndex(to: newline + 1)
                discarding = false
                continue
            }
            guard let newline else {
                // No LF yet: if what we already hold exceeds the limit, the line is too long whatever follows
                // (a trailing CR does not count yet: it may be the CR of a CRLF whose LF is in the next segment).
                let pendingCR =
                    buffer.readableBytes > 0
                    && buffer.getInteger(at: buffer.writerIndex - 1, as: UInt8.self) == UInt8(ascii: "\r")
                if buffer.readableBytes - (pendingCR ? 1 : 0) > maxLineBytes {
                    let kept = min(buffer.readableBytes, Self.prefixBytes)
                    let prefix = buffer.getSlice(at: buffer.readerIndex, length: kept) ?? ByteBuffer()
                    buffer.moveReaderIndex(to: buffer.writerIndex)
                    discarding = true
                    return .tooLong(prefix: prefix)
                }
                return nil
            }
            var length = newline - buffer.readerIndex
            let lineStart = buffer.readerIndex
            if length > 0, buffer.getInteger(at: newline - 1, as: UInt8.self) == UInt8(ascii: "\r") { length -= 1 }
            defer { buffer.moveReaderIndex(to: newline + 1) }
            if length > maxLineBytes {
                let prefix = buffer.getSlice(at: lineStart, length: min(length, Self.prefixBytes)) ?? ByteBuffer()
                return .tooLong(prefix: prefix)
            }
            return .line(buffer.getSlice(at: lineStart, length: length) ?? ByteBuffer())
        }
    }
}

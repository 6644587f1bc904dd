import KefuProtocol
import NIOCore

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// What a connection's reader receives: framed lines, then, when kefud hands its connections to systemd's file
/// descriptor store, the sign that no more lines will come from this process.
enum ConnectionInput: Sendable {
    case line(InboundLine)
    case frozen
}

/// A connection as it leaves this process: a duplicate of its socket, and the bytes read from it that did not make a
/// whole line yet (they go to the next process, which reads them before anything else from the socket).
struct DetachedConnection: Sendable {
    var fd: Int32
    var leftover: [UInt8]
    var discarding: Bool
}

/// Splits the byte stream into lines with ``LineFrameDecoder`` (what `ByteToMessageHandler` did before), and can
/// stop: ``freeze()`` stops reading from the socket and decoding, ``detach()`` gives the socket and the undecoded
/// bytes away. Kept in one handler so that no byte read from the socket can fall between the two processes.
final class LineFraming: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ConnectionInput
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private var decoder: LineFrameDecoder
    private var buffer: ByteBuffer?
    private var frozen = false
    private var context: ChannelHandlerContext?

    /// - Parameters:
    ///   - leftover: bytes the previous process read from this connection without completing a line.
    ///   - discarding: whether the previous process was skipping an overlong line.
    init(maxLineBytes: Int, leftover: [UInt8] = [], discarding: Bool = false) {
        decoder = LineFrameDecoder(maxLineBytes: maxLineBytes, discarding: discarding)
        if !leftover.isEmpty { buffer = ByteBuffer(bytes: leftover) }
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
    }

    func channelActive(context: ChannelHandlerContext) {
        context.fireChannelActive()
        // A taken-over connection's leftover bytes may already hold whole lines (passed on at the read-complete,
        // as after a read from the socket).
        if buffer != nil {
            decodeAvailable(context: context)
            context.fireChannelReadComplete()
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var incoming = unwrapInboundIn(data)
        if buffer == nil {
            buffer = incoming
        } else {
            buffer!.writeBuffer(&incoming)
        }
        // Frozen: whatever a read still in flight brings is kept whole for the next process.
        guard !frozen else { return }
        decodeAvailable(context: context)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        // End of input: a last line without LF is dropped, as the client did not finish it.
        if case .inputClosed = event as? ChannelEvent, !frozen { buffer = nil }
        context.fireUserInboundEventTriggered(event)
    }

    func read(context: ChannelHandlerContext) {
        // Frozen: nothing more is read from the socket here; the kernel keeps it for the next process.
        guard !frozen else { return }
        context.read()
    }

    private func decodeAvailable(context: ChannelHandlerContext) {
        guard var pending = buffer else { return }
        buffer = nil
        while !frozen, let line = decoder.nextLine(&pending) {
            context.fireChannelRead(wrapInboundOut(.line(line)))
        }
        if pending.readableBytes > 0 {
            pending.discardReadBytes()
            if var newer = buffer {
                // Only if a reentrant read arrived while lines were being fired.
                pending.writeBuffer(&newer)
            }
            buffer = pending
        }
    }

    /// Stops reading and decoding, then passes ``ConnectionInput/frozen`` after the last line decoded.
    func freeze() {
        guard !frozen, let context else { return }
        frozen = true
        context.fireChannelRead(wrapInboundOut(.frozen))
        // NIOAsyncChannel passes reads on to the reader at the read-complete.
        context.fireChannelReadComplete()
    }

    /// A duplicate of the socket (close-on-exec) and the bytes not decoded; the caller closes the channel in the same
    /// event-loop turn, so nothing is read in between.
    func detach() throws -> DetachedConnection? {
        guard let context else { return nil }
        let fd = try context.pipeline.syncOperations.withUnsafeTransportIfAvailable(of: NIOBSDSocket.Handle.self) {
            fcntl($0, F_DUPFD_CLOEXEC, 0)
        }
        guard let fd, fd >= 0 else { return nil }
        let leftover = buffer.map { Array($0.readableBytesView) } ?? []
        return DetachedConnection(fd: fd, leftover: leftover, discarding: decoder.isDiscarding)
    }
}

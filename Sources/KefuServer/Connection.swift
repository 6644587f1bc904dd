import KefuProtocol
import Logging
import NIOCore
import Synchronization

/// Serves one client connection: a reader that parses lines and posts them to the routing owner, and a writer
/// that drains the session's outbox. Errors end this connection only, never the server.
enum Connection {
    private enum Side: Sendable {
        case reader
        case writer
    }

    /// Announces a new connection to the routing owner, at once: whoever accepts connections knows, once it stops,
    /// that the routing owner has heard of every one it accepted. Then ``serve(_:id:outbox:outgoing:mailbox:logger:handedOver:)``.
    static func announce(
        _ channel: NIOAsyncChannel<ConnectionInput, ByteBuffer>, id: SessionID, mailbox: Mailbox,
        adopting session: HandedOverSession? = nil
    ) -> (Outbox, AsyncStream<OutboxItem>) {
        let (made, outgoing) = Outbox.make()
        var outbox = made
        let raw = channel.channel
        outbox.freeze = {
            raw.eventLoop.execute { try? raw.pipeline.syncOperations.handler(type: LineFraming.self).freeze() }
        }
        if let session {
            mailbox.post(.adopted(id, outbox, session))
        } else {
            mailbox.post(.connected(id, outbox))
        }
        return (outbox, outgoing)
    }

    static func serve(
        _ channel: NIOAsyncChannel<ConnectionInput, ByteBuffer>,
        id: SessionID,
        outbox: Outbox,
        outgoing: AsyncStream<OutboxItem>,
        mailbox: Mailbox,
        logger: Logger,
        handedOver: HandoverCollector? = nil
    ) async {
        let raw = channel.channel
        let detached = DetachedFlag()
        do {
            try await channel.executeThenClose { inbound, _ in
                try await withThrowingTaskGroup(of: Side.self) { group in
                    group.addTask {
                        // Written straight to the channel (not through NIOAsyncChannel's writer) so that a hand-over
                        // can wait until every line before it has reached the kernel.
                        var lastWrite: EventLoopFuture<Void>?
                        for await item in outgoing {
                            switch item {
                            case .line(let line):
                                var buffer = raw.allocator.buffer(capacity: line.utf8.count + 1)
                                buffer.writeString(line)
                                buffer.writeInteger(UInt8(ascii: "\n"))
                                let promise = raw.eventLoop.makePromise(of: Void.self)
                                raw.writeAndFlush(buffer, promise: promise)
                                let write = promise.futureResult
                                lastWrite = write
                                // A client reading slowly holds its writer here (and then its outbox fills up).
                                if !raw.isWritable { try await write.get() }
                            case .close:
                                return .writer
                            case .handOver:
                                // Only sent when kefud hands over (the daemon then passes a collector).
                                guard let handedOver else { return .writer }
                                guard await Self.flushed(lastWrite, on: raw.eventLoop) else {
                                    logger.warning(
                                        "connection not handed over: its earlier lines were not written in time",
                                        metadata: ["session": "\(id)"])
                                    return .writer
                                }
                                detached.set()
                                let connection = try? await raw.eventLoop.submit { () -> DetachedConnection? in
                                    let framing = try raw.pipeline.syncOperations.handler(type: LineFraming.self)
                                    let connection = try framing.detach()
                                    // In the same event-loop turn: no byte can be read in between.
                                    raw.close(promise: nil)
                                    return connection
                                }.get()
                                if let connection { handedOver.deposit(id, connection) }
                                return .writer
                            }
                        }
                        return .writer
                    }
                    group.addTask {
                        for try await input in inbound {
                            switch input {
                            case .line(let frame): mailbox.post(parse(frame))
                            case .frozen: mailbox.post(.inputFrozen(id))
                            }
                        }
                        // The client finished sending (EOF or half-close, as `printf ... | nc` does): it still
                        // gets every reply; the routing owner closes the session after the last one.
                        if !detached.isSet { mailbox.post(.inputEnded(id)) }
                        return .reader
                    }
                    // The connection ends when the writer is done (QUIT, BYE, input ended and answered, a slow
                    // client cut off, handed over) or when either side fails.
                    while let side = try await group.next() {
                        if side == .writer { break }
                    }
                    group.cancelAll()
                }
            }
        } catch {
            logger.debug("connection ended with error", metadata: ["session": "\(id)", "error": "\(error)"])
        }
        outbox.continuation.finish()
        // A connection handed over is not a disconnect: the agent is still there, in the next process.
        if !detached.isSet { mailbox.post(.disconnected(id)) }

        func parse(_ frame: InboundLine) -> LoopInput {
            switch frame {
            case .tooLong(let prefix):
                return .request(
                    id, tag: ClientLine.replyTag(for: prefix),
                    .failure(ProtocolError(.lineTooLong, "line longer than the limit was discarded"))
                )
            case .line(let bytes):
                switch ClientLine.parse(bytes) {
                case .failure(let error):
                    return .request(id, tag: ClientLine.replyTag(for: bytes), .failure(error))
                case .success(let line):
                    do {
                        return .request(id, tag: line.tag, .success(try Request(line)))
                    } catch {
                        return .request(id, tag: line.tag, .failure(error))
                    }
                }
            }
        }
    }
}

extension Connection {
    /// Whether every write up to `last` has reached the kernel within `timeout` (a client that stopped reading would
    /// otherwise hold the restart up; its connection is closed instead and it reconnects).
    static func flushed(
        _ last: EventLoopFuture<Void>?, on eventLoop: any EventLoop, timeout: TimeAmount = .seconds(2)
    ) async -> Bool {
        guard let last else { return true }
        let promise = eventLoop.makePromise(of: Bool.self)
        let once = DetachedFlag()
        last.whenComplete { result in
            if once.setFirst() { promise.succeed((try? result.get()) != nil) }
        }
        eventLoop.scheduleTask(in: timeout) {
            if once.setFirst() { promise.succeed(false) }
        }
        return (try? await promise.futureResult.get()) ?? false
    }
}

/// A flag set once, from any thread.
final class DetachedFlag: Sendable {
    private let value = Atomic<Bool>(false)

    var isSet: Bool { value.load(ordering: .acquiring) }

    func set() { value.store(true, ordering: .releasing) }

    /// Sets the flag; true for the caller that set it first.
    func setFirst() -> Bool { !value.exchange(true, ordering: .acquiringAndReleasing) }
}

/// Closes a connection that has been silent for the idle timeout (`PING` keeps a quiet client alive), after
/// telling it why.
final class CloseWhenIdle: ChannelInboundHandler, Sendable {
    typealias InboundIn = NIOAny

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard let idle = event as? IdleStateHandler.IdleStateEvent, idle == .read else {
            context.fireUserInboundEventTriggered(event)
            return
        }
        var farewell = context.channel.allocator.buffer(string: ServerLine.event("BYE", [("reason", "idle")]))
        farewell.writeInteger(UInt8(ascii: "\n"))
        let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
        context.writeAndFlush(NIOAny(farewell)).whenComplete { _ in bound.value.close(promise: nil) }
    }
}

import KefuProtocol
import Logging
import NIOCore

/// Serves one client connection: a reader that parses lines and posts them to the routing owner, and a writer
/// that drains the session's outbox. Errors end this connection only, never the server.
enum Connection {
    private enum Side: Sendable {
        case reader
        case writer
    }

    static func serve(
        _ channel: NIOAsyncChannel<InboundLine, ByteBuffer>,
        id: SessionID,
        mailbox: Mailbox,
        logger: Logger
    ) async {
        let (outbox, outgoing) = Outbox.make()
        mailbox.post(.connected(id, outbox))
        do {
            try await channel.executeThenClose { inbound, outbound in
                try await withThrowingTaskGroup(of: Side.self) { group in
                    group.addTask {
                        for await item in outgoing {
                            switch item {
                            case .line(let line):
                                var buffer = ByteBuffer(string: line)
                                buffer.writeInteger(UInt8(ascii: "\n"))
                                try await outbound.write(buffer)
                            case .close:
                                return .writer
                            }
                        }
                        return .writer
                    }
                    group.addTask {
                        for try await frame in inbound {
                            mailbox.post(parse(frame))
                        }
                        // The client finished sending (EOF or half-close, as `printf ... | nc` does): it still
                        // gets every reply; the routing owner closes the session after the last one.
                        mailbox.post(.inputEnded(id))
                        return .reader
                    }
                    // The connection ends when the writer is done (QUIT, BYE, input ended and answered, a slow
                    // client cut off) or when either side fails.
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
        mailbox.post(.disconnected(id))

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

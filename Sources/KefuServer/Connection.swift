import KefuProtocol
import Logging
import NIOCore

/// Serves one client connection: a reader that parses lines and posts them to the routing owner, and a writer
/// that drains the session's outbox. Errors end this connection only, never the server.
enum Connection {
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
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask {
                        for await item in outgoing {
                            switch item {
                            case .line(let line):
                                var buffer = ByteBuffer(string: line)
                                buffer.writeInteger(UInt8(ascii: "\n"))
                                try await outbound.write(buffer)
                            case .close:
                                return
                            }
                        }
                    }
                    group.addTask {
                        for try await frame in inbound {
                            mailbox.post(parse(frame))
                        }
                    }
                    // Whichever side ends first (server closes, client hangs up) ends the connection.
                    _ = try await group.next()
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

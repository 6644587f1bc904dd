import KefuMetrics
import KefuConfig
import KefuProtocol
import Logging
import NIOCore

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// One client connection, on its channel's event loop: it splits the bytes into lines, parses them, hands them to the
/// shop's routing owner a read burst at a time, and writes what the owner sends back, a batch at a time.
///
/// It keeps every client bounded, whatever the client does:
/// - **Input.** At most `max_pipelined` lines may wait for their completion; beyond that the connection stops reading
///   (the bytes wait in the kernel, TCP slows the client down) and decodes the rest once completions go out. It
///   stops reading too while the client has not read more than `slow_client_bytes` of what it was sent: a client
///   that does not read its replies cannot make kefud produce more. A read burst brings at most what NIO reads at
///   once, so undecoded bytes stay bounded too.
/// - **Output.** What the client has not read may stay above `slow_client_bytes` only for `slow_client_grace_s`
///   (a burst drains; a stalled reader does not), and never above eight times that; then the connection is closed
///   at once, and the owner hears of it as a disconnect from that instant.
/// - **Silence.** A client that sends nothing for `idle_timeout_s` is told `* BYE reason=idle` and closed.
///
/// It never calls the owner directly: everything goes through the owner's event loop, so the owner is never
/// re-entered from inside its own turn. The owner may call it directly when both share a loop.
final class ClientConnection: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    /// The bounds of one connection (`[server]` settings).
    struct Limits: Sendable {
        var maxLineBytes: Int
        var maxPipelined: Int
        var slowClientBytes: Int
        var slowClientGrace: TimeAmount
        var idleTimeout: TimeAmount?
        /// Counts the connections closed as too slow.
        var metrics: KefuMetrics? = nil
    }

    /// What the connection does once a batch of lines is written.
    enum AfterDelivery: Sendable {
        case keepGoing
        /// Tell the owner when the client has read it (the next part of a long answer may follow).
        case notifyWhenDrained
        /// Close once it is written (QUIT, BYE, input ended and answered).
        case close
    }

    let session: SessionID
    /// Whether a restart can hand this connection to the next process (a plain TCP socket can; a WebSocket's framing
    /// lives in this process, so it is closed with `BYE reason=restart` and its client reconnects).
    let carriesOver: Bool
    /// The routing owner of the shop the connection is with: shop `default`'s until a `LOGIN` names another.
    private var owner: OwnerLink
    private let limits: Limits
    private let census: ConnectionCensus
    private let logger: Logger

    private var decoder: LineFrameDecoder
    /// Bytes read and not decoded yet: an unfinished line, or lines held back while too many are unanswered.
    private var undecoded: ByteBuffer?
    /// Lines decoded in this read burst, not yet handed to the owner.
    private var batch: [ClientRequest] = []
    /// Lines handed to the owner whose completion has not been written yet.
    private var unanswered = 0
    /// NIO asked for a read while input was held back; it is done once there is room again.
    private var readHeld = false
    /// A `LOGIN` naming another shop than the owner's went out: no line follows it until it is answered, so that
    /// the owner can hand the connection to that shop's owner with nothing of it in flight.
    private var awaitingLogin = false
    private var context: ChannelHandlerContext?
    private var frozen = false
    private var detached = false
    private var inputEnded = false
    private var inputEndPosted = false
    private var closing = false
    private var drainWanted = false
    private var lastInputAt = NIODeadline.now()
    private var idleCheck: Scheduled<Void>?
    private var slowCheck: Scheduled<Void>?

    /// - Parameters:
    ///   - leftover: bytes the previous process read from this connection without completing a line (a restart that
    ///     kept the connection); they are decoded before anything read from the socket.
    ///   - discarding: whether the previous process was skipping an overlong line.
    init(
        session: SessionID, owner: OwnerLink, limits: Limits, census: ConnectionCensus, logger: Logger,
        leftover: [UInt8] = [], discarding: Bool = false, carriesOver: Bool = true
    ) {
        self.carriesOver = carriesOver
        self.session = session
        self.owner = owner
        self.limits = limits
        self.census = census
        self.logger = logger
        decoder = LineFrameDecoder(maxLineBytes: limits.maxLineBytes, discarding: discarding)
        if !leftover.isEmpty { undecoded = ByteBuffer(bytes: leftover) }
    }

    /// This connection as the owner holds it.
    func link(on loop: any EventLoop) -> ConnectionLink {
        ConnectionLink(
            session: session, handler: NIOLoopBound(self, eventLoop: loop), carriesOver: carriesOver,
            peer: context?.channel.remoteAddress?.ipAddress ?? "local")
    }

    // MARK: - Channel events

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        census.joined(link(on: context.eventLoop))
        // Writability follows the slow-client bound: above it the grace starts, below half of it it ends.
        let high = limits.slowClientBytes
        try? context.channel.syncOptions?.setOption(
            .writeBufferWaterMark, value: ChannelOptions.Types.WriteBufferWaterMark(low: high / 2, high: high))
        scheduleIdleCheck(context: context)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        idleCheck?.cancel()
        slowCheck?.cancel()
        self.context = nil
        census.left(session)
    }

    func channelActive(context: ChannelHandlerContext) {
        context.fireChannelActive()
        // A taken-over connection's leftover bytes may already hold whole lines.
        if undecoded != nil {
            decodeAvailable()
            postBatch()
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var incoming = unwrapInboundIn(data)
        lastInputAt = .now()
        if undecoded == nil {
            undecoded = incoming
        } else {
            undecoded!.writeBuffer(&incoming)
        }
        // Frozen: whatever a read still in flight brings is kept whole for the next process.
        guard !frozen else { return }
        decodeAvailable()
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        postBatch()
        context.fireChannelReadComplete()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case .inputClosed = event as? ChannelEvent {
            // The client finished sending (EOF or half-close, as `printf ... | nc` does): it still gets every reply;
            // the owner closes the session after the last one. Lines held back are decoded first.
            inputEnded = true
            postBatch()
            finishInputIfDone()
        }
        context.fireUserInboundEventTriggered(event)
    }

    func channelInactive(context: ChannelHandlerContext) {
        idleCheck?.cancel()
        slowCheck?.cancel()
        // A connection handed over is not a disconnect: the agent is still there, in the next process.
        if !detached { owner.post(.disconnected(session)) }
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        logger.debug("connection error", metadata: ["session": "\(session)", "error": "\(error)"])
        context.close(promise: nil)
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable {
            slowCheck?.cancel()
            slowCheck = nil
            if drainWanted {
                drainWanted = false
                owner.post(.drained(session))
            }
            resumeInput()
        } else if slowCheck == nil {
            // Above the bound: a burst drains within the grace, a stalled reader does not.
            let bound = NIOLoopBound(self, eventLoop: context.eventLoop)
            slowCheck = context.eventLoop.scheduleTask(in: limits.slowClientGrace) {
                bound.value.slowCheck = nil
                if let context = bound.value.context, !context.channel.isWritable { bound.value.tooSlow("stayed") }
            }
        }
        context.fireChannelWritabilityChanged()
    }

    /// NIO asks to read more from the socket: not while too many lines wait for their completion, or while lines
    /// already read wait to be decoded, or while the client has more than the bound of output unread (a client that
    /// does not read its replies is not read either), or once frozen for a restart.
    func read(context: ChannelHandlerContext) {
        if frozen || inputEnded || heldBack || !context.channel.isWritable {
            readHeld = true
            return
        }
        context.read()
    }

    // MARK: - Input

    /// Whether more lines may go to the owner now: fewer than `max_pipelined` unanswered, and the client reading what
    /// it is sent (lines already read wait too, not only the socket).
    private var roomForLines: Bool {
        !awaitingLogin && unanswered + batch.count < limits.maxPipelined && (context?.channel.isWritable ?? true)
    }

    /// Lines read but held back because the client has too many unanswered.
    private var heldBack: Bool { !roomForLines && (undecoded?.readableBytes ?? 0) > 0 }

    private func decodeAvailable() {
        guard !frozen, var pending = undecoded else { return }
        undecoded = nil
        while roomForLines, let line = decoder.nextLine(&pending) {
            let request = ClientRequest(line)
            batch.append(request)
            if let shop = request.loginShop, shop != owner.shop { awaitingLogin = true }
        }
        if pending.readableBytes > 0 {
            pending.discardReadBytes()
            undecoded = pending
        }
    }

    private func postBatch() {
        guard !batch.isEmpty else { return }
        unanswered += batch.count
        owner.post(.requests(session, batch))
        batch = []
    }

    /// Once the client's input has ended and every whole line it sent is with the owner.
    private func finishInputIfDone() {
        // Not while a LOGIN for another shop is unanswered: the end goes to the owner that answers it.
        guard inputEnded, !inputEndPosted, !frozen, !heldBack, !awaitingLogin else { return }
        inputEndPosted = true
        // A last line without LF is dropped: the client did not finish it.
        undecoded = nil
        owner.post(.inputEnded(session))
    }

    /// Completions went out: decode what was held back, then read the socket again.
    private func resumeInput() {
        guard !frozen, let context else { return }
        // Half the bound free before resuming, so that a busy pipeline moves in batches rather than line by line.
        guard unanswered <= limits.maxPipelined / 2 else { return }
        decodeAvailable()
        postBatch()
        finishInputIfDone()
        if readHeld && !heldBack && !inputEnded && context.channel.isWritable {
            readHeld = false
            context.read()
        }
    }

    // MARK: - Output (called by the owner, on this loop)

    /// Writes a batch of lines, of which `answered` complete the client's lines.
    func deliver(_ bytes: ByteBuffer, answered: Int, after: AfterDelivery) {
        guard let context, !detached else { return }
        unanswered = max(0, unanswered - answered)
        if awaitingLogin && unanswered == 0 { awaitingLogin = false }
        if bytes.readableBytes > 0 {
            context.write(wrapOutboundOut(bytes), promise: nil)
        }
        switch after {
        case .keepGoing:
            context.flush()
        case .notifyWhenDrained:
            context.flush()
            if context.channel.isWritable {
                owner.post(.drained(session))
            } else {
                drainWanted = true
            }
        case .close:
            closeAfterWriting(context)
            return
        }
        if let buffered = try? context.channel.syncOptions?.getOption(.bufferedWritableBytes),
            buffered > 8 * limits.slowClientBytes
        {
            return tooSlow("went")
        }
        resumeInput()
    }

    /// The connection's `LOGIN` named `next`'s shop: from now on it posts there. The owner it leaves hears it has
    /// moved after everything the connection posted to it before.
    func rebind(to next: OwnerLink) {
        let previous = owner
        owner = next
        previous.post(.movedAway(session))
    }

    /// Closes now, without writing anything more.
    func close() {
        context?.close(promise: nil)
    }

    private func closeAfterWriting(_ context: ChannelHandlerContext) {
        guard !closing else { return }
        closing = true
        let promise = context.eventLoop.makePromise(of: Void.self)
        context.writeAndFlush(wrapOutboundOut(context.channel.allocator.buffer(capacity: 0)), promise: promise)
        promise.futureResult.assumeIsolated().whenComplete { _ in context.close(promise: nil) }
    }

    private func tooSlow(_ how: String) {
        guard let context, !closing else { return }
        closing = true
        limits.metrics?.slowClient()
        let unread = (try? context.channel.syncOptions?.getOption(.bufferedWritableBytes)) ?? 0
        logger.warning(
            "client too slow: closing",
            metadata: [
                "session": "\(session)", "unread_bytes": "\(unread)",
                "why": "\(how) above \(limits.slowClientBytes) bytes unread",
            ])
        context.close(promise: nil)
    }

    // MARK: - Silence

    private func scheduleIdleCheck(context: ChannelHandlerContext) {
        guard let timeout = limits.idleTimeout else { return }
        let bound = NIOLoopBound(self, eventLoop: context.eventLoop)
        idleCheck = context.eventLoop.scheduleTask(deadline: lastInputAt + timeout) {
            bound.value.idleCheckFired()
        }
    }

    private func idleCheckFired() {
        guard let context, let timeout = limits.idleTimeout, !frozen, !closing else { return }
        if NIODeadline.now() < lastInputAt + timeout {
            scheduleIdleCheck(context: context)
            return
        }
        // A dead laptop sends nothing, not even a FIN: silence past the limit closes the connection.
        var farewell = context.channel.allocator.buffer(capacity: 32)
        OutboundLine.bye(reason: .idle).write(to: &farewell)
        context.write(wrapOutboundOut(farewell), promise: nil)
        closeAfterWriting(context)
    }

    // MARK: - Restart that keeps the connection

    /// Stops reading and decoding; the owner hears ``OwnerInput/frozen(_:)`` after the last line decoded.
    func freeze() {
        guard !frozen else { return }
        postBatch()
        frozen = true
        owner.post(.frozen(session))
    }

    /// Once everything written so far has reached the kernel (at most 2 s), gives the connection to `collector`: a
    /// duplicate of its socket and the bytes not decoded, then closes this process's channel in the same event-loop
    /// turn, so that no byte can be read in between. A client whose lines cannot be written in time is closed
    /// instead, and reconnects.
    func carryOver(to collector: RestartCarryOver.Collector) {
        guard let context, !closing else { return }
        let promise = context.eventLoop.makePromise(of: Bool.self)
        let flushed = context.eventLoop.makePromise(of: Void.self)
        context.writeAndFlush(wrapOutboundOut(context.channel.allocator.buffer(capacity: 0)), promise: flushed)
        flushed.futureResult.whenComplete { result in promise.succeed((try? result.get()) != nil) }
        let timeout = context.eventLoop.scheduleTask(in: .seconds(2)) { promise.succeed(false) }
        promise.futureResult.assumeIsolated().whenSuccess { written in
            timeout.cancel()
            guard let context = self.context, !self.detached else { return }
            guard written else {
                self.logger.warning(
                    "connection not handed over: its earlier lines were not written in time",
                    metadata: ["session": "\(self.session)"])
                context.close(promise: nil)
                return
            }
            let duplicate = try? context.pipeline.syncOperations.withUnsafeTransportIfAvailable(
                of: NIOBSDSocket.Handle.self
            ) { fcntl($0, F_DUPFD_CLOEXEC, 0) }
            guard let fd = duplicate ?? nil, fd >= 0 else {
                context.close(promise: nil)
                return
            }
            self.detached = true
            let leftover = self.undecoded.map { Array($0.readableBytesView) } ?? []
            collector.deposit(
                self.session,
                RestartCarryOver.DetachedSocket(fd: fd, leftover: leftover, discarding: self.decoder.isDiscarding))
            context.close(promise: nil)
        }
    }
}

/// One line a client sent, parsed (off the routing owner), with the tag to answer it with.
struct ClientRequest: Sendable {
    var tag: String
    var request: Result<Request, ProtocolError>

    /// For a `LOGIN`, the shop it names (`default` without `shop=`); nil for any other line.
    var loginShop: String? {
        guard case .success(.login(_, _, _, let shop)) = request else { return nil }
        return shop ?? NodeConfiguration.defaultShop
    }

    init(_ frame: InboundLine) {
        switch frame {
        case .tooLong(let prefix):
            tag = ClientLine.replyTag(for: prefix)
            request = .failure(ProtocolError(.lineTooLong, "line longer than the limit was discarded"))
        case .line(let bytes):
            switch ClientLine.parse(bytes) {
            case .failure(let error):
                tag = ClientLine.replyTag(for: bytes)
                request = .failure(error)
            case .success(let line):
                tag = line.tag
                do {
                    request = .success(try Request(line))
                } catch {
                    request = .failure(error)
                }
            }
        }
    }
}

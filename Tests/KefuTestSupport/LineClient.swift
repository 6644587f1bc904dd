import KefuProtocol
import NIOCore
import NIOPosix
import NIOSSL

/// A protocol client for end-to-end tests: connects over loopback TCP, sends lines, and waits for lines with a
/// timeout. Fully async, so it never blocks the cooperative threads the daemon under test also runs on.
public final class LineClient: LineConversation {
    public struct Timeout: Error, CustomStringConvertible {
        public let waitingFor: String
        public let received: [String]
        public var description: String { "timed out waiting for \(waitingFor); received so far: \(received)" }
    }

    private let channel: any Channel
    private let outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>
    public let buffer: LineBuffer
    private let reader: Task<Void, Never>

    /// How a TLS client connects: the authority it trusts for the server, and the certificate it presents (if any).
    public struct TLS: Sendable {
        public var trustedAuthority: String
        public var certificate: String?
        public var key: String?

        public init(trustedAuthority: String, certificate: String? = nil, key: String? = nil) {
            self.trustedAuthority = trustedAuthority
            self.certificate = certificate
            self.key = key
        }

        func context() throws -> NIOSSLContext {
            var configuration = TLSConfiguration.makeClientConfiguration()
            configuration.trustRoots = .file(trustedAuthority)
            if let certificate, let key {
                configuration.certificateChain = try NIOSSLCertificate.fromPEMFile(certificate).map { .certificate($0) }
                configuration.privateKey = .privateKey(try NIOSSLPrivateKey(file: key, format: .pem))
            }
            return try NIOSSLContext(configuration: configuration)
        }
    }

    /// `from`: the local address to connect from (any of 127.0.0.0/8 on loopback), so that a test can be several
    /// client addresses.
    public static func connect(
        host: String = "127.0.0.1", port: Int, tls: TLS? = nil, from: String? = nil
    ) async throws -> LineClient {
        let context = try tls?.context()
        var bootstrap = ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
        if let from { bootstrap = bootstrap.bind(to: try SocketAddress(ipAddress: from, port: 0)) }
        let channel = try await bootstrap
            .connect(host: host, port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let context {
                        // The server's certificate is checked against the address (its IP subjectAltName).
                        try channel.pipeline.syncOperations.addHandler(
                            try NIOSSLClientHandler(context: context, serverHostname: nil))
                    }
                    try channel.pipeline.syncOperations.addHandler(
                        ByteToMessageHandler(LineFrameDecoder(maxLineBytes: 1 << 24))
                    )
                    return try NIOAsyncChannel<InboundLine, ByteBuffer>(
                        wrappingChannelSynchronously: channel,
                        configuration: .init(isOutboundHalfClosureEnabled: true)
                    )
                }
            }
        let buffer = LineBuffer()
        let (writers, writerContinuation) = AsyncStream<NIOAsyncChannelOutboundWriter<ByteBuffer>>.makeStream()
        let reader = Task {
            do {
                try await channel.executeThenClose { inbound, outbound in
                    writerContinuation.yield(outbound)
                    writerContinuation.finish()
                    for try await frame in inbound {
                        if case .line(let bytes) = frame { await buffer.append(String(buffer: bytes)) }
                    }
                }
            } catch {}
            writerContinuation.finish()
            await buffer.finish()
        }
        var iterator = writers.makeAsyncIterator()
        guard let outbound = await iterator.next() else { throw ChannelError.alreadyClosed }
        return LineClient(channel: channel.channel, outbound: outbound, buffer: buffer, reader: reader)
    }

    private init(
        channel: any Channel, outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>, buffer: LineBuffer,
        reader: Task<Void, Never>
    ) {
        self.channel = channel
        self.outbound = outbound
        self.buffer = buffer
        self.reader = reader
    }

    /// Sends one line (LF added).
    public func send(_ line: String) async throws {
        var bytes = ByteBuffer(string: line)
        bytes.writeInteger(UInt8(ascii: "\n"))
        try await outbound.write(bytes)
    }

    /// Sends raw bytes as they are (for framing and encoding tests).
    public func sendRaw(_ bytes: [UInt8]) async throws {
        try await outbound.write(ByteBuffer(bytes: bytes))
    }

    /// Half-closes the connection: the server sees the end of input but may still answer (like `printf | nc`).
    public func finishSending() {
        outbound.finish()
    }

    /// True when the server has closed the connection and every line has been read.
    public func isClosedByServer(timeout: Duration = .seconds(5)) async -> Bool {
        await buffer.waitForEnd(timeout: timeout)
    }

    public func close() async {
        try? await channel.close()
        reader.cancel()
    }
}


/// What a test does with a line-protocol connection, whatever carries it (TCP: `LineClient`; WebSocket:
/// `WebSocketLineClient`): send a line, wait for lines.
public protocol LineConversation: Sendable {
    /// Sends one line.
    func send(_ line: String) async throws
    /// Lines received, in order.
    var buffer: LineBuffer { get }
}

extension LineConversation {
    /// Lines received but not consumed yet.
    public func unread() async -> [String] { await buffer.pending }

    /// The next line, in order.
    public func next(timeout: Duration = .seconds(5)) async throws -> String {
        try await nextMatching("any line", timeout: timeout) { _ in true }
    }

    /// Skips lines until one starts with `prefix`, and returns it.
    @discardableResult
    public func expect(_ prefix: String, timeout: Duration = .seconds(5)) async throws -> String {
        try await nextMatching("a line starting with \(prefix)", timeout: timeout) { $0.hasPrefix(prefix) }
    }

    /// Sends a tagged command and returns every line up to and including its completion (`TAG OK`/`TAG ERR`).
    public func command(_ line: String, timeout: Duration = .seconds(5)) async throws -> [String] {
        let tag = String(line.prefix { $0 != " " })
        try await send(line)
        return try await until(tag: tag, timeout: timeout)
    }

    /// Lines up to and including the completion for `tag`.
    public func until(tag: String, timeout: Duration = .seconds(5)) async throws -> [String] {
        var lines: [String] = []
        while true {
            let line = try await next(timeout: timeout)
            lines.append(line)
            if line.hasPrefix("\(tag) OK") || line.hasPrefix("\(tag) ERR") { return lines }
        }
    }

    /// The completion line of a tagged command (events before it are discarded).
    public func completion(_ line: String, timeout: Duration = .seconds(5)) async throws -> String {
        try await command(line, timeout: timeout).last ?? ""
    }

    func nextMatching(
        _ description: String, timeout: Duration, _ predicate: @escaping @Sendable (String) -> Bool
    ) async throws -> String {
        var skipped: [String] = []
        let deadline = ContinuousClock.now + timeout
        while true {
            guard let line = await buffer.next(until: deadline) else {
                throw LineClient.Timeout(waitingFor: description, received: skipped)
            }
            if predicate(line) { return line }
            skipped.append(line)
        }
    }
}

/// Lines received by a client, with waiting.
public actor LineBuffer {
    /// Lines received; those before `head` were read (a head index rather than removing from the front: a long
    /// answer of tens of thousands of lines would otherwise cost quadratic time).
    private var lines: [String] = []
    private var head = 0
    private var ended = false
    private var waiters: [UInt64: CheckedContinuation<Void, Never>] = [:]
    private var nextWaiter: UInt64 = 0

    var pending: [String] { Array(lines[head...]) }

    func append(_ line: String) {
        lines.append(line)
        wakeAll()
    }

    func finish() {
        ended = true
        wakeAll()
    }

    private func wakeAll() {
        let current = waiters
        waiters = [:]
        current.values.forEach { $0.resume() }
    }

    /// The next line, or nil when the deadline passes or the connection ended with nothing left.
    func next(until deadline: ContinuousClock.Instant) async -> String? {
        while head == lines.count {
            if ended || ContinuousClock.now >= deadline { return nil }
            await wait(until: deadline)
        }
        let line = lines[head]
        head += 1
        if head > 4096 && head * 2 > lines.count {
            lines.removeFirst(head)
            head = 0
        }
        return line
    }

    func waitForEnd(timeout: Duration) async -> Bool {
        let deadline = ContinuousClock.now + timeout
        while !ended {
            if ContinuousClock.now >= deadline { return false }
            await wait(until: deadline)
        }
        return true
    }

    private func wait(until deadline: ContinuousClock.Instant) async {
        nextWaiter += 1
        let id = nextWaiter
        let timer = Task { [weak self] in
            try? await Task.sleep(until: deadline)
            await self?.timeOut(id)
        }
        await withCheckedContinuation { continuation in
            waiters[id] = continuation
        }
        timer.cancel()
    }

    private func timeOut(_ id: UInt64) {
        waiters.removeValue(forKey: id)?.resume()
    }
}

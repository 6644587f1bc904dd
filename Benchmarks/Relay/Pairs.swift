import NIOCore
import NIOPosix

/// A fixed-capacity FIFO of send instants (a pair's messages in flight, in order).
struct InstantQueue {
    private var slots: [UInt64] = Array(repeating: 0, count: 1 << 16)
    private var head = 0
    private(set) var count = 0

    mutating func append(_ value: UInt64) {
        if count == slots.count {
            var grown = Array(repeating: UInt64(0), count: slots.count * 2)
            for index in 0..<count { grown[index] = slots[(head + index) & (slots.count - 1)] }
            slots = grown
            head = 0
        }
        slots[(head + count) & (slots.count - 1)] = value
        count += 1
    }

    mutating func removeFirst() -> UInt64? {
        guard count > 0 else { return nil }
        let value = slots[head]
        head = (head + 1) & (slots.count - 1)
        count -= 1
        return value
    }
}

/// What one pair measured while `measuring` was on.
struct PairSample: Sendable {
    /// Messages done: delivered to the receiver, or acknowledged to the sender (`Pair.Pace`).
    var delivered = 0
    /// With `Pace.acknowledged`: messages the receiver got meanwhile.
    var received = 0
    var latenciesMicroseconds: [UInt32] = []
    var errors = 0
}

/// A customer writing to an agent (kefud) or a producer writing to a consumer's stream (redis), both connections on
/// one event loop. Closed loop: `window` messages in flight, one more sent for each delivered (or, with `pace`
/// `.acknowledged`, for each acknowledged to the sender: kefud's `OK seq=`, the commit). Open loop: messages sent at
/// `rate` a second, whatever is in flight.
final class Pair {
    enum Pace {
        case delivered, acknowledged
    }

    enum Kind {
        case kefud(conversation: Int)
        case redis(stream: String)
    }

    let sender: Conn
    let receiver: Conn
    let kind: Kind
    let loop: any EventLoop
    private let message: [UInt8]
    private var inFlight = InstantQueue()
    private var window = 1
    var pace = Pace.delivered
    private var running = false
    var measuring = false
    private var sample = PairSample()
    private var lastID = "0-0"
    private var readPending = false
    private var pacer: Scheduled<Void>?
    private var paced = 0
    private var pacedSince: UInt64 = 0

    init(sender: Conn, receiver: Conn, kind: Kind, loop: any EventLoop, payload: String) {
        self.sender = sender
        self.receiver = receiver
        self.kind = kind
        self.loop = loop
        switch kind {
        case .kefud(let conversation):
            message = Array("t SEND \(conversation) :\(payload)\n".utf8)
        case .redis(let stream):
            message = RESP.command(["XADD", stream, "*", "m", payload])
        }
        sender.onFrame = { [self] view in
            // kefud: `t OK seq=<n>`; redis: the entry id. Anything else is a failure worth counting.
            switch self.kind {
            case .kefud:
                if !view.starts(with: "t OK".utf8) {
                    self.sample.errors += 1
                } else if self.pace == .acknowledged {
                    self.done(1)
                }
            case .redis: if view.first == UInt8(ascii: "-") { self.sample.errors += 1 }
            }
        }
        receiver.onFrame = { [self] view in self.received(view) }
        // Whichever side's read sent more (a delivery or, with `.acknowledged`, an acknowledgement), it goes out now.
        let flush = { [self] in
            self.sender.flush()
            self.receiver.flush()
        }
        receiver.onReadComplete = flush
        sender.onReadComplete = flush
    }

    /// Closed loop with `window` messages in flight.
    func start(window: Int) {
        self.window = window
        running = true
        for _ in 0..<window { send() }
        sender.flush()
        readMore()
    }

    /// Open loop at `rate` messages a second.
    func start(rate: Double) {
        running = true
        window = 0
        paced = 0
        pacedSince = monotonicNanoseconds()
        readMore()
        pace(rate)
    }

    /// Every millisecond, sends what is due by now.
    private func pace(_ rate: Double) {
        pacer = loop.assumeIsolated().scheduleTask(in: .milliseconds(1)) { [self] in
            guard self.running else { return }
            let elapsed = Double(monotonicNanoseconds() - self.pacedSince) / 1e9
            let due = Int(elapsed * rate) - self.paced
            if due > 0 {
                for _ in 0..<due { self.send() }
                self.paced += due
                self.sender.flush()
            }
            self.pace(rate)
        }
    }

    func stop() {
        running = false
        pacer?.cancel()
        pacer = nil
    }

    /// Closes both connections and lets go of the callbacks (which hold the pair).
    func close() {
        stop()
        for conn in [sender, receiver] {
            conn.onFrame = { _ in }
            conn.onReadComplete = {}
            conn.channel.close(promise: nil)
        }
    }

    var inFlightCount: Int { inFlight.count }

    func takeSample() -> PairSample {
        defer { sample = PairSample() }
        return sample
    }

    private func send() {
        inFlight.append(monotonicNanoseconds())
        sender.write(bytes: message)
    }

    private func done(_ count: Int) {
        let now = monotonicNanoseconds()
        for _ in 0..<count {
            guard let sent = inFlight.removeFirst() else { return }
            if measuring {
                sample.delivered += 1
                sample.latenciesMicroseconds.append(UInt32(min((now - sent) / 1000, UInt64(UInt32.max))))
            }
            if running && window > 0 { send() }
        }
    }

    private func received(_ view: ByteBufferView) {
        switch kind {
        case .kefud:
            guard view.starts(with: "* MSG ".utf8) else { return }
            if pace == .delivered {
                done(1)
            } else if measuring {
                sample.received += 1
            }
        case .redis:
            readPending = false
            let (count, last) = RESP.xreadEntries(view)
            if let last { lastID = last }
            done(count)
            readMore()
        }
    }

    /// redis: one blocking XREAD outstanding at a time, from the last entry read.
    private func readMore() {
        guard case .redis(let stream) = kind, !readPending else { return }
        readPending = true
        receiver.write(bytes: RESP.command(["XREAD", "BLOCK", "0", "COUNT", "1000", "STREAMS", stream, lastID]))
        receiver.flush()
    }
}

/// Sets up `count` pairs on kefud: agent `a<i>` logs in, then buyer `c<i>` opens a conversation, which goes to that
/// agent (every earlier agent is full: one chat each).
/// `count` buyer/agent pairs on kefud; with `shops` (a cluster), pair `i` logs in to shop `i % shops.count` at the
/// node serving it.
func kefudPairs(
    count: Int, port: Int, group: any EventLoopGroup, payload: String, shops: [(name: String, port: Int)] = []
) throws -> [NIOLoopBound<Pair>] {
    var pairs: [NIOLoopBound<Pair>] = []
    for index in 0..<count {
        let loop = group.next()
        let shop = shops.isEmpty ? nil : shops[index % shops.count]
        let port = shop?.port ?? port
        let suffix = shop.map { " shop=\($0.name)" } ?? ""
        let agent = try connect(port: port, on: loop, framing: .lines).wait()
        let customer = try connect(port: port, on: loop, framing: .lines).wait()
        let pair = try loop.flatSubmit { () -> EventLoopFuture<NIOLoopBound<Pair>> in
            let agentConn = agent.value
            let customerConn = customer.value
            return agentConn.request("a LOGIN agent a\(index) \(Secrets.agent.0)\(suffix)") { $0.hasPrefix("a ") }
                .assumeIsolated()
                .flatMap { _ in
                    customerConn.request("c LOGIN customer c\(index) \(Secrets.customers.0)\(suffix)") {
                        $0.hasPrefix("c ")
                    }
                }
                .flatMap { _ in customerConn.request("o OPEN relay :hello") { $0.hasPrefix("* JOINED") } }
                .flatMapThrowing { lines in
                    guard let opened = lines.first(where: { $0.hasPrefix("o OK conv=") }),
                        let conversation = Int(opened.dropFirst("o OK conv=".count)),
                        lines.last == "* JOINED conv=\(conversation) agent=a\(index)"
                    else { throw RelayFailure("pair \(index) not set up: \(lines)") }
                    return NIOLoopBound(
                        Pair(
                            sender: customerConn, receiver: agentConn, kind: .kefud(conversation: conversation),
                            loop: loop, payload: payload), eventLoop: loop)
                }
                .nonisolated()
        }.wait()
        // The agent's ASSIGNED line arrived before it was set to count messages; nothing else is pending.
        pairs.append(pair)
    }
    return pairs
}

/// `count` producer/consumer pairs on redis, stream `s<i>` each.
func redisPairs(count: Int, port: Int, group: any EventLoopGroup, payload: String) throws -> [NIOLoopBound<Pair>] {
    var pairs: [NIOLoopBound<Pair>] = []
    for index in 0..<count {
        let loop = group.next()
        let producer = try connect(port: port, on: loop, framing: .resp).wait()
        let consumer = try connect(port: port, on: loop, framing: .resp).wait()
        let stream = "s\(index)-\(monotonicNanoseconds())"
        let pair = try loop.submit {
            NIOLoopBound(
                Pair(
                    sender: producer.value, receiver: consumer.value, kind: .redis(stream: stream), loop: loop,
                    payload: payload), eventLoop: loop)
        }.wait()
        pairs.append(pair)
    }
    return pairs
}

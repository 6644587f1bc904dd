import Foundation
import KefuTestSupport
import Synchronization
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Issue #14's black-box run: the real kefud takes random and mutated protocol lines from many connections at once —
/// valid lines of every verb from agents, buyers, gateways and supervisors, and the same lines with bytes flipped,
/// cut short, made huge, made invalid UTF-8, split by a CR, stripped of their tag, or replaced by noise — pipelined
/// far ahead of the answers, while the answers are read. Then: kefud still runs; every line of every connection got
/// its completion (or the connection was closed with `* BYE`); no connection stalls; a fresh agent and buyer still
/// have a whole conversation; and kefud's memory stayed within a stated bound of its idle size throughout (the queue is
/// bounded by `max_queue`, every agent by `max_chats`, so what kefud holds is bounded whatever the line count).
///
/// `KEFU_BLACKBOX_LINES` sets the total: 200,000 by default and in `make test` (about 100 s on 2 cores against the
/// debug kefud), 1,000,000 in `make fuzz-blackbox`. `KEFU_BLACKBOX_SEED` replays a run (each run prints its seed).
@Suite(.serialized) struct BlackBoxFuzzTests {
    static let lines = ProcessInfo.processInfo.environment["KEFU_BLACKBOX_LINES"].flatMap { Int($0) } ?? 200_000
    static let seed =
        ProcessInfo.processInfo.environment["KEFU_BLACKBOX_SEED"].flatMap { UInt64($0) }
        ?? UInt64.random(in: 1...UInt64(UInt32.max))
    static let connections = 32
    /// kefud's resident memory may grow this much above its size before the run (MiB).
    static let memoryBoundMiB = 160

    @Test func mutatedLinesFromManyConnectionsBreakNothing() async throws {
        let directory = try TemporaryDirectory(prefix: "kefud-blackbox")
        let config = try writeConfiguration(
            testConfiguration(
                server: "max_pipelined = 64",
                extra: """
                    [[skill]]
                    name = "presales"
                    max_queue = 500

                    [[skill]]
                    name = "refund"
                    max_queue = 500

                    [[skill]]
                    name = "returns"
                    max_queue = 500

                    [[skill]]
                    name = "complaint"
                    max_queue = 500

                    [[skill]]
                    name = "logistics"
                    max_queue = 500

                    [[skill]]
                    name = "probe"
                    max_queue = 500

                    [[agent]]
                    id = "prober"
                    token_sha256 = "\(Secrets.prober.1)"
                    max_chats = 5
                    skills = { probe = 1 }
                    """), in: directory)
        let kefud = try KefudProcess(
            arguments: ["--config", config, "--state-dir", directory.path + "/var"], workingDirectory: directory.path)
        try await kefud.waitUntilReady()
        defer { kefud.signal(SIGKILL) }
        let pid = kefud.process.processIdentifier
        let idle = residentKiB(of: pid)
        let sampling = PeakSampler(pid: pid)
        let port = kefud.port
        let seed = Self.seed
        print("black-box: \(Self.lines) lines over \(Self.connections) connections, KEFU_BLACKBOX_SEED=\(seed)")

        let started = ContinuousClock.now
        let results = await withTaskGroup(of: ConnectionReport.self) { group in
            for index in 0..<Self.connections {
                let share = Self.lines / Self.connections + (index < Self.lines % Self.connections ? 1 : 0)
                group.addTask {
                    await onOwnThread {
                        var client = FuzzClient(index: index, port: port, seed: seed &+ UInt64(index) &* 0x9E37_79B9)
                        return client.run(lines: share)
                    }
                }
            }
            var all: [ConnectionReport] = []
            for await report in group { all.append(report) }
            return all.sorted { $0.index < $1.index }
        }
        let elapsed = ContinuousClock.now - started
        let peak = sampling.stop()
        let kefudCPU = cpuSeconds(of: pid)
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        let sent = results.reduce(0) { $0 + $1.sent }
        let completions = results.reduce(0) { $0 + $1.completions }
        print(
            "black-box: \(sent) lines in \(String(format: "%.1f", seconds)) s (\(Int(Double(sent) / seconds)) lines/s), "
                + "\(completions) completions, \(results.reduce(0) { $0 + $1.received }) lines received, "
                + "\(results.reduce(0) { $0 + $1.byes }) BYEs, kefud used \(Int(kefudCPU)) s of CPU, "
                + "RSS \(idle / 1024) MiB idle, \(peak / 1024) MiB peak")

        #expect(kefud.process.isRunning, "kefud is gone:\n\(kefud.output.suffix(4000))")
        #expect(sent == Self.lines)
        for report in results {
            #expect(report.failure == nil, "connection \(report.index): \(report.failure ?? "")")
        }
        #expect(
            peak - idle < Self.memoryBoundMiB * 1024,
            "kefud grew from \(idle / 1024) MiB to \(peak / 1024) MiB (bound: \(Self.memoryBoundMiB) MiB)")

        // Nothing is stuck: a fresh agent and buyer have a whole conversation.
        let agent = try await LineClient.connect(port: port)
        #expect(try await agent.completion("l LOGIN agent prober \(Secrets.prober.0)").hasPrefix("l OK"))
        let buyer = try await LineClient.connect(port: port)
        #expect(try await buyer.completion("l LOGIN customer probe-buyer \(Secrets.gateway.0)").hasPrefix("l OK"))
        let opened = try await buyer.completion("o OPEN probe :还在吗", timeout: .seconds(30))
        let conversation = try #require(field("conv", in: opened), "\(opened)")
        let assigned = try await agent.expect("* ASSIGNED conv=\(conversation)", timeout: .seconds(30))
        #expect(assigned.hasSuffix(":还在吗"))
        #expect(try await agent.completion("s SEND \(conversation) :在的", timeout: .seconds(30)) == "s OK seq=2")
        _ = try await buyer.expect("* MSG conv=\(conversation) from=agent :在的", timeout: .seconds(30))
        #expect(try await buyer.completion("c CLOSE \(conversation)", timeout: .seconds(30)) == "c OK")
        let history = try await buyer.command("h HISTORY \(conversation)", timeout: .seconds(30))
        #expect(history.last == "h OK count=2")
        #expect(kefud.process.isRunning)
    }
}

/// The CPU time a process has used (user and system, from `/proc/<pid>/stat`), in seconds.
func cpuSeconds(of pid: Int32) -> Double {
    guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
        let close = stat.lastIndex(of: ")")
    else { return 0 }
    // After the command's closing parenthesis: state is field 3, utime 14 and stime 15.
    let fields = stat[stat.index(after: close)...].split(separator: " ")
    guard fields.count > 12, let user = Double(fields[11]), let system = Double(fields[12]) else { return 0 }
    return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
}

extension Secrets {
    /// The black-box run's own agent, whose secret no fuzzing connection knows.
    static let prober = ("prober-secret", "4ba526c5b9e258e4a8b7bcc69170dbf2cbde534d6d013c61cd5809fc73e8b988")
}

/// What one fuzzing connection saw.
struct ConnectionReport: Sendable {
    var index: Int
    var sent = 0
    var completions = 0
    var received = 0
    /// Times kefud closed the connection with `* BYE` (each time it reconnected and went on).
    var byes = 0
    /// Why the connection failed the run; nil when every line it sent was answered.
    var failure: String?
}

/// One connection's client: logs in as its role, writes generated lines ahead of the answers (up to `window`
/// unanswered), reads everything that comes back, counts the completions (`TAG OK …` / `TAG ERR …`: every framed line
/// gets exactly one), and reconnects when kefud closes the connection with `* BYE`.
struct FuzzClient {
    let index: Int
    let port: Int
    var random: SplitMix
    var generator: LineGenerator
    /// Lines sent ahead of their completions, at most (kefud reads `max_pipelined` = 64 at a time, TCP holds the rest).
    let window = 200
    var report: ConnectionReport

    init(index: Int, port: Int, seed: UInt64) {
        self.index = index
        self.port = port
        random = SplitMix(seed)
        generator = LineGenerator(role: LineGenerator.Role.mix[index % LineGenerator.Role.mix.count], index: index)
        report = ConnectionReport(index: index)
    }

    mutating func run(lines total: Int) -> ConnectionReport {
        while report.sent < total && report.failure == nil {
            guard let socket = try? RawSocket(port: port) else {
                report.failure = "cannot connect"
                break
            }
            guard session(socket, lines: total - report.sent) else { break }
            report.byes += 1
        }
        if report.failure == nil {
            // A connection of this client's still answers at the end.
            if let socket = try? RawSocket(port: port) {
                socket.write("zz PING\n")
                let answer = socket.readLines(timeout: 10)
                if !answer.contains("zz OK") { report.failure = "a new connection got \(answer) for PING" }
            }
        }
        return report
    }

    /// One connection: a login, then up to `lines` generated lines, until each is answered. Returns true when kefud
    /// closed the connection with `* BYE` first (the caller reconnects); lines whose LF reached the socket count as
    /// sent.
    private mutating func session(_ socket: RawSocket, lines: Int) -> Bool {
        let fd = socket.fd
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
        var output = generator.login()
        var written = 0
        // Offsets in `output` just past each queued line's LF, for the lines not yet wholly written.
        var lineEnds = [output.count]
        var queued = 1  // lines queued, the login included
        var delivered = 0  // lines whose LF went to the socket, the login included
        var completions = 0
        var pending: [UInt8] = []
        var lastLines: [String] = []
        var sawBye = false
        var lastProgress = ContinuousClock.now
        var chunk = [UInt8](repeating: 0, count: 65536)
        defer { report.sent += max(0, delivered - 1) }
        while completions < lines + 1 {
            // Queue more lines while fewer than `window` are unanswered.
            while queued < lines + 1 && queued - completions < window && output.count - written < 1 << 20 {
                output += generator.next(&random)
                output.append(UInt8(ascii: "\n"))
                lineEnds.append(output.count)
                queued += 1
            }
            var poller = pollfd(
                fd: fd, events: Int16(POLLIN) | (written < output.count ? Int16(POLLOUT) : 0), revents: 0)
            let ready = poll(&poller, 1, 100)
            if ready > 0 && poller.revents & Int16(POLLOUT) != 0 && written < output.count {
                let count = output[written...].withUnsafeBytes {
                    send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL))
                }
                if count > 0 {
                    written += count
                    lastProgress = .now
                    let done = lineEnds.prefix { $0 <= written }.count
                    lineEnds.removeFirst(done)
                    delivered += done
                    if written == output.count {
                        output.removeAll(keepingCapacity: true)
                        lineEnds.removeAll(keepingCapacity: true)
                        written = 0
                    }
                }
            }
            if ready > 0 && poller.revents & Int16(POLLIN | POLLHUP | POLLERR) != 0 {
                let count = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
                if count == 0 || (count < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
                    // Closed by kefud: only with a word of why.
                    if !sawBye {
                        report.failure =
                            "closed by kefud without * BYE after \(completions) of \(delivered) lines; last: \(lastLines)"
                    }
                    return sawBye
                }
                if count > 0 {
                    lastProgress = .now
                    pending += chunk[0..<count]
                    var start = 0
                    while let newline = pending[start...].firstIndex(of: UInt8(ascii: "\n")) {
                        let line = pending[start..<newline]
                        start = newline + 1
                        report.received += 1
                        if isCompletion(line) {
                            completions += 1
                            report.completions += 1
                        }
                        if line.starts(with: Array("* BYE".utf8)) { sawBye = true }
                        if lastLines.count == 4 { lastLines.removeFirst() }
                        lastLines.append(String(decoding: line.prefix(200), as: UTF8.self))
                    }
                    pending.removeFirst(start)
                    if completions > delivered {
                        report.failure = "\(completions) completions for \(delivered) lines; last: \(lastLines)"
                        return false
                    }
                }
            }
            if ContinuousClock.now - lastProgress > .seconds(60) {
                report.failure =
                    "stuck: \(completions) of \(delivered) lines answered, nothing moved for 60 s; last: \(lastLines)"
                return false
            }
        }
        return false
    }

    /// `TAG OK …` or `TAG ERR …` (an event is `* NAME …`, never `* OK` or `* ERR`).
    private func isCompletion(_ line: ArraySlice<UInt8>) -> Bool {
        guard let space = line.firstIndex(of: UInt8(ascii: " ")) else { return false }
        let rest = line[(space + 1)...]
        return rest.starts(with: Array("OK".utf8))
            && (rest.count == 2 || rest[rest.startIndex + 2] == UInt8(ascii: " "))
            || rest.starts(with: Array("ERR ".utf8))
    }
}

/// A small fast generator (SplitMix64), seeded per connection so that a run can be replayed.
struct SplitMix: RandomNumberGenerator {
    var state: UInt64
    init(_ seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Protocol lines for one role: valid ones of every verb, and mutations of them.
struct LineGenerator {
    enum Role {
        case agent, customer, gateway, supervisor

        /// Of every 8 connections: 2 agents, 3 buyers, 2 gateways, 1 supervisor (a supervisor that sends `WATCH`
        /// gets a copy of every event from then on: more of them would spend the run writing copies).
        static let mix: [Role] = [.agent, .customer, .gateway, .agent, .customer, .gateway, .customer, .supervisor]
    }

    let role: Role
    let index: Int
    var count = 0

    static let skills = ["presales", "refund", "returns", "complaint", "logistics", "nosuch"]
    static let agents = ["alice", "bob", "carol"]
    static let texts = ["在吗", "这件有M码吗?", "亲,有的", "a\\nb", "ok", "退款什么时候到账", "x y z", "\\\\", "😀"]

    func login() -> [UInt8] {
        let line: String
        switch role {
        case .agent:
            let agent = Self.agents[index % 3]
            let secret = [Secrets.alice.0, Secrets.bob.0, Secrets.carol.0][index % 3]
            line = "l LOGIN agent \(agent) \(secret)"
        case .customer: line = "l LOGIN customer fz\(index) \(Secrets.gateway.0)"
        case .gateway: line = "l LOGIN gateway tmall \(Secrets.tmall.0)"
        case .supervisor: line = "l LOGIN supervisor lead \(Secrets.lead.0)"
        }
        return Array((line + "\n").utf8)
    }

    /// The next line, without its LF (and never with one inside: each line sent is one framed line).
    mutating func next(_ random: inout SplitMix) -> [UInt8] {
        count += 1
        var line = Array(valid(&random).utf8)
        if Int.random(in: 0..<100, using: &random) < 50 { mutate(&line, &random) }
        for position in line.indices where line[position] == UInt8(ascii: "\n") { line[position] = UInt8(ascii: "?") }
        return line
    }

    private func valid(_ random: inout SplitMix) -> String {
        let tag = Int.random(in: 0..<10, using: &random) == 0 ? "t" : "t\(count)"
        let conv = Int.random(in: 1...4000, using: &random)
        let text = Self.texts.randomElement(using: &random)!
        let skill = Self.skills.randomElement(using: &random)!
        let customer = role == .gateway ? " customer=g\(Int.random(in: 1...200, using: &random))" : ""
        let agent = Self.agents.randomElement(using: &random)!
        switch Int.random(in: 0..<24, using: &random) {
        case 0, 1: return "\(tag) PING"
        case 2, 3, 4:
            let options = [
                "", " priority=vip", " store=tmall", " lang=en", " store=jd priority=normal", " priority=urgent",
            ].randomElement(using: &random)!
            return "\(tag) OPEN \(skill)\(options)\(customer) :\(text)"
        case 5, 6, 7, 8:
            let options = ["", " auto=1", " ref=r\(Int.random(in: 1...9, using: &random))"].randomElement(
                using: &random)!
            return "\(tag) SEND \(conv)\(options)\(customer) :\(text)"
        case 9: return "\(tag) CLOSE \(conv)\(customer)"
        case 10:
            let page = ["", " after=1 limit=5", " limit=1", " after=0"].randomElement(using: &random)!
            return "\(tag) HISTORY \(conv)\(page)\(customer)"
        case 11: return "\(tag) PRESENCE \(["online", "away", "offline", "online"].randomElement(using: &random)!)"
        case 12:
            let target = Bool.random(using: &random) ? "agent=\(agent)" : "skill=\(skill)"
            return "\(tag) TRANSFER \(conv) \(target) :\(text)"
        case 13: return Bool.random(using: &random) ? "\(tag) NOTE \(conv) :\(text)" : "\(tag) NOTES \(conv)"
        case 14: return "\(tag) HOLD \(conv) :等仓库"
        case 15: return Int.random(in: 0..<10, using: &random) == 0 ? "\(tag) HANDOVER :交接" : "\(tag) DUE \(conv)"
        case 16: return "\(tag) ASSIGN \(conv) \(agent)"
        case 17: return "\(tag) EXPLAIN \(conv)"
        case 18: return "\(tag) QUEUE limit=\(Int.random(in: 1...20, using: &random))"
        case 19: return "\(tag) AGENTS"
        case 20:
            return ["\(tag) CHATS", "\(tag) CHATS unanswered=1", "\(tag) CHATS skill=refund"].randomElement(
                using: &random)!
        case 21: return "\(tag) RATE \(conv) \(Int.random(in: 0...6, using: &random))\(customer) :\(text)"
        case 22:
            // Another login on the same connection (a wrong token, another role, a shop that is not there).
            return [
                "\(tag) LOGIN agent alice wrong", "\(tag) LOGIN customer fz\(index)x \(Secrets.gateway.0)",
                "\(tag) LOGIN agent bob \(Secrets.bob.0) shop=acme",
            ].randomElement(using: &random)!
        default:
            return ["\(tag) WATCH", "\(tag) BOARD", "\(tag) DANCE", "", "   ", "\(tag)"].randomElement(using: &random)!
        }
    }

    private func mutate(_ line: inout [UInt8], _ random: inout SplitMix) {
        let noise: [[UInt8]] = [
            [0xC3, 0x28], [0xED, 0xA0, 0x80], [0xFF], [0xF4, 0x90, 0x80, 0x80], [0xC0, 0xAF], [UInt8(ascii: "\r")],
            Array(" :".utf8), Array("\\".utf8), Array("\\t".utf8), Array("=".utf8), [0], Array(" ".utf8),
        ]
        for _ in 0..<Int.random(in: 1...3, using: &random) {
            switch Int.random(in: 0..<100, using: &random) {
            case 0..<30 where !line.isEmpty:
                line[Int.random(in: line.indices, using: &random)] = UInt8.random(in: 0...255, using: &random)
            case 30..<45 where !line.isEmpty:
                line.removeLast(Int.random(in: 0...line.count, using: &random))
            case 45..<65:
                line.insert(
                    contentsOf: noise.randomElement(using: &random)!, at: Int.random(in: 0...line.count, using: &random)
                )
            case 65..<69 where !line.isEmpty:
                // Huge: beyond max_line_bytes (16 KiB) now and then, long but within it otherwise.
                let size =
                    Int.random(in: 0..<16, using: &random) == 0 ? 40_000 : Int.random(in: 200...3_000, using: &random)
                let copy = line
                while line.count < size { line += copy }
            case 69..<80:
                if let space = line.firstIndex(of: UInt8(ascii: " ")) { line.removeFirst(space + 1) }
            case 80..<88:
                line = (0..<Int.random(in: 0...80, using: &random)).map { _ in UInt8.random(in: 0...255, using: &random)
                }
            default:
                line += noise.randomElement(using: &random)!
            }
        }
    }
}

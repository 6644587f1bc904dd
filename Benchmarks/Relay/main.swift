import Foundation
import NIOCore
import NIOPosix

// The relay benchmark of issue #11: kefud against redis with every write fsynced (`appendonly yes`,
// `appendfsync always`, streams with XADD and blocking XREAD), driven by this one client, side by side in one run.
// See Benchmarks/README.md and the README's Benchmarks section; `make bench-relay` runs it.

struct Options {
    var kefud = "../.build/release/kefud"
    var redis = "/usr/bin/redis-server"
    var pairs = [1, 16, 64]
    var windows = [1, 16]
    var seconds = 10.0
    var warmup = 1.0
    var runs = 3
    var servers = ["kefud", "redis"]
    var parts: Set<String> = ["relay", "idle", "opens", "flood"]
    var idleConnections = 10_000
    var opens = 200_000
    var floodClients = 40
    var floodMessages = 1_000_000
    var clientThreads = 1
    var nodes = 3
    var shops = 3
    var kefuctl = "../.build/release/kefuctl"
    // Environment: RELAY_KEFUD_SERVER adds lines to kefud's [server] table (to try other bounds); RELAY_KEFUD_EXTRA adds
    // tables (`[replay]\nkeep_days = 0`: without the input journal).

    static let usage = """
        usage: Relay [--kefud PATH] [--redis PATH] [--pairs 1,16,64] [--windows 1,16] [--seconds 10] [--runs 3]
                     [--servers kefud,redis] [--parts relay,idle,opens,flood] [--idle-connections 10000]
                     [--opens 200000] [--flood-messages 1000000] [--client-threads 1]
                     [--parts cluster --nodes 3 --shops 3 --kefuctl PATH]  (cluster: root, PostgreSQL, pgbench)
        environment: RELAY_KEFUD_SERVER adds lines to kefud's [server] table, RELAY_KEFUD_EXTRA whole tables;
                     RELAY_SHOW_LOG shows kefud's log
        """

    init(_ arguments: [String]) throws {
        var rest = arguments.makeIterator()
        while let argument = rest.next() {
            func value() throws -> String {
                guard let value = rest.next() else { throw RelayFailure("\(argument) needs a value") }
                return value
            }
            func number<N: LosslessStringConvertible>(_ text: String) throws -> N {
                guard let number = N(text) else { throw RelayFailure("\(argument): not a number: \(text)") }
                return number
            }
            func numbers() throws -> [Int] { try value().split(separator: ",").map { try number(String($0)) } }
            switch argument {
            case "--kefud": kefud = try value()
            case "--redis": redis = try value()
            case "--pairs": pairs = try numbers()
            case "--windows": windows = try numbers()
            case "--seconds": seconds = try number(try value())
            case "--runs": runs = try number(try value())
            case "--servers": servers = try value().split(separator: ",").map(String.init)
            case "--parts": parts = Set(try value().split(separator: ",").map(String.init))
            case "--idle-connections": idleConnections = try number(try value())
            case "--opens": opens = try number(try value())
            case "--flood-messages": floodMessages = try number(try value())
            case "--client-threads": clientThreads = try number(try value())
            case "--nodes": nodes = try number(try value())
            case "--shops": shops = try number(try value())
            case "--kefuctl": kefuctl = try value()
            case "--help", "-h": throw RelayFailure(Self.usage)
            default: throw RelayFailure("unknown argument \(argument)\n\(Self.usage)")
            }
        }
    }
}

/// Prints a line at once, also when the output goes to a file (each result as it comes).
func say(_ line: String) {
    print(line)
    fflush(nil)
}

/// 60 bytes of UTF-8: twenty Chinese characters, as a buyer writes them.
let payload = "亲这件衣服有没有大一码的蓝色现货今天能发吗"

struct PointResult {
    var messagesPerSecond: Double
    var cpuMicrosecondsPerMessage: Double
    var p50AtMax: Double
    var p99AtMax: Double
    var p99AtHalf: Double
    var errors: Int
    /// The open-loop distribution's middle and end, printed for each run (where a tail comes from).
    var p50AtHalf: Double
    var p90AtHalf: Double
    var maxAtHalf: Double
}

func percentile(_ sorted: [UInt32], _ fraction: Double) -> Double {
    guard !sorted.isEmpty else { return .nan }
    return Double(sorted[min(sorted.count - 1, Int(Double(sorted.count) * fraction))])
}

func onEach(_ pairs: [NIOLoopBound<Pair>], _ body: @escaping @Sendable (Pair) -> Void) throws {
    for pair in pairs { try pair.eventLoop.submit { body(pair.value) }.wait() }
}

func collect(_ pairs: [NIOLoopBound<Pair>]) throws -> PairSample {
    var total = PairSample()
    for pair in pairs {
        let sample = try pair.eventLoop.submit { pair.value.measuring = false; return pair.value.takeSample() }.wait()
        total.delivered += sample.delivered
        total.received += sample.received
        total.errors += sample.errors
        total.latenciesMicroseconds += sample.latenciesMicroseconds
    }
    return total
}

func drain(_ pairs: [NIOLoopBound<Pair>]) throws {
    try onEach(pairs) { $0.stop() }
    let deadline = Date().addingTimeInterval(30)
    while Date() < deadline {
        var left = 0
        for pair in pairs { left += try pair.eventLoop.submit { pair.value.inFlightCount }.wait() }
        if left == 0 { return }
        usleep(10_000)
    }
    throw RelayFailure("messages still in flight 30 s after the senders stopped")
}

/// One phase of measurement: `start` on every pair, warm up, then measure for `seconds`.
func measure(
    _ pairs: [NIOLoopBound<Pair>], server: ServerProcess, options: Options,
    start: @escaping @Sendable (Pair) -> Void
) throws -> (rate: Double, cpuPerMessage: Double, latencies: [UInt32], errors: Int, sample: PairSample) {
    try onEach(pairs, start)
    usleep(UInt32(options.warmup * 1e6))
    _ = try collect(pairs)
    try onEach(pairs) { $0.measuring = true }
    let cpu0 = server.cpuSeconds()
    let t0 = monotonicNanoseconds()
    usleep(UInt32(options.seconds * 1e6))
    let sample = try collect(pairs)
    let elapsed = Double(monotonicNanoseconds() - t0) / 1e9
    let cpu = server.cpuSeconds() - cpu0
    try drain(pairs)
    let rate = Double(sample.delivered) / elapsed
    return (
        rate, cpu / Double(max(sample.delivered, 1)) * 1e6, sample.latenciesMicroseconds.sorted(), sample.errors, sample
    )
}

func runPoint(server name: String, pairs count: Int, window: Int, options: Options, group: any EventLoopGroup) throws
    -> PointResult
{
    let server =
        name == "kefud" ? try startKefud(binary: options.kefud, agents: count) : try startRedis(binary: options.redis)
    defer { server.stop() }
    let pairs =
        name == "kefud"
        ? try kefudPairs(count: count, port: server.port, group: group, payload: payload)
        : try redisPairs(count: count, port: server.port, group: group, payload: payload)
    defer { try? onEach(pairs) { $0.close() } }
    let closed = try measure(pairs, server: server, options: options) { $0.start(window: window) }
    let perPair = closed.rate / 2 / Double(count)
    let open = try measure(pairs, server: server, options: options) { $0.start(rate: perPair) }
    return PointResult(
        messagesPerSecond: closed.rate, cpuMicrosecondsPerMessage: closed.cpuPerMessage,
        p50AtMax: percentile(closed.latencies, 0.5), p99AtMax: percentile(closed.latencies, 0.99),
        p99AtHalf: percentile(open.latencies, 0.99), errors: closed.errors + open.errors,
        p50AtHalf: percentile(open.latencies, 0.5), p90AtHalf: percentile(open.latencies, 0.9),
        maxAtHalf: Double(open.latencies.last ?? 0))
}

/// Median and spread of several runs.
struct Spread: CustomStringConvertible {
    var values: [Double]
    var median: Double {
        let sorted = values.sorted()
        return sorted.isEmpty ? .nan : sorted[sorted.count / 2]
    }
    var description: String {
        let sorted = values.sorted()
        guard let low = sorted.first, let high = sorted.last else { return "-" }
        return values.count == 1 ? format(median) : "\(format(median)) (\(format(low))–\(format(high)))"
    }
}

func format(_ value: Double) -> String {
    if value.isNaN { return "-" }
    if value >= 10_000 { return String(format: "%.0fK", value / 1000) }
    if value >= 100 { return String(format: "%.0f", value) }
    if value >= 10 { return String(format: "%.1f", value) }
    return String(format: "%.2f", value)
}

// MARK: - Idle connections

func idleMemory(server name: String, options: Options, group: any EventLoopGroup) throws -> Double {
    let server =
        name == "kefud" ? try startKefud(binary: options.kefud, agents: 1) : try startRedis(binary: options.redis)
    defer { server.stop() }
    // One connection first, so that whatever a first client costs is not counted against the idle ones.
    var kept: [NIOLoopBound<Conn>] = []
    func open(_ index: Int) throws {
        let loop = group.next()
        let conn = try connect(port: server.port, on: loop, framing: name == "kefud" ? .lines : .resp).wait()
        _ = try loop.flatSubmit {
            name == "kefud"
                ? conn.value.request("l LOGIN customer idle\(index) \(Secrets.customers.0)") { $0.hasPrefix("l ") }
                : conn.value.resp(["PING"])
        }.wait()
        kept.append(conn)
    }
    try open(-1)
    usleep(1_000_000)
    let before = server.residentKiB()
    for index in 0..<options.idleConnections { try open(index) }
    usleep(2_000_000)
    let after = server.residentKiB()
    for conn in kept { conn.eventLoop.execute { conn.value.channel.close(promise: nil) } }
    return Double(after - before) * 1024 / Double(options.idleConnections)
}

// MARK: - Opens over one gateway

/// Conversations opened over one gateway connection, pipelined (1,000 in flight), with nobody online.
func gatewayOpens(options: Options, group: any EventLoopGroup) throws -> Double {
    let server = try startKefud(binary: options.kefud, agents: 1)
    defer { server.stop() }
    let loop = group.next()
    let gateway = try connect(port: server.port, on: loop, framing: .lines).wait()
    _ = try loop.flatSubmit {
        gateway.value.request("g LOGIN gateway tmall \(Secrets.gateway.0)") { $0.hasPrefix("g ") }
    }.wait()
    let total = options.opens
    let finished = try loop.flatSubmit { () -> EventLoopFuture<(UInt64, UInt64, Int)> in
        let conn = gateway.value
        let promise = loop.makePromise(of: (UInt64, UInt64, Int).self)
        var sent = 0
        var answered = 0
        var failed = 0
        let started = monotonicNanoseconds()
        func sendMore() {
            while sent < total && sent - answered < 1000 {
                conn.write("o OPEN relay customer=b\(sent) :hello\n")
                sent += 1
            }
        }
        conn.onFrame = { view in
            if view.starts(with: "o ".utf8) {
                answered += 1
                if !view.starts(with: "o OK".utf8) { failed += 1 }
                if answered == total { promise.succeed((started, monotonicNanoseconds(), failed)) }
            }
        }
        conn.onReadComplete = {
            sendMore()
            conn.flush()
        }
        sendMore()
        conn.flush()
        return promise.futureResult
    }.wait()
    guard finished.2 == 0 else { throw RelayFailure("\(finished.2) opens refused") }
    return Double(total) / (Double(finished.1 - finished.0) / 1e9)
}

// MARK: - A flood of pipelined messages

struct FloodResult {
    var messages: Int
    var seconds: Double
    var idleKiB: Int
    var peakKiB: Int
    var acknowledged: Int
    var inHistory: Int
    var disconnected: Int
}

/// `floodClients` buyers each write their share of `floodMessages` SENDs without waiting for a reply, reading the
/// replies as they come; their agents read every message. Then each buyer reads its conversation's HISTORY.
func flood(options: Options, group: any EventLoopGroup) throws -> FloodResult {
    let server = try startKefud(binary: options.kefud, agents: options.floodClients)
    defer { server.stop() }
    let pairs = try kefudPairs(count: options.floodClients, port: server.port, group: group, payload: payload)
    defer { try? onEach(pairs) { $0.close() } }
    usleep(1_000_000)
    let idle = server.residentKiB()
    let share = options.floodMessages / options.floodClients
    let peak = ManagedPeak()
    let sampler = Thread {
        while !peak.done {
            peak.note(server.residentKiB())
            usleep(20_000)
        }
    }
    sampler.start()
    let started = monotonicNanoseconds()
    var futures: [EventLoopFuture<(Int, Bool)>] = []
    for pair in pairs {
        futures.append(
            pair.eventLoop.flatSubmit { () -> EventLoopFuture<(Int, Bool)> in
                let buyer = pair.value.sender
                let agent = pair.value.receiver
                guard case .kefud(let conversation) = pair.value.kind else { fatalError() }
                let promise = pair.eventLoop.makePromise(of: (Int, Bool).self)
                var acknowledged = 0
                var received = 0
                func check() {
                    if acknowledged == share && received == share { promise.succeed((acknowledged, false)) }
                }
                buyer.onFrame = { view in
                    if view.starts(with: "f OK".utf8) { acknowledged += 1 }
                    check()
                }
                agent.onFrame = { view in
                    if view.starts(with: "* MSG".utf8) { received += 1 }
                    check()
                }
                buyer.onReadComplete = {}
                agent.onReadComplete = {}
                buyer.channel.closeFuture.assumeIsolated().whenComplete { _ in promise.succeed((acknowledged, true)) }
                agent.channel.closeFuture.assumeIsolated().whenComplete { _ in promise.succeed((acknowledged, true)) }
                let line = "f SEND \(conversation) :\(payload)\n"
                // Written in slices of 1,000 lines without waiting for any reply.
                var left = share
                while left > 0 {
                    let batch = min(left, 1000)
                    buyer.write(String(repeating: line, count: batch))
                    buyer.flush()
                    left -= batch
                }
                return promise.futureResult
            })
    }
    var acknowledged = 0
    var disconnected = 0
    for future in futures {
        let (count, closed) = try future.wait()
        acknowledged += count
        if closed { disconnected += 1 }
    }
    let seconds = Double(monotonicNanoseconds() - started) / 1e9
    peak.done = true
    // Every acknowledged message must be in the conversation's HISTORY (a long answer, streamed).
    var inHistory = 0
    for pair in pairs {
        let lines = try pair.eventLoop.flatSubmit { () -> EventLoopFuture<[String]> in
            guard case .kefud(let conversation) = pair.value.kind else { fatalError() }
            var count = 0
            let promise = pair.eventLoop.makePromise(of: [String].self)
            pair.value.sender.onFrame = { view in
                if view.starts(with: "* HISTORY".utf8) {
                    count += 1
                } else if view.starts(with: "h ".utf8) {
                    promise.succeed([String(count), String(decoding: view, as: UTF8.self)])
                }
            }
            pair.value.sender.channel.closeFuture.assumeIsolated().whenComplete { _ in
                promise.succeed([String(count), "closed"])
            }
            pair.value.sender.write("h HISTORY \(conversation)\n")
            pair.value.sender.flush()
            return promise.futureResult
        }.wait()
        // The opening message plus this buyer's share.
        if lines[1].hasPrefix("h OK"), let count = Int(lines[0]) { inHistory += count - 1 }
    }
    return FloodResult(
        messages: share * options.floodClients, seconds: seconds, idleKiB: idle, peakKiB: peak.value,
        acknowledged: acknowledged, inHistory: inHistory, disconnected: disconnected)
}

final class ManagedPeak: @unchecked Sendable {
    private let lock = NSLock()
    private var peak = 0
    private var finished = false
    var value: Int { lock.withLock { peak } }
    var done: Bool {
        get { lock.withLock { finished } }
        set { lock.withLock { finished = newValue } }
    }
    func note(_ kib: Int) { lock.withLock { peak = max(peak, kib) } }
}

// MARK: - Main

let options: Options
do {
    options = try Options(Array(CommandLine.arguments.dropFirst()))
} catch {
    FileHandle.standardError.write(Data("\(error)\n".utf8))
    exit(2)
}
raiseFileLimit()
let group = MultiThreadedEventLoopGroup(numberOfThreads: options.clientThreads)
say("relay benchmark: \(options.runs) runs, \(options.seconds) s per point, 60-byte payloads, client threads \(options.clientThreads)")
say("kefud: \(options.kefud); redis: \(options.redis) --appendonly yes --appendfsync always (XADD + XREAD BLOCK)")

if options.parts.contains("relay") {
    var results: [String: [String: [PointResult]]] = [:]
    for run in 1...options.runs {
        for pairs in options.pairs {
            for window in options.windows {
                for server in options.servers {
                    let result = try runPoint(server: server, pairs: pairs, window: window, options: options, group: group)
                    results["\(pairs)x\(window)", default: [:]][server, default: []].append(result)
                    say(
                        "run \(run) \(server) \(pairs)×\(window): \(format(result.messagesPerSecond)) msgs/s, "
                            + "\(format(result.cpuMicrosecondsPerMessage)) µs CPU/msg, p50 \(format(result.p50AtMax)) µs, "
                            + "p99 \(format(result.p99AtMax)) µs at max, p99 \(format(result.p99AtHalf)) µs at half "
                            + "(p50 \(format(result.p50AtHalf)), p90 \(format(result.p90AtHalf)), "
                            + "max \(format(result.maxAtHalf)))"
                            + (result.errors > 0 ? ", \(result.errors) errors" : ""))
                }
            }
        }
    }
    say("")
    say("| pairs × in flight | kefud msgs/s | redis msgs/s | kefud / redis | kefud p99 at half rate (µs) | redis p99 at half rate (µs) | p99 ratio | kefud CPU µs/msg | redis CPU µs/msg |")
    say("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for pairs in options.pairs {
        for window in options.windows {
            let point = results["\(pairs)x\(window)"] ?? [:]
            let kefud = point["kefud"] ?? []
            let redis = point["redis"] ?? []
            let ratio = zip(kefud, redis).map { $0.messagesPerSecond / $1.messagesPerSecond }
            let latencyRatio = zip(kefud, redis).map { $0.p99AtHalf / $1.p99AtHalf }
            say(
                "| \(pairs) × \(window) | \(Spread(values: kefud.map(\.messagesPerSecond))) | "
                    + "\(Spread(values: redis.map(\.messagesPerSecond))) | \(Spread(values: ratio)) | "
                    + "\(Spread(values: kefud.map(\.p99AtHalf))) | \(Spread(values: redis.map(\.p99AtHalf))) | "
                    + "\(Spread(values: latencyRatio)) | \(Spread(values: kefud.map(\.cpuMicrosecondsPerMessage))) | "
                    + "\(Spread(values: redis.map(\.cpuMicrosecondsPerMessage))) |")
        }
    }
}

if options.parts.contains("cluster") {
    try clusterRelay(options: options, group: group)
}

if options.parts.contains("idle") {
    for server in options.servers {
        var values: [Double] = []
        for _ in 1...options.runs { values.append(try idleMemory(server: server, options: options, group: group)) }
        say("idle logged-in connections, \(server): \(Spread(values: values.map { $0 / 1024 })) KiB each (\(options.idleConnections) connections)")
    }
}

if options.parts.contains("opens"), options.servers.contains("kefud") {
    var values: [Double] = []
    for _ in 1...options.runs { values.append(try gatewayOpens(options: options, group: group)) }
    say("conversations opened over one gateway, pipelined: \(Spread(values: values))/s (\(options.opens) opens)")
}

if options.parts.contains("flood"), options.servers.contains("kefud") {
    let result = try flood(options: options, group: group)
    say(
        "flood: \(options.floodClients) buyers, \(result.messages) messages in \(format(result.seconds)) s; kefud RSS idle "
            + "\(result.idleKiB / 1024) MB, peak \(result.peakKiB / 1024) MB (+\((result.peakKiB - result.idleKiB) / 1024) MB); "
            + "acknowledged \(result.acknowledged), in HISTORY \(result.inHistory), disconnected \(result.disconnected)")
}
try group.syncShutdownGracefully()

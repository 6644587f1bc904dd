import Foundation
import KefuTestSupport
import Synchronization
import Testing

/// A process's resident memory now (`VmRSS`), in KiB.
func residentKiB(of pid: Int32) -> Int {
    guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
        let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") })
    else { return 0 }
    return line.split(separator: " ").compactMap { Int($0) }.first ?? 0
}

/// Samples a process's resident memory every 20 ms on a thread of its own, keeping the peak.
final class PeakSampler: Sendable {
    private let state = Mutex((peak: 0, running: true))

    init(pid: Int32) {
        Thread { [self] in
            while state.withLock({ $0.running }) {
                let now = residentKiB(of: pid)
                state.withLock { $0.peak = max($0.peak, now) }
                usleep(20_000)
            }
        }.start()
    }

    /// Stops sampling; the peak seen, in KiB.
    func stop() -> Int {
        state.withLock {
            $0.running = false
            return $0.peak
        }
    }
}

/// The message path stays bounded whatever a client does, and any answer reaches a client that reads (issue #11's
/// four defects, each of which the first version of the server had).
@Suite(.serialized) struct BoundedMessagePathTests {
    /// A conversation longer than any outbox: HISTORY goes out a part at a time as the client reads it, whole.
    @Test func aLongHistoryReachesAReaderWholeAndPages() async throws {
        let daemon = try await TestDaemon.start()
        defer { Task { try? await daemon.stop() } }
        let buyer = try await daemon.customer("long-talker")
        #expect(try await buyer.completion("o OPEN presales :first") == "o OK conv=1")
        // Nobody online: the chat waits, and every message is kept.
        let count = 12_000
        for index in 1...count { try await buyer.send("s\(index) SEND 1 :message \(index)") }
        try await buyer.expect("s\(count) OK seq=\(count + 1)", timeout: .seconds(60))

        let history = try await buyer.command("h HISTORY 1", timeout: .seconds(60))
        #expect(history.last == "h OK count=\(count + 1)")
        let seqs = history.dropLast().compactMap { field("seq", in: $0).flatMap { Int($0) } }
        #expect(seqs == Array(1...(count + 1)))
        #expect(history[count].hasSuffix(":message \(count)"))

        // Pages: after= the last seq seen, limit= at most this many; more=1 while messages remain.
        let page = try await buyer.command("p1 HISTORY 1 after=11990 limit=5")
        #expect(page.compactMap { field("seq", in: $0) } == ["11991", "11992", "11993", "11994", "11995"])
        #expect(page.last == "p1 OK count=5 more=1")
        let last = try await buyer.command("p2 HISTORY 1 after=11998 limit=5")
        #expect(last.compactMap { field("seq", in: $0) } == ["11999", "12000", "12001"])
        #expect(last.last == "p2 OK count=3 more=0")
        #expect(try await buyer.completion("p3 HISTORY 1 after=12001") == "p3 OK count=0 more=0")
        #expect(try await buyer.completion("p4 HISTORY 1 limit=0").hasPrefix("p4 ERR bad-args"))
    }

    /// A sleeping laptop: the agent's connection stops reading. Once what it has not read stays above the bound for
    /// the grace, kefud closes it; from that instant the agent counts as disconnected and no chat goes to it.
    @Test func aStalledAgentIsDisconnectedAndOfferedNoChat() async throws {
        let daemon = try await TestDaemon.start(
            testConfiguration(maxLineBytes: 65536, server: "slow_client_bytes = 65536\nslow_client_grace_s = 0.5"))
        defer { Task { try? await daemon.stop() } }
        let laptop = try RawSocket(port: daemon.port, receiveBuffer: 4096)
        laptop.write("a LOGIN agent alice \(Secrets.alice.0)\n")
        let supervisor = try await daemon.supervisor()
        // Logged in (the reply sits unread in its socket), online, taking chats.
        #expect(try await daemon.waitForAgent("alice", connected: true, asking: supervisor))
        let buyer = try await daemon.customer("b1")
        _ = try await buyer.command("o OPEN presales :在吗")
        try await buyer.expect("* JOINED conv=1 agent=alice")
        // 8 MB the agent never reads: more than the kernel's buffers hold, far above the bound.
        let text = String(repeating: "货", count: 10_000)
        for index in 1...270 { try await buyer.send("s\(index) SEND 1 :\(text)") }
        try await buyer.expect("s270 OK", timeout: .seconds(30))

        let disconnected = try await daemon.waitForAgent("alice", connected: false, asking: supervisor, attempts: 250)
        #expect(disconnected, "the stalled agent still counts as connected")
        #expect(await onOwnThread { laptop.isClosedByPeer(within: 5) })
        // A new chat is not offered to it: it waits (alice keeps her first chat for the reconnect grace).
        let next = try await daemon.customer("b2")
        let opened = try await next.command("o OPEN presales :还有货吗")
        #expect(opened.last == "o OK conv=2")
        let event = try await next.next()
        #expect(event.hasPrefix("* QUEUED conv=2"), "\(event)")
    }

    /// A client writing far ahead of what it reads is read only as fast as it is answered: the kernel's buffers fill
    /// and its writes stop, instead of kefud reading everything into memory. Then every line is answered, in order.
    @Test func pipelinedInputIsReadOnlyAsFastAsItIsAnswered() async throws {
        let daemon = try await TestDaemon.start(
            testConfiguration(server: "max_pipelined = 64\nslow_client_bytes = 16384\nslow_client_grace_s = 600"))
        defer { Task { try? await daemon.stop() } }
        let client = try RawSocket(port: daemon.port, receiveBuffer: 4096)
        client.shrinkSendBuffer(to: 16384)
        let line = Array("p PING\n".utf8)
        let chunk = Array(repeating: line, count: 8192).flatMap { $0 }
        let limit = 24 << 20
        let written = await onOwnThread { () -> Int in
            var total = 0
            var stalled = 0
            // Writes until the kernel takes nothing more for a while, for 5 s at most (the kernel's send buffer on
            // kefud's side grows while the client does not read, so a trickle may go on), or until 24 MB went,
            // which kefud must not take.
            let end = Date().addingTimeInterval(5)
            while total < limit && stalled < 30 && Date() < end {
                let offset = total % chunk.count
                let taken = client.writeWithoutBlocking(chunk[offset...])
                if taken == 0 {
                    stalled += 1
                    usleep(10_000)
                } else {
                    stalled = 0
                    total += taken
                }
            }
            return total
        }
        // What the kernel buffers hold is all that may go: a few MB at most on loopback.
        #expect(written < 16 << 20, "kefud took \(written) bytes of input it had not answered")
        // The rest of a line cut by the kernel, then every PING answered.
        let remainder = (line.count - written % line.count) % line.count
        if remainder > 0 { client.write(String(decoding: line.suffix(remainder), as: UTF8.self)) }
        let expected = (written + remainder) / line.count
        let answered = await onOwnThread { () -> Int in
            var count = 0
            var idle = 0
            // Until every PING is answered, or nothing came for 30 s (a loaded machine may pause for seconds).
            while count < expected && idle < 30 {
                let lines = client.readLines(timeout: 1)
                idle = lines.isEmpty ? idle + 1 : 0
                count += lines.filter { $0 == "p OK" }.count
            }
            return count
        }
        #expect(answered == expected)
        client.write("q QUIT\n")
        #expect(await onOwnThread { client.readLines(timeout: 5) } == ["q OK"])
    }

    /// Issue #11's flood, on the real kefud: 40 buyers write 200,000 messages without waiting for any reply (while
    /// reading the replies as they come), their agent reads every message. kefud's memory stays within 64 MB of what
    /// it was before (the first version grew by some 300 MB), every message is acknowledged and in `HISTORY`, and no
    /// client that reads is disconnected.
    @Test func aFloodOfPipelinedMessagesStaysWithinBoundedMemory() async throws {
        let directory = try TemporaryDirectory(prefix: "kefud-flood")
        let config = try writeConfiguration(
            testConfiguration(
                extra: """
                    [[agent]]
                    id = "floor"
                    token_sha256 = "\(Secrets.alice.1)"
                    max_chats = 40
                    skills = { presales = 5 }
                    """), in: directory)
        let kefud = try KefudProcess(
            arguments: ["--config", config, "--state-dir", directory.path + "/var"], workingDirectory: directory.path)
        try await kefud.waitUntilReady()
        defer { kefud.signal(SIGKILL) }
        let agent = try await LineClient.connect(port: kefud.port)
        #expect(try await agent.completion("l LOGIN agent floor \(Secrets.alice.0)").hasPrefix("l OK"))
        let buyers = 40
        let share = 5_000
        var clients: [LineClient] = []
        for index in 1...buyers {
            let buyer = try await LineClient.connect(port: kefud.port)
            #expect(try await buyer.completion("l LOGIN customer f\(index) \(Secrets.gateway.0)").hasPrefix("l OK"))
            #expect(try await buyer.completion("o OPEN presales :开始") == "o OK conv=\(index)")
            clients.append(buyer)
        }
        for _ in 1...buyers { try await agent.expect("* ASSIGNED") }
        let pid = kefud.process.processIdentifier
        let idle = residentKiB(of: pid)
        let sampling = PeakSampler(pid: pid)

        try await withThrowingTaskGroup(of: Int.self) { group in
            for (index, buyer) in clients.enumerated() {
                group.addTask {
                    var burst = ""
                    for seq in 1...share { burst += "s SEND \(index + 1) :洪水\(seq)\n" }
                    try await buyer.sendRaw(Array(burst.utf8))
                    var acknowledged = 0
                    while acknowledged < share {
                        if try await buyer.next(timeout: .seconds(60)).hasPrefix("s OK") { acknowledged += 1 }
                    }
                    return acknowledged
                }
            }
            group.addTask {
                var received = 0
                while received < buyers * share {
                    if try await agent.next(timeout: .seconds(60)).hasPrefix("* MSG") { received += 1 }
                }
                return 0
            }
            var acknowledged = 0
            for try await count in group { acknowledged += count }
            #expect(acknowledged == buyers * share)
        }
        let peak = sampling.stop()
        #expect(peak - idle < 64 * 1024, "kefud grew from \(idle / 1024) MB to \(peak / 1024) MB")
        for buyer in clients { #expect(try await buyer.completion("p PING") == "p OK") }
        let history = try await clients[0].command("h HISTORY 1 after=\(share) limit=5")
        #expect(history.last == "h OK count=1 more=0")
        #expect(history.first?.hasSuffix(":洪水\(share)") == true)
    }

    /// A gateway that reads promptly is never cut off, however many lines one burst releases to it.
    @Test func aPromptReaderIsNotCutOffByABurst() async throws {
        let daemon = try await TestDaemon.start()
        defer { Task { try? await daemon.stop() } }
        let gateway = try await daemon.gateway()
        let buyers = 12_000
        var burst = ""
        for index in 1...buyers { burst += "o\(index) OPEN presales customer=b\(index) :hi\n" }
        try await gateway.sendRaw(Array(burst.utf8))
        var opened = 0
        var queued = 0
        while opened < buyers {
            let line = try await gateway.next(timeout: .seconds(30))
            if line.contains(" OK conv=") { opened += 1 }
            if line.hasPrefix("* QUEUED") { queued += 1 }
        }
        #expect(queued >= buyers - 1)
        #expect(try await gateway.completion("p PING") == "p OK")
    }

    /// Listings too go out a part at a time, and page: `QUEUE after=<rank> limit=<n>`, `AGENTS after=<id>`.
    @Test func longListingsArriveWholeAndPage() async throws {
        let daemon = try await TestDaemon.start()
        defer { Task { try? await daemon.stop() } }
        let gateway = try await daemon.gateway()
        let waiting = 1_500
        var opens = ""
        for index in 1...waiting { opens += "o\(index) OPEN refund customer=q\(index) :退款\n" }
        try await gateway.sendRaw(Array(opens.utf8))
        try await gateway.expect("o\(waiting) OK", timeout: .seconds(30))
        let supervisor = try await daemon.supervisor()
        let all = try await supervisor.command("q QUEUE", timeout: .seconds(30))
        #expect(all.count == waiting + 1)
        #expect(all.last == "q OK count=\(waiting)")
        let page = try await supervisor.command("q2 QUEUE after=1000 limit=600")
        #expect(page.count == 501)
        #expect(page.first.flatMap { field("rank", in: $0) } == "1001")
        #expect(page.first.flatMap { field("conv", in: $0) } == "1001")
        #expect(page.last == "q2 OK count=500 more=0")
        let first = try await supervisor.command("q3 QUEUE limit=10")
        #expect(first.last == "q3 OK count=10 more=1")
        let agents = try await supervisor.command("a AGENTS after=alice limit=1")
        #expect(agents.count == 2)
        #expect(agents.first.flatMap { field("agent", in: $0) } == "bob")
        #expect(agents.last == "a OK count=1 more=1")
    }
}

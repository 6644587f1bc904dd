import Foundation
import KefuConfig
import KefuTestSupport
import Testing

/// Breach storms through the real daemon: every breach is either its own record or listed in exactly one summary,
/// no second has many more records of its own than `breach_records_per_s`, and what is held is written at shutdown.
@Suite("Breach storms", .serialized)
struct BreachStormTests {
    /// Conversations opened before the storm; each breaches once (round 1), all in the same instant.
    static let storm = 20_000
    /// `[sla] breach_records_per_s` for the run: low, so most of the storm is summarised.
    static let recordsPerSecond = 100
    /// How fast the conversations are opened: slow enough to leave the two cores of a small CI machine to the tests
    /// running beside this one (unpaced, 20 000 OPENs take about 4 s here).
    static let openedPerSecond = 1000

    @Test func aStormOf20000BreachesIsRecordsAndSummariesListingEachBreachOnce() async throws {
        guard await JournaldHarness.isRunningForTest() else { return }
        let directory = try TemporaryDirectory(prefix: "kefud-storm")
        let sla = { (seconds: Double) in
            testConfiguration(firstResponseSeconds: seconds, sla: "breach_records_per_s = \(Self.recordsPerSecond)")
        }
        let config = try writeConfiguration(sla(600), in: directory)
        // Entries of an earlier kefud that had the same pid (pids are reused; the journal keeps them) are older.
        let since = Int(Date().timeIntervalSince1970 * 1_000_000)
        let kefud = try KefudProcess(
            arguments: ["--config", config, "--state-dir", directory.path + "/var"],
            workingDirectory: directory.path)
        try await kefud.waitUntilReady()
        let run = String(UUID().uuidString.prefix(8))

        // Open them all well within their 600 s first-response limit, pipelined over one gateway connection.
        let started = ContinuousClock.now
        let port = kefud.port
        let opening = await onOwnThread {
            Result { try BlockingGateway.open(Self.storm, port: port, perSecond: Self.openedPerSecond, run: run) }
        }
        guard case .success(let opened) = opening else {
            Issue.record("\(opening); kefud output: \(kefud.output.suffix(3000))")
            return
        }
        #expect(opened == Self.storm)
        let openedIn = ContinuousClock.now - started

        // The storm: a reload lowers the limit to 10 ms, and every round waiting is past due at once.
        _ = try writeConfiguration(sla(0.01), in: directory)
        let stormed = ContinuousClock.now
        kefud.signal(SIGHUP)
        // Every breach accounted for: the summaries of the last second come with the next housekeeping.
        let pid = "_PID=\(kefud.process.processIdentifier)"
        var accounted = Accounting()
        let deadline = ContinuousClock.now + .seconds(60)
        while ContinuousClock.now < deadline {
            accounted = await onOwnThread { Self.accounting(pid, since: since) }
            if accounted.total >= Self.storm { break }
            try await Task.sleep(for: .milliseconds(500))
        }
        let accountedIn = ContinuousClock.now - stormed
        let records = "\(accounted.individual.count) records of their own, \(accounted.summaries) summaries"
        let breaches = "\(accounted.total) breaches in journald \(accountedIn) after the reload"
        print("breach storm: \(Self.storm) opened in \(openedIn); \(breaches): \(records)")
        kefud.signal(SIGTERM)
        #expect(await kefud.waitForExit() == 0)

        // Read again after the shutdown flush: nothing more, nothing twice.
        accounted = await onOwnThread { Self.accounting(pid, since: since) }
        #expect(accounted.total == Self.storm, "kefud output: \(kefud.output.suffix(2000))")
        #expect(accounted.breachesField == accounted.summarised.count)
        // Counts, not sets, in the expectations: a failure must not print 20 000 ids.
        let listed = Set(accounted.individual).union(accounted.summarised)
        #expect(listed.count == accounted.total, "no conversation twice")
        #expect(listed.subtracting(1...Self.storm).count == 0, "no stranger")
        #expect(Set(1...Self.storm).subtracting(listed).count == 0, "none missing")
        #expect(accounted.summaries > 0)
        #expect(accounted.longestList <= 60_000)
        #expect(accounted.individual.count >= Self.recordsPerSecond)
        // journald's receive time may put a record written at the end of one kefud second into the next one.
        let busiest = accounted.individualPerSecond.values.max() ?? 0
        #expect(busiest <= 2 * Self.recordsPerSecond, "records per second: \(accounted.individualPerSecond)")
    }

    @Test func breachesHeldForASummaryAreWrittenAtShutdown() async throws {
        let count = 300
        let daemon = try await TestDaemon.start(
            testConfiguration(firstResponseSeconds: 0.05, sla: "breach_records_per_s = 10"))
        let lead = try await daemon.supervisor()
        let gateway = try await daemon.gateway()
        #expect(try await Self.open(count, over: gateway) { "held-\($0)" } == count)
        // Every breach has reached the routing loop's limiter once the supervisor has every escalation.
        for _ in 1...count { try await lead.expect("* ESCALATED", timeout: .seconds(10)) }
        try await daemon.stop()

        let individual = daemon.breaches.all.map { Int($0.conversation.rawValue) }
        // (Escalation records beyond the budget have summaries of their own: only breaches are counted here.)
        let summarised = daemon.breaches.summaries.filter { $0.kind == .breaches }
            .flatMap { $0.conversations.map { Int($0.rawValue) } }
        #expect(individual.count >= 10)
        #expect(individual.count + summarised.count == count)
        #expect(Set(1...count).subtracting(individual).subtracting(summarised).count == 0, "none missing")
        #expect(daemon.breaches.summaries.allSatisfy { $0.recordsPerSecond == 10 && $0.parts == 1 })
    }

    @Test func aReloadChangesTheLimitForTheNextBreach() async throws {
        let text = { (limit: Int) in
            testConfiguration(firstResponseSeconds: 0.05, sla: "breach_records_per_s = \(limit)")
        }
        let daemon = try await TestDaemon.start(text(0))
        let lead = try await daemon.supervisor()
        let gateway = try await daemon.gateway()
        #expect(try await Self.open(30, over: gateway) { "before-\($0)" } == 30)
        for _ in 1...30 { try await lead.expect("* ESCALATED", timeout: .seconds(10)) }
        #expect(daemon.breaches.all.count == 30)  // 0: every breach its own record

        daemon.daemon.reload(.success(try KefuConfiguration.parse(text(2), file: "reloaded.toml")))
        #expect(try await lead.completion("p PING") == "p OK")  // the reload is applied before this
        #expect(try await Self.open(30, over: gateway, from: 31) { "after-\($0)" } == 30)
        for _ in 1...30 { try await lead.expect("* ESCALATED", timeout: .seconds(10)) }
        try await daemon.stop()

        let summaries = daemon.breaches.summaries.filter { $0.kind == .breaches }
        let summarised = summaries.flatMap { $0.conversations.map { Int($0.rawValue) } }
        #expect(!summaries.isEmpty)
        #expect(summaries.allSatisfy { $0.recordsPerSecond == 2 })
        #expect(summarised.allSatisfy { $0 > 30 })
        #expect(daemon.breaches.all.count + summarised.count == 60)
    }

    /// Opens `count` conversations over a gateway, in pipelined batches of 250, each read back before the next: an
    /// OPEN brings two lines (`OK`, `QUEUED`), and a gateway whose 10 000-line outbox fills is disconnected. Returns
    /// how many were opened.
    static func open(
        _ count: Int, over gateway: LineClient, from first: Int = 1, customer: (Int) -> String
    ) async throws -> Int {
        var sent = 0
        var opened = 0
        while sent < count {
            let batch = (first + sent)...(first + min(sent + 250, count) - 1)
            let lines = batch.map { "o\($0) OPEN refund customer=\(customer($0)) :急\n" }.joined()
            try await gateway.sendRaw(Array(lines.utf8))
            var answered = 0
            while answered < batch.count {
                let line: String
                do {
                    line = try await gateway.next(timeout: .seconds(30))
                } catch {
                    throw Stalled(sent: sent + batch.count, answered: sent + answered, error: error)
                }
                guard line.hasPrefix("o") else { continue }
                answered += 1
                if line.contains(" OK conv=") { opened += 1 }
            }
            sent += batch.count
        }
        return opened
    }

    struct Stalled: Error, CustomStringConvertible {
        let sent: Int
        let answered: Int
        let error: any Error
        var description: String { "\(answered) of \(sent) OPENs answered, then: \(error)" }
    }

    /// What journald holds for one kefud: individual breach records and summaries.
    struct Accounting {
        /// Conversations of the individual records.
        var individual: [Int] = []
        /// Conversations listed in summaries.
        var summarised: [Int] = []
        /// Sum of the summaries' `KEFU_BREACHES`.
        var breachesField = 0
        var summaries = 0
        /// The longest `KEFU_CONVERSATIONS`, in bytes.
        var longestList = 0
        /// Individual records by the second journald received them in.
        var individualPerSecond: [Int: Int] = [:]

        var total: Int { individual.count + summarised.count }
    }

    static func accounting(_ pid: String, since: Int) -> Accounting {
        var accounting = Accounting()
        let recent = { (entry: [String: String]) in (Int(entry["__REALTIME_TIMESTAMP"] ?? "") ?? 0) >= since }
        for entry in JournaldHarness.queryOnce(["KEFU_EVENT=sla_breach", pid]) where recent(entry) {
            accounting.individual.append(Int(entry["KEFU_CONVERSATION"] ?? "") ?? 0)
            let second = (Int(entry["__REALTIME_TIMESTAMP"] ?? "") ?? 0) / 1_000_000
            accounting.individualPerSecond[second, default: 0] += 1
        }
        for entry in JournaldHarness.queryOnce(["KEFU_EVENT=sla_breach_summary", pid]) where recent(entry) {
            accounting.summaries += 1
            accounting.breachesField += Int(entry["KEFU_BREACHES"] ?? "") ?? 0
            let list = entry["KEFU_CONVERSATIONS"] ?? ""
            accounting.longestList = max(accounting.longestList, list.utf8.count)
            accounting.summarised += list.split(separator: ",").map { Int($0) ?? 0 }
        }
        return accounting
    }
}

/// The storm's gateway: a plain blocking socket, run on a thread of its own, so that 40 000 lines read back do not
/// take the two cooperative threads every other test (and every in-process daemon) shares.
enum BlockingGateway {
    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    /// Logs in as gateway `tmall` and opens `count` conversations (customers `storm-<run>-<n>`) in batches of 250
    /// paced to `perSecond`, each batch read back before the next. Returns how many were opened.
    static func open(_ count: Int, port: Int, perSecond: Int, run: String) throws -> Int {
        let connection = try Connection(port: port)
        defer { connection.close() }
        try connection.send("l LOGIN gateway tmall \(Secrets.tmall.0)\n")
        let login = try connection.reply(tag: "l")
        guard login.hasPrefix("l OK") else { throw Failure(description: "login: \(login)") }
        let started = ContinuousClock.now
        var sent = 0
        var opened = 0
        while sent < count {
            let due = started + .milliseconds(sent * 1000 / perSecond)
            let (seconds, attoseconds) = ContinuousClock.now.duration(to: due).components
            let microseconds = seconds * 1_000_000 + attoseconds / 1_000_000_000_000
            if microseconds > 0 { usleep(UInt32(microseconds)) }
            let batch = (sent + 1)...min(sent + 250, count)
            try connection.send(batch.map { "o\($0) OPEN refund customer=storm-\(run)-\($0) :急\n" }.joined())
            var answered = 0
            while answered < batch.count {
                let line: String
                do {
                    line = try connection.line()
                } catch {
                    let progress = "\(sent + answered) of \(sent + batch.count) OPENs answered"
                    throw Failure(description: "\(progress), then \(error)")
                }
                guard line.hasPrefix("o") else { continue }
                answered += 1
                if line.contains(" OK conv=") { opened += 1 }
            }
            sent += batch.count
        }
        return opened
    }

    /// A TCP connection to 127.0.0.1 read line by line; a read waits at most 30 s.
    final class Connection {
        private let descriptor: Int32
        /// Bytes received; those before `start` have been returned as lines.
        private var buffer: [UInt8] = []
        private var start = 0

        init(port: Int) throws {
            descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            guard descriptor >= 0 else { throw Failure(description: "socket: errno \(errno)") }
            var timeout = timeval(tv_sec: 30, tv_usec: 0)
            _ = setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = in_port_t(UInt16(port).bigEndian)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            let connected = withUnsafePointer(to: &address) { pointer in
                pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
            guard connected == 0 else {
                Glibc.close(descriptor)
                throw Failure(description: "connect: errno \(errno)")
            }
        }

        func close() { Glibc.close(descriptor) }

        func send(_ text: String) throws {
            let bytes = Array(text.utf8)
            var offset = 0
            while offset < bytes.count {
                let written = bytes[offset...].withUnsafeBytes { Glibc.send(descriptor, $0.baseAddress, $0.count, 0) }
                guard written > 0 else { throw Failure(description: "send: errno \(errno)") }
                offset += written
            }
        }

        /// The next line, without its LF.
        func line() throws -> String {
            while true {
                if let end = buffer[start...].firstIndex(of: UInt8(ascii: "\n")) {
                    let line = String(decoding: buffer[start..<end], as: UTF8.self)
                    start = end + 1
                    return line
                }
                buffer.removeSubrange(..<start)
                start = 0
                var chunk = [UInt8](repeating: 0, count: 65_536)
                let count = recv(descriptor, &chunk, chunk.count, 0)
                guard count > 0 else {
                    throw Failure(description: count == 0 ? "connection closed" : "recv: errno \(errno)")
                }
                buffer += chunk[..<count]
            }
        }

        /// Lines until the completion of `tag`, which is returned.
        func reply(tag: String) throws -> String {
            while true {
                let line = try line()
                if line.hasPrefix("\(tag) ") { return line }
            }
        }
    }
}

import Foundation
import KefuTestSupport
import Testing

/// Where the conformance transcripts live.
let transcriptDirectory = packageRoot.appendingPathComponent("protocol/transcripts", isDirectory: true)

/// Every transcript file name (`*.txt`), sorted. Empty when the folder is missing: the count test then fails.
let transcriptFiles: [String] = {
    let names = (try? FileManager.default.contentsOfDirectory(atPath: transcriptDirectory.path)) ?? []
    return names.filter { $0.hasSuffix(".txt") }.sorted()
}()

@Suite("Conformance transcripts (protocol/transcripts)")
struct TranscriptTests {
    @Test func thereAreAtLeastSixTranscripts() {
        #expect(transcriptFiles.count >= 6, "found \(transcriptFiles) in \(transcriptDirectory.path)")
    }

    @Test(arguments: transcriptFiles)
    func transcriptPassesAgainstTheDaemon(_ name: String) async throws {
        let file = transcriptDirectory.appendingPathComponent(name)
        let transcript: Transcript
        do {
            transcript = try Transcript(parsing: try String(contentsOf: file, encoding: .utf8))
        } catch let error as Transcript.SyntaxError {
            let message = "protocol/transcripts/\(name):\(error.line): \(error.message)"
            Issue.record(Comment(rawValue: message), sourceLocation: location(file, error.line))
            return
        }
        let state = try TemporaryDirectory(prefix: "kefu-transcript")
        defer { state.remove() }
        let seconds = transcript.firstResponseSeconds
        let bytes = transcript.maxLineBytes
        var server = ""
        if !transcript.shops.isEmpty {
            let shops = state.path + "/shop-files"
            try FileManager.default.createDirectory(atPath: shops, withIntermediateDirectories: true)
            for shop in transcript.shops {
                try acmeConfiguration().write(toFile: "\(shops)/\(shop).toml", atomically: true, encoding: .utf8)
            }
            server = "shops_dir = \"\(shops)\""
        }
        let toml = transcript.aliceSkills.map {
            testConfiguration(firstResponseSeconds: seconds, maxLineBytes: bytes, aliceSkills: $0, server: server)
        } ?? testConfiguration(firstResponseSeconds: seconds, maxLineBytes: bytes, server: server)
        let runner = TranscriptRunner(configuration: toml, stateDirectory: state.path)
        do {
            try await runner.run(transcript)
        } catch let failure {
            let message = "protocol/transcripts/\(name):\(failure.line): \(failure.message)"
            Issue.record(Comment(rawValue: message), sourceLocation: location(file, failure.line))
        }
        await runner.tearDown()
    }

    private func location(_ file: URL, _ line: Int) -> SourceLocation {
        SourceLocation(fileID: "KefuServerTests/\(file.lastPathComponent)", filePath: file.path, line: line, column: 1)
    }

    // The runner is only as good as its matcher: make sure it does refuse what differs.
    @Test func patternsMatchExactlyExceptForWildcardValues() {
        let line = "* ASSIGNED conv=1 skill=presales waited_ms=1532 :hi there"
        #expect(LinePattern.matches(line, line))
        #expect(LinePattern.matches("* ASSIGNED conv=1 skill=presales waited_ms=* :hi there", line))
        #expect(LinePattern.matches("* ASSIGNED conv=* skill=* waited_ms=>=1500 :hi there", line))
        #expect(LinePattern.matches("* ASSIGNED conv=1 skill=presales waited_ms=>=1532 :hi there", line))
        #expect(!LinePattern.matches("* ASSIGNED conv=1 skill=presales waited_ms=>=1533 :hi there", line))
        #expect(!LinePattern.matches("* ASSIGNED conv=2 skill=presales waited_ms=* :hi there", line))
        #expect(!LinePattern.matches("* ASSIGNED conv=1 skill=presales waited_ms=*", line))
        #expect(!LinePattern.matches("* ASSIGNED conv=1 skill=presales waited_ms=* :hi", line))
        #expect(!LinePattern.matches("* ASSIGNED conv=1 skill=presales :hi there", line))
        #expect(!LinePattern.matches("* ASSIGNED conv=1 skill=presales waited=* :hi there", line))
        #expect(!LinePattern.matches("* ASSIGNED conv=1 skill=presales waited_ms=* extra=* :hi there", line))
        #expect(!LinePattern.matches("* ASSIGNED conv=1 skill=presales waited_ms=>=x :hi there", line))
        #expect(!LinePattern.matches("a OK", "a OK seq=2"))
        #expect(!LinePattern.matches("a OK seq=*", "a OK seq="))
        #expect(LinePattern.matches("a ERR bad-args :x=* y", "a ERR bad-args :x=* y"))
        #expect(!LinePattern.matches("a ERR bad-args :x=*", "a ERR bad-args :x=1"))
    }

    @Test func transcriptSyntax() throws {
        let transcript = try Transcript(parsing: """
            # comment
            config first_response_s=1.5 max_line_bytes=64

            alice> a1 PING
            alice>> a2 PING\\r\\n\\xFF
            alice< a1 OK
            alice quiet
            alice closed
            wait 0.5
            stop
            start
            """)
        #expect(transcript.firstResponseSeconds == 1.5)
        #expect(transcript.maxLineBytes == 64)
        #expect(transcript.steps.map(\.line) == [4, 5, 6, 7, 8, 9, 10, 11])
        #expect(transcript.steps.map(\.action) == [
            .send(connection: "alice", bytes: Array("a1 PING\n".utf8)),
            .send(connection: "alice", bytes: Array("a2 PING\r\n".utf8) + [0xFF]),
            .expect(connection: "alice", pattern: "a1 OK"),
            .quiet(connection: "alice"),
            .closed(connection: "alice"),
            .wait(seconds: 0.5),
            .stop,
            .start,
        ])
        #expect(throws: Transcript.SyntaxError.self) { try Transcript(parsing: "alice: hello") }
        #expect(throws: Transcript.SyntaxError.self) { try Transcript(parsing: "alice>> \\q") }
        #expect(throws: Transcript.SyntaxError.self) { try Transcript(parsing: "a> x\nconfig max_line_bytes=1") }
    }
}

/// Why a transcript failed, at which line of it.
struct TranscriptFailure: Error {
    var line: Int
    var message: String
}

/// Replays a transcript against a running daemon. One named client connection per `name`, opened on first use.
actor TranscriptRunner {
    /// How long `name<` waits for a line. Generous: a passing transcript never waits this long.
    static let timeout: Duration = .seconds(10)

    private let configuration: String
    private let stateDirectory: String
    /// The running daemon; nil after `stop`.
    private var daemon: TestDaemon?
    private var clients: [String: LineClient] = [:]
    /// Connection names in order of first use.
    private var order: [String] = []
    /// Lines sent on each connection whose completion (`TAG OK` / `TAG ERR`) has not been expected yet.
    private var outstanding: [String: Int] = [:]
    private var closed: Set<String> = []

    init(configuration: String, stateDirectory: String) {
        self.configuration = configuration
        self.stateDirectory = stateDirectory
    }

    func run(_ transcript: Transcript) async throws(TranscriptFailure) {
        try await start(line: 0)
        for step in transcript.steps {
            try await perform(step)
        }
        // Nothing unexpected may be left over: every line a connection received must have been expected.
        let last = (transcript.steps.last?.line ?? 0) + 1
        for name in order where !closed.contains(name) {
            if daemon == nil {
                let client = try self.client(name, line: last)
                _ = await client.isClosedByServer(timeout: Self.timeout)
                let unread = await client.unread()
                if !unread.isEmpty {
                    throw TranscriptFailure(line: last, message: "\(name) has unexpected lines: \(unread)")
                }
            } else {
                try await quiet(name, line: last, atEnd: true)
            }
        }
    }

    func tearDown() async {
        for client in clients.values { await client.close() }
        try? await daemon?.stop()
        daemon = nil
    }

    private func perform(_ step: Transcript.Step) async throws(TranscriptFailure) {
        let line = step.line
        switch step.action {
        case .send(let name, let bytes):
            try checkNoRace(sendingOn: name, line: line)
            let client = try await openIfNeeded(name, line: line)
            do {
                try await client.sendRaw(bytes)
            } catch {
                throw TranscriptFailure(line: line, message: "\(name) could not send: \(error)")
            }
            outstanding[name, default: 0] += bytes.count { $0 == UInt8(ascii: "\n") }
        case .expect(let name, let pattern):
            let received = try await next(name, line: line, waitingFor: pattern)
            guard LinePattern.matches(pattern, received) else {
                let message = "\(name) expected\n    \(pattern)\nbut got\n    \(received)"
                throw TranscriptFailure(line: line, message: message)
            }
            if Self.isCompletion(received) { outstanding[name] = max(0, (outstanding[name] ?? 0) - 1) }
        case .closed(let name):
            let client = try self.client(name, line: line)
            guard await client.isClosedByServer(timeout: Self.timeout) else {
                let unread = await client.unread()
                throw TranscriptFailure(line: line, message: "\(name) is still open; unread lines: \(unread)")
            }
            let unread = await client.unread()
            guard unread.isEmpty else {
                throw TranscriptFailure(line: line, message: "\(name) was closed after unexpected lines: \(unread)")
            }
            closed.insert(name)
        case .quiet(let name):
            try await quiet(name, line: line, atEnd: false)
        case .wait(let seconds):
            try? await Task.sleep(for: .milliseconds(Int64(seconds * 1000)))
        case .stop:
            guard let running = daemon else {
                throw TranscriptFailure(line: line, message: "the daemon is not running")
            }
            daemon = nil
            do {
                try await running.stop()
            } catch {
                throw TranscriptFailure(line: line, message: "the daemon did not stop cleanly: \(error)")
            }
        case .start:
            guard daemon == nil else { throw TranscriptFailure(line: line, message: "the daemon is already running") }
            if let open = order.first(where: { !closed.contains($0) }) {
                throw TranscriptFailure(line: line, message: "expect `\(open) closed` before starting the daemon again")
            }
            try await start(line: line)
        }
    }

    private func start(line: Int) async throws(TranscriptFailure) {
        do {
            daemon = try await TestDaemon.start(configuration, stateDirectory: stateDirectory)
        } catch {
            throw TranscriptFailure(line: line, message: "the daemon did not start: \(error)")
        }
    }

    /// Lines from different connections reach the daemon in no fixed order. A transcript stays deterministic only
    /// if every command's completion has been read before a line goes out on another connection.
    private func checkNoRace(sendingOn name: String, line: Int) throws(TranscriptFailure) {
        for other in order where other != name && !closed.contains(other) && (outstanding[other] ?? 0) > 0 {
            throw TranscriptFailure(
                line: line,
                message: "races: sends on \(name) while \(other) has a line whose completion was not expected yet"
            )
        }
    }

    /// No line is pending on the connection: a `quiet PING` is answered before anything else. Every line is sent
    /// in the order the daemon produced it, so whatever was caused before the PING would come before its reply.
    private func quiet(_ name: String, line: Int, atEnd: Bool) async throws(TranscriptFailure) {
        try checkNoRace(sendingOn: name, line: line)
        let client = try self.client(name, line: line)
        do {
            try await client.send("quiet PING")
        } catch {
            throw TranscriptFailure(line: line, message: "\(name) could not send the quiet check: \(error)")
        }
        let received = try await next(name, line: line, waitingFor: "quiet OK")
        guard received == "quiet OK" else {
            let when = atEnd ? "at the end of the transcript" : "at a quiet check"
            throw TranscriptFailure(line: line, message: "\(name) has an unexpected line \(when): \(received)")
        }
    }

    private func next(_ name: String, line: Int, waitingFor pattern: String) async throws(TranscriptFailure) -> String {
        let client = try self.client(name, line: line)
        do {
            return try await client.next(timeout: Self.timeout)
        } catch {
            let ended = await client.isClosedByServer(timeout: .zero)
            let why = ended ? "the connection was closed" : "nothing came within \(Self.timeout)"
            throw TranscriptFailure(line: line, message: "\(name) expected\n    \(pattern)\nbut \(why)")
        }
    }

    private func client(_ name: String, line: Int) throws(TranscriptFailure) -> LineClient {
        guard let client = clients[name] else {
            throw TranscriptFailure(line: line, message: "no connection \(name) yet: it opens on its first `\(name)>`")
        }
        return client
    }

    /// The connection's client, opened on first use. A name whose connection was closed opens a new one.
    private func openIfNeeded(_ name: String, line: Int) async throws(TranscriptFailure) -> LineClient {
        if let client = clients[name], !closed.contains(name) { return client }
        guard let daemon else {
            throw TranscriptFailure(line: line, message: "cannot connect \(name): the daemon is stopped")
        }
        do {
            let client = try await daemon.connect()
            if let previous = clients[name] { await previous.close() }
            clients[name] = client
            closed.remove(name)
            outstanding[name] = 0
            if !order.contains(name) { order.append(name) }
            return client
        } catch {
            throw TranscriptFailure(line: line, message: "cannot connect \(name): \(error)")
        }
    }

    /// `TAG OK ...` or `TAG ERR ...` (tag `*` included), as opposed to a data line or an event.
    static func isCompletion(_ line: String) -> Bool {
        let words = line.split(separator: " ", maxSplits: 2, omittingEmptySubsequences: false)
        return words.count >= 2 && (words[1] == "OK" || words[1] == "ERR")
    }
}

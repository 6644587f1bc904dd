import Foundation
import KefuConfig
import KefuCore
import KefuServer
import KefuTestSupport
import Logging
import ServiceLifecycle
import Synchronization

/// Demo secrets (see deploy/kefud.toml) and their hashes, shared by every end-to-end test.
enum Secrets {
    static let gateway = ("shop-gateway-secret", "70eb1e69e0e61e6f50457f66a06497aa2a2206f8c74b0ca2c277c5bd8359ef4b")
    static let alice = ("alice-secret", "0c848abb03307b06cf70cd4e29c157dc81af5e94ab3eb1d0c59a120269572376")
    static let bob = ("bob-secret", "9f03ef1533a68d2f506f81ef463c1183a82a6bd40e45613f36e6fe1889cf1b99")
    static let carol = ("carol-secret", "9e1d0a638ff9fd18986d8057aef3c36871aa54b27a6fcc6411fb32f8325675e2")
    static let lead = ("lead-secret", "0a70631b84816dd3124d632f39f08a1964fee40b36210d27e8bc16e7aba7a16b")
    /// The platform bridge `tmall` of the test configuration (`[[gateway]]`).
    static let tmall = ("tmall-bridge-secret", "85a90ba1fe3987953f3dc298aea5eca43f662653e8804208cebce6e236e63e4a")
}

/// A test configuration: the demo team and the gateway `tmall`, on a port of the kernel's choosing.
/// `server` adds keys to `[server]` (`idle_timeout_s = 1`), `sla` to `[sla]`, `agentKeys` adds keys to an agent's table
/// (`["alice": #"stores = ["tmall"]"#]`), and `extra` is appended (`[routing]`, `[[skill]]`, more agents).
func testConfiguration(
    firstResponseSeconds: Double = 120,
    responseSeconds: Double? = nil,
    maxLineBytes: Int = 16384,
    port: Int = 0,
    aliceSkills: String = "{ presales = 3, logistics = 2 }",
    server: String = "",
    sla: String = "",
    agentKeys: [String: String] = [:],
    extra: String = ""
) -> String {
    """
    [server]
    listen = "127.0.0.1:\(port)"
    max_line_bytes = \(maxLineBytes)
    \(server)

    [sla]
    first_response_s = \(firstResponseSeconds)
    \(responseSeconds.map { "response_s = \($0)" } ?? "")
    \(sla)

    [customers]
    token_sha256 = "\(Secrets.gateway.1)"

    [[agent]]
    id = "alice"
    name = "Alice"
    token_sha256 = "\(Secrets.alice.1)"
    max_chats = 5
    skills = \(aliceSkills)
    \(agentKeys["alice"] ?? "")

    [[agent]]
    id = "bob"
    token_sha256 = "\(Secrets.bob.1)"
    max_chats = 5
    skills = { presales = 2, refund = 3, returns = 3 }
    \(agentKeys["bob"] ?? "")

    [[agent]]
    id = "carol"
    token_sha256 = "\(Secrets.carol.1)"
    max_chats = 3
    skills = { refund = 4, complaint = 5, returns = 2 }
    \(agentKeys["carol"] ?? "")

    [[supervisor]]
    id = "lead"
    token_sha256 = "\(Secrets.lead.1)"

    [[gateway]]
    id = "tmall"
    token_sha256 = "\(Secrets.tmall.1)"

    \(extra)
    """
}

/// Breaches and auto-aways the daemon reported, for assertions.
final class BreachLog: JournalRecorder {
    private let entries = Mutex<[SLABreach]>([])
    private let summarised = Mutex<[BreachSummary]>([])
    private let aways = Mutex<[AgentAutoAway]>([])
    private let ladder = Mutex<[SLAEscalation]>([])
    private let logins = Mutex<[AuthFailure]>([])
    private let loginSummaries = Mutex<[AuthFailureSummary]>([])

    func record(_ breach: SLABreach) { entries.withLock { $0.append(breach) } }
    func record(_ summary: BreachSummary) { summarised.withLock { $0.append(summary) } }
    func record(_ away: AgentAutoAway) { aways.withLock { $0.append(away) } }
    func record(_ escalation: SLAEscalation) { ladder.withLock { $0.append(escalation) } }
    var escalations: [SLAEscalation] { ladder.withLock { $0 } }
    func record(_ failure: AuthFailure) { logins.withLock { $0.append(failure) } }
    func record(_ summary: AuthFailureSummary) { loginSummaries.withLock { $0.append(summary) } }
    var authFailures: [AuthFailure] { logins.withLock { $0 } }
    var authFailureSummaries: [AuthFailureSummary] { loginSummaries.withLock { $0 } }

    var all: [SLABreach] { entries.withLock { $0 } }
    var summaries: [BreachSummary] { summarised.withLock { $0 } }
    var autoAways: [AgentAutoAway] { aways.withLock { $0 } }
}

/// The real server (listener, routing loop, SQLite store) running in this process on a loopback port.
struct TestDaemon {
    let port: Int
    let breaches: BreachLog
    let daemon: KefuDaemon
    let stateDirectory: String
    private let ownedDirectory: TemporaryDirectory?
    private let group: ServiceGroup
    private let task: Task<Void, any Error>

    static func start(
        _ toml: String = testConfiguration(), stateDirectory: String? = nil,
        notifier: any ServiceNotifier = SilentNotifier(), invariantCheck: InvariantCheck = InvariantCheck(),
        timeoutExtension: TimeoutExtension = TimeoutExtension(), clock: any WallClock = SystemWallClock(),
        retentionSchedule: RetentionSchedule = .standard
    ) async throws -> TestDaemon {
        // The same reading as kefud's: `shops_dir` in `[server]` brings each shop's file.
        let node = try NodeConfiguration.parse(toml, file: "test.toml")
        // Kept alive as long as the daemon value, removed with it; a caller's own directory is its to remove.
        let owned = try stateDirectory == nil ? TemporaryDirectory(prefix: "kefu-e2e") : nil
        let directory = stateDirectory ?? owned!.path
        var logger = Logger(label: "kefud-test")
        logger.logLevel = .warning
        let breaches = BreachLog()
        let daemon = KefuDaemon(
            node: node, stateDirectory: directory, clock: clock, notifier: notifier, journal: breaches,
            logger: logger, invariantCheck: invariantCheck, timeoutExtension: timeoutExtension,
            retentionSchedule: retentionSchedule
        )
        let group = ServiceGroup(services: [daemon], logger: logger)
        let task = Task { try await group.run() }
        let port = try await daemon.boundPort()
        return TestDaemon(
            port: port, breaches: breaches, daemon: daemon, stateDirectory: directory, ownedDirectory: owned,
            group: group, task: task
        )
    }

    /// Graceful stop, as on SIGTERM.
    func stop() async throws {
        await group.triggerGracefulShutdown()
        try await task.value
    }

    func connect() async throws -> LineClient { try await LineClient.connect(port: port) }

    /// A logged-in client (with shop `shop` when given).
    func login(_ role: String, _ id: String, _ token: String, shop: String? = nil) async throws -> LineClient {
        let client = try await connect()
        let reply = try await client.completion("login LOGIN \(role) \(id) \(token)" + (shop.map { " shop=\($0)" } ?? ""))
        guard reply.hasPrefix("login OK") else { throw LoginFailed(reply: reply) }
        return client
    }

    func customer(_ id: String) async throws -> LineClient { try await login("customer", id, Secrets.gateway.0) }
    func agent(_ id: String, _ secret: (String, String)) async throws -> LineClient {
        try await login("agent", id, secret.0)
    }
    func supervisor() async throws -> LineClient { try await login("supervisor", "lead", Secrets.lead.0) }
    func gateway() async throws -> LineClient { try await login("gateway", "tmall", Secrets.tmall.0) }

    /// Asks `AGENTS` through `supervisor` until the agent shows `connected=1` (or `0`), for at most `attempts` × 40 ms:
    /// the server notices a connection open or close on its own time. Whether it did.
    @discardableResult
    func waitForAgent(
        _ agent: String, connected: Bool, asking supervisor: LineClient, attempts: Int = 100
    ) async throws -> Bool {
        for _ in 0..<attempts {
            let agents = try await supervisor.command("g AGENTS")
            if agents.contains(where: { $0.contains("agent=\(agent) ") && $0.contains(" connected=\(connected ? 1 : 0)") }) {
                return true
            }
            try await Task.sleep(for: .milliseconds(40))
        }
        return false
    }
}

struct LoginFailed: Error {
    let reply: String
}

/// The value of `key=` in a protocol line.
func field(_ key: String, in line: String) -> String? {
    for word in line.split(separator: " ") where word.hasPrefix("\(key)=") {
        return String(word.dropFirst(key.count + 1))
    }
    return nil
}

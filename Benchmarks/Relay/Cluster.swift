import Foundation
import NIOCore

#if canImport(Glibc)
    import Glibc
#endif

// The cluster part of the relay benchmark (issue #12): acknowledged messages a second of three kefud nodes over one
// local PostgreSQL, against pgbench running a one-row INSERT of the same size with as many clients, on the same
// server, side by side in one run. Needs root (PostgreSQL's initdb runs as the postgres user).

/// Runs a program to its end; its status and standard output.
@discardableResult
func runProgram(_ executable: String, _ arguments: [String]) throws -> String {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    let output = Pipe()
    process.standardOutput = output
    process.standardError = output
    process.standardInput = FileHandle.nullDevice
    try process.run()
    let data = output.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    let text = String(decoding: data, as: UTF8.self)
    guard process.terminationStatus == 0 else {
        let command = ([executable] + arguments).joined(separator: " ")
        throw RelayFailure("\(command) exited \(process.terminationStatus): \(text)")
    }
    return text
}

/// A PostgreSQL of the benchmark's own: Debian's newest, `synchronous_commit` on (its default), fsync on.
final class PostgresInstance {
    let directory: String
    let port: Int
    let bin: String

    init() throws {
        guard getuid() == 0 else { throw RelayFailure("the cluster part needs root (initdb runs as postgres)") }
        let versions = (try? FileManager.default.contentsOfDirectory(atPath: "/usr/lib/postgresql")) ?? []
        guard let newest = versions.compactMap(Int.init).max() else {
            throw RelayFailure("no PostgreSQL: apt-get install postgresql")
        }
        bin = "/usr/lib/postgresql/\(newest)/bin"
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("kefu-relay-pg-\(getpid())").path
        try? FileManager.default.removeItem(atPath: directory)
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        chmod(directory, 0o755)
        try runProgram("/usr/bin/chown", ["postgres:postgres", directory])
        try runProgram("/usr/sbin/runuser", ["-u", "postgres", "--", "\(bin)/initdb", "-D", directory + "/data",
                                             "-U", "kefu", "-A", "trust", "-E", "UTF8"])
        port = try freeLoopbackPort()
        // The bash wrapper closes inherited descriptors, or the postmaster would keep this process's pipes open.
        let closeInherited = #"for fd in $(ls /proc/$$/fd); do [ "$fd" -gt 2 ] && eval "exec $fd>&-"; done; exec "$@""#
        try runProgram("/bin/bash", ["-c", closeInherited,
                                     "close", "/usr/sbin/runuser", "-u", "postgres", "--", "\(bin)/pg_ctl", "-D",
                                     directory + "/data", "-l", directory + "/log", "-w", "start", "-o",
                                     "-p \(port) -k \(directory) -c listen_addresses=127.0.0.1 -c max_connections=300"])
        try runProgram("\(bin)/createdb", ["-h", "127.0.0.1", "-p", "\(port)", "-U", "kefu", "kefu"])
    }

    var url: String { "postgresql://kefu@127.0.0.1:\(port)/kefu" }

    func psql(_ sql: String) throws -> String {
        try runProgram("\(bin)/psql", ["-h", "127.0.0.1", "-p", "\(port)", "-U", "kefu", "-d", "kefu", "-XAtc", sql])
            .trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// pgbench: `clients` clients each inserting one row like a relayed message, for `seconds`; rows a second.
    func pgbench(clients: Int, seconds: Double, payload: String) throws -> Double {
        _ = try psql(
            "CREATE TABLE IF NOT EXISTS relay_bench (id bigserial PRIMARY KEY, shop text, conversation bigint, "
                + "seq bigint, sender text, author text, at bigint, text text)")
        let script = directory + "/insert.sql"
        try """
        INSERT INTO relay_bench (shop, conversation, seq, sender, author, at, text)
        VALUES ('s0', 1, 1, 'customer', 'c1', 1700000000000, '\(payload)');
        """.write(toFile: script, atomically: true, encoding: .utf8)
        let output = try runProgram(
            "\(bin)/pgbench",
            ["-h", "127.0.0.1", "-p", "\(port)", "-U", "kefu", "-n", "-c", "\(clients)", "-j", "1",
             "-T", "\(Int(seconds.rounded(.up)))", "-f", script, "kefu"])
        guard let line = output.split(separator: "\n").first(where: { $0.hasPrefix("tps = ") }),
            let tps = Double(line.dropFirst("tps = ".count).prefix { $0 != " " })
        else { throw RelayFailure("pgbench said: \(output)") }
        return tps
    }

    func stop() {
        _ = try? runProgram("/usr/sbin/runuser", ["-u", "postgres", "--", "\(bin)/pg_ctl", "-D", directory + "/data",
                                                  "-m", "immediate", "stop"])
        try? FileManager.default.removeItem(atPath: directory)
    }
}

/// Three kefud nodes over `postgres`, the shops `s0`… applied with kefuctl (each with `agents` agents as in
/// `startKefud`), one shop served by each node once they settle.
func startCluster(
    options: Options, postgres: PostgresInstance, agents: Int
) throws -> (nodes: [ServerProcess], shops: [(name: String, port: Int)]) {
    let shopFile = postgres.directory + "/shop.toml"
    var toml = """
        [sla]
        first_response_s = 36000
        customer_idle_close_s = 0

        [customers]
        token_sha256 = "\(Secrets.customers.1)"

        \(ProcessInfo.processInfo.environment["RELAY_KEFUD_EXTRA"] ?? "")

        """
    toml += relayAgents(agents)
    try toml.write(toFile: shopFile, atomically: true, encoding: .utf8)
    let names = (0..<max(options.shops, options.nodes)).map { "s\($0)" }
    for shop in names {
        try runProgram(options.kefuctl, ["shop", "apply", shop, shopFile, "--postgres", postgres.url])
    }
    var nodes: [ServerProcess] = []
    for index in 0..<options.nodes {
        nodes.append(
            try ServerProcess(
                name: "node\(index)", executable: options.kefud,
                arguments: { _, directory in
                    ["--config", directory.appendingPathComponent("kefud.toml").path, "--state-dir",
                     directory.appendingPathComponent("var").path, "--log-target", "stderr", "--log-level", "warning"]
                },
                prepare: { port, directory in
                    try """
                    [server]
                    listen = "127.0.0.1:\(port)"
                    idle_timeout_s = 0
                    [cluster]
                    postgres = "\(postgres.url)"
                    node = "n\(index)"
                    advertise = "127.0.0.1:\(port)"
                    """.write(to: directory.appendingPathComponent("kefud.toml"), atomically: false, encoding: .utf8)
                }))
    }
    let deadline = Date().addingTimeInterval(30)
    while Date() < deadline {
        let rows = try postgres.psql(
            "SELECT shop || ' ' || owner FROM kefu_leases WHERE owner IS NOT NULL AND expires_at > now() ORDER BY shop")
        let owners = rows.split(separator: "\n").map { $0.split(separator: " ").map(String.init) }
        // Settled: every shop served, each node serving its fair share.
        var perNode: [String: Int] = [:]
        for owner in owners { perNode[owner[1], default: 0] += 1 }
        if owners.count == names.count, perNode.count == options.nodes,
            perNode.values.allSatisfy({ $0 <= (names.count + options.nodes - 1) / options.nodes })
        {
            let shops = owners.map { pair in (name: pair[0], port: nodes[Int(pair[1].dropFirst())!].port) }
            usleep(1_500_000)  // the owners have recovered and started
            return (nodes, shops)
        }
        usleep(200_000)
    }
    throw RelayFailure("the cluster's shops did not settle on its nodes")
}

/// The cluster part: for each pair count, kefud's three nodes and pgbench with as many clients, `runs` times each,
/// medians and spreads. Window 1 twice: each buyer sending its next message when the last one is acknowledged (its
/// `OK seq=`, the commit: what a pgbench client waits for), then when the agent has it (one hop more).
func clusterRelay(options: Options, group: any EventLoopGroup) throws {
    say(
        "\n## cluster: \(options.nodes) kefud nodes, \(max(options.shops, options.nodes)) shops, over one PostgreSQL "
            + "vs pgbench (one-row INSERT, same clients)")
    say(
        "| pairs (clients) | kefud acknowledged msgs/s, window 1 | pgbench rows/s | kefud / pgbench "
            + "| kefud delivered msgs/s, window 1 | kefud msgs/s, window 16 |")
    say("| --- | --- | --- | --- | --- | --- |")
    for count in options.pairs {
        var acknowledged: [Double] = []
        var delivered: [Double] = []
        var kefudWide: [Double] = []
        var pgbench: [Double] = []
        for _ in 0..<options.runs {
            let postgres = try PostgresInstance()
            defer { postgres.stop() }
            let (nodes, shops) = try startCluster(options: options, postgres: postgres, agents: count)
            defer { for node in nodes { node.stop() } }
            let pairs = try kefudPairs(count: count, port: 0, group: group, payload: payload, shops: shops)
            defer { try? onEach(pairs) { $0.close() } }
            let acked = try measure(pairs, server: nodes[0], options: options) {
                $0.pace = .acknowledged
                $0.start(window: 1)
            }
            // Every acknowledged message reached its agent too (give or take the one in flight per pair at the ends).
            if abs(acked.sample.received - acked.sample.delivered) > count {
                say("  ! \(acked.sample.delivered) acknowledged but \(acked.sample.received) delivered")
            }
            acknowledged.append(acked.rate)
            delivered.append(
                try measure(pairs, server: nodes[0], options: options) {
                    $0.pace = .delivered
                    $0.start(window: 1)
                }.rate)
            kefudWide.append(try measure(pairs, server: nodes[0], options: options) { $0.start(window: 16) }.rate)
            pgbench.append(try postgres.pgbench(clients: count, seconds: options.seconds, payload: payload))
        }
        let ratio = Spread(values: zip(acknowledged, pgbench).map { $0 / $1 })
        let row = [
            Spread(values: acknowledged), Spread(values: pgbench), ratio, Spread(values: delivered),
            Spread(values: kefudWide),
        ]
        say("| \(count) | " + row.map(\.description).joined(separator: " | ") + " |")
    }
}

import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// A real PostgreSQL server of the test's own: Debian's `postgresql` package, `initdb` run as the `postgres` user
/// (initdb refuses root) into a temporary directory, listening on a random loopback port with its Unix socket inside
/// that directory, stopped and removed with the value. Superuser `kefu`, database `kefu`, no password (trust on
/// loopback only).
///
/// The settings are the ones the README recommends for a cluster (keepalives and the connection check, so that a
/// vanished client's session, and with it its advisory locks, ends within seconds), plus `fsync` left on: the tests
/// are about what a commit promises.
public final class PostgresServer: Sendable {
    public let directory: TemporaryDirectory
    public let port: Int
    private let binaries: String
    private let listenAddresses: [String]

    /// `postgresql://kefu@127.0.0.1:<port>/kefu`.
    public var url: String { "postgresql://kefu@127.0.0.1:\(port)/kefu" }

    /// Why a server could not be started here.
    public struct Unavailable: Error, CustomStringConvertible {
        public var description: String
    }

    private init(directory: TemporaryDirectory, port: Int, binaries: String, listenAddresses: [String]) {
        self.directory = directory
        self.port = port
        self.binaries = binaries
        self.listenAddresses = listenAddresses
    }

    /// The newest installed PostgreSQL's programs (`/usr/lib/postgresql/<version>/bin`).
    static func binaries() -> String? {
        let root = "/usr/lib/postgresql"
        let versions = (try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []
        guard let newest = versions.compactMap({ Int($0) }).sorted().last else { return nil }
        let path = "\(root)/\(newest)/bin"
        return FileManager.default.isExecutableFile(atPath: path + "/initdb") ? path : nil
    }

    /// Starts a server, or records an issue (as root, and in CI, where the test command installs PostgreSQL) and
    /// returns nil (elsewhere, saying loudly that the test was skipped).
    /// `alsoListenOn`: addresses besides 127.0.0.1 (a veth end the test made); clients on their /24 are trusted.
    public static func startForTest(
        alsoListenOn: [String] = [], sourceLocation: SourceLocation = #_sourceLocation
    ) async throws -> PostgresServer? {
        do {
            return try await start(alsoListenOn: alsoListenOn)
        } catch let unavailable as Unavailable {
            if getuid() == 0 || ProcessInfo.processInfo.environment["CI"] != nil {
                Issue.record(
                    "PostgreSQL could not start (required as root and in CI): \(unavailable)",
                    sourceLocation: sourceLocation)
            } else {
                print("SKIPPED (a PostgreSQL server needs root and Debian's postgresql package): \(unavailable)")
            }
            return nil
        }
    }

    public static func start(alsoListenOn: [String] = []) async throws -> PostgresServer {
        guard getuid() == 0 else { throw Unavailable(description: "not root (initdb runs as the postgres user)") }
        guard let binaries = binaries() else { throw Unavailable(description: "no /usr/lib/postgresql/*/bin/initdb") }
        let directory = try TemporaryDirectory(prefix: "kefu-pg")
        // The postgres user must reach its data directory: the temporary directory is the test's (root's).
        chmod(directory.path, 0o755)
        try await checked("chown", ["/usr/bin/chown", "postgres:postgres", directory.path])
        try await checked(
            "initdb",
            ["/usr/sbin/runuser", "-u", "postgres", "--", "\(binaries)/initdb", "-D", directory.path + "/data",
             "-U", "kefu", "-A", "trust", "-E", "UTF8", "--no-sync", "--no-instructions"])
        if !alsoListenOn.isEmpty {
            // Clients on the same /24 (the other end of the test's veth pair) are trusted like loopback ones.
            let lines = alsoListenOn.map { "host all all \($0)/24 trust\n" }.joined()
            let hba = FileHandle(forWritingAtPath: directory.path + "/data/pg_hba.conf")
            hba?.seekToEndOfFile()
            hba?.write(Data(lines.utf8))
            try? hba?.close()
        }
        let port = try freeLoopbackPort()
        let server = PostgresServer(
            directory: directory, port: port, binaries: binaries, listenAddresses: ["127.0.0.1"] + alsoListenOn)
        try await server.startServer()
        try await checked(
            "createdb", ["\(binaries)/createdb", "-h", "127.0.0.1", "-p", "\(port)", "-U", "kefu", "kefu"])
        return server
    }

    private func startServer() async throws {
        let options = [
            "-p \(port)", "-k \(directory.path)", "-c listen_addresses=\(listenAddresses.joined(separator: ","))", "-c max_connections=200",
            "-c tcp_keepalives_idle=5", "-c tcp_keepalives_interval=2", "-c tcp_keepalives_count=3",
            "-c client_connection_check_interval=2000", "-c shared_buffers=32MB",
        ].joined(separator: " ")
        // The postmaster outlives pg_ctl and would inherit every descriptor the test process leaks into its
        // children, among them Foundation's socket that tells Process its child ended: waiting for pg_ctl would
        // then last as long as the server. So everything above stderr is closed before pg_ctl runs.
        let closeInherited = #"for fd in $(ls /proc/$$/fd); do [ "$fd" -gt 2 ] && eval "exec $fd>&-"; done; exec "$@""#
        try await Self.checked(
            "pg_ctl start",
            ["/bin/bash", "-c", closeInherited, "close-inherited",
             "/usr/sbin/runuser", "-u", "postgres", "--", "\(binaries)/pg_ctl", "-D", directory.path + "/data",
             "-o", options, "-l", directory.path + "/server.log", "-w", "-t", "60", "start"])
    }

    /// `pg_ctl restart -m immediate`: the server stops as at a crash (no checkpoint; every session cut) and recovers.
    public func restartImmediately() async throws {
        try await Self.checked(
            "pg_ctl stop",
            ["/usr/sbin/runuser", "-u", "postgres", "--", "\(binaries)/pg_ctl", "-D", directory.path + "/data",
             "-m", "immediate", "-w", "stop"])
        try await startServer()
    }

    /// Runs `sql` with psql as `kefu` and returns what it printed (unaligned, tuples only).
    public func psql(_ sql: String) async throws -> String {
        let result = try await runCommand(
            "\(binaries)/psql",
            ["-h", "127.0.0.1", "-p", "\(port)", "-U", "kefu", "-d", "kefu", "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1",
             "-c", sql])
        guard result.status == 0 else { throw Unavailable(description: "psql: \(result.errorOutput)") }
        return result.output.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Stops the server at once and removes its directory.
    public func stop() {
        _ = try? runCommandBlocking(
            "/usr/sbin/runuser",
            ["-u", "postgres", "--", "\(binaries)/pg_ctl", "-D", directory.path + "/data", "-m", "immediate", "-w",
             "stop"])
        directory.remove()
    }

    /// The server's log, for a failing test's message.
    public var log: String { (try? String(contentsOfFile: directory.path + "/server.log", encoding: .utf8)) ?? "" }

    private static func checked(_ what: String, _ command: [String]) async throws {
        let result = try await runCommand(command[0], Array(command.dropFirst()))
        guard result.status == 0 else {
            throw Unavailable(description: "\(what) exited \(result.status): \(result.errorOutput)\(result.output)")
        }
    }
}

/// A loopback port nobody listens on right now (the kernel's choice for port 0, released at once).
public func freeLoopbackPort() throws -> Int {
    let socket = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard socket >= 0 else { throw POSIXError(.EMFILE) }
    defer { close(socket) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = 0
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(socket, $0, length) }
    }
    guard bound == 0 else { throw POSIXError(.EADDRINUSE) }
    _ = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(socket, $0, &length) }
    }
    return Int(UInt16(bigEndian: address.sin_port))
}

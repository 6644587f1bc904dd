import Foundation

#if canImport(Glibc)
    import Glibc
#endif

struct RelayFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// A server under test, started as a child process on a loopback port of its own.
final class ServerProcess: @unchecked Sendable {  // read only after start
    let name: String
    let process: Process
    let port: Int
    let directory: URL

    init(name: String, executable: String, arguments: (Int, URL) -> [String], prepare: (Int, URL) throws -> Void = { _, _ in }) throws {
        self.name = name
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("kefu-relay-\(name)-\(getpid())")
        try? FileManager.default.removeItem(at: directory)
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        port = try freeLoopbackPort()
        try prepare(port, directory)
        process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments(port, directory)
        process.currentDirectoryURL = directory
        process.standardOutput = FileHandle.nullDevice
        let log = directory.appendingPathComponent("server.log")
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        process.standardError = try FileHandle(forWritingTo: log)
        try process.run()
        try waitForPort()
    }

    var pid: Int32 { process.processIdentifier }

    /// User plus system CPU time the server has used so far, in seconds (every thread).
    func cpuSeconds() -> Double {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")")
        else { return 0 }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        // After the command: state(0) ... utime(11) stime(12).
        let ticks = (Double(fields[11]) ?? 0) + (Double(fields[12]) ?? 0)
        return ticks / Double(sysconf(Int32(_SC_CLK_TCK)))
    }

    /// Resident memory now (`VmRSS`), in KiB.
    func residentKiB() -> Int {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
            let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") })
        else { return 0 }
        return line.split(separator: " ").compactMap { Int($0) }.first ?? 0
    }

    func stop() {
        if process.isRunning {
            process.terminate()
            process.waitUntilExit()
        }
        if ProcessInfo.processInfo.environment["RELAY_SHOW_LOG"] != nil,
            let log = try? String(contentsOf: directory.appendingPathComponent("server.log"), encoding: .utf8)
        {
            print("--- \(name)'s log:\n\(log.suffix(4000))")
            fflush(nil)
        }
        try? FileManager.default.removeItem(at: directory)
    }

    private func waitForPort() throws {
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline {
            if !process.isRunning {
                let log = (try? String(contentsOf: directory.appendingPathComponent("server.log"), encoding: .utf8)) ?? ""
                throw RelayFailure("\(name) exited at start: \(log.suffix(2000))")
            }
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = in_port_t(UInt16(port).bigEndian)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            let connected = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
            close(fd)
            if connected == 0 { return }
            usleep(20_000)
        }
        throw RelayFailure("\(name) did not listen on \(port) within 60 s")
    }
}

func freeLoopbackPort() throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = 0
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    let bound = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    guard bound == 0 else { throw RelayFailure("no free port") }
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { _ = getsockname(fd, $0, &length) }
    }
    return Int(UInt16(bigEndian: address.sin_port))
}

/// The shared secrets of the demo configuration and their SHA-256 (see deploy/kefud.toml).
enum Secrets {
    static let customers = ("shop-gateway-secret", "70eb1e69e0e61e6f50457f66a06497aa2a2206f8c74b0ca2c277c5bd8359ef4b")
    static let agent = ("alice-secret", "0c848abb03307b06cf70cd4e29c157dc81af5e94ab3eb1d0c59a120269572376")
    static let gateway = ("tmall-bridge-secret", "85a90ba1fe3987953f3dc298aea5eca43f662653e8804208cebce6e236e63e4a")
}

/// kefud with `agents` agents (`a0`…, one chat each, skill `relay`), a gateway `tmall`, no SLA clock that could fire
/// during a run, its SQLite store in a fresh directory (`synchronous=FULL`, as always).
func startKefud(binary: String, agents: Int) throws -> ServerProcess {
    try ServerProcess(
        name: "kefud", executable: binary,
        arguments: { _, directory in
            ["--config", directory.appendingPathComponent("kefud.toml").path, "--state-dir",
             directory.appendingPathComponent("var").path, "--log-target", "stderr", "--log-level", "warning"]
        },
        prepare: { port, directory in
            var toml = """
                [server]
                listen = "127.0.0.1:\(port)"
                idle_timeout_s = 0
                \(ProcessInfo.processInfo.environment["RELAY_KEFUD_SERVER"] ?? "")

                [sla]
                first_response_s = 36000
                customer_idle_close_s = 0

                [customers]
                token_sha256 = "\(Secrets.customers.1)"

                [[gateway]]
                id = "tmall"
                token_sha256 = "\(Secrets.gateway.1)"

                \(ProcessInfo.processInfo.environment["RELAY_KEFUD_EXTRA"] ?? "")

                """
            toml += relayAgents(agents)
            try toml.write(to: directory.appendingPathComponent("kefud.toml"), atomically: false, encoding: .utf8)
        })
}

/// `agents` agents `a0`…, one chat each, skill `relay`, as TOML tables.
func relayAgents(_ agents: Int) -> String {
    (0..<agents).map { agent in
        """

        [[agent]]
        id = "a\(agent)"
        token_sha256 = "\(Secrets.agent.1)"
        max_chats = 1
        skills = { relay = 1 }

        """
    }.joined()
}

/// redis with every write fsynced before it is acknowledged (`appendonly yes`, `appendfsync always`).
func startRedis(binary: String) throws -> ServerProcess {
    try ServerProcess(
        name: "redis", executable: binary,
        arguments: { port, directory in
            ["--port", "\(port)", "--bind", "127.0.0.1", "--dir", directory.path, "--appendonly", "yes",
             "--appendfsync", "always", "--save", "", "--maxclients", "60000", "--protected-mode", "no"]
        })
}

/// Raises this process's open-file limit to its hard limit (children inherit it).
func raiseFileLimit() {
    var limit = rlimit()
    getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
    limit.rlim_cur = limit.rlim_max
    setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
}

func monotonicNanoseconds() -> UInt64 {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return UInt64(now.tv_sec) * 1_000_000_000 + UInt64(now.tv_nsec)
}

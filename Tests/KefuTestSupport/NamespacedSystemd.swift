import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// A real systemd (Debian's `/lib/systemd/systemd`) running as PID 1 of a private PID, mount, UTS and cgroup
/// namespace, booting only the units a test gives it, driven with `nsenter -t <pid> -m -p systemctl ...`. Root only.
///
/// ```swift
/// let systemd = try await NamespacedSystemd.boot(.init(units: ["foo.service": "..."], binds: [...]))
/// defer { systemd.shutdown() }
/// _ = try await systemd.systemctl(["start", "foo.service"])
/// let state = try await systemd.show("foo.service", ["ActiveState", "SubState"])
/// ```
///
/// What keeps the host untouched: `/run`, `/var` and `/tmp` are fresh tmpfs mounts inside the namespace (journald
/// keeps its journal in the namespace's `/run/log/journal`), `/etc` and `/usr/local` are overlays whose changes land in
/// the scratch directory, `/proc/sys` is read-only (systemd would raise sysctls such as `fs.nr_open`), `/dev/console`
/// is a file in the scratch directory (systemd logs to the console as a container's PID 1), the hostname is the
/// namespace's own, and the namespace lives in a cgroup of its own under the test process's, removed on
/// ``shutdown()``. `default.target` wants journald and what ``Configuration/wants`` names; `sysinit.target`,
/// `basic.target`, `sockets.target` and `shutdown.target` are empty, so no udev, getty, network or tmpfiles unit ever
/// starts. The unit path is the scratch `units` directory only (`SYSTEMD_UNIT_PATH` without a trailing colon).
///
/// ``shutdown()`` (also run on deinit) kills the namespace's PID 1 by its pid, which ends every process in it. Should
/// the test process itself die first, the launcher script notices within a second and kills the namespace too.
public final class NamespacedSystemd: @unchecked Sendable {  // mutable state only in shutdown(), under `lock`
    /// What to boot.
    public struct Configuration: Sendable {
        /// Unit files to write into the unit directory: name (or `name.d/drop-in.conf`) to text.
        public var units: [String: String]
        /// Unit files to put in the unit directory: name to an existing file (`deploy/kefud.service`), linked when it
        /// is a system unit, copied otherwise.
        public var links: [String: String]
        /// Units `default.target` wants, besides journald.
        public var wants: [String]
        /// Host paths bind-mounted inside the namespace before systemd starts: (host path, path inside). A path inside
        /// that does not exist is created, which works under `/etc`, `/usr/local`, `/var`, `/run` and `/tmp` (private
        /// to the namespace) and must not be needed elsewhere.
        public var binds: [(source: String, target: String)]

        public init(
            units: [String: String] = [:], links: [String: String] = [:], wants: [String] = [],
            binds: [(source: String, target: String)] = []
        ) {
            self.units = units
            self.links = links
            self.wants = wants
            self.binds = binds
        }
    }

    /// systemd could not be booted here, and why.
    public struct Unavailable: Error, CustomStringConvertible {
        public let reason: String
        public var description: String { reason }
    }

    /// A `systemctl`/`journalctl` run inside the namespace that failed.
    public struct CommandFailed: Error, CustomStringConvertible {
        public let command: [String]
        public let result: CommandResult
        public var description: String {
            "`\(command.joined(separator: " "))` exited \(result.status): \(result.output)\(result.errorOutput)"
        }
    }

    /// Where Debian installs systemd.
    public static let systemdPath = "/lib/systemd/systemd"
    static let tools = ["unshare", "nsenter", "mount"]

    /// The scratch directory: `units/`, the overlays' upper directories, `console.log`, the boot scripts.
    public let scratch: TemporaryDirectory
    /// The unit directory systemd reads (write drop-ins here, then `systemctl daemon-reload`).
    public var unitDirectory: URL { scratch.url(for: "units") }
    /// The pid of the namespace's PID 1 (systemd) as this process sees it.
    public let pid: pid_t
    private let launcher: Launcher
    private let cgroup: String
    private let lock = NSLock()
    private var isShutDown = false

    private init(scratch: TemporaryDirectory, pid: pid_t, launcher: Launcher, cgroup: String) {
        self.scratch = scratch
        self.pid = pid
        self.launcher = launcher
        self.cgroup = cgroup
    }

    deinit {
        shutdown()
    }

    // MARK: - Booting

    /// Boots systemd in a fresh namespace and waits until `systemctl is-system-running` says `running` (or
    /// `degraded`). Throws ``Unavailable`` when it cannot (not root, systemd or util-linux missing, no writable
    /// cgroup2, systemd refusing to boot), with what it printed.
    public static func boot(_ configuration: Configuration, timeout: Duration = .seconds(20)) async throws
        -> NamespacedSystemd
    {
        try checkPrerequisites()
        let scratch = try TemporaryDirectory(prefix: "kefu-nsd")
        let cgroup = try cgroupForNamespace(name: URL(fileURLWithPath: scratch.path).lastPathComponent)
        try writeUnits(configuration, into: scratch.url(for: "units"))
        try writeScripts(configuration, into: scratch)

        let launcher = try Launcher(
            "/bin/sh", [scratch.url(for: "boot.sh").path, scratch.path, cgroup, String(getpid())],
            output: scratch.url(for: "boot.log").path)
        let deadline = ContinuousClock.now + timeout
        guard let pid = await namespaceInit(of: scratch, launcher: launcher, until: deadline) else {
            // unshare (started with --kill-child) takes whatever runs in the namespace with it.
            if let unshare = unsharePID(scratch) { kill(unshare, SIGKILL) }
            launcher.kill()
            removeCgroup(cgroup)
            throw Unavailable(reason: "the namespace's PID 1 never started; \(diagnostics(scratch))")
        }
        let systemd = NamespacedSystemd(scratch: scratch, pid: pid, launcher: launcher, cgroup: cgroup)
        var state = ""
        while ContinuousClock.now < deadline {
            // Fails (no bus yet) until systemd has set up its private socket; then answers the boot's state.
            let result = try? await systemd.run(["systemctl", "is-system-running"])
            state = result?.output.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
            if state == "running" || state == "degraded" { return systemd }
            if launcher.hasExited { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        let failed = (try? await systemd.run(["systemctl", "--failed", "--no-legend"]))?.output ?? ""
        let reason =
            "systemd in the namespace did not finish booting (is-system-running: \(state.isEmpty ? "no answer" : state)"
            + "; failed units: \(failed.isEmpty ? "none" : failed)); \(diagnostics(scratch))"
        systemd.shutdown()
        throw Unavailable(reason: reason)
    }

    private static func checkPrerequisites() throws {
        guard getuid() == 0 else {
            throw Unavailable(reason: "booting systemd in a namespace needs root (uid \(getuid()))")
        }
        guard FileManager.default.isExecutableFile(atPath: systemdPath) else {
            throw Unavailable(reason: "\(systemdPath) is missing (apt-get install systemd)")
        }
        for tool in tools where path(of: tool) == nil {
            throw Unavailable(reason: "\(tool) is missing (apt-get install util-linux mount)")
        }
    }

    /// A new cgroup (cgroup v2) under the test process's own, for the namespace to be the root of: systemd moves every
    /// process of its root cgroup into `init.scope`, and it must see only its own.
    private static func cgroupForNamespace(name: String) throws -> String {
        let mountInfo = (try? String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8)) ?? ""
        // "36 25 0:31 / /sys/fs/cgroup/unified rw,... - cgroup2 cgroup2 rw"
        let mountPoint = mountInfo.split(separator: "\n").lazy.compactMap { line -> String? in
            let halves = line.components(separatedBy: " - ")
            guard halves.count == 2, halves[1].hasPrefix("cgroup2 ") else { return nil }
            let fields = halves[0].split(separator: " ")
            return fields.count > 4 ? String(fields[4]) : nil
        }.first
        guard let mountPoint else {
            throw Unavailable(reason: "no cgroup2 hierarchy is mounted (/proc/self/mountinfo); systemd needs one")
        }
        let membership = (try? String(contentsOfFile: "/proc/self/cgroup", encoding: .utf8)) ?? ""
        let own =
            membership.split(separator: "\n").first { $0.hasPrefix("0::") }.map { String($0.dropFirst(3)) } ?? "/"
        let path = mountPoint + (own == "/" ? "" : own) + "/" + name
        guard mkdir(path, 0o755) == 0 else {
            throw Unavailable(reason: "cannot create the cgroup \(path): \(String(cString: strerror(errno)))")
        }
        return path
    }

    private static func writeUnits(_ configuration: Configuration, into directory: URL) throws {
        let manager = FileManager.default
        try manager.createDirectory(at: directory, withIntermediateDirectories: true)
        var units: [String: String] = [
            "default.target": """
            [Unit]
            Description=kefu test namespace
            Wants=systemd-journald.service \(configuration.wants.joined(separator: " "))

            """
        ]
        for target in ["sysinit", "basic", "sockets", "shutdown"] {
            units["\(target).target"] = "[Unit]\nDescription=\(target).target (empty in the kefu test namespace)\n"
        }
        units.merge(configuration.units) { _, given in given }
        for (name, text) in units {
            let file = directory.appendingPathComponent(name)
            try manager.createDirectory(at: file.deletingLastPathComponent(), withIntermediateDirectories: true)
            try text.write(to: file, atomically: true, encoding: .utf8)
        }
        var links = [
            "systemd-journald.service": "/lib/systemd/system/systemd-journald.service",
            "systemd-journald.socket": "/lib/systemd/system/systemd-journald.socket",
            // Masked: the first would link /dev/log on the host's /dev, the second reads the kernel's audit log.
            "systemd-journald-dev-log.socket": "/dev/null",
            "systemd-journald-audit.socket": "/dev/null",
        ]
        links.merge(configuration.links) { _, given in given }
        for (name, target) in links {
            let file = directory.appendingPathComponent(name).path
            if target.hasPrefix("/lib/") || target.hasPrefix("/usr/lib/") || target == "/dev/null" {
                try manager.createSymbolicLink(atPath: file, withDestinationPath: target)
            } else {
                // A copy, not a link: the checkout may live under /tmp (a CI clone), which the namespace covers
                // with a tmpfs of its own, and a link into it would dangle there.
                try manager.copyItem(atPath: target, toPath: file)
            }
        }
    }

    private static func writeScripts(_ configuration: Configuration, into scratch: TemporaryDirectory) throws {
        // Outside: moves a child into the namespace's cgroup and starts unshare there; waits for it; kills it
        // should the test process ($3) die first.
        let boot = """
            #!/bin/sh
            # NamespacedSystemd (kefu tests): $1 scratch directory, $2 cgroup for the namespace, $3 test process pid.
            set -eu
            scratch=$1 cgroup=$2 watched=$3
            /bin/sh -c 'echo $$ > "$1/cgroup.procs" && exec unshare --pid --fork --kill-child --mount-proc \\
                --mount --uts --cgroup /bin/sh "$2/inside.sh" "$2"' sh "$cgroup" "$scratch" &
            namespace=$!
            echo "$namespace" > "$scratch/unshare.pid"
            ( while kill -0 "$watched" 2>/dev/null; do sleep 1; done; kill -KILL "$namespace" 2>/dev/null ) &
            watcher=$!
            status=0
            wait "$namespace" || status=$?
            kill "$watcher" 2>/dev/null || true
            echo "unshare exited with status $status"

            """
        var binds = ""
        for (source, target) in configuration.binds {
            var isDirectory: ObjCBool = false
            _ = FileManager.default.fileExists(atPath: source, isDirectory: &isDirectory)
            let create =
                isDirectory.boolValue
                ? "mkdir -p '\(target)'"
                : "mkdir -p \"$(dirname '\(target)')\" && touch '\(target)'"
            binds += "\(create)\nmount --bind '\(source)' '\(target)'\n"
        }
        // Inside, as the namespace's PID 1 until it execs systemd. Order matters: every path under the scratch
        // directory (in /tmp) is bound before /tmp is covered.
        let inside = """
            #!/bin/sh
            # NamespacedSystemd (kefu tests): sets up the namespace's mounts and execs systemd as its PID 1.
            set -eu
            scratch=$1
            # This namespace's cgroup tree alone, in unified mode.
            mount -t cgroup2 cgroup2 /sys/fs/cgroup
            mount --bind /proc/sys /proc/sys
            mount -o remount,bind,ro /proc/sys
            mount -t tmpfs -o mode=755 tmpfs /run
            mount -t tmpfs -o mode=755 tmpfs /var
            mkdir -m 1777 /var/tmp
            mkdir /var/lib /var/log /var/cache
            ln -s /run /var/run
            for directory in etc usr/local; do
                name=$(echo "$directory" | tr / -)
                mkdir -p "$scratch/$name-upper" "$scratch/$name-work"
                mount -t overlay overlay \\
                    -o "lowerdir=/$directory,upperdir=$scratch/$name-upper,workdir=$scratch/$name-work" "/$directory"
            done
            mkdir -p /run/kefu-test/units
            mount --bind "$scratch/units" /run/kefu-test/units
            : > "$scratch/console.log"
            mount --bind "$scratch/console.log" /dev/console
            \(binds)
            mount -t tmpfs -o mode=1777 tmpfs /tmp
            export container=kefu-test SYSTEMD_UNIT_PATH=/run/kefu-test/units
            exec \(systemdPath) --system --show-status=no

            """
        try boot.write(to: scratch.url(for: "boot.sh"), atomically: true, encoding: .utf8)
        try inside.write(to: scratch.url(for: "inside.sh"), atomically: true, encoding: .utf8)
    }

    /// The host pid of the namespace's PID 1: unshare's only child, once it runs systemd.
    private static func namespaceInit(
        of scratch: TemporaryDirectory, launcher: Launcher, until deadline: ContinuousClock.Instant
    ) async -> pid_t? {
        while ContinuousClock.now < deadline, !launcher.hasExited {
            if let unshare = unsharePID(scratch),
                let children = try? String(
                    contentsOfFile: "/proc/\(unshare)/task/\(unshare)/children", encoding: .utf8),
                let child = children.split(separator: " ").first.flatMap({ Int32($0) }),
                let executable = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(child)/exe"),
                executable.hasSuffix("/systemd")
            {
                return child
            }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return nil
    }

    /// The pid of unshare, which the launcher script writes down once it has started it.
    private static func unsharePID(_ scratch: TemporaryDirectory) -> pid_t? {
        let text = try? String(contentsOf: scratch.url(for: "unshare.pid"), encoding: .utf8)
        return text.flatMap { Int32($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
    }

    // MARK: - Driving it

    /// Runs a program inside the namespace (`nsenter -t <pid> -m -p <arguments>`), whatever its exit status.
    public func run(_ arguments: [String]) async throws -> CommandResult {
        try await runCommand(Self.path(of: "nsenter") ?? "/usr/bin/nsenter", ["-t", "\(pid)", "-m", "-p"] + arguments)
    }

    /// `systemctl <arguments>` inside; throws ``CommandFailed`` unless it exits 0.
    @discardableResult
    public func systemctl(_ arguments: [String]) async throws -> CommandResult {
        try await succeeding(["systemctl", "--no-pager"] + arguments)
    }

    /// `journalctl <arguments>` inside; throws ``CommandFailed`` unless it exits 0.
    public func journalctl(_ arguments: [String]) async throws -> CommandResult {
        try await succeeding(["journalctl", "--no-pager"] + arguments)
    }

    /// The journal entries matching `matches` (`-u kefud`, `KEFU_EVENT=sla_breach`), as ``JournaldHarness`` parses
    /// them, polled until there is at least one or `timeout` passes.
    public func journalEntries(_ matches: [String], timeout: Duration = .seconds(10)) async throws -> [[String: String]]
    {
        let deadline = ContinuousClock.now + timeout
        while true {
            _ = try? await run(["journalctl", "--sync"])
            let output = try await journalctl(["-o", "json", "--all"] + matches).output
            let entries = output.split(separator: "\n").compactMap { JournaldHarness.parseEntry(Data($0.utf8)) }
            if !entries.isEmpty || ContinuousClock.now >= deadline { return entries }
            try await Task.sleep(for: .milliseconds(200))
        }
    }

    /// `systemctl show <unit> --property=...` as a dictionary.
    public func show(_ unit: String, _ properties: [String]) async throws -> [String: String] {
        let output = try await systemctl(["show", unit, "--property=" + properties.joined(separator: ",")]).output
        var values: [String: String] = [:]
        for line in output.split(separator: "\n") {
            guard let equals = line.firstIndex(of: "=") else { continue }
            values[String(line[..<equals])] = String(line[line.index(after: equals)...])
        }
        return values
    }

    /// Polls ``show(_:_:)`` until `condition` holds; returns the last properties read either way, with whether it held.
    public func waitFor(
        _ unit: String, _ properties: [String], timeout: Duration = .seconds(20),
        _ condition: @Sendable ([String: String]) -> Bool
    ) async throws -> (held: Bool, properties: [String: String]) {
        let deadline = ContinuousClock.now + timeout
        while true {
            let values = try await show(unit, properties)
            if condition(values) { return (true, values) }
            if ContinuousClock.now >= deadline { return (false, values) }
            try await Task.sleep(for: .milliseconds(100))
        }
    }

    /// What the namespace's systemd printed (its console), and the launcher's output: for failure messages.
    public var diagnostics: String { Self.diagnostics(scratch) }

    private func succeeding(_ arguments: [String]) async throws -> CommandResult {
        let result = try await run(arguments)
        guard result.status == 0 else { throw CommandFailed(command: arguments, result: result) }
        return result
    }

    // MARK: - Ending it

    /// Kills the namespace's PID 1 (and with it every process in the namespace), waits for the launcher, and removes
    /// the namespace's cgroup. Safe to call twice; blocks for at most a few seconds.
    public func shutdown() {
        lock.lock()
        defer { lock.unlock() }
        guard !isShutDown else { return }
        isShutDown = true
        kill(pid, SIGKILL)
        if !launcher.waitForExit(timeout: 10) {
            print("NamespacedSystemd: the launcher of namespace \(pid) did not exit; \(diagnostics)")
            launcher.kill()
        }
        Self.removeCgroup(cgroup)
    }

    /// Removes the namespace's cgroup tree, deepest first, once the kernel has reaped its last process.
    private static func removeCgroup(_ path: String) {
        let deadline = Date(timeIntervalSinceNow: 5)
        var remaining = cgroupTree(path)
        while !remaining.isEmpty, Date() < deadline {
            remaining = remaining.filter { rmdir($0) != 0 && errno != ENOENT }
            if !remaining.isEmpty { usleep(20_000) }
        }
        if !remaining.isEmpty {
            print("NamespacedSystemd: could not remove the cgroups \(remaining): processes left in them")
        }
    }

    /// `path` and every cgroup below it, deepest first.
    private static func cgroupTree(_ path: String) -> [String] {
        var directories: [String] = []
        let children = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
        for child in children.sorted() {
            var isDirectory: ObjCBool = false
            let full = path + "/" + child
            if FileManager.default.fileExists(atPath: full, isDirectory: &isDirectory), isDirectory.boolValue {
                directories += cgroupTree(full)
            }
        }
        return directories + [path]
    }

    private static func diagnostics(_ scratch: TemporaryDirectory) -> String {
        let read = { (name: String) in
            let text = (try? String(contentsOf: scratch.url(for: name), encoding: .utf8)) ?? ""
            return text.isEmpty ? "(nothing)" : String(text.suffix(2000))
        }
        return "launcher output: \(read("boot.log")); systemd console: \(read("console.log"))"
    }

    static func path(of tool: String) -> String? {
        ["/usr/bin/", "/bin/", "/usr/sbin/", "/sbin/"].map { $0 + tool }
            .first { FileManager.default.isExecutableFile(atPath: $0) }
    }
}

extension NamespacedSystemd {
    /// For a test that needs a systemd in a namespace: boots one, or returns nil after recording why. Where it must
    /// work (root, CI) failing to boot fails the calling test; elsewhere (not root) the test is skipped, loudly.
    public static func bootForTest(
        _ configuration: Configuration, sourceLocation: SourceLocation = #_sourceLocation
    ) async throws -> NamespacedSystemd? {
        do {
            return try await boot(configuration)
        } catch let unavailable as Unavailable {
            if getuid() == 0 || ProcessInfo.processInfo.environment["CI"] != nil {
                Issue.record(
                    "systemd could not boot in a namespace (required as root and in CI): \(unavailable)",
                    sourceLocation: sourceLocation)
            } else {
                print("SKIPPED (systemd in a namespace needs root): \(unavailable)")
            }
            return nil
        }
    }
}

/// The launcher script, started with posix_spawn rather than `Process`: Foundation starts children with the signal
/// mask of its thread, which blocks SIGCHLD among others, and the script's `wait` (and unshare's own signal handling)
/// would then never see the namespace end. Here the child gets an empty mask and default dispositions.
final class Launcher: @unchecked Sendable {  // `status` only under `lock`
    let pid: pid_t
    private let lock = NSLock()
    private var status: Int32?

    init(_ path: String, _ arguments: [String], output: String) throws {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        // A file, never a pipe: nothing in the namespace may keep a reader of ours waiting for EOF.
        posix_spawn_file_actions_addopen(&actions, 1, output, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        // None of the test runner's other descriptors may leak into the namespace (glibc 2.34+, not in Swift's Glibc
        // module: looked up by name).
        if let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "posix_spawn_file_actions_addclosefrom_np") {
            typealias CloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32
            _ = unsafeBitCast(symbol, to: CloseFrom.self)(&actions, 3)
        }
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var empty = sigset_t()
        sigemptyset(&empty)
        posix_spawnattr_setsigmask(&attributes, &empty)
        var all = sigset_t()
        sigfillset(&all)
        posix_spawnattr_setsigdefault(&attributes, &all)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))

        var environment = ProcessInfo.processInfo.environment
        // systemd must not take the test runner's notify socket or listeners for its own.
        for name in ["NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES"] {
            environment[name] = nil
        }
        let argv: [UnsafeMutablePointer<CChar>?] = ([path] + arguments).map { strdup($0) } + [nil]
        let envp: [UnsafeMutablePointer<CChar>?] = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { (argv + envp).forEach { free($0) } }
        var pid: pid_t = 0
        let result = posix_spawn(&pid, path, &actions, &attributes, argv, envp)
        guard result == 0 else {
            throw NamespacedSystemd.Unavailable(
                reason: "cannot start \(path): \(String(cString: strerror(result)))")
        }
        self.pid = pid
    }

    /// Whether it has ended (reaping it if so).
    var hasExited: Bool {
        lock.lock()
        defer { lock.unlock() }
        if status != nil { return true }
        var raw: Int32 = 0
        if waitpid(pid, &raw, WNOHANG) == pid { status = raw }
        return status != nil
    }

    /// Polls until it has ended; false if it still runs after `timeout` seconds.
    func waitForExit(timeout: Double) -> Bool {
        let deadline = Date(timeIntervalSinceNow: timeout)
        while !hasExited {
            if Date() >= deadline { return false }
            usleep(20_000)
        }
        return true
    }

    /// SIGKILL, and reaps it.
    func kill() {
        if !hasExited {
            _ = Glibc.kill(pid, SIGKILL)
            _ = waitForExit(timeout: 5)
        }
    }
}

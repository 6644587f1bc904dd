import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// A child process started with `posix_spawn` and reaped with `waitpid(pid, WNOHANG)` by whoever asks.
///
/// Not Foundation's `Process` for long-running children: on Linux its one monitoring thread waits for an exiting
/// child with a blocking `waitpid`, and a child that execs (kefud, or `systemd-socket-activate` starting kefud) looks
/// like one exiting at once, so that thread then blocks for as long as the daemon runs — and no other `Process` in
/// the test run (a `kefuctl`, a `curl`, a kefud that should exit in a second) can be seen to end meanwhile.
public final class SpawnedProcess: Sendable {
    public let processIdentifier: pid_t
    private let status = Mutex<Int32?>(nil)

    public struct SpawnFailed: Error, CustomStringConvertible {
        public var description: String
    }

    /// Starts `executable` with `arguments` (without argv[0]), this environment, in `workingDirectory`, stdout and
    /// stderr appended to `outputPath`, stdin from /dev/null.
    public init(
        executable: String, arguments: [String], environment: [String: String], workingDirectory: String,
        outputPath: String
    ) throws {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, outputPath, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        // Glibc's posix_spawn_file_actions_addchdir_np is not in Swift's Glibc module: a shell changes directory and
        // execs the program (same pid).
        let shell = ["/bin/sh", "-c", "cd \"$0\" && exec \"$@\"", workingDirectory, executable] + arguments
        let argv = shell.map { strdup($0) } + [nil]
        let envp = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            for pointer in argv { free(pointer) }
            for pointer in envp { free(pointer) }
        }
        var pid: pid_t = 0
        let result = posix_spawn(&pid, "/bin/sh", &actions, nil, argv, envp)
        guard result == 0 else {
            throw SpawnFailed(description: "posix_spawn \(executable): \(String(cString: strerror(result)))")
        }
        processIdentifier = pid
    }

    /// Whether it still runs (reaping it once it has ended).
    public var isRunning: Bool {
        status.withLock { known in
            if known != nil { return false }
            var raw: Int32 = 0
            let reaped = waitpid(processIdentifier, &raw, WNOHANG)
            guard reaped == processIdentifier else { return reaped == 0 }
            known = raw
            return false
        }
    }

    /// Its exit code, or the number of the signal that ended it (as Foundation's `Process` says it); -1 while it runs.
    public var terminationStatus: Int32 {
        guard !isRunning, let raw = status.withLock({ $0 }) else { return -1 }
        let signal = raw & 0x7f
        return signal == 0 ? (raw >> 8) & 0xff : signal
    }

    public func signal(_ number: Int32) { kill(processIdentifier, number) }

    deinit {
        if isRunning {
            kill(processIdentifier, SIGKILL)
            var raw: Int32 = 0
            waitpid(processIdentifier, &raw, 0)
        }
    }
}

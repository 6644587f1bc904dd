import CSystemd

#if canImport(Glibc)
    import Glibc
#endif

/// Listening sockets handed over by systemd (socket activation, `kefud.socket`): with them, connections made while
/// kefud is starting or restarting wait in the kernel's backlog instead of being refused.
public enum SocketActivation {
    /// The sockets passed to this process (`LISTEN_FDS`, `LISTEN_PID`, `LISTEN_FDNAMES`), each with its
    /// `FileDescriptorName=`; empty when not socket-activated. The environment variables are unset after reading,
    /// so child processes do not inherit them.
    public static func listeners() -> [(fd: Int32, name: String)] {
        var names: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?
        let count = sd_listen_fds_with_names(1, &names)
        guard count > 0 else { return [] }
        defer {
            for index in 0..<Int(count) { free(names?[index]) }
            free(names)
        }
        return (0..<Int(count)).map { index in
            (Int32(SD_LISTEN_FDS_START) + Int32(index), names?[index].map { String(cString: $0) } ?? "")
        }
    }
}

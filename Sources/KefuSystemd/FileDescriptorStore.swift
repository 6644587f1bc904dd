import CSystemd

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// systemd's file descriptor store (`FileDescriptorStoreMax=`, see `sd_pid_notify_with_fds(3)`): descriptors kefud
/// hands to the service manager before it exits come back to the next process of the same service, with their names,
/// through `sd_listen_fds_with_names` like socket-activation sockets. systemd keeps them across a restart and closes
/// them when the service stops for good.
public struct FileDescriptorStore: Sendable {
    /// How many descriptors systemd keeps for this service, or nil when it keeps none (or kefud is not under systemd).
    ///
    /// systemd 254 and later set `$FDSTORE` to `FileDescriptorStoreMax=`; systemd 252 (Debian 12) sets nothing, so the
    /// unit sets `Environment=FDSTORE=` to the same number. Without it kefud never hands anything over: a descriptor
    /// sent to a service whose store is off would simply be closed, and its client with it.
    public static func limit(environment: [String: String]) -> Int? {
        guard environment["NOTIFY_SOCKET"] != nil, let value = environment["FDSTORE"], let limit = Int(value),
            limit > 0
        else { return nil }
        return limit
    }

    public init() {}

    /// Hands a duplicate of `fd` to the store under `name` (`FDSTORE=1`, `FDNAME=`); `fd` itself stays open here.
    /// The name must be 1-255 printable ASCII characters without `:`.
    @discardableResult
    public func store(_ fd: Int32, name: String) -> Bool {
        var descriptor = fd
        return sd_pid_notify_with_fds(0, 0, "FDSTORE=1\nFDNAME=\(name)", &descriptor, 1) > 0
    }

    /// Asks systemd to close and forget every stored descriptor named `name` (`FDSTOREREMOVE=1`).
    @discardableResult
    public func remove(name: String) -> Bool {
        sd_notify(0, "FDSTOREREMOVE=1\nFDNAME=\(name)") > 0
    }

    /// Waits until systemd has processed every notification sent before (`sd_notify_barrier`), so that descriptors
    /// are in the store before the process exits.
    @discardableResult
    public func barrier(timeoutMicroseconds: UInt64 = 5_000_000) -> Bool {
        sd_notify_barrier(0, timeoutMicroseconds) >= 0
    }
}

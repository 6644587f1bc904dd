import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A stand-in for systemd's notify socket: a Unix datagram socket bound at a temporary path.
///
/// Point a child process at it with ``environment`` (or this process with `setenv("NOTIFY_SOCKET", ...)`),
/// then read what it sends:
///
/// ```swift
/// let listener = try NotifySocketListener()
/// process.environment = ProcessInfo.processInfo.environment.merging(listener.environment) { $1 }
/// let messages = listener.waitFor("READY=1", timeout: .seconds(10))
/// ```
public final class NotifySocketListener: Sendable {
    /// Where the socket is bound; the value for `NOTIFY_SOCKET`.
    public let path: String
    private let descriptor: Int32

    /// `["NOTIFY_SOCKET": path]`, to merge into a child process's environment.
    public var environment: [String: String] {
        ["NOTIFY_SOCKET": path]
    }

    /// Binds a new socket at a fresh temporary path.
    public init() throws {
        let name = "kefu-notify-\(UUID().uuidString.prefix(12).lowercased()).sock"
        var candidate = (NSTemporaryDirectory() as NSString).appendingPathComponent(name)
        if candidate.utf8.count >= 100 {
            // sun_path holds 108 bytes; a long $TMPDIR would not fit.
            candidate = "/tmp/" + name
        }
        path = candidate
        descriptor = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard descriptor >= 0 else {
            throw SocketError(operation: "socket", code: errno)
        }
        let descriptor = self.descriptor
        let bound = withUnixSocketAddress(path) { bind(descriptor, $0, $1) }
        guard bound == 0 else {
            let code = errno
            close(descriptor)
            throw SocketError(operation: "bind \(path)", code: code)
        }
    }

    deinit {
        close(descriptor)
        unlink(path)
    }

    /// The next datagram, or `nil` when none arrives within `timeout`.
    public func receive(timeout: Duration) -> String? {
        let deadline = ContinuousClock.now + timeout
        while true {
            let remaining = ContinuousClock.now.duration(to: deadline)
            var request = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
            let ready = poll(&request, 1, Self.milliseconds(remaining))
            if ready < 0 && errno == EINTR {
                continue
            }
            guard ready > 0 else { return nil }
            // Notify datagrams are small; 64 KiB covers even a pathological STATUS=.
            var buffer = [UInt8](repeating: 0, count: 65_536)
            let count = recv(descriptor, &buffer, buffer.count, Int32(MSG_DONTWAIT))
            if count < 0 {
                if errno == EINTR || errno == EAGAIN {
                    continue
                }
                return nil
            }
            return String(decoding: buffer[0..<count], as: UTF8.self)
        }
    }

    /// Receives datagrams until one has `assignment` (e.g. `"READY=1"`) as one of its lines.
    ///
    /// - Returns: every datagram received, the matching one last; `nil` on timeout.
    public func waitFor(_ assignment: String, timeout: Duration) -> [String]? {
        let deadline = ContinuousClock.now + timeout
        var received: [String] = []
        while let message = receive(timeout: ContinuousClock.now.duration(to: deadline)) {
            received.append(message)
            if message.split(separator: "\n").contains(where: { $0 == assignment }) {
                return received
            }
        }
        return nil
    }

    /// Every datagram already queued, without waiting.
    public func drain() -> [String] {
        var received: [String] = []
        while let message = receive(timeout: .zero) {
            received.append(message)
        }
        return received
    }

    private static func milliseconds(_ duration: Duration) -> Int32 {
        guard duration > .zero else { return 0 }
        let (seconds, attoseconds) = duration.components
        // Round up so a sub-millisecond remainder still waits instead of spinning.
        let millis = seconds * 1_000 + (attoseconds + 999_999_999_999_999) / 1_000_000_000_000_000
        return Int32(clamping: millis)
    }
}

/// A failed socket call in a test helper.
public struct SocketError: Error, CustomStringConvertible {
    /// What was attempted.
    public var operation: String
    /// `errno` afterwards.
    public var code: Int32

    /// Describes the failure.
    public var description: String {
        "\(operation): \(String(cString: strerror(code)))"
    }
}

import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A plain TCP socket for tests that need a client to misbehave in ways an event-driven client cannot: stop reading
/// for good (a sleeping laptop), or write far ahead of what it reads. Blocking calls run on a thread of their own
/// (`onOwnThread`), never on the cooperative pool.
public final class RawSocket: @unchecked Sendable {
    public let fd: Int32
    private var received: [UInt8] = []

    /// Connects to `127.0.0.1:port`. `receiveBuffer` shrinks the kernel's receive buffer first, so that a client
    /// that does not read fills up quickly.
    public init(port: Int, receiveBuffer: Int32? = nil) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw POSIXError(.EMFILE) }
        if var size = receiveBuffer {
            setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
        }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard connected == 0 else {
            close(fd)
            throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .ECONNREFUSED)
        }
    }

    deinit { close(fd) }

    /// Writes every byte (blocking).
    public func write(_ text: String) {
        var bytes = Array(text.utf8)[...]
        while !bytes.isEmpty {
            let written = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
            if written <= 0 { return }
            bytes = bytes.dropFirst(written)
        }
    }

    /// Shrinks the kernel's send buffer, so that a client that writes ahead fills it quickly.
    public func shrinkSendBuffer(to size: Int32) {
        var size = size
        setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, socklen_t(MemoryLayout<Int32>.size))
    }

    /// Writes what the kernel takes now without blocking; returns how many bytes it took.
    public func writeWithoutBlocking(_ bytes: ArraySlice<UInt8>) -> Int {
        let written = bytes.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
        return max(0, written)
    }

    /// Lines read within `timeout` seconds (whatever arrived, split at LF), without blocking past it.
    public func readLines(timeout: Double) -> [String] {
        var lines: [String] = []
        let deadline = Date().addingTimeInterval(timeout)
        var chunk = [UInt8](repeating: 0, count: 65536)
        while Date() < deadline {
            var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&poller, 1, 20) > 0 else { continue }
            let count = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
            if count <= 0 { break }
            received += chunk[0..<count]
            var start = 0
            while let newline = received[start...].firstIndex(of: UInt8(ascii: "\n")) {
                lines.append(String(decoding: received[start..<newline], as: UTF8.self))
                start = newline + 1
            }
            received.removeFirst(start)
        }
        return lines
    }

    /// Whether the peer has closed the connection (after any bytes still to read were discarded).
    public func isClosedByPeer(within timeout: Double) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        var chunk = [UInt8](repeating: 0, count: 65536)
        while Date() < deadline {
            var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&poller, 1, 20) > 0 else { continue }
            let count = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
            if count == 0 || (count < 0 && errno != EAGAIN && errno != EWOULDBLOCK) { return true }
        }
        return false
    }
}

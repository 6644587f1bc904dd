import Foundation
import KefuTestSupport
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The shared helpers other test targets rely on.
struct SupportTests {
    @Test func temporaryDirectoryIsRemoved() throws {
        var path = ""
        do {
            let directory = try TemporaryDirectory(prefix: "kefu-support")
            path = directory.path
            #expect(FileManager.default.fileExists(atPath: path))
            try Data("x".utf8).write(to: directory.url(for: "file"))
        }
        #expect(!FileManager.default.fileExists(atPath: path), "removed on deinit")

        let explicit = try TemporaryDirectory()
        explicit.remove()
        #expect(!FileManager.default.fileExists(atPath: explicit.path))
        explicit.remove()
    }

    @Test func packageRootHoldsThePackage() {
        #expect(FileManager.default.fileExists(atPath: packageRoot.appendingPathComponent("Package.swift").path))
    }

    @Test func listenerWaitsForAnAssignment() throws {
        let listener = try NotifySocketListener()
        #expect(listener.receive(timeout: .milliseconds(20)) == nil)
        // Sent from a socket of our own instead of sd_notify: no NOTIFY_SOCKET needed here.
        for message in ["STATUS=starting", "STATUS=opening store\nEXTEND_TIMEOUT_USEC=1", "READY=1\nSTATUS=up"] {
            try sendDatagram(message, to: listener.path)
        }
        let messages = listener.waitFor("READY=1", timeout: .seconds(2))
        #expect(messages == ["STATUS=starting", "STATUS=opening store\nEXTEND_TIMEOUT_USEC=1", "READY=1\nSTATUS=up"])
        try sendDatagram("STOPPING=1", to: listener.path)
        #expect(listener.drain() == ["STOPPING=1"])
        #expect(listener.waitFor("READY=1", timeout: .milliseconds(20)) == nil)
    }

    @Test func listenerRemovesItsSocket() throws {
        var path = ""
        do {
            let listener = try NotifySocketListener()
            path = listener.path
            #expect(FileManager.default.fileExists(atPath: path))
        }
        #expect(!FileManager.default.fileExists(atPath: path))
    }

    private func sendDatagram(_ text: String, to path: String) throws {
        let descriptor = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        try #require(descriptor >= 0)
        defer { close(descriptor) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: Array(path.utf8)) }
        let bytes = Array(text.utf8)
        let sent = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                sendto(descriptor, bytes, bytes.count, 0, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        #expect(sent == bytes.count)
    }
}

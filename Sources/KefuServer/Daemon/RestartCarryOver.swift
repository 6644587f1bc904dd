import Foundation
import KefuConfig
import KefuCore
import KefuProtocol
import Synchronization

/// A restart that keeps the connections (`systemctl restart` with systemd's file descriptor store): this process
/// hands each connection's socket to systemd and writes who is on it; the next process takes both back and serves the
/// connection logged in as before. (Not to be confused with an agent's shift handover, 交接, `HANDOVER`.)
enum RestartCarryOver {
    /// Who is on a connection carried over: logged in as it was, without a new LOGIN.
    struct Session: Codable, Sendable, Equatable {
        /// Nil: connected, not logged in yet.
        var role: LoginRole?
        var id: String?
        /// An agent's presence (`away` and `offline` are kept; a reconnect would otherwise make the agent online).
        var presence: String?
        /// A supervisor's `WATCH`.
        var watching = false
        /// The shop the session is with; nil: `default` (and in records written before a node served many shops).
        var shop: String?
    }

    /// What one shop keeps for buyers who are away: their events, and which gateway speaks for which buyer.
    struct Kept: Codable, Sendable {
        var kept: [String: [Event]] = [:]
        var customerGateways: [String: String] = [:]
    }

    /// What a routing owner hands over: its sessions, and what it keeps for buyers who were away.
    struct Sessions: Sendable {
        var shop = NodeConfiguration.defaultShop
        var sessions: [SessionID: Session] = [:]
        var kept = Kept()
    }

    /// What each shop kept for away buyers when it stopped (a stop that says BYE): written next to the store, so the
    /// next start gives buyers the events they missed, as a restart that keeps connections does.
    final class KeptAtStop: Sendable {
        private let byShop = Mutex<[String: Kept]>([:])

        func deposit(_ shop: String, _ kept: Kept) {
            guard !kept.kept.isEmpty || !kept.customerGateways.isEmpty else { return }
            byShop.withLock { $0[shop] = kept }
        }

        func take() -> [String: Kept] { byShop.withLock { taken in defer { taken = [:] }; return taken } }
    }

    /// A connection as it leaves this process: a duplicate of its socket, and the bytes read from it that did not
    /// make a whole line yet (the next process reads them before anything else from the socket).
    struct DetachedSocket: Sendable {
        var fd: Int32
        var leftover: [UInt8]
        var discarding: Bool
    }

    /// The file written next to the store (`handover.json`, the name kept from the first version), read and removed
    /// by the next process. The sockets themselves are in systemd's file descriptor store, named `conn-<n>`.
    struct File: Codable, Sendable {
        /// One connection carried over: where its socket is, who is on it, and its unfinished line.
        struct Entry: Codable, Sendable {
            /// The `FDNAME=` of the socket in systemd's store.
            var name: String
            var session: Session
            /// Bytes read from the socket that did not complete a line yet: the next process reads them first.
            var leftover: Data
            var discarding: Bool
        }

        static let fileName = "handover.json"
        /// The `FDNAME=` of a listener kefud bound itself (a socket-activated one stays with `kefud.socket`).
        static let listenerName = "kefud-listener"
        /// The HTTP listener kefud bound itself, kept in the file descriptor store across a restart.
        static let httpListenerName = "kefud-http-listener"
        /// The HTTP listener of a socket unit (`FileDescriptorName=kefud-http`, deploy/kefud-http.socket).
        static let httpActivatedName = "kefud-http"
        /// The HTTPS listener of a socket unit (`FileDescriptorName=kefud-https`, deploy/kefud-https.socket).
        static let httpsActivatedName = "kefud-https"
        /// Every name `startHTTP` takes.
        static let httpNames = [httpListenerName, httpActivatedName, httpsActivatedName]
        /// The line protocol's TLS listener of a socket unit (`FileDescriptorName=kefud-tls`,
        /// deploy/kefud-tls.socket). One kefud binds itself is not kept across a restart: it is bound again.
        static let tlsActivatedName = "kefud-tls"
        static let connectionPrefix = "conn-"
        /// Version 2 keeps away buyers' events as typed events (version 1 kept rendered lines).
        static let currentVersion = 2

        var version = File.currentVersion
        /// The process that wrote it, for the log.
        var pid: Int32
        var connections: [Entry]
        /// Shop `default`'s buyers' events and gateways (where a node of one shop always kept them).
        var kept: [String: [Event]]
        var customerGateways: [String: String]
        /// The other shops'; absent in records of a node with one shop.
        var shops: [String: Kept]?

        /// What `shop` kept for its buyers.
        func kept(of shop: String) -> Kept {
            shop == NodeConfiguration.defaultShop ? Kept(kept: kept, customerGateways: customerGateways) : shops?[shop] ?? Kept()
        }

        static func path(in stateDirectory: String) -> String { stateDirectory + "/" + fileName }

        func write(to stateDirectory: String) throws {
            let data = try JSONEncoder().encode(self)
            let path = Self.path(in: stateDirectory)
            // Whole or not at all: the next process must never read half a file.
            try data.write(to: URL(fileURLWithPath: path + ".tmp"))
            guard rename(path + ".tmp", path) == 0 else {
                throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: path])
            }
        }

        /// Reads and removes the file: it describes the descriptors passed to this process only.
        static func take(from stateDirectory: String) throws -> File? {
            let path = Self.path(in: stateDirectory)
            guard FileManager.default.fileExists(atPath: path) else { return nil }
            defer { unlink(path) }
            let data = try Data(contentsOf: URL(fileURLWithPath: path))
            struct Versioned: Decodable { var version: Int }
            let version = try JSONDecoder().decode(Versioned.self, from: data).version
            // Written by a kefud that records sessions otherwise: guessing could put a client in someone else's
            // session.
            guard version == currentVersion else { throw UnknownVersion(version: version) }
            return try JSONDecoder().decode(File.self, from: data)
        }

        struct UnknownVersion: Error, CustomStringConvertible {
            var version: Int
            var description: String { "hand-over records of version \(version), this kefud reads \(currentVersion)" }
        }
    }

    /// Where connections leaving this process put their sockets, keyed by session.
    final class Collector: Sendable {
        private let sockets = Mutex<[SessionID: DetachedSocket]>([:])

        func deposit(_ session: SessionID, _ socket: DetachedSocket) {
            sockets.withLock { $0[session] = socket }
        }

        func take() -> [SessionID: DetachedSocket] {
            sockets.withLock { taken in
                defer { taken = [:] }
                return taken
            }
        }
    }
}

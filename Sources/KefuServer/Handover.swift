import Foundation
import KefuCore
import KefuProtocol
import Synchronization

/// A session as the routing owner knew it when kefud handed its connection to systemd for a restart: who is logged in
/// on it, so that the next process takes it back logged in, without a new LOGIN.
struct HandedOverSession: Codable, Sendable, Equatable {
    /// Nil: connected, not logged in yet.
    var role: LoginRole?
    var id: String?
    /// An agent's presence (`away` and `offline` are kept; a reconnect would otherwise make the agent online).
    var presence: String?
    /// A supervisor's `WATCH`.
    var watching = false
}

/// What the routing owner hands over besides the sessions: events kept for buyers who were away.
struct HandoverState: Sendable {
    var sessions: [SessionID: HandedOverSession] = [:]
    var undelivered: [String: [String]] = [:]
    var customerGateways: [String: String] = [:]
}

/// The file kefud writes in its state directory next to the store when it hands its connections over
/// (`handover.json`), read and removed by the next process. The sockets themselves are in systemd's file descriptor
/// store, named as in ``Connection/name``.
struct HandoverFile: Codable, Sendable {
    struct Connection: Codable, Sendable {
        /// The `FDNAME=` of the socket in systemd's store.
        var name: String
        var session: HandedOverSession
        /// Bytes read from the socket that did not complete a line yet: the next process reads them first.
        var leftover: Data
        var discarding: Bool
    }

    static let fileName = "handover.json"
    /// The `FDNAME=` of a listener kefud bound itself (a socket-activated one stays with `kefud.socket`).
    static let listenerName = "kefud-listener"
    static let connectionPrefix = "conn-"

    var version = HandoverFile.currentVersion
    /// The process that wrote it, for the log.
    var pid: Int32
    var connections: [Connection]
    var undelivered: [String: [String]]
    var customerGateways: [String: String]

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
    static func take(from stateDirectory: String) throws -> HandoverFile? {
        let path = Self.path(in: stateDirectory)
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        defer { unlink(path) }
        let file = try JSONDecoder().decode(HandoverFile.self, from: Data(contentsOf: URL(fileURLWithPath: path)))
        // Written by a kefud that records sessions otherwise: guessing could put a client in someone else's session.
        guard file.version == Self.currentVersion else { throw UnknownVersion(version: file.version) }
        return file
    }

    static let currentVersion = 1

    struct UnknownVersion: Error, CustomStringConvertible {
        var version: Int
        var description: String { "hand-over records of version \(version), this kefud reads \(currentVersion)" }
    }
}

/// Where connections leaving this process put their sockets, keyed by session.
final class HandoverCollector: Sendable {
    private let connections = Mutex<[SessionID: DetachedConnection]>([:])

    func deposit(_ session: SessionID, _ connection: DetachedConnection) {
        connections.withLock { $0[session] = connection }
    }

    func take() -> [SessionID: DetachedConnection] {
        connections.withLock { taken in
            defer { taken = [:] }
            return taken
        }
    }
}

import KefuConfig
import KefuTLS
import Logging

/// The two listeners that may speak TLS.
enum TLSListenerRole: String, Sendable {
    /// `[server] listen_tls`: the line protocol.
    case server
    /// `[http] listen_tls`: HTTPS and `wss:`.
    case http

    func settings(in node: NodeConfiguration) -> TLSSettings? {
        switch self {
        case .server: node.server.tls
        case .http: node.http?.tls
        }
    }
}

extension KefuDaemon {
    /// Reads the certificate files of every TLS listener configured, before anything is bound: a missing or broken
    /// PEM file stops the start with its key and path named.
    func loadTLSContexts() throws {
        for role in [TLSListenerRole.server, .http] {
            guard let settings = role.settings(in: node) else { continue }
            do {
                let context = try TLSListenerContext(settings)
                tlsContexts.withLock { $0[role.rawValue] = context }
            } catch {
                throw TLSFilesUnusable(section: role.rawValue, error: error)
            }
        }
    }

    /// The context a listener's new connections handshake with.
    func tlsContext(_ role: TLSListenerRole) -> TLSListenerContext? {
        tlsContexts.withLock { $0[role.rawValue] }
    }

    /// At a reload, every TLS listener reads its certificate, key and client CA again (a renewed certificate applies
    /// to new connections; none is dropped). A file that cannot be used keeps the previous certificate, logged.
    /// Where a listener listens applies at the next start. Returns the errors, for `STATUS=`.
    func reloadTLS(_ reloaded: NodeConfiguration) -> [String] {
        var errors: [String] = []
        for role in [TLSListenerRole.server, .http] {
            guard let context = tlsContext(role) else {
                if role.settings(in: reloaded) != nil {
                    logger.warning("[\(role.rawValue)] listen_tls applies at the next start (systemctl restart kefud)")
                }
                continue
            }
            guard let settings = role.settings(in: reloaded) else {
                logger.warning(
                    "[\(role.rawValue)] listen_tls removed; the TLS listener stays until the next start")
                continue
            }
            if settings.listen != context.settings.withLock({ $0.listen }) {
                logger.warning(
                    "[\(role.rawValue)] listen_tls changed; it applies at the next start (systemctl restart kefud)")
            }
            do {
                try context.reload(settings)
                logger.info("TLS certificate read again", metadata: ["section": "\(role.rawValue)"])
            } catch {
                let message = "[\(role.rawValue)] \(error); the previous certificate stays in use"
                logger.error("TLS reload failed", metadata: ["event": "config_rejected", "error": "\(message)"])
                errors.append(message)
            }
        }
        return errors
    }

    /// The line protocol's TLS port once serving (nil without `[server] listen_tls`).
    public var boundTLSPort: Int? { running.withLock { $0?.tlsPort } }
}

/// A TLS listener's files could not be used at start.
struct TLSFilesUnusable: Error, CustomStringConvertible {
    var section: String
    var error: TLSFilesError
    var description: String { "cannot listen for TLS ([\(section)] \(error))" }
}

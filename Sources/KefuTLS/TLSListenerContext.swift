import KefuConfig
import NIOCore
import Logging
import NIOSSL
import Synchronization

/// The TLS side of one listener (`[server]` or `[http]` `listen_tls`): the certificate, key and client CA read
/// from their PEM files into a context that every new connection's handshake uses. A reload reads the files again
/// and swaps the context: connections made since use the renewed certificate, those already open keep theirs.
///
/// TLS 1.2 and 1.3 only (swift-nio-ssl's BoringSSL); with `tls_client_ca` every client must present a certificate
/// signed by it and valid now (an expired one is refused). Client certificates carry no host name to check.
public final class TLSListenerContext: Sendable {
    private let current: Mutex<NIOSSLContext>
    /// What the context was read from, for a reload to compare and for messages.
    public let settings: Mutex<TLSSettings>

    public init(_ settings: TLSSettings) throws(TLSFilesError) {
        current = Mutex(try Self.context(settings))
        self.settings = Mutex(settings)
    }

    /// Reads the files of `settings` again (a renewed certificate, or other paths) and uses them for new
    /// connections; on an error the context in use stays.
    public func reload(_ settings: TLSSettings) throws(TLSFilesError) {
        let context = try Self.context(settings)
        current.withLock { $0 = context }
        self.settings.withLock { $0 = settings }
    }

    /// The handler that makes a new connection TLS: first in its pipeline.
    public func serverHandler() -> NIOSSLServerHandler {
        NIOSSLServerHandler(context: current.withLock { $0 })
    }

    static func context(_ settings: TLSSettings) throws(TLSFilesError) -> NIOSSLContext {
        func read<T>(_ key: String, _ path: String, _ body: () throws -> T) throws(TLSFilesError) -> T {
            do { return try body() } catch { throw TLSFilesError(key: key, path: path, reason: "\(error)") }
        }
        let chain = try read("tls_certificate", settings.certificate) {
            try NIOSSLCertificate.fromPEMFile(settings.certificate)
        }
        guard !chain.isEmpty else {
            throw TLSFilesError(key: "tls_certificate", path: settings.certificate, reason: "no PEM certificate in it")
        }
        let key = try read("tls_private_key", settings.privateKey) {
            try NIOSSLPrivateKey(file: settings.privateKey, format: .pem)
        }
        var configuration = TLSConfiguration.makeServerConfiguration(
            certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(key))
        configuration.minimumTLSVersion = .tlsv12
        configuration.maximumTLSVersion = .tlsv13
        if let authority = settings.clientCA {
            let roots = try read("tls_client_ca", authority) { try NIOSSLCertificate.fromPEMFile(authority) }
            configuration.trustRoots = .certificates(roots)
            configuration.certificateVerification = .noHostnameVerification
        }
        return try read("tls_certificate", settings.certificate) { try NIOSSLContext(configuration: configuration) }
    }
}

/// A TLS file that could not be used: names the key, the file and why.
public struct TLSFilesError: Error, CustomStringConvertible {
    public var key: String
    public var path: String
    public var reason: String
    public var description: String { "\(key): cannot use \(path): \(reason)" }
}

/// Logs why a TLS handshake failed (a wrong CA, an expired certificate, TLS 1.1, plaintext on the TLS port) as one
/// line naming the peer, and closes that connection only: nothing else is touched.
public final class TLSHandshakeFailures: ChannelInboundHandler, Sendable {
    public typealias InboundIn = ByteBuffer
    public typealias InboundOut = ByteBuffer
    private let logger: Logger

    public init(logger: Logger) { self.logger = logger }

    public func errorCaught(context: ChannelHandlerContext, error: any Error) {
        guard error is NIOSSLError || error is BoringSSLError else {
            context.fireErrorCaught(error)
            return
        }
        logger.notice(
            "TLS handshake or record failed; connection closed",
            metadata: ["peer": "\(context.remoteAddress.map { "\($0)" } ?? "?")", "error": "\(error)"])
        context.close(promise: nil)
    }
}

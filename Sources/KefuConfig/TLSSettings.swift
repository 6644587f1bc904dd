import Foundation

/// A TLS listener's keys in `[server]` or `[http]` (issue #14): `listen_tls`, `tls_certificate`, `tls_private_key` and
/// the optional `tls_client_ca`. The files are read by the listener (and again at every reload, so a renewed
/// certificate applies to new connections); here they are only checked to be readable, so that a typo in a path is a
/// configuration error naming its line rather than a failure at start.
public struct TLSSettings: Sendable, Equatable {
    /// `listen_tls`: where TLS connections are accepted, `host:port`.
    public var listen: ListenAddress
    /// `tls_certificate`: the PEM certificate chain, the server's own certificate first.
    public var certificate: String
    /// `tls_private_key`: the PEM private key of that certificate.
    public var privateKey: String
    /// `tls_client_ca`: PEM certificates of the authorities whose client certificates are accepted; when set, every
    /// client of this listener must present one (gateways on a network); nil: no client certificate asked for.
    public var clientCA: String?

    public init(listen: ListenAddress, certificate: String, privateKey: String, clientCA: String? = nil) {
        self.listen = listen
        self.certificate = certificate
        self.privateKey = privateKey
        self.clientCA = clientCA
    }

    static let keys = ["listen_tls", "tls_certificate", "tls_private_key", "tls_client_ca"]

    /// The TLS keys of `reader`'s table, or nil when `listen_tls` is absent (then none of the others may be given).
    static func decode(_ reader: TableReader) throws(ConfigError) -> TLSSettings? {
        guard let listen = try reader.optional("listen_tls", .string) else {
            for key in keys.dropFirst() {
                if let stray = try reader.optional(key, .string) {
                    throw reader.error(key, line: stray.line, "needs listen_tls: no TLS listener is configured")
                }
            }
            return nil
        }
        let address: ListenAddress
        switch ListenAddress.parse(listen.value) {
        case .success(let parsed): address = parsed
        case .failure(let failure): throw reader.error("listen_tls", line: listen.line, failure.message)
        }
        func file(_ key: String, required: Bool) throws(ConfigError) -> String? {
            let located: Located<String>
            if required {
                located = try reader.required(key, .string)
            } else if let present = try reader.optional(key, .string) {
                located = present
            } else {
                return nil
            }
            guard !located.value.isEmpty else {
                throw reader.error(key, line: located.line, "must name a PEM file")
            }
            guard FileManager.default.isReadableFile(atPath: located.value) else {
                throw reader.error(key, line: located.line, "cannot read \(located.value)")
            }
            return located.value
        }
        // `required` is checked in key order so that the first missing key is the one named.
        guard let certificate = try file("tls_certificate", required: true),
            let privateKey = try file("tls_private_key", required: true)
        else { return nil }
        return TLSSettings(
            listen: address, certificate: certificate, privateKey: privateKey,
            clientCA: try file("tls_client_ca", required: false))
    }
}

import Foundation
import KefuConfig
import Testing

/// `listen_tls`, `tls_certificate`, `tls_private_key` and `tls_client_ca` in `[server]` and `[http]`.
@Suite("TLS keys in the configuration")
struct TLSSettingsTests {
    private let team = "[customers]\ntoken_sha256 = \"\(String(repeating: "a", count: 64))\"\n"
    /// Any readable files do: the PEM inside is read by the listener, not by the configuration.
    private let readable = "/etc/hostname"

    private func keys(listen: String? = "127.0.0.1:7443", certificate: String? = nil, key: String? = nil,
                      clientCA: String? = nil) -> String {
        [
            listen.map { "listen_tls = \"\($0)\"" }, certificate.map { "tls_certificate = \"\($0)\"" },
            key.map { "tls_private_key = \"\($0)\"" }, clientCA.map { "tls_client_ca = \"\($0)\"" },
        ].compactMap { $0 }.joined(separator: "\n") + "\n"
    }

    @Test func besideThePlaintextListenerOrInsteadOfIt() throws {
        let beside = try KefuConfiguration.parse(
            team + "[server]\nlisten = \"127.0.0.1:7390\"\n" + keys(certificate: readable, key: readable),
            file: testFile)
        #expect(beside.server.listensPlaintext)
        #expect(beside.server.tls == TLSSettings(
            listen: ListenAddress(host: "127.0.0.1", port: 7443), certificate: readable, privateKey: readable))
        let instead = try KefuConfiguration.parse(
            team + "[server]\n" + keys(certificate: readable, key: readable, clientCA: readable), file: testFile)
        #expect(!instead.server.listensPlaintext)
        #expect(instead.server.tls?.clientCA == readable)
        #expect(try KefuConfiguration.parse(team, file: testFile).server.listensPlaintext)
        let http = try NodeConfiguration.parse(
            team + "[http]\n" + keys(certificate: readable, key: readable), file: testFile)
        #expect(http.http?.listen == nil)
        #expect(http.http?.tls?.listen == ListenAddress(host: "127.0.0.1", port: 7443))
    }

    @Test func errorsNameFileLineAndKey() {
        #expect(configError(team + "[server]\n" + keys(key: readable))?.description
            == "test.toml:3: server.tls_certificate: missing required key")
        #expect(configError(team + "[server]\n" + keys(certificate: readable))?.description
            == "test.toml:3: server.tls_private_key: missing required key")
        #expect(configError(team + "[server]\n" + keys(certificate: "/nonexistent/cert.pem", key: readable))?
            .description == "test.toml:5: server.tls_certificate: cannot read /nonexistent/cert.pem")
        #expect(configError(team + "[http]\n" + keys(listen: "127.0.0.1", certificate: readable, key: readable))?
            .description == "test.toml:4: http.listen_tls: missing port; expected host:port such as 127.0.0.1:7390")
        #expect(configError(team + "[server]\n" + keys(listen: nil, certificate: readable))?.description
            == "test.toml:4: server.tls_certificate: needs listen_tls: no TLS listener is configured")
        #expect(configError(team + "[http]\nlisten = \"127.0.0.1:1\"\n" + keys(listen: nil, clientCA: readable))?
            .description == "test.toml:5: http.tls_client_ca: needs listen_tls: no TLS listener is configured")
    }
}

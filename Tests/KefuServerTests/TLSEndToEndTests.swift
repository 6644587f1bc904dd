import Foundation
import KefuConfig
import KefuTestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// TLS on the line protocol's and HTTP's listeners (issue #14): a whole session over TLS, with our own client and
/// with `openssl s_client`; what must be refused is refused without harming the sessions already open.
@Suite(.serialized) struct TLSEndToEndTests {
    static func tlsKeys(_ certificates: TestCertificates, port: Int = 0, clientCA: Bool = false) -> String {
        """
        listen_tls = "127.0.0.1:\(port)"
        tls_certificate = "\(certificates.serverCertificate)"
        tls_private_key = "\(certificates.serverKey)"
        \(clientCA ? "tls_client_ca = \"\(certificates.authority)\"" : "")
        """
    }

    /// `openssl s_client` sending `lines` (then waiting for the server to close, as `-quiet` does): stdout, stderr
    /// and the exit status.
    static func sClient(_ port: Int, _ lines: [String], _ options: [String]) async throws -> CommandResult {
        let input = lines.map { $0 + "\n" }.joined()
        let command =
            "printf '%s' \"$1\" | timeout 20 openssl s_client -quiet -connect 127.0.0.1:\(port) "
            + options.map { "'\($0)'" }.joined(separator: " ")
        return try await runCommand("/bin/sh", ["-c", command, "sh", input])
    }

    @Test func aWholeConversationOverTLSWithOurClientAndWithOpensslSClient() async throws {
        let directory = try TemporaryDirectory(prefix: "kefu-tls")
        let certificates = try await TestCertificates.make(in: directory.path)
        let daemon = try await TestDaemon.start(testConfiguration(server: Self.tlsKeys(certificates)))
        let port = try #require(daemon.daemon.boundTLSPort)
        let tls = LineClient.TLS(trustedAuthority: certificates.authority)

        let alice = try await LineClient.connect(port: port, tls: tls)
        #expect(try await alice.completion("a1 LOGIN agent alice \(Secrets.alice.0)").hasPrefix("a1 OK"))
        let buyer = try await LineClient.connect(port: port, tls: tls)
        #expect(try await buyer.completion("c1 LOGIN customer b-1 \(Secrets.gateway.0)").hasPrefix("c1 OK"))
        #expect(try await buyer.completion("c2 OPEN presales :这件有M码吗?🙂").hasPrefix("c2 OK conv="))
        let assigned = try await alice.expect("* ASSIGNED")
        #expect(assigned.hasSuffix(":这件有M码吗?🙂"))
        let conversation = try #require(field("conv", in: assigned))
        #expect(try await alice.completion("a2 SEND \(conversation) :亲,有的").hasPrefix("a2 OK seq="))
        #expect(try await buyer.expect("* MSG") == "* MSG conv=\(conversation) from=agent :亲,有的")

        // The same port with openssl's client: the server's certificate verifies against the authority.
        let session = try await Self.sClient(
            port, ["s1 LOGIN agent bob \(Secrets.bob.0)", "s2 HISTORY \(conversation)", "s3 QUIT"],
            ["-CAfile", certificates.authority, "-verify_return_error"])
        #expect(session.output.contains("s1 OK role=agent id=bob"), "\(session.output) \(session.errorOutput)")
        #expect(session.output.contains("s2 ERR not-found"), "bob never held it: \(session.output)")
        #expect(session.output.contains("s3 OK"), "\(session.output)")
        // The plaintext listener is still there beside it.
        let plain = try await daemon.connect()
        #expect(try await plain.completion("p PING") == "p OK")
        try await daemon.stop()
    }

    /// With `tls_client_ca` every client needs a certificate that authority signed, valid now; TLS 1.1 and plaintext
    /// are refused; none of it touches the sessions already open on either listener.
    @Test func refusedHandshakesLeaveEveryOtherSessionWorking() async throws {
        let directory = try TemporaryDirectory(prefix: "kefu-tls-refused")
        let certificates = try await TestCertificates.make(in: directory.path)
        let daemon = try await TestDaemon.start(testConfiguration(server: Self.tlsKeys(certificates, clientCA: true)))
        let port = try #require(daemon.daemon.boundTLSPort)
        let gateway = try await LineClient.connect(
            port: port,
            tls: LineClient.TLS(
                trustedAuthority: certificates.authority, certificate: certificates.clientCertificate,
                key: certificates.clientKey))
        #expect(try await gateway.completion("g1 LOGIN gateway tmall \(Secrets.tmall.0)").hasPrefix("g1 OK"))
        let plain = try await daemon.agent("alice", Secrets.alice)

        let verify = ["-CAfile", certificates.authority, "-verify_return_error"]
        let login = ["x1 LOGIN agent bob \(Secrets.bob.0)", "x2 QUIT"]
        // A client certificate the authority signed: accepted.
        let good = try await Self.sClient(
            port, login, verify + ["-cert", certificates.clientCertificate, "-key", certificates.clientKey])
        #expect(good.output.contains("x1 OK"), "\(good.output) \(good.errorOutput)")
        var refusals: [(String, CommandResult)] = []
        refusals.append(("no client certificate", try await Self.sClient(port, login, verify)))
        refusals.append(
            ("another authority's", try await Self.sClient(
                port, login,
                verify + ["-cert", certificates.foreignClientCertificate, "-key", certificates.foreignClientKey])))
        refusals.append(
            ("expired", try await Self.sClient(
                port, login,
                verify + ["-cert", certificates.expiredClientCertificate, "-key", certificates.expiredClientKey])))
        refusals.append(
            ("TLS 1.1", try await Self.sClient(
                port, login,
                verify + [
                    "-tls1_1", "-cipher", "DEFAULT@SECLEVEL=0", "-cert", certificates.clientCertificate, "-key",
                    certificates.clientKey,
                ])))
        // The client's side: a server certificate checked against the wrong authority does not verify.
        refusals.append(
            ("server checked against the wrong CA", try await Self.sClient(
                port, login,
                ["-CAfile", certificates.directory + "/foreign-ca.pem", "-verify_return_error", "-cert",
                 certificates.clientCertificate, "-key", certificates.clientKey])))
        for (what, result) in refusals {
            #expect(!result.output.contains("x1 OK"), "\(what) was let in: \(result.output)")
            #expect(result.status != 0 || !result.errorOutput.isEmpty, "\(what): \(result.errorOutput)")
        }
        #expect(refusals[2].1.errorOutput.contains("expired"), "\(refusals[2].1.errorOutput)")
        #expect(refusals[3].1.errorOutput.contains("version"), "\(refusals[3].1.errorOutput)")
        // Plaintext on the TLS port: not a line is answered, and the connection is closed.
        let confused = try await LineClient.connect(port: port)
        try await confused.send("p1 LOGIN agent bob \(Secrets.bob.0)")
        #expect(await confused.isClosedByServer())
        #expect((try? await confused.expect("p1", timeout: .seconds(1))) == nil, "a plaintext line was answered")

        #expect(try await gateway.completion("g2 PING") == "g2 OK")
        #expect(try await plain.completion("a2 PING") == "a2 OK")
        try await daemon.stop()
    }

    /// A reload reads the certificate files again: a new connection gets the renewed certificate, the one already
    /// open goes on.
    @Test func aReloadAppliesARenewedCertificateToNewConnectionsAndDropsNone() async throws {
        let directory = try TemporaryDirectory(prefix: "kefu-tls-reload")
        let certificates = try await TestCertificates.make(in: directory.path)
        let (certificate, key) = (directory.path + "/live.pem", directory.path + "/live.key")
        try FileManager.default.copyItem(atPath: certificates.serverCertificate, toPath: certificate)
        try FileManager.default.copyItem(atPath: certificates.serverKey, toPath: key)
        let keys = """
            listen_tls = "127.0.0.1:0"
            tls_certificate = "\(certificate)"
            tls_private_key = "\(key)"
            """
        let toml = testConfiguration(server: keys)
        let daemon = try await TestDaemon.start(toml)
        let port = try #require(daemon.daemon.boundTLSPort)
        let alice = try await LineClient.connect(port: port, tls: LineClient.TLS(trustedAuthority: certificates.authority))
        #expect(try await alice.completion("a1 LOGIN agent alice \(Secrets.alice.0)").hasPrefix("a1 OK"))
        func servedSubject() async throws -> String {
            let result = try await Self.sClient(port, ["q QUIT"], ["-CAfile", certificates.authority, "-brief"])
            return result.errorOutput
        }
        #expect(try await servedSubject().contains("kefu-test-server"))

        // The renewal, as certbot does it: new files at the same paths.
        for (from, to) in [(certificates.renewedCertificate, certificate), (certificates.renewedKey, key)] {
            try Data(contentsOf: URL(fileURLWithPath: from)).write(to: URL(fileURLWithPath: to), options: .atomic)
        }
        daemon.daemon.reload(.success(try KefuConfiguration.parse(toml, file: "test.toml")))
        let renewed = try await servedSubject()
        #expect(renewed.contains("kefu-renewed-server"), "\(renewed)")
        #expect(try await alice.completion("a2 PING") == "a2 OK")
        try await daemon.stop()
    }

    /// A restart keeps plaintext connections (handed to the next process) but closes TLS ones, whose keys live in
    /// the process: they hear why and reconnect.
    @Test func aRestartTellsTLSConnectionsToReconnectAndHandsPlaintextOnesOver() async throws {
        let directory = try TemporaryDirectory(prefix: "kefud-tls-restart")
        let certificates = try await TestCertificates.make(in: directory.path)
        let config = try writeConfiguration(testConfiguration(server: Self.tlsKeys(certificates)), in: directory)
        let kefud = try KefudProcess(
            arguments: ["--config", config, "--state-dir", directory.path + "/var"], workingDirectory: directory.path,
            extraEnvironment: ["FDSTORE": "16"])
        try await kefud.waitUntilReady()
        let tlsPort = try #require(kefud.tlsPort, "\(kefud.output)")
        let buyer = try await LineClient.connect(port: kefud.port)
        #expect(try await buyer.completion("l LOGIN customer b-tcp \(Secrets.gateway.0)").hasPrefix("l OK"))
        let alice = try await LineClient.connect(
            port: tlsPort, tls: LineClient.TLS(trustedAuthority: certificates.authority))
        #expect(try await alice.completion("l LOGIN agent alice \(Secrets.alice.0)").hasPrefix("l OK"))

        kefud.signal(SIGUSR2)
        #expect(try await alice.expect("* BYE") == "* BYE reason=restart")
        #expect(await alice.isClosedByServer())
        #expect(await kefud.waitForNotification("FDNAME=conn-1"))
        #expect(await kefud.waitForExit() == 0)
        #expect(try handedOverSessionIDs(in: directory.path + "/var") == ["b-tcp"])
        await buyer.close()
    }

    /// `listen_tls` without `listen`: TLS instead of plaintext; `[http]` the same: /healthz, the board and `wss:` /ws.
    @Test func tlsInsteadOfPlaintextOnBothListeners() async throws {
        let directory = try TemporaryDirectory(prefix: "kefu-tls-only")
        let certificates = try await TestCertificates.make(in: directory.path)
        var toml = testConfiguration(server: Self.tlsKeys(certificates))
        toml = toml.replacingOccurrences(of: "listen = \"127.0.0.1:0\"\n", with: "")
        toml += "\n[http]\n" + Self.tlsKeys(certificates) + "\n"
        let node = try NodeConfiguration.parse(toml, file: "test.toml")
        #expect(!node.server.listensPlaintext)
        #expect(node.http?.listen == nil)
        let daemon = try await TestDaemon.start(toml)
        let port = try #require(daemon.daemon.boundTLSPort)
        #expect(daemon.port == port, "the only listener is the TLS one")
        #expect(daemon.daemon.boundHTTPPort == nil)
        let https = try #require(daemon.daemon.boundHTTPSPort)
        let health = try await runCommand(
            "/usr/bin/curl", ["-sS", "--cacert", certificates.authority, "https://127.0.0.1:\(https)/healthz"])
        #expect(health.status == 0, "\(health.errorOutput)")
        #expect(health.output.contains("ok") || health.output.contains("alive"), "\(health.output)")
        let plainHTTP = try await runCommand("/usr/bin/curl", ["-sS", "http://127.0.0.1:\(https)/healthz"])
        #expect(plainHTTP.status != 0, "plain HTTP on the HTTPS port: \(plainHTTP.output)")
        // The pages over HTTPS, and the line protocol over wss: (what they use when loaded from https:).
        let board = try await runCommand(
            "/usr/bin/curl", ["-sS", "--cacert", certificates.authority, "https://127.0.0.1:\(https)/"])
        #expect(board.output.contains("客服主管看板"), "\(board.output.prefix(200))")
        let webSocket = try await WebSocketLineClient.connect(
            port: https, tls: LineClient.TLS(trustedAuthority: certificates.authority))
        #expect(try await webSocket.completion("w LOGIN supervisor lead \(Secrets.lead.0)").hasPrefix("w OK"))
        let alice = try await LineClient.connect(port: port, tls: LineClient.TLS(trustedAuthority: certificates.authority))
        #expect(try await alice.completion("a PING") == "a OK")
        try await daemon.stop()
    }
}

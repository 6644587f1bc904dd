import Foundation

/// Certificates for the TLS tests, made with the `openssl` command in a temporary directory: an authority, a server
/// certificate for 127.0.0.1 signed by it (and a renewed one, for the reload test), a client certificate it signed,
/// one a foreign authority signed, and one of its own that expired in 2020.
public struct TestCertificates: Sendable {
    public let directory: String
    public var authority: String { directory + "/ca.pem" }
    public var serverCertificate: String { directory + "/server.pem" }
    public var serverKey: String { directory + "/server.key" }
    public var renewedCertificate: String { directory + "/renewed.pem" }
    public var renewedKey: String { directory + "/renewed.key" }
    public var clientCertificate: String { directory + "/client.pem" }
    public var clientKey: String { directory + "/client.key" }
    public var foreignClientCertificate: String { directory + "/foreign-client.pem" }
    public var foreignClientKey: String { directory + "/foreign-client.key" }
    public var expiredClientCertificate: String { directory + "/expired-client.pem" }
    public var expiredClientKey: String { directory + "/expired-client.key" }

    public struct Failed: Error, CustomStringConvertible {
        public var description: String
    }

    /// Makes every file in `directory` (which must exist).
    public static func make(in directory: String) async throws -> TestCertificates {
        let script = #"""
            set -e
            cd "$1"
            key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }
            authority() {  # name, CN
                key "$1.key"
                openssl req -x509 -new -key "$1.key" -subj "/CN=$2" -days 30 -out "$1.pem"
            }
            signed() {  # name, CN, authority, extensions file
                key "$1.key"
                openssl req -new -key "$1.key" -subj "/CN=$2" -out "$1.csr"
                openssl x509 -req -in "$1.csr" -CA "$3.pem" -CAkey "$3.key" -CAcreateserial -days 30 \
                    -extfile "$4" -out "$1.pem" 2>/dev/null
            }
            printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n' > server.ext
            printf 'extendedKeyUsage=clientAuth\n' > client.ext
            authority ca "Kefu test CA"
            authority foreign-ca "Someone else's CA"
            signed server "kefu-test-server" ca server.ext
            signed renewed "kefu-renewed-server" ca server.ext
            signed client "gateway-tmall" ca client.ext
            signed foreign-client "gateway-foreign" foreign-ca client.ext
            # An expired certificate needs dates in the past: `openssl ca` takes them (x509 -req does not, in 3.0).
            mkdir -p issued && : > index.txt && echo 1000 > serial
            cat > ca.cnf <<'CNF'
            [ ca ]
            default_ca = test
            [ test ]
            dir = .
            database = index.txt
            new_certs_dir = issued
            serial = serial
            default_md = sha256
            policy = any
            [ any ]
            commonName = supplied
            CNF
            key expired-client.key
            openssl req -new -key expired-client.key -subj "/CN=gateway-expired" -out expired-client.csr
            openssl ca -batch -config ca.cnf -cert ca.pem -keyfile ca.key -in expired-client.csr \
                -startdate 20200101000000Z -enddate 20200102000000Z -notext -out expired-client.pem 2>/dev/null
            """#
        let result = try await runCommand("/bin/sh", ["-c", script, "sh", directory])
        guard result.status == 0 else {
            throw Failed(description: "openssl failed (\(result.status)): \(result.errorOutput)")
        }
        return TestCertificates(directory: directory)
    }
}

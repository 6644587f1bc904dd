import KefuConfig
import Testing

/// `[http]`: where the HTTP listener is, in kefud's main file only.
@Suite("[http] in the configuration")
struct HTTPSettingsTests {
    private let team = "[customers]\ntoken_sha256 = \"\(String(repeating: "a", count: 64))\"\n"

    @Test func absentMeansNoHTTP() throws {
        #expect(try KefuConfiguration.parse(team, file: testFile).http == nil)
    }

    @Test func listenIsAHostAndPortLikeTheLineProtocols() throws {
        let configuration = try KefuConfiguration.parse(team + "[http]\nlisten = \"[::1]:7391\"\n", file: testFile)
        #expect(configuration.http?.listen == ListenAddress(host: "::1", port: 7391))
        #expect(try NodeConfiguration.parse(team + "[http]\nlisten = \"127.0.0.1:7391\"\n", file: testFile).http?.listen
            == ListenAddress(host: "127.0.0.1", port: 7391))
    }

    @Test func errorsNameFileLineAndKey() {
        #expect(configError(team + "[http]\nlisten = \"127.0.0.1\"\n")?.description
            == "test.toml:4: http.listen: missing port; expected host:port such as 127.0.0.1:7390")
        #expect(configError(team + "[http]\n")?.description.hasPrefix("test.toml:3: http.listen:") == true)
        #expect(configError(team + "[http]\nlisten = \"127.0.0.1:1\"\nport = 2\n")?.description
            .hasPrefix("test.toml:5: http.port: unknown key") == true)
    }

    @Test func aShopsFileMayNotSayWhereHTTPIsServed() throws {
        #expect {
            _ = try KefuConfiguration.parse(team + "[http]\nlisten = \"127.0.0.1:1\"\n", file: "acme.toml", kind: .shop)
        } throws: { error in
            "\(error)" == "acme.toml:3: http: belongs in kefud's main configuration file, not in a shop's file"
        }
    }
}

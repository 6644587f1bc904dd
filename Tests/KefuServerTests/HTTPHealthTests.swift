import Foundation
import KefuTestSupport
import Testing

@testable import KefuServer

/// kefud's HTTP listener (`[http] listen`) answering for the daemon: alive, ready once serving, gone after the stop.
@Suite("kefud's /healthz and /readyz")
struct HTTPHealthTests {
    @Test func aServingDaemonIsHealthyAndReadyAndItsListenerClosesWithIt() async throws {
        let daemon = try await TestDaemon.start(testConfiguration(extra: "[http]\nlisten = \"127.0.0.1:0\"\n"))
        let port = try #require(daemon.daemon.boundHTTPPort)
        #expect(try await httpGet(port, "/healthz").hasSuffix("\r\n\r\nok\n"))
        #expect(try await httpGet(port, "/readyz").hasPrefix("HTTP/1.1 200 OK"))
        // The line protocol is served meanwhile, by the same process.
        let client = try await daemon.connect()
        #expect(try await client.completion("p PING") == "p OK")
        await client.close()
        try await daemon.stop()
        // Nothing answers there any more (the port is free: another test's listener may even have it by now).
        let after = try? await httpGet(port, "/healthz")
        #expect(after?.hasSuffix("\r\n\r\nok\n") != true)
    }

    @Test func readyFromListeningUntilTheStopBegins() async throws {
        let readiness = Readiness()
        #expect(!readiness.isReady)
        readiness.fulfil(7390)
        #expect(readiness.isReady)
        readiness.withdraw()
        #expect(!readiness.isReady)
        #expect(try await readiness.wait() == 7390)
    }

    @Test func aTakenHTTPPortIsAnErrorNamingTheSetting() async throws {
        let first = try await TestDaemon.start(testConfiguration(extra: "[http]\nlisten = \"127.0.0.1:0\"\n"))
        let port = try #require(first.daemon.boundHTTPPort)
        await #expect {
            _ = try await TestDaemon.start(testConfiguration(extra: "[http]\nlisten = \"127.0.0.1:\(port)\"\n"))
        } throws: { error in
            "\(error)".hasPrefix("cannot listen for HTTP on 127.0.0.1:\(port) ([http] listen): ")
        }
        try await first.stop()
    }

    @Test func withoutHTTPThereIsNoHTTPListener() async throws {
        let daemon = try await TestDaemon.start()
        #expect(daemon.daemon.boundHTTPPort == nil)
        try await daemon.stop()
    }
}

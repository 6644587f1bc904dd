import Foundation
import KefuCore
import KefuTestSupport
import Testing

@testable import KefuServer

/// The satisfaction survey through the daemon: asked at the close, still answerable after a restart, counted in
/// `/metrics`.
@Suite("Satisfaction surveys end to end")
struct SatisfactionEndToEndTests {
    @Test func aSurveySentBeforeARestartIsRatedAfterItAndCounted() async throws {
        let state = try TemporaryDirectory(prefix: "kefu-csat")
        let toml = testConfiguration(extra: "[http]\nlisten = \"127.0.0.1:0\"\n\n[csat]\nquestion = \"本次服务您满意吗?\"\n")
        let before = try await TestDaemon.start(toml, stateDirectory: state.path)
        let alice = try await before.agent("alice", Secrets.alice)
        let buyer = try await before.customer("buyer-1")
        #expect(try await buyer.completion("o OPEN presales :在吗?") == "o OK conv=1")
        try await alice.expect("* ASSIGNED conv=1")
        #expect(try await alice.completion("a SEND 1 :在的").hasPrefix("a OK"))
        #expect(try await alice.completion("c CLOSE 1") == "c OK")
        try await buyer.expect("* CLOSED conv=1 by=agent")
        #expect(try await buyer.next() == "* CSAT-REQUEST conv=1 scale=5 :本次服务您满意吗?")
        let port = try #require(before.daemon.boundHTTPPort)
        let sent = Samples(try await httpGet(port, "/metrics"))
        #expect(sent["kefud_csat_requests_total", ["shop": "default"]] == 1)
        await alice.close()
        await buyer.close()
        try await before.stop()

        let after = try await TestDaemon.start(toml, stateDirectory: state.path)
        let back = try await after.customer("buyer-1")
        #expect(try await back.completion("r RATE 1 5 :很专业") == "r OK conv=1 rating=5")
        #expect(try await back.completion("r2 RATE 1 1") == "r2 ERR conflict :conversation 1 is already rated")
        let rated = Samples(try await httpGet(try #require(after.daemon.boundHTTPPort), "/metrics"))
        #expect(rated["kefud_csat_ratings_total", ["shop": "default", "rating": "5"]] == 1)
        await back.close()
        try await after.stop()
    }
}

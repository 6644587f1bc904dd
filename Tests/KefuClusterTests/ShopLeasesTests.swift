import KefuCluster
import KefuConfig
import KefuTestSupport
import Logging
import PostgresNIO
import Testing

/// Nodes of a cluster on a real PostgreSQL: who may serve a shop, and what a node that lost it can still write.
@Suite("Shop leases in PostgreSQL", .serialized)
struct ShopLeasesTests {
    static let lease = Duration.seconds(10)

    private func settings(_ server: PostgresServer, node: String) -> ClusterSettings {
        ClusterSettings(
            postgres: PostgresURL(host: "127.0.0.1", port: server.port, user: "kefu", database: "kefu"), node: node,
            advertise: ListenAddress(host: "127.0.0.1", port: 7390))
    }

    private var logger: Logger {
        var logger = Logger(label: "leases-test")
        logger.logLevel = .warning
        return logger
    }

    @Test func oneNodeAtATimeServesAShopAndEveryGrantHasANewEpoch() async throws {
        guard let server = try await PostgresServer.startForTest() else { return }
        defer { server.stop() }
        let a = try await ShopLeases.join(settings(server, node: "a"), logger: logger)
        let b = try await ShopLeases.join(settings(server, node: "b"), logger: logger)
        #expect(try await a.acquire("acme", for: Self.lease) == 1)
        // a is alive and its lease current: b may not take acme.
        #expect(try await b.acquire("acme", for: Self.lease) == nil)
        #expect(try await a.renew(for: Self.lease) == ["acme": 1])
        #expect(try await b.renew(for: Self.lease) == [:])
        // A graceful handoff: a releases, b takes it at once, under the next epoch.
        try await a.release("acme", epoch: 1)
        #expect(try await b.acquire("acme", for: Self.lease) == 2)
        #expect(try await a.renew(for: Self.lease) == [:])
        #expect(try await server.psql("SELECT owner, epoch FROM kefu_leases WHERE shop = 'acme'") == "b|2")
        await a.leave()
        await b.leave()
    }

    @Test func aCrashedNodesShopsAreTakenAtOnceWithoutWaitingForTheLease() async throws {
        guard let server = try await PostgresServer.startForTest() else { return }
        defer { server.stop() }
        let a = try await ShopLeases.join(settings(server, node: "a"), logger: logger)
        let b = try await ShopLeases.join(settings(server, node: "b"), logger: logger)
        #expect(try await a.acquire("acme", for: .seconds(60)) == 1)
        #expect(try await b.shopsOfDeadNodes() == [])
        // a's PostgreSQL session ends (as at a kill -9: the server notices the closed socket): its lock goes with it.
        await a.leave()
        let clock = ContinuousClock()
        let start = clock.now
        var taken: Int64?
        while taken == nil, clock.now - start < .seconds(3) {
            #expect(try await b.shopsOfDeadNodes().allSatisfy { $0 == "acme" })
            taken = try await b.acquire("acme", for: Self.lease)
            if taken == nil { try await Task.sleep(for: .milliseconds(50)) }
        }
        #expect(taken == 2, "the lease had 60 s left; only the advisory lock's release lets b in")
        await b.leave()
    }

    @Test func aNodeThatStopsRenewingLosesItsShopsWhenTheLeaseExpiresAndItsWritesAreFenced() async throws {
        guard let server = try await PostgresServer.startForTest() else { return }
        defer { server.stop() }
        // a stays connected (its lock held, as for a node that is partitioned from its clients, or paused) but does
        // not renew: only the lease's expiry lets b in.
        let a = try await ShopLeases.join(settings(server, node: "a"), logger: logger)
        let b = try await ShopLeases.join(settings(server, node: "b"), logger: logger)
        #expect(try await a.acquire("acme", for: .milliseconds(300)) == 1)
        #expect(try await b.acquire("acme", for: Self.lease) == nil)
        try await Task.sleep(for: .milliseconds(400))
        #expect(try await b.acquire("acme", for: Self.lease) == 2)
        // a wakes up: its renewal does not give acme back, and a write under epoch 1 finds no lease row to hold.
        #expect(try await a.renew(for: Self.lease) == [:])
        _ = try await server.psql("CREATE TABLE IF NOT EXISTS fenced_writes (shop text, epoch bigint)")
        #expect(try await fencedWrite(server, shop: "acme", node: "a", epoch: 1) == false)
        #expect(try await fencedWrite(server, shop: "acme", node: "b", epoch: 2) == true)
        #expect(try await server.psql("SELECT shop, epoch FROM fenced_writes") == "acme|2")
        await a.leave()
        await b.leave()
    }

    @Test func twoProcessesCannotBeOneNode() async throws {
        guard let server = try await PostgresServer.startForTest() else { return }
        defer { server.stop() }
        let a = try await ShopLeases.join(settings(server, node: "a"), logger: logger)
        await #expect(throws: ShopLeases.NodeNameInUse.self) {
            _ = try await ShopLeases.join(settings(server, node: "a"), connectionID: 2, logger: logger)
        }
        // Once the first is gone, the name is free again, with its lock id kept.
        await a.leave()
        var again: ShopLeases?
        for _ in 0..<50 where again == nil {
            again = try? await ShopLeases.join(settings(server, node: "a"), connectionID: 3, logger: logger)
            if again == nil { try await Task.sleep(for: .milliseconds(50)) }
        }
        #expect(again != nil)
        await again?.leave()
    }

    @Test func aNodeStopsServingASecondBeforeItsLeaseCouldExpire() {
        let clock = ContinuousClock()
        let sent = clock.now
        var deadline = LeaseDeadline(lease: .seconds(10), sent: sent)
        #expect(deadline.mayServe(at: sent + .seconds(8.9)))
        #expect(!deadline.mayServe(at: sent + .seconds(9)))
        deadline.renewed(sent: sent + .seconds(2))
        #expect(deadline.mayServe(at: sent + .seconds(10.9)))
        #expect(!deadline.mayServe(at: sent + .seconds(11)))
        // A late answer to an older renewal does not move the deadline back.
        deadline.renewed(sent: sent + .seconds(1))
        #expect(deadline.servingUntil == sent + .seconds(11))
    }

    /// One write transaction for `shop` as `node` under `epoch`, opened by the fence every store commit takes
    /// (the commit statement of a batch with no records): whether it committed.
    private func fencedWrite(_ server: PostgresServer, shop: String, node: String, epoch: Int64) async throws -> Bool {
        let configuration = PostgresConnection.Configuration(
            host: "127.0.0.1", port: server.port, username: "kefu", password: nil, database: "kefu", tls: .disable)
        let connection = try await PostgresConnection.connect(configuration: configuration, id: 9, logger: logger)
        defer { Task { try? await connection.close() } }
        try await connection.query("BEGIN", logger: logger)
        let fence = try await connection.prepare(query: PostgresRecordStore.fenceStatement).get()
        let found = try await fence.execute(
            [PostgresData(string: shop), PostgresData(string: node), PostgresData(int64: epoch)]
        ).get()
        guard try found.first?.decode(String.self) == "1" else {
            try await connection.query("ROLLBACK", logger: logger)
            return false
        }
        try await connection.query("INSERT INTO fenced_writes VALUES (\(shop), \(epoch))", logger: logger)
        try await connection.query("COMMIT", logger: logger)
        return true
    }
}

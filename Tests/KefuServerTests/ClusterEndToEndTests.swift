import Foundation
import KefuTestSupport
import Testing

/// Real kefud nodes over a real PostgreSQL (issue #12's proof): shops spread over the nodes, a login follows `MOVED`
/// to the node that serves its shop, and a node killed with SIGKILL loses nothing acknowledged: another node serves
/// its shops within 3 s, agents keep their chats, buyers find every message in `HISTORY`.
@Suite("A cluster of kefud nodes over PostgreSQL", .serialized)
struct ClusterEndToEndTests {
    /// PostgreSQL, the shops stored in it with `kefuctl shop apply`, and kefud nodes by name.
    final class Cluster: @unchecked Sendable {  // used from one test task at a time
        let server: PostgresServer
        let directory: TemporaryDirectory
        var nodes: [String: (process: KefudProcess, port: Int)] = [:]

        init(server: PostgresServer) throws {
            self.server = server
            directory = try TemporaryDirectory(prefix: "kefu-cluster")
        }

        var url: String { "postgresql://kefu@127.0.0.1:\(server.port)/kefu" }

        /// `kefuctl <arguments> --postgres <url>`: its output, or the test fails.
        @discardableResult
        func kefuctl(_ arguments: [String]) async throws -> String {
            guard let kefuctl = findExecutable(named: "kefuctl") else { throw KefudProcess.NotBuilt() }
            let result = try await runCommand(kefuctl, arguments + ["--postgres", url])
            guard result.status == 0 else {
                throw CommandFailed(description: "kefuctl \(arguments): \(result.errorOutput)\(result.output)")
            }
            return result.output
        }

        func apply(_ shop: String, _ text: String) async throws {
            let file = directory.path + "/\(shop).toml"
            try text.write(toFile: file, atomically: true, encoding: .utf8)
            try await kefuctl(["shop", "apply", shop, file])
        }

        /// Starts node `name` on a port of its own (or `port` on `host`), advertised as such, and waits for READY=1.
        /// `launcher` runs kefud (`ip netns exec <namespace>`); `extra` adds keys to `[cluster]`.
        func start(
            _ name: String, host: String = "127.0.0.1", port: Int? = nil, postgresHost: String = "127.0.0.1",
            launcher: [String] = [], extra: String = ""
        ) async throws {
            let port = try port ?? freeLoopbackPort()
            let state = directory.path + "/\(name)"
            try FileManager.default.createDirectory(atPath: state, withIntermediateDirectories: true)
            let config = state + "/kefud.toml"
            try """
            [server]
            listen = "\(host):\(port)"
            state_dir = "\(state)"

            [cluster]
            postgres = "postgresql://kefu@\(postgresHost):\(server.port)/kefu"
            node = "\(name)"
            advertise = "\(host):\(port)"
            \(extra)
            """.write(toFile: config, atomically: true, encoding: .utf8)
            let process = try KefudProcess(
                arguments: ["--config", config], workingDirectory: state, launcher: launcher)
            try await process.waitUntilReady()
            nodes[name] = (process, port)
        }

        /// The node serving each shop now (a current lease), by PostgreSQL.
        func owners() async throws -> [String: String] {
            let rows = try await server.psql(
                "SELECT shop || '=' || owner FROM kefu_leases WHERE owner IS NOT NULL AND expires_at > now()")
            var owners: [String: String] = [:]
            for row in rows.split(separator: "\n") {
                let parts = row.split(separator: "=")
                if parts.count == 2 { owners[String(parts[0])] = String(parts[1]) }
            }
            return owners
        }

        /// Waits until `condition` holds of the owners (at most `timeout`), and returns them.
        func waitForOwners(
            timeout: Duration = .seconds(20), _ condition: ([String: String]) -> Bool
        ) async throws -> [String: String] {
            let deadline = ContinuousClock.now + timeout
            while true {
                let owners = try await owners()
                if condition(owners) { return owners }
                if ContinuousClock.now > deadline {
                    Issue.record("owners never settled: \(owners)")
                    return owners
                }
                try await Task.sleep(for: .milliseconds(100))
            }
        }

        /// Every node's output, for a failing test's message.
        var outputs: String {
            nodes.sorted { $0.key < $1.key }.map { "--- node \($0.key):\n\($0.value.process.output)" }
                .joined(separator: "\n")
        }

        func stopAll() async {
            for (_, node) in nodes {
                node.process.signal(SIGTERM)
                _ = await node.process.waitForExit()
            }
            server.stop()
            directory.remove()
        }
    }

    struct CommandFailed: Error, CustomStringConvertible { var description: String }

    /// Runs `body` with a PostgreSQL of its own and an empty cluster; every node is stopped and PostgreSQL removed
    /// afterwards, whether `body` passed or threw. Returns at once (the test is skipped, loudly) without PostgreSQL.
    static func withCluster(_ body: (Cluster, PostgresServer) async throws -> Void) async throws {
        guard let server = try await PostgresServer.startForTest() else { return }
        let cluster = try Cluster(server: server)
        do {
            try await body(cluster, server)
        } catch {
            await cluster.stopAll()
            throw error
        }
        await cluster.stopAll()
    }

    /// Logs in at node `port`, following `MOVED` and waiting out `tryagain`: the client logged in, where, and the
    /// `MOVED` lines it met on the way.
    static func login(
        _ line: String, at port: Int, timeout: Duration = .seconds(10)
    ) async throws -> (client: LineClient, port: Int, moved: [String]) {
        let first = port
        var port = port
        var moved: [String] = []
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            guard let client = try? await LineClient.connect(port: port) else {
                // The node MOVED named is gone (it was the one that failed): ask the node we started from again.
                port = first
                try await Task.sleep(for: .milliseconds(50))
                continue
            }
            try? await client.send(line)
            let lines = (try? await client.until(tag: "l")) ?? []
            if lines.last?.hasPrefix("l OK") == true { return (client, port, moved) }
            await client.close()
            if let redirect = lines.first(where: { $0.hasPrefix("* MOVED ") }),
                let node = field("node", in: redirect), let next = Int(node.split(separator: ":").last ?? "")
            {
                moved.append(redirect)
                port = next
            } else {
                try await Task.sleep(for: .milliseconds(100))
            }
        }
        throw CommandFailed(description: "no login within \(timeout): \(line)")
    }

    @Test func shopsSpreadOverTheNodesAndALoginFollowsMovedToItsShop() async throws {
        try await Self.withCluster { cluster, server in
            for shop in ["acme", "brand-b", "brand-c"] { try await cluster.apply(shop, acmeConfiguration()) }
            for node in ["a", "b", "c"] { try await cluster.start(node) }
            // One shop each: the shops divided evenly among the nodes.
            let owners = try await cluster.waitForOwners { Set($0.values).count == 3 && $0.count == 3 }
            #expect(Set(owners.values) == ["a", "b", "c"])
            let a = try #require(cluster.nodes["a"]).port
            var redirected = 0
            for shop in ["acme", "brand-b", "brand-c"] {
                let (client, port, moved) = try await Self.login(
                    "l LOGIN agent alice \(Secrets.bob.0) shop=\(shop)", at: a)
                // Logged in where PostgreSQL says the shop is served; a node that does not serve it said where to go.
                let owner = try #require(owners[shop])
                #expect(port == cluster.nodes[owner]?.port)
                if owner != "a" {
                    redirected += 1
                    #expect(moved.first?.hasPrefix("* MOVED shop=\(shop) node=127.0.0.1:\(port) epoch=") == true)
                }
                await client.close()
            }
            #expect(redirected == 2)
            // Served on its node like any shop: a buyer's chat reaches the shop's agent.
            let acme = try #require(cluster.nodes[owners["acme"] ?? ""]).port
            let agent = try await Self.login("l LOGIN agent alice \(Secrets.bob.0) shop=acme", at: acme).client
            let buyer = try await Self.login("l LOGIN customer buyer-1 \(Secrets.tmall.0) shop=acme", at: acme).client
            #expect(try await buyer.completion("o OPEN presales :在吗") == "o OK conv=1")
            #expect(try await agent.expect("* ASSIGNED conv=1 ").hasPrefix("* ASSIGNED conv=1 customer=buyer-1"))
            // An unknown shop is not found anywhere; a login without shop= means shop default, which is not stored.
            let stranger = try await LineClient.connect(port: a)
            #expect(
                try await stranger.completion("l LOGIN agent alice x shop=nosuch")
                    == "l ERR not-found :no shop nosuch on this node")
        }
    }

    @Test func aKilledNodesShopIsServedElsewhereWithinThreeSecondsAndNothingAcknowledgedIsLost() async throws {
        try await Self.withCluster { cluster, server in
            for shop in ["acme", "brand-b"] { try await cluster.apply(shop, acmeConfiguration()) }
            for node in ["a", "b", "c"] { try await cluster.start(node) }
            let owners = try await cluster.waitForOwners { $0.count == 2 }
            let victim = try #require(owners["acme"])
            let port = try #require(cluster.nodes[victim]).port
            let agent = try await Self.login("l LOGIN agent alice \(Secrets.bob.0) shop=acme", at: port).client
            let buyer = try await Self.login("l LOGIN customer buyer-1 \(Secrets.tmall.0) shop=acme", at: port).client
            #expect(try await buyer.completion("o OPEN presales :在吗") == "o OK conv=1")
            _ = try await agent.expect("* ASSIGNED conv=1 ")
            var acknowledged: [String] = []
            for index in 1...20 {
                let reply = try await buyer.completion("s SEND 1 :第\(index)条")
                if reply.hasPrefix("s OK seq=") { acknowledged.append("第\(index)条") }
                if try await agent.completion("a SEND 1 :收到\(index)").hasPrefix("a OK seq=") {
                    acknowledged.append("收到\(index)")
                }
            }
            #expect(acknowledged.count == 40)

            let killed = ContinuousClock.now
            try #require(cluster.nodes[victim]).process.signal(SIGKILL)
            let survivor = try #require(cluster.nodes.first { $0.key != victim }).value.port
            // The agent logs in again wherever the shop went, and still holds its chat: it may answer in it.
            let login = try? await Self.login("l LOGIN agent alice \(Secrets.bob.0) shop=acme", at: survivor)
            let (again, newPort, _) = try #require(login, "acme never served again:\n\(cluster.outputs)")
            let failover = ContinuousClock.now - killed
            #expect(failover <= .seconds(3), "acme served again after \(failover)")
            #expect(newPort != port)
            #expect(try await again.completion("a SEND 1 :我还在").hasPrefix("a OK seq="))
            // The buyer comes back: its chat replayed, every acknowledged message in its history.
            let (returning, _, _) = try await Self.login(
                "l LOGIN customer buyer-1 \(Secrets.tmall.0) shop=acme", at: survivor)
            let history = try await returning.command("h HISTORY 1")
            for text in acknowledged {
                #expect(history.contains { $0.hasSuffix(":\(text)") }, "\(text) lost")
            }
            // One assignment: nobody else was given the chat during the failover.
            #expect(
                try await server.psql("SELECT agent FROM kefu_assignments WHERE shop = 'acme' AND conversation = 1")
                    == "alice")
            // The input journal is in PostgreSQL with the shop's records: both nodes' runs replay as they decided.
            let now = Int64((Date().timeIntervalSince1970 * 1000).rounded())
            let replay = try await cluster.kefuctl([
                "replay", "--shop", "acme", "--from", "\(now - 600_000)", "--to", "\(now + 1000)",
            ])
            #expect(replay.contains("identical: 1 decisions"), "\(replay)")
            #expect(replay.contains("restarts in the window: 2"), "\(replay)")
            let journaled = try await server.psql(
                "SELECT count(*) FROM kefu_input_journal WHERE shop = 'acme' AND starts_run")
            #expect(journaled == "2")
        }
    }

    /// A buyer and agent of `shop` at the node serving it, in a chat: conv 1, assigned.
    private static func chat(_ shop: String, at port: Int) async throws -> (agent: LineClient, buyer: LineClient) {
        let agent = try await login("l LOGIN agent alice \(Secrets.bob.0) shop=\(shop)", at: port).client
        let buyer = try await login("l LOGIN customer buyer-1 \(Secrets.tmall.0) shop=\(shop)", at: port).client
        #expect(try await buyer.completion("o OPEN presales :在吗").hasPrefix("o OK conv="))
        _ = try await agent.expect("* ASSIGNED conv=")
        return (agent, buyer)
    }

    @Test func afterPostgreSQLRestartsTheNodesServeTheirShopsAgainAndNothingAcknowledgedIsLost() async throws {
        try await Self.withCluster { cluster, server in
            for shop in ["acme", "brand-b"] { try await cluster.apply(shop, acmeConfiguration()) }
            for node in ["a", "b"] { try await cluster.start(node) }
            let owners = try await cluster.waitForOwners { Set($0.values).count == 2 }
            let port = try #require(cluster.nodes[owners["acme"] ?? ""]).port
            let (_, buyer) = try await Self.chat("acme", at: port)
            var acknowledged: [String] = []
            for index in 1...5 where try await buyer.completion("s SEND 1 :前\(index)").hasPrefix("s OK") {
                acknowledged.append("前\(index)")
            }
            try await server.restartImmediately()
            // Every shop is served again (by whichever node), and the buyer carries on where it was.
            _ = try await cluster.waitForOwners { $0.count == 2 }
            let again = try await Self.login("l LOGIN customer buyer-1 \(Secrets.tmall.0) shop=acme", at: port).client
            for index in 1...5 {
                let reply = try await again.completion("s SEND 1 :后\(index)")
                if reply.hasPrefix("s OK") { acknowledged.append("后\(index)") }
            }
            #expect(acknowledged.count == 10)
            let history = try await again.command("h HISTORY 1")
            for text in acknowledged {
                #expect(history.contains { $0.hasSuffix(":\(text)") }, "\(text) lost:\n\(cluster.outputs)")
            }
        }
    }

    @Test func aShopsNewConfigurationIsServedWithinTwoSecondsWithoutARestart() async throws {
        try await Self.withCluster { cluster, server in
            try await cluster.apply("acme", acmeConfiguration())
            try await cluster.start("a")
            _ = try await cluster.waitForOwners { $0.count == 1 }
            let port = try #require(cluster.nodes["a"]).port
            // Served (the login waits out `tryagain` while the node recovers the shop it just took).
            _ = try await Self.login("l LOGIN agent alice \(Secrets.bob.0) shop=acme", at: port)
            let client = try await LineClient.connect(port: port)
            #expect(
                try await client.completion("l LOGIN agent dave \(Secrets.bob.0) shop=acme")
                    .hasPrefix("l ERR auth-failed"))
            // A broken file is refused by kefuctl with kefud's own error, and nothing is stored.
            let broken = cluster.directory.path + "/broken.toml"
            try "[customers]\ntoken_sha256 = 12\n".write(toFile: broken, atomically: true, encoding: .utf8)
            await #expect(throws: CommandFailed.self) { try await cluster.kefuctl(["shop", "apply", "acme", broken]) }
            #expect(try await server.psql("SELECT version FROM kefu_shops WHERE shop = 'acme'") == "1")
            try await cluster.apply("acme", acmeConfiguration(agent: "dave"))
            let applied = ContinuousClock.now
            var reply = ""
            var attempt = 0
            while ContinuousClock.now - applied < .seconds(2) {
                // Each try from an address of its own: the refusals before the change arrives must not trip the
                // login throttle (5 failures a minute per address and login), as they did on a loaded machine.
                attempt += 1
                let poller = try await LineClient.connect(port: port, from: "127.0.0.\(10 + attempt)")
                reply = try await poller.completion("l LOGIN agent dave \(Secrets.bob.0) shop=acme")
                await poller.close()
                if reply.hasPrefix("l OK") { break }
                try await Task.sleep(for: .milliseconds(100))
            }
            #expect(reply.hasPrefix("l OK role=agent id=dave"), "\(reply)")
            #expect(try await cluster.kefuctl(["shop", "list"]).contains("acme\tversion=2"))
        }
    }

    @Test func aJoiningNodeTakesItsShareAndADrainedNodeHandsItsShopsOverWithoutLosingAMessage() async throws {
        try await Self.withCluster { cluster, server in
            let shops = ["acme", "brand-b", "brand-c", "brand-d"]
            for shop in shops { try await cluster.apply(shop, acmeConfiguration()) }
            try await cluster.start("a")
            _ = try await cluster.waitForOwners { $0.count == 4 && Set($0.values) == ["a"] }
            let a = try #require(cluster.nodes["a"]).port
            let (_, buyer) = try await Self.chat("acme", at: a)
            #expect(try await buyer.completion("s SEND 1 :一").hasPrefix("s OK"))
            // A second node joins: the shops divide evenly, each handed over gracefully.
            try await cluster.start("b")
            let halves = try await cluster.waitForOwners { owners in
                owners.count == 4 && owners.values.filter { $0 == "a" }.count == 2
            }
            #expect(halves.values.filter { $0 == "b" }.count == 2)
            // Drained, a empties; b serves everything; the buyer follows its shop and its history is whole.
            try await cluster.kefuctl(["cluster", "drain", "a", "--wait", "20"])
            let drained = try await cluster.waitForOwners { Set($0.values) == ["b"] && $0.count == 4 }
            #expect(drained.count == 4)
            let status = try await cluster.kefuctl(["cluster", "status"])
            #expect(status.contains("node a\t127.0.0.1:\(a)\tdraining"), "\(status)")
            let again = try await Self.login("l LOGIN customer buyer-1 \(Secrets.tmall.0) shop=acme", at: a).client
            #expect(try await again.completion("s SEND 1 :二").hasPrefix("s OK"))
            let history = try await again.command("h HISTORY 1")
            #expect(history.contains { $0.hasSuffix(":一") } && history.contains { $0.hasSuffix(":二") })
        }
    }

    @Test func aBreachDueDuringAFailoverIsRecordedOnceAndOneRecordedBeforeItIsNotRecordedAgain() async throws {
        guard await JournaldHarness.isRunningForTest() else { return }
        try await Self.withCluster { cluster, server in
            try await cluster.apply("acme", acmeConfiguration(extra: "[sla]\nfirst_response_s = 2\n"))
            for node in ["a", "b"] { try await cluster.start(node) }
            let owners = try await cluster.waitForOwners { $0["acme"] != nil }
            let victim = try #require(owners["acme"])
            let port = try #require(cluster.nodes[victim]).port
            let survivor = try #require(cluster.nodes.first { $0.key != victim }).value.port
            let early = "fo-early-\(UUID().uuidString.prefix(8))"
            let late = "fo-late-\(UUID().uuidString.prefix(8))"
            func breaches(_ customer: String, timeout: Duration) async -> Int {
                await JournaldHarness.query(
                    ["KEFU_EVENT=sla_breach", "KEFU_CUSTOMER=\(customer)"], timeout: timeout
                ).count
            }
            // One chat breaches on the node before it fails; the other is due while no node serves the shop.
            let first = try await Self.login("l LOGIN customer \(early) \(Secrets.tmall.0) shop=acme", at: port).client
            #expect(try await first.completion("o OPEN presales :早").hasPrefix("o OK conv="))
            #expect(await breaches(early, timeout: .seconds(10)) == 1, "\(cluster.outputs)")
            let second = try await Self.login("l LOGIN customer \(late) \(Secrets.tmall.0) shop=acme", at: port).client
            #expect(try await second.completion("o OPEN presales :晚").hasPrefix("o OK conv="))
            try #require(cluster.nodes[victim]).process.signal(SIGKILL)
            // The shop's new node fires the late one at once, and not the early one again.
            _ = try await Self.login("l LOGIN agent alice \(Secrets.bob.0) shop=acme", at: survivor)
            #expect(await breaches(late, timeout: .seconds(10)) == 1, "\(cluster.outputs)")
            try await Task.sleep(for: .seconds(2))
            #expect(await breaches(late, timeout: .zero) == 1)
            #expect(await breaches(early, timeout: .zero) == 1)
        }
    }
}

import Foundation
import KefuConfig
import Testing

@Suite("deploy/kefud.toml")
struct DeployConfigTests {
    /// The package root: this file is `Tests/KefuConfigTests/DeployConfigTests.swift`, three levels below it.
    private static let packageRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent()
        .deletingLastPathComponent()
        .deletingLastPathComponent()

    private static let path = packageRoot.appendingPathComponent("deploy/kefud.toml").path

    @Test func demoConfigurationLoads() throws {
        let configuration = try KefuConfiguration.load(path: Self.path)
        #expect(configuration.agents.count == 3)
        #expect(configuration.supervisors.count == 1)
        #expect(configuration.server.listen == ListenAddress(host: "127.0.0.1", port: 7390))
        // HTTP is on in the demo, on loopback beside the line protocol.
        #expect(configuration.http?.listen == ListenAddress(host: "127.0.0.1", port: 7391))
        // Left out on purpose: ./var for `make run`, $STATE_DIRECTORY under systemd.
        #expect(configuration.server.stateDirectory == nil)
        #expect(configuration.sla.firstResponseSeconds == 120)
    }

    @Test func demoPeopleAndSkills() throws {
        let configuration = try KefuConfiguration.load(path: Self.path)
        let agents = Dictionary(uniqueKeysWithValues: configuration.agents.map { ($0.id, $0) })
        #expect(configuration.agents.map(\.id) == ["alice", "bob", "carol"])
        #expect(agents["alice"]?.name == "Alice")
        #expect(agents["alice"]?.maxChats == 5)
        #expect(agents["alice"]?.skillLevels == ["presales": 3, "logistics": 2])
        #expect(agents["bob"]?.maxChats == 5)
        #expect(agents["bob"]?.skillLevels == ["presales": 2, "refund": 3, "returns": 3])
        #expect(agents["carol"]?.maxChats == 3)
        #expect(agents["carol"]?.skillLevels == ["refund": 4, "complaint": 5, "returns": 2])
        #expect(configuration.supervisors.first?.id == "lead")
        #expect(configuration.supervisors.first?.name == "Lead")
    }

    /// The hashes in the file are those of the demo secrets its comments name (`printf %s SECRET | sha256sum`).
    @Test func demoTokenHashes() throws {
        let configuration = try KefuConfiguration.load(path: Self.path)
        #expect(
            configuration.customers.tokenSHA256
                == "70eb1e69e0e61e6f50457f66a06497aa2a2206f8c74b0ca2c277c5bd8359ef4b"  // shop-gateway-secret
        )
        #expect(
            configuration.agents.map(\.tokenSHA256) == [
                "0c848abb03307b06cf70cd4e29c157dc81af5e94ab3eb1d0c59a120269572376",  // alice-secret
                "9f03ef1533a68d2f506f81ef463c1183a82a6bd40e45613f36e6fe1889cf1b99",  // bob-secret
                "9e1d0a638ff9fd18986d8057aef3c36871aa54b27a6fcc6411fb32f8325675e2",  // carol-secret
            ]
        )
        #expect(
            configuration.supervisors.first?.tokenSHA256
                == "0a70631b84816dd3124d632f39f08a1964fee40b36210d27e8bc16e7aba7a16b"  // lead-secret
        )
    }
}

import KefuConfig
import KefuCore
import Testing

/// The policy kefuctl replays with is made from a configuration file exactly as kefud makes it.
@Suite struct PolicyFromConfigurationTests {
    @Test func aShopFileGivesItsAgentsAndLimits() throws {
        let text = """
            [sla]
            first_response_s = 90
            [customers]
            token_sha256 = "70eb1e69e0e61e6f50457f66a06497aa2a2206f8c74b0ca2c277c5bd8359ef4b"
            [[agent]]
            id = "alice"
            name = "Alice"
            token_sha256 = "0c848abb03307b06cf70cd4e29c157dc81af5e94ab3eb1d0c59a120269572376"
            max_chats = 4
            skills = { refund = 3 }
            """
        let policy = RoutingPolicy(try KefuConfiguration.parse(text, file: "shop.toml"))
        #expect(policy.agents.map(\.id) == ["alice"])
        #expect(policy.agents.first?.maxChats == 4)
        #expect(policy.firstResponse == .seconds(90))
    }
}

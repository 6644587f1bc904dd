import Crypto
import KefuConfig
import KefuCore
import KefuProtocol

/// Checks LOGIN tokens against the SHA-256 hashes in the configuration (the daemon never stores secrets).
struct Authenticator: Sendable {
    private let customerHash: String
    private let agentHashes: [String: String]
    private let supervisorHashes: [String: String]

    init(_ configuration: KefuConfiguration) {
        customerHash = configuration.customers.tokenSHA256
        agentHashes = Dictionary(configuration.agents.map { ($0.id, $0.tokenSHA256) }, uniquingKeysWith: { a, _ in a })
        supervisorHashes = Dictionary(
            configuration.supervisors.map { ($0.id, $0.tokenSHA256) }, uniquingKeysWith: { a, _ in a }
        )
    }

    /// The principal this login proves, or nil when the id is unknown or the token is wrong.
    func authenticate(role: LoginRole, id: String, token: String) -> Principal? {
        let expected: String?
        switch role {
        case .customer: expected = customerHash
        case .agent: expected = agentHashes[id]
        case .supervisor: expected = supervisorHashes[id]
        }
        // Hash even when the id is unknown, so timing does not reveal which ids exist.
        let given = Self.sha256Hex(token)
        guard let expected, Self.constantTimeEqual(given, expected) else { return nil }
        switch role {
        case .customer: return .customer(CustomerID(id))
        case .agent: return .agent(AgentID(id))
        case .supervisor: return .supervisor(SupervisorID(id))
        }
    }

    /// Lowercase hex SHA-256 of a token, as `kefuctl hash-token` prints it.
    static func sha256Hex(_ token: String) -> String {
        SHA256.hash(data: Array(token.utf8)).map { byte in
            let hex = String(byte, radix: 16)
            return byte < 16 ? "0" + hex : hex
        }.joined()
    }

    static func constantTimeEqual(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8)
        let y = Array(b.utf8)
        guard x.count == y.count else { return false }
        var difference: UInt8 = 0
        for index in x.indices { difference |= x[index] ^ y[index] }
        return difference == 0
    }
}

extension RoutingPolicy {
    /// The routing rules of a configuration.
    init(_ configuration: KefuConfiguration) {
        self.init(
            firstResponse: .seconds(configuration.sla.firstResponseSeconds),
            agents: configuration.agents.map { agent in
                AgentProfile(
                    id: AgentID(agent.id),
                    name: agent.name,
                    maxChats: agent.maxChats,
                    skills: Dictionary(
                        agent.skills.map { (Skill($0.skill), $0.level) }, uniquingKeysWith: { a, _ in a }
                    )
                )
            }
        )
    }
}

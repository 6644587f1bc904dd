import Crypto
import KefuConfig
import KefuCore
import KefuProtocol

/// Checks LOGIN tokens against the SHA-256 hashes in the configuration (the daemon never stores secrets).
struct Authenticator: Sendable {
    private let customerHash: String
    private let agentHashes: [String: String]
    private let supervisorHashes: [String: String]
    private let gatewayHashes: [String: String]
    private let managerHashes: [String: String]

    init(_ configuration: KefuConfiguration) {
        customerHash = configuration.customers.tokenSHA256
        agentHashes = Dictionary(configuration.agents.map { ($0.id, $0.tokenSHA256) }, uniquingKeysWith: { a, _ in a })
        supervisorHashes = Dictionary(
            configuration.supervisors.map { ($0.id, $0.tokenSHA256) }, uniquingKeysWith: { a, _ in a }
        )
        gatewayHashes = Dictionary(
            configuration.gateways.map { ($0.id, $0.tokenSHA256) }, uniquingKeysWith: { a, _ in a })
        managerHashes = Dictionary(
            configuration.managers.map { ($0.id, $0.tokenSHA256) }, uniquingKeysWith: { a, _ in a })
    }

    /// Whether the token proves this role and id. Customers share the gateway secret of `[customers]`; agents,
    /// supervisors and gateways have their own.
    func authenticate(role: LoginRole, id: String, token: String) -> Bool {
        let expected: String?
        switch role {
        case .customer: expected = customerHash
        case .agent: expected = agentHashes[id]
        case .supervisor: expected = supervisorHashes[id]
        case .gateway: expected = gatewayHashes[id]
        case .manager: expected = managerHashes[id]
        }
        // Hash even when the id is unknown, so timing does not reveal which ids exist.
        let given = Self.sha256Hex(token)
        guard let expected else { return false }
        return Self.constantTimeEqual(given, expected)
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

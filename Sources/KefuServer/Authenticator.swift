import Crypto
import KefuAuth
import KefuConfig
import KefuCore
import KefuProtocol

/// Checks LOGIN tokens against the SHA-256 hashes in the configuration (the daemon never stores secrets), and
/// buyers' signed tokens against `[customers] signing_key_file`'s keys.
struct Authenticator: Sendable {
    /// nil: the shared customers' secret is turned off (only signed buyer logins).
    private let customerHash: String?
    private let signingKeys: [[UInt8]]
    private let agentHashes: [String: String]
    private let supervisorHashes: [String: String]
    private let gatewayHashes: [String: String]
    private let managerHashes: [String: String]

    init(_ configuration: KefuConfiguration) {
        customerHash = configuration.customers.tokenSHA256
        signingKeys = configuration.customers.signingKeys.keys
        agentHashes = Dictionary(configuration.agents.map { ($0.id, $0.tokenSHA256) }, uniquingKeysWith: { a, _ in a })
        supervisorHashes = Dictionary(
            configuration.supervisors.map { ($0.id, $0.tokenSHA256) }, uniquingKeysWith: { a, _ in a }
        )
        gatewayHashes = Dictionary(
            configuration.gateways.map { ($0.id, $0.tokenSHA256) }, uniquingKeysWith: { a, _ in a })
        managerHashes = Dictionary(
            configuration.managers.map { ($0.id, $0.tokenSHA256) }, uniquingKeysWith: { a, _ in a })
    }

    /// Whether the token proves this role and id in `shop` at `nowSeconds`. A buyer logs in with a signed token
    /// (`v1.…`, see ``BuyerLoginToken``) or, when it is on, with the shared secret of `[customers]` (what gateways
    /// connecting one buyer per connection use); agents, supervisors and gateways have their own secrets.
    func authenticate(role: LoginRole, id: String, token: String, shop: String, nowSeconds: Int64) -> Bool {
        let expected: String?
        switch role {
        case .customer:
            if token.hasPrefix(BuyerLoginToken.prefix), !signingKeys.isEmpty {
                return BuyerLoginToken.verify(token, shop: shop, id: id, nowSeconds: nowSeconds, keys: signingKeys)
            }
            expected = customerHash
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
        KefuAuth.constantTimeEqual(a.utf8, b.utf8)
    }
}

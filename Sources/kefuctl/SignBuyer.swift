import ArgumentParser
import Foundation
import KefuAuth
import KefuConfig

/// Prints a buyer's signed login token, as a shop's backend would make it for its web widget
/// (`LOGIN customer <id> <token> [shop=<shop>]`).
struct SignBuyer: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sign-buyer",
        abstract: "Print a signed login token for a buyer (LOGIN customer <id> <token>).",
        discussion: """
            The token is v1.<expiry>.<hex HMAC-SHA256(key, "<shop>|<id>|<expiry>")>, signed with the first key of \
            [customers] signing_key_file (of --config, the shop's file), or of --key-file.
            """
    )

    @Argument(help: "The buyer's id, as in LOGIN customer <id>.")
    var id: String

    @Option(help: "The shop the token is for (default: default, the main file's team).")
    var shop = "default"

    @Option(help: "How long the token is valid: seconds, or a number with s, m, h or d (default 1h).")
    var ttl = "1h"

    @Option(help: "The shop's configuration file, whose [customers] signing_key_file holds the key.")
    var config: String?

    @Option(help: "The key file itself (one key per line; the first signs).")
    var keyFile: String?

    func run() throws {
        guard Self.isValidName(id) else { throw ValidationError("\(id) is not a valid buyer id") }
        guard Self.isValidName(shop) else { throw ValidationError("\(shop) is not a valid shop name") }
        guard let seconds = Self.seconds(ttl), seconds > 0 else {
            throw ValidationError("--ttl \(ttl): expected seconds or a number with s, m, h or d, such as 1h")
        }
        let keys: SigningKeys
        switch (config, keyFile) {
        case (let path?, nil):
            let customers: CustomerSettings
            do {
                customers = try KefuConfiguration.load(path: path, kind: shop == "default" ? .main : .shop).customers
            } catch {
                throw ValidationError("\(error)")
            }
            guard !customers.signingKeys.isEmpty else {
                throw ValidationError("\(path) has no [customers] signing_key_file")
            }
            keys = customers.signingKeys
        case (nil, let path?):
            let text: String
            do { text = try String(contentsOfFile: path, encoding: .utf8) } catch {
                throw ValidationError("cannot read \(path)")
            }
            switch SigningKeys.parse(text) {
            case .success(let parsed): keys = parsed
            case .failure(let failure):
                throw ValidationError("\(path)\(failure.line.map { " line \($0)" } ?? ""): \(failure.message)")
            }
        default:
            throw ValidationError("give --config or --key-file")
        }
        let expiry = Int64(Date().timeIntervalSince1970) + seconds
        print(BuyerLoginToken.sign(shop: shop, id: id, expiry: expiry, key: keys.keys[0]))
    }

    /// `90`, `90s`, `30m`, `1h`, `2d` in seconds.
    static func seconds(_ text: String) -> Int64? {
        let units: [Character: Int64] = ["s": 1, "m": 60, "h": 3600, "d": 86400]
        if let unit = text.last, let factor = units[unit] {
            return Int64(text.dropLast()).map { $0 * factor }
        }
        return Int64(text)
    }

    /// Ids and shop names as the protocol takes them: no spaces, no `|` (the signed message's separator).
    static func isValidName(_ text: String) -> Bool {
        !text.isEmpty && text.utf8.count <= 128 && !text.contains(where: { $0.isWhitespace || $0 == "|" })
    }
}

import Crypto

/// A buyer's signed login token (issue #14), so that a shop's web widget can let a buyer connect directly without
/// holding any shared secret: `v1.<expiry unix seconds>.<hex HMAC-SHA256(key, "<shop>|<id>|<expiry>")>`, signed by
/// the shop's backend with a key from `[customers] signing_key_file`. It proves this buyer id, in this shop, until
/// then: another id's or another shop's token, or one past its expiry, does not verify.
public enum BuyerLoginToken {
    public static let prefix = "v1."

    /// The token for `id` in `shop` valid until `expiry` (unix seconds), signed with `key`.
    public static func sign(shop: String, id: String, expiry: Int64, key: [UInt8]) -> String {
        let code = HMAC<SHA256>.authenticationCode(
            for: Array(message(shop: shop, id: id, expiry: expiry).utf8), using: SymmetricKey(data: key))
        return "\(prefix)\(expiry).\(hex(Array(code)))"
    }

    /// Whether `token` proves `id` in `shop` at `nowSeconds` under any of `keys` (a rotation keeps the old key a
    /// while). The code is compared in constant time (swift-crypto's `isValidAuthenticationCode`).
    public static func verify(_ token: String, shop: String, id: String, nowSeconds: Int64, keys: [[UInt8]]) -> Bool {
        guard token.hasPrefix(prefix) else { return false }
        let parts = token.utf8.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false)
        guard parts.count == 3, let expiryText = String(parts[1]), expiryText.utf8.count <= 18,
            expiryText.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }),
            let expiry = Int64(expiryText), let code = bytes(ofHex: Array(parts[2])), code.count == 32
        else { return false }
        let signed = Array(message(shop: shop, id: id, expiry: expiry).utf8)
        var valid = false
        for key in keys {
            // Every key is tried, so the time taken does not say which one matched.
            if HMAC<SHA256>.isValidAuthenticationCode(code, authenticating: signed, using: SymmetricKey(data: key)) {
                valid = true
            }
        }
        return valid && expiry > nowSeconds
    }

    /// What is signed: the shop, the buyer's id and the expiry, joined by `|` (neither a shop nor an id may hold one).
    public static func message(shop: String, id: String, expiry: Int64) -> String { "\(shop)|\(id)|\(expiry)" }

    static func hex(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count * 2)
        for byte in bytes {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0x0f)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    static func bytes(ofHex text: [UInt8]) -> [UInt8]? {
        guard text.count % 2 == 0 else { return nil }
        func nibble(_ c: UInt8) -> UInt8? {
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): c - UInt8(ascii: "A") + 10
            default: nil
            }
        }
        var out: [UInt8] = []
        out.reserveCapacity(text.count / 2)
        var index = 0
        while index < text.count {
            guard let high = nibble(text[index]), let low = nibble(text[index + 1]) else { return nil }
            out.append(high << 4 | low)
            index += 2
        }
        return out
    }
}

/// Equal byte strings, compared in time that depends only on their lengths (tokens' hashes: a timing difference
/// must not tell how much of a guess was right).
public func constantTimeEqual(_ a: some Collection<UInt8>, _ b: some Collection<UInt8>) -> Bool {
    guard a.count == b.count else { return false }
    var difference: UInt8 = 0
    for (x, y) in zip(a, b) { difference |= x ^ y }
    return difference == 0
}

/// A `host:port` to listen on; IPv6 hosts are written in brackets, `[::1]:7390`.
public struct ListenAddress: Sendable, Equatable, Hashable, CustomStringConvertible {
    /// A host name, an IPv4 address or an IPv6 address (without brackets).
    public var host: String
    /// The TCP port; 0 lets the system choose one.
    public var port: Int

    /// Creates an address from its parts.
    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    /// Parses `host:port` or `[ipv6]:port`; nil when malformed.
    public init?(_ text: String) {
        guard case .success(let address) = Self.parse(text) else {
            return nil
        }
        self = address
    }

    /// `host:port`, with brackets around an IPv6 host.
    public var description: String {
        host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
    }

    struct ParseFailure: Error {
        let message: String
    }

    static func parse(_ text: String) -> Result<ListenAddress, ParseFailure> {
        let host: Substring
        let portText: Substring
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else {
                return .failure(ParseFailure(message: "missing ']' after the IPv6 address; expected e.g. [::1]:7390"))
            }
            host = text[text.index(after: text.startIndex)..<close]
            let rest = text[text.index(after: close)...]
            guard rest.first == ":" else {
                return .failure(ParseFailure(message: "expected ':<port>' after ']'; e.g. [::1]:7390"))
            }
            portText = rest.dropFirst()
            guard isIPv6(host) else {
                return .failure(ParseFailure(message: "invalid IPv6 address \"\(host)\""))
            }
        } else {
            guard let colon = text.lastIndex(of: ":") else {
                return .failure(ParseFailure(message: "missing port; expected host:port such as 127.0.0.1:7390"))
            }
            host = text[..<colon]
            portText = text[text.index(after: colon)...]
            if host.contains(":") {
                return .failure(ParseFailure(message: "put an IPv6 address in brackets, e.g. [::1]:7390"))
            }
            if let problem = hostProblem(host) {
                return .failure(ParseFailure(message: problem))
            }
        }
        guard !portText.isEmpty, portText.count <= 5, portText.utf8.allSatisfy(\.isASCIIDigit),
            let port = Int(portText), port <= 65_535
        else {
            return .failure(ParseFailure(message: "invalid port \"\(portText)\"; expected 0 to 65535"))
        }
        return .success(ListenAddress(host: String(host), port: port))
    }

    private static func isIPv6(_ host: Substring) -> Bool {
        // Hex groups, colons, an optional embedded IPv4 tail and an optional %zone; the resolver does the rest.
        let address = host.split(separator: "%", maxSplits: 1, omittingEmptySubsequences: false)
        guard let groups = address.first, groups.contains(":"), address.count == 1 || !address[1].isEmpty else {
            return false
        }
        return groups.utf8.allSatisfy { $0.isASCIIHexDigit || $0 == UInt8(ascii: ":") || $0 == UInt8(ascii: ".") }
    }

    private static func hostProblem(_ host: Substring) -> String? {
        if host.isEmpty {
            return "missing host; expected host:port such as 127.0.0.1:7390"
        }
        let allowed = host.utf8.allSatisfy {
            $0.isASCIIDigit || $0.isASCIILetter || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "-")
        }
        guard allowed else {
            return "invalid host \"\(host)\""
        }
        // All digits and dots: it must then be a real IPv4 address, not e.g. 127.0.0.256.
        if host.utf8.allSatisfy({ $0.isASCIIDigit || $0 == UInt8(ascii: ".") }) {
            let octets = host.split(separator: ".", omittingEmptySubsequences: false)
            let valid = octets.count == 4 && octets.allSatisfy { !$0.isEmpty && $0.count <= 3 && Int($0)! <= 255 }
            if !valid {
                return "invalid IPv4 address \"\(host)\""
            }
        }
        return nil
    }
}

/// `[cluster]`: this node is one of several kefud nodes sharing one PostgreSQL, each shop served by one node at a
/// time under a lease (see README, "A cluster of kefud nodes"). Absent: a node of its own, with SQLite.
public struct ClusterSettings: Sendable, Equatable {
    /// The default `lease_ttl_s`: a hung or partitioned node's shops move after this (issue #12: ≤ 15 s in all).
    public static let defaultLeaseSeconds = 10.0
    /// The default `renew_every_s`: five renewals a lease, so that one or two lost ones cost nothing.
    public static let defaultRenewSeconds = 2.0
    /// The default `probe_every_s`: how often a node looks for peers whose PostgreSQL session ended (a crash).
    public static let defaultProbeSeconds = 0.5

    /// `postgres`: where the cluster's PostgreSQL is.
    public var postgres: PostgresURL
    /// `node`: this node's name in the cluster, 1-64 of `A-Z a-z 0-9 . _ -`; unique among the nodes running.
    public var node: String
    /// `advertise`: the `host:port` clients are sent to (`* MOVED ... node=<advertise>`) for the shops this node serves.
    public var advertise: ListenAddress
    /// `lease_ttl_s`: how long a shop's lease lasts without renewal.
    public var leaseSeconds = ClusterSettings.defaultLeaseSeconds
    /// `renew_every_s`: how often the node renews its leases (at most a third of `lease_ttl_s`).
    public var renewSeconds = ClusterSettings.defaultRenewSeconds
    /// `probe_every_s`: how often the node looks for peers that crashed.
    public var probeSeconds = ClusterSettings.defaultProbeSeconds

    public init(postgres: PostgresURL, node: String, advertise: ListenAddress) {
        self.postgres = postgres
        self.node = node
        self.advertise = advertise
    }
}

/// `postgresql://[user[:password]@]host[:port]/database`, the form `psql` takes (`postgres://` too). Query
/// parameters are not read: say what is meant in the URL's parts.
public struct PostgresURL: Sendable, Equatable, CustomStringConvertible {
    public var host: String
    public var port: Int
    public var user: String
    public var password: String?
    public var database: String

    public init(host: String, port: Int = 5432, user: String, password: String? = nil, database: String) {
        self.host = host
        self.port = port
        self.user = user
        self.password = password
        self.database = database
    }

    /// The URL without its password (for logs and `STATUS=`).
    public var description: String {
        let address = host.contains(":") ? "[\(host)]" : host
        return "postgresql://\(user)\(password == nil ? "" : ":***")@\(address):\(port)/\(database)"
    }

    /// Parses the URL; nil when malformed.
    public init?(_ text: String) {
        guard case .success(let url) = Self.parse(text) else { return nil }
        self = url
    }

    /// Parses the URL, or says what is wrong with it.
    static func parse(_ text: String) -> Result<PostgresURL, ListenAddress.ParseFailure> {
        func failure(_ message: String) -> Result<PostgresURL, ListenAddress.ParseFailure> {
            .failure(ListenAddress.ParseFailure(message: message))
        }
        var rest = Substring(text)
        guard let scheme = ["postgresql://", "postgres://"].first(where: { rest.hasPrefix($0) }) else {
            return failure("must start with postgresql://")
        }
        rest = rest.dropFirst(scheme.count)
        guard !rest.contains("?") else { return failure("query parameters are not read; leave them out") }
        guard let slash = rest.firstIndex(of: "/") else { return failure("must name a database: postgresql://host/kefu") }
        let database = String(rest[rest.index(after: slash)...])
        var authority = rest[..<slash]
        guard !database.isEmpty else { return failure("must name a database: postgresql://host/kefu") }
        var user = "kefu"
        var password: String?
        if let at = authority.lastIndex(of: "@") {
            let credentials = authority[..<at]
            authority = authority[authority.index(after: at)...]
            if let colon = credentials.firstIndex(of: ":") {
                user = String(credentials[..<colon])
                password = String(credentials[credentials.index(after: colon)...]).removingPercentEncoding
            } else {
                user = String(credentials)
            }
            guard !user.isEmpty else { return failure("the user before @ must not be empty") }
        }
        let address: ListenAddress
        let hasPort = authority.hasPrefix("[") ? authority.contains("]:") : authority.contains(":")
        switch ListenAddress.parse(hasPort ? String(authority) : "\(authority):5432") {
        case .success(let parsed): address = parsed
        case .failure(let failure): return .failure(failure)
        }
        guard address.port != 0 else { return failure("port 0 is not a PostgreSQL server's") }
        return .success(
            PostgresURL(host: address.host, port: address.port, user: user, password: password, database: database))
    }
}

extension ClusterSettings {
    static func decode(_ reader: TableReader) throws(ConfigError) -> ClusterSettings {
        let url = try reader.required("postgres", .string)
        let postgres: PostgresURL
        switch PostgresURL.parse(url.value) {
        case .success(let parsed): postgres = parsed
        case .failure(let failure): throw reader.error("postgres", line: url.line, failure.message)
        }
        let node = try reader.identifier("node")
        let advertised = try reader.required("advertise", .string)
        guard case .success(let advertise) = ListenAddress.parse(advertised.value), advertise.port != 0 else {
            throw reader.error(
                "advertise", line: advertised.line, "must be the host:port clients reach this node at (not port 0)")
        }
        var settings = ClusterSettings(postgres: postgres, node: node.value, advertise: advertise)
        settings.leaseSeconds = try reader.seconds("lease_ttl_s", allowZero: false) ?? defaultLeaseSeconds
        settings.renewSeconds = try reader.seconds("renew_every_s", allowZero: false) ?? defaultRenewSeconds
        settings.probeSeconds = try reader.seconds("probe_every_s", allowZero: false) ?? defaultProbeSeconds
        guard settings.leaseSeconds >= 3 else {
            throw reader.error(
                "lease_ttl_s", line: reader.entry("lease_ttl_s")?.line,
                "must be 3 seconds or more (a node stops serving 1 s before its lease can expire)")
        }
        guard settings.renewSeconds * 3 <= settings.leaseSeconds else {
            throw reader.error(
                "renew_every_s", line: reader.entry("renew_every_s")?.line ?? reader.entry("lease_ttl_s")?.line,
                "must be at most a third of lease_ttl_s (\(settings.leaseSeconds)), so a lost renewal costs no shop")
        }
        try reader.finish()
        return settings
    }
}

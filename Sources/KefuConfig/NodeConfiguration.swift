import Foundation

/// Which configuration file is read: kefud's main file (`[server]`, and the team of shop `default`), or one shop's
/// file in `[server] shops_dir` (a team only).
public enum ConfigurationFile: Sendable {
    case main
    case shop
}

/// Everything a node serves: its `[server]` settings and the shops, each with its own team (agents, supervisors,
/// managers, gateways, skills, stores, SLA policies, hours and ladder).
///
/// The main file's team keys, if any, are shop `default`; each `<shop>.toml` in `[server] shops_dir` is one more
/// shop. A shop's file that cannot be read is that shop's error only: the rest of the node is not held back by it.
public struct NodeConfiguration: Sendable {
    /// The name a `LOGIN` without `shop=` means, and the main file's team.
    public static let defaultShop = "default"

    /// `[server]` from the main file.
    public var server: ServerSettings
    /// `[cluster]` from the main file; nil: a node of its own.
    public var cluster: ClusterSettings?
    /// `[http]` from the main file; nil: no HTTP listener.
    public var http: HTTPSettings?
    /// Each shop by name, with its configuration or why its file could not be read.
    public var shops: [String: Result<KefuConfiguration, ConfigError>]

    public init(server: ServerSettings, shops: [String: Result<KefuConfiguration, ConfigError>]) {
        self.server = server
        self.shops = shops
    }

    /// One shop, `default`, described by `configuration` (what a node without `shops_dir` serves).
    public init(_ configuration: KefuConfiguration) {
        self.init(server: configuration.server, shops: [Self.defaultShop: .success(configuration)])
        cluster = configuration.cluster
        http = configuration.http
    }

    /// The shops' names, `default` first, then in name order.
    public var shopNames: [String] {
        shops.keys.sorted { first, second in
            second != Self.defaultShop && (first == Self.defaultShop || first < second)
        }
    }

    /// Reads the main file at `path` and, when it names `shops_dir`, each shop's file there. Errors in the main file
    /// throw (naming file, line and key); errors in a shop's file are kept with that shop.
    public static func load(path: String) throws(ConfigError) -> NodeConfiguration {
        try parse(KefuConfiguration.text(at: path), file: path)
    }

    /// Parses the main file's `text` (errors name `file`) and reads the shops' files it names.
    public static func parse(_ text: String, file: String) throws(ConfigError) -> NodeConfiguration {
        let document = try TOMLDocument(parsing: text, file: file)
        // With shops_dir, a main file holding nothing but [server] (and [cluster]) describes no team: every shop has
        // its own file.
        let root = TableReader(table: document.root, path: "", file: file)
        let server = try ServerSettings.decode(root.section("server"))
        let clustered = document.root.entry("cluster")
        let teamless =
            (server.shopsDirectory != nil || clustered != nil)
            && document.root.keys.allSatisfy { ["server", "cluster", "http"].contains($0) }
        if let clustered, !teamless || server.shopsDirectory != nil {
            // In a cluster every node serves whichever shops it holds the leases of: their configurations must be
            // the same for every node, so they live in PostgreSQL, not in one node's files.
            let where_ = server.shopsDirectory != nil ? "[server] shops_dir" : "a team in this file"
            throw ConfigError(
                file: file, line: clustered.line, key: "cluster",
                message: "a node of a cluster serves the shops stored in PostgreSQL, not \(where_): store each "
                    + "shop with `kefuctl shop apply <shop> <file.toml>` and keep only [server], [cluster] and [http] here")
        }
        var node: NodeConfiguration
        if teamless {
            node = NodeConfiguration(server: server, shops: [:])
            node.cluster = try root.entry("cluster").map { _ throws(ConfigError) in
                try ClusterSettings.decode(root.section("cluster"))
            }
            node.http = try root.entry("http").map { _ throws(ConfigError) in
                try HTTPSettings.decode(root.section("http"))
            }
        } else {
            node = NodeConfiguration(try ConfigurationDecoder.decode(document, kind: .main))
        }
        guard let directory = server.shopsDirectory else { return node }
        let line = document.root.entry("server")?.value.tableValue?.entry("shops_dir")?.line
        for (shop, result) in try ShopFiles.read(directory: directory, file: file, line: line) {
            if shop == defaultShop && !teamless {
                // Two descriptions of one shop: which one is meant is not for kefud to guess.
                throw ConfigError(
                    file: file, line: line, key: "server.shops_dir",
                    message: "\(ShopFiles.path(of: shop, in: directory)) describes shop default, whose team is in "
                        + "this file; rename the file or move this file's team into it")
            }
            node.shops[shop] = result
        }
        if node.shops.isEmpty {
            throw ConfigError(
                file: file, line: line, key: "server.shops_dir",
                message: "no shop to serve: this file has no team (no [customers]) and \(directory) has no <shop>.toml")
        }
        return node
    }
}

/// The files of `[server] shops_dir`: `<shop>.toml`, one per shop, the shop's name being the file's (1 to 64 of
/// `a-z 0-9 _ -`, as `LOGIN ... shop=` accepts). Other files (an editor's `acme.toml~`, a `README`) are left alone.
public enum ShopFiles {
    /// Whether `name` may name a shop: 1 to 64 of `a-z 0-9 _ -`.
    public static func isShopName(_ name: String) -> Bool { TableReader.isName(name) }

    public static func path(of shop: String, in directory: String) -> String {
        directory.hasSuffix("/") ? directory + shop + ".toml" : directory + "/" + shop + ".toml"
    }

    /// Each shop's configuration, or its error, by name. Throws only when the directory itself cannot be read (the
    /// error is `file:line: server.shops_dir: …`, the main file's line).
    static func read(directory: String, file: String, line: Int?) throws(ConfigError)
        -> [String: Result<KefuConfiguration, ConfigError>]
    {
        let names: [String]
        do {
            names = try FileManager.default.contentsOfDirectory(atPath: directory)
        } catch {
            throw ConfigError(
                file: file, line: line, key: "server.shops_dir",
                message: "cannot read \(directory): \(KefuConfiguration.reason(for: error, path: directory))")
        }
        var shops: [String: Result<KefuConfiguration, ConfigError>] = [:]
        for name in names where name.hasSuffix(".toml") {
            let shop = String(name.dropLast(".toml".count))
            let path = path(of: shop, in: directory)
            guard TableReader.isName(shop) else {
                shops[shop] = .failure(
                    ConfigError(
                        file: path, message: "a shop's name (the file's, without .toml) must be 1-64 of a-z 0-9 _ -"))
                continue
            }
            do {
                shops[shop] = .success(try KefuConfiguration.load(path: path, kind: .shop))
            } catch {
                shops[shop] = .failure(error)
            }
        }
        return shops
    }
}

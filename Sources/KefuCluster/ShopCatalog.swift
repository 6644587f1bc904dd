import KefuConfig
import Logging
import PostgresNIO

/// The shops of a cluster and their configurations, in PostgreSQL (`kefu_shops`): what `kefuctl shop apply`, `list`
/// and `remove` change, and what every node reads to know which shops exist and what each is configured as. A
/// configuration is stored only once it has passed the same validation kefud applies to a shop's file, and every change
/// raises the shop's `version`: the node serving the shop sees the new version at its next probe and applies it like a
/// reload.
public struct ShopCatalog: Sendable {
    /// A stored shop.
    public struct Entry: Sendable, Equatable {
        public var shop: String
        public var version: Int64
        public var configuration: String
    }

    let connection: PostgresConnection
    let logger: Logger

    /// Connects (creating the cluster's tables if missing).
    public static func connect(_ url: PostgresURL, logger: Logger) async throws -> ShopCatalog {
        let (connection, _) = try await url.connect(id: 3, logger: logger) {
            try await ClusterSchema.migrate($0, logger: logger)
        }
        return ShopCatalog(connection: connection, logger: logger)
    }

    public func close() async { try? await connection.close() }

    /// Validates `text` as a shop's configuration (errors name `file`, line and key, as kefud's do), then stores it
    /// as `shop`'s: the new version.
    public func apply(_ shop: String, text: String, file: String) async throws -> Int64 {
        guard ShopFiles.isShopName(shop) else {
            throw ConfigError(file: file, message: "a shop's name must be 1-64 of a-z 0-9 _ - (got '\(shop)')")
        }
        _ = try KefuConfiguration.parse(text, file: file, kind: .shop)
        let rows = try await connection.query(
            """
            INSERT INTO kefu_shops (shop, configuration) VALUES (\(shop), \(text))
            ON CONFLICT (shop) DO UPDATE SET configuration = excluded.configuration,
                version = kefu_shops.version + 1, applied_at = now()
            RETURNING version
            """, logger: logger)
        var version: Int64 = 0
        for try await (stored) in rows.decode(Int64.self) { version = stored }
        return version
    }

    /// Every shop, in name order.
    public func list() async throws -> [Entry] {
        let rows = try await connection.query(
            "SELECT shop, version, configuration FROM kefu_shops ORDER BY shop", logger: logger)
        var entries: [Entry] = []
        for try await (shop, version, configuration) in rows.decode((String, Int64, String).self) {
            entries.append(Entry(shop: shop, version: version, configuration: configuration))
        }
        return entries
    }

    /// Removes `shop` from the cluster: its node stops serving it at its next probe. Its records stay. False when
    /// there was no such shop.
    public func remove(_ shop: String) async throws -> Bool {
        let rows = try await connection.query(
            "DELETE FROM kefu_shops WHERE shop = \(shop) RETURNING shop", logger: logger)
        var removed = false
        for try await _ in rows.decode(String.self) { removed = true }
        return removed
    }

    /// The cluster now (nodes, who serves what), for `kefuctl cluster status` and `drain`.
    public func view() async throws -> ClusterView {
        try await ShopLeases.view(on: connection, logger: logger)
    }

    /// Marks `node` as draining (it gives its shops away and takes none), or not; false when there is no such node.
    public func setDraining(_ node: String, _ draining: Bool) async throws -> Bool {
        let rows = try await connection.query(
            "UPDATE kefu_nodes SET draining = \(draining) WHERE node = \(node) RETURNING node", logger: logger)
        var found = false
        for try await _ in rows.decode(String.self) { found = true }
        return found
    }
}

import KefuConfig
import Logging
import NIOCore
import PostgresNIO
import Synchronization

/// One node's membership of the cluster, on a PostgreSQL connection of its own: the session advisory lock that says
/// the node runs, and the leases of the shops it serves.
///
/// The rules (issue #12; `../shared/CLUSTER.md` has the measurements behind them):
/// - A shop is served by at most one node: the `owner` of its row in `kefu_leases`, under an `epoch` that grows at
///   every grant. Every write a node makes for a shop checks, in its own transaction, that it still owns the shop
///   under the epoch it was granted (the commit statement's fence, `RecordTables`): a node that lost its lease while paused or
///   partitioned commits nothing, ever.
/// - A node may take a shop whose lease is free, has expired (the server's clock), or whose owner's advisory lock is
///   gone: PostgreSQL releases a session's locks the moment the session ends, so a crashed node's shops move within
///   a probe interval, not a lease.
/// - A node renews all its leases in one statement; a lease it did not get back is lost, and it stops serving that
///   shop. Between renewals it stops on its own deadline (``LeaseDeadline``), before the lease can expire.
public final class ShopLeases: Sendable {
    public let node: String
    public let advertise: String
    let lockID: Int32
    let settings: ClusterSettings
    /// The node's dedicated connection; nil once it broke, until the next statement opens a new one (and takes the
    /// advisory lock again: while it was gone, peers were free to take this node's shops, and `renew` says which).
    private let current: Mutex<PostgresConnection?>
    let logger: Logger
    /// How long one statement may take before the connection is given up as hung (postgres-nio sets no TCP
    /// keepalive, and a partition would otherwise leave a statement waiting for hours).
    static let statementTimeout = Duration.seconds(3)

    /// The name is taken by a node that runs (its advisory lock is held).
    public struct NodeNameInUse: Error, CustomStringConvertible {
        public var node: String
        public var description: String { "another kefud runs as node \(node) on this cluster" }
    }

    private init(settings: ClusterSettings, lockID: Int32, connection: PostgresConnection, logger: Logger) {
        self.settings = settings
        self.node = settings.node
        self.advertise = settings.advertise.description
        self.lockID = lockID
        self.current = Mutex(connection)
        self.logger = logger
    }

    /// A node that never called `leave()` (its owner threw on the way) still closes its connection, and with it
    /// the advisory lock: postgres-nio requires a connection to be closed before it goes.
    deinit {
        if let connection = current.withLock({ $0 }) { closeInBackground(connection) }
    }

    /// Connects, creates the cluster's tables if missing, registers the node and takes its advisory lock.
    public static func join(
        _ settings: ClusterSettings, connectionID: Int = 1, logger: Logger
    ) async throws -> ShopLeases {
        let (connection, lockID) = try await open(settings, connectionID: connectionID, logger: logger)
        do {
            try await connection.query(
                "UPDATE kefu_nodes SET started_at = now(), draining = false WHERE node = \(settings.node)",
                logger: logger)
        } catch {
            try? await connection.close()
            throw error
        }
        return ShopLeases(settings: settings, lockID: lockID, connection: connection, logger: logger)
    }

    /// A connection holding the node's advisory lock, and the lock's id.
    private static func open(
        _ settings: ClusterSettings, connectionID: Int, logger: Logger
    ) async throws -> (PostgresConnection, Int32) {
        try await settings.postgres.connect(id: connectionID, logger: logger) { connection in
            try await ClusterSchema.migrate(connection, logger: logger)
            let node = settings.node
            let advertise = settings.advertise.description
            // A node keeps its lock id across restarts; a new node takes the next one.
            let rows = try await connection.query(
                """
                INSERT INTO kefu_nodes (node, lock_id, advertise)
                VALUES (\(node), nextval('kefu_node_lock_ids'), \(advertise))
                ON CONFLICT (node) DO UPDATE SET advertise = excluded.advertise
                RETURNING lock_id
                """, logger: logger)
            var lockID: Int32?
            for try await (id) in rows.decode(Int32.self) { lockID = id }
            guard let lockID else { throw NodeNameInUse(node: node) }
            let locked = try await connection.query(
                "SELECT pg_try_advisory_lock(\(ClusterSchema.lockNamespace), \(lockID))", logger: logger)
            var held = false
            for try await (granted) in locked.decode(Bool.self) { held = granted }
            guard held else { throw NodeNameInUse(node: node) }
            return lockID
        }
    }

    /// Takes `shop` if its lease is free, expired, or held by a node whose PostgreSQL session has ended: the new
    /// epoch; nil when a live node holds it.
    public func acquire(_ shop: String, for lease: Duration) async throws -> Int64? {
        try await session { [self] connection in
            let seconds = Self.seconds(lease)
            try await connection.query(
                "INSERT INTO kefu_leases (shop) VALUES (\(shop)) ON CONFLICT (shop) DO NOTHING", logger: logger)
            let rows = try await connection.query(
                """
                UPDATE kefu_leases AS l
                SET owner = \(node), epoch = l.epoch + 1, expires_at = now() + make_interval(secs => \(seconds)),
                    renewed_at = now()
                WHERE l.shop = \(shop) AND (
                    l.owner IS NULL OR l.owner = \(node) OR l.expires_at < now()
                    OR NOT EXISTS (
                        SELECT 1 FROM kefu_nodes n WHERE n.node = l.owner AND \(unescaped: ClusterSchema.nodeRuns)))
                RETURNING l.epoch
                """, logger: logger)
            var epoch: Int64?
            for try await (granted) in rows.decode(Int64.self) { epoch = granted }
            return epoch
        }
    }

    /// Extends every lease this node holds by `lease` from now (the server's clock): the shops it still holds,
    /// with their epochs. A shop missing from the answer was taken over: stop serving it.
    public func renew(for lease: Duration) async throws -> [String: Int64] {
        try await renew(nil, for: lease)
    }

    /// Extends the leases of `shops` with the epochs the node holds them under (all its leases when nil): a lease
    /// the node no longer serves a shop under (it gave the shop up) is left to expire or be taken.
    public func renew(_ shops: [String: Int64]?, for lease: Duration) async throws -> [String: Int64] {
        let every = shops == nil
        let names = shops.map { Array($0.keys) } ?? []
        return try await session { [self] connection in
            let rows = try await connection.query(
                """
                UPDATE kefu_leases
                SET expires_at = now() + make_interval(secs => \(Self.seconds(lease))), renewed_at = now()
                WHERE owner = \(node) AND (\(every) OR shop = ANY(\(names)))
                RETURNING shop, epoch
                """, logger: logger)
            var held: [String: Int64] = [:]
            for try await (shop, epoch) in rows.decode((String, Int64).self) { held[shop] = epoch }
            return held
        }
    }

    /// Gives `shop` up (a graceful handoff: after the node has stopped serving it); the next owner takes it at once.
    public func release(_ shop: String, epoch: Int64) async throws {
        try await session { [self] connection in
            try await connection.query(
                """
                UPDATE kefu_leases SET owner = NULL, expires_at = '-infinity'
                WHERE shop = \(shop) AND owner = \(node) AND epoch = \(epoch)
                """, logger: logger)
        }
    }

    /// The nodes whose PostgreSQL session has ended (crashed) but who still own shops: what a probe looks for.
    public func shopsOfDeadNodes() async throws -> [String] {
        try await session { [self] connection in
            let rows = try await connection.query(
                """
                SELECT l.shop FROM kefu_leases l JOIN kefu_nodes n ON n.node = l.owner
                WHERE NOT \(unescaped: ClusterSchema.nodeRuns)
                ORDER BY l.shop
                """, logger: logger)
            var shops: [String] = []
            for try await (shop) in rows.decode(String.self) { shops.append(shop) }
            return shops
        }
    }

    /// The cluster as PostgreSQL sees it now: the nodes that run (their advisory lock held), and for every shop in
    /// the catalog its configuration's version and who serves it.
    /// Also records the node's heartbeat: nodes that have not probed within `freshWithin` take no share of the shops.
    public func view(freshWithin: Duration = .seconds(10)) async throws -> ClusterView {
        try await session { [self] connection in
            try await connection.query(
                "UPDATE kefu_nodes SET heartbeat_at = now() WHERE node = \(node)", logger: logger)
            return try await Self.view(on: connection, freshWithin: freshWithin, logger: logger)
        }
    }

    static func view(
        on connection: PostgresConnection, freshWithin: Duration = .seconds(10), logger: Logger
    ) async throws -> ClusterView {
        var view = ClusterView()
        let nodes = try await connection.query(
            """
            SELECT n.node, n.advertise, n.draining, \(unescaped: ClusterSchema.nodeRuns),
                COALESCE(n.heartbeat_at > now() - make_interval(secs => \(seconds(freshWithin))), false)
            FROM kefu_nodes n ORDER BY n.node
            """,
            logger: logger)
        for try await (node, advertise, draining, alive, fresh) in nodes.decode(
            (String, String, Bool, Bool, Bool).self)
        {
            view.nodes.append(
                ClusterView.Node(name: node, advertise: advertise, draining: draining, alive: alive, fresh: fresh))
        }
        let shops = try await connection.query(
            """
            SELECT s.shop, s.version, l.owner, COALESCE(l.epoch, 0),
                COALESCE(l.expires_at > now(), false), l.renewed_at::text
            FROM kefu_shops s LEFT JOIN kefu_leases l ON l.shop = s.shop ORDER BY s.shop
            """, logger: logger)
        for try await (shop, version, owner, epoch, current, renewed) in shops.decode(
            (String, Int64, String?, Int64, Bool, String?).self)
        {
            view.shops.append(
                ClusterView.Shop(
                    name: shop, version: version, owner: owner, epoch: epoch, current: current, renewedAt: renewed))
        }
        return view
    }

    /// A shop's stored configuration and its version; nil when the shop is not in the catalog.
    public func configuration(of shop: String) async throws -> (text: String, version: Int64)? {
        try await session { [self] connection in
            let rows = try await connection.query(
                "SELECT configuration, version FROM kefu_shops WHERE shop = \(shop)", logger: logger)
            var found: (text: String, version: Int64)?
            for try await (text, version) in rows.decode((String, Int64).self) { found = (text, version) }
            return found
        }
    }

    /// Leaves the cluster: the connection closes, and with it the advisory lock (the leases stay until they expire
    /// or are taken: release them first for a graceful stop).
    public func leave() async {
        let connection = current.withLock { connection in
            defer { connection = nil }
            return connection
        }
        try? await connection?.close()
    }

    /// Runs `body` on the node's connection (opened again if it broke), within `statementTimeout`. A failure that is
    /// not PostgreSQL refusing a statement (the connection broke, or hung) closes the connection.
    @discardableResult
    func session<T: Sendable>(_ body: @escaping @Sendable (PostgresConnection) async throws -> T) async throws -> T {
        let connection = try await liveConnection()
        do {
            return try await withDeadline(Self.statementTimeout) { try await body(connection) }
        } catch {
            if (error as? PSQLError)?.serverInfo == nil {
                logger.warning("cluster connection lost", metadata: ["error": "\(describe(error))"])
                current.withLock { if $0 === connection { $0 = nil } }
                closeInBackground(connection)
            }
            throw error
        }
    }

    private func liveConnection() async throws -> PostgresConnection {
        if let connection = current.withLock({ $0 }), !connection.isClosed { return connection }
        let (connection, lockID) = try await withDeadline(Self.statementTimeout) { [settings, logger] in
            try await Self.open(settings, connectionID: 1, logger: logger)
        } late: {
            closeInBackground($0.0)
        }
        guard lockID == self.lockID else {
            try? await connection.close()
            throw NodeNameInUse(node: node)
        }
        current.withLock { $0 = connection }
        logger.info("cluster connection opened again")
        return connection
    }

    static func seconds(_ duration: Duration) -> Double {
        let (seconds, attoseconds) = duration.components
        return Double(seconds) + Double(attoseconds) / 1e18
    }
}

/// The cluster at one instant: what a node's probe decides from, and what `kefuctl cluster status` shows.
public struct ClusterView: Sendable, Equatable {
    public struct Node: Sendable, Equatable {
        public var name: String
        /// Where clients reach it (`host:port`), for `MOVED`.
        public var advertise: String
        public var draining: Bool
        /// Its PostgreSQL session holds its advisory lock: it runs.
        public var alive: Bool
        /// It probed the cluster recently (its heartbeat): it is not cut off from PostgreSQL.
        public var fresh: Bool = true
    }

    public struct Shop: Sendable, Equatable {
        public var name: String
        public var version: Int64
        /// The node whose lease it is (possibly expired, or a dead node's); nil: nobody's.
        public var owner: String?
        public var epoch: Int64
        /// The lease has not expired (by PostgreSQL's clock).
        public var current: Bool
        public var renewedAt: String?
    }

    public var nodes: [Node] = []
    public var shops: [Shop] = []

    public init() {}

    /// The node serving `shop` now: a current lease whose owner runs.
    public func server(of shop: Shop) -> Node? {
        guard shop.current, let owner = shop.owner else { return nil }
        return nodes.first { $0.name == owner && $0.alive }
    }

    /// The nodes that run, probe and take shops (not draining), by name.
    public var serving: [Node] { nodes.filter { $0.alive && $0.fresh && !$0.draining } }

    /// How many shops `node` should serve for the shops to spread evenly: the shops divided among the serving nodes,
    /// the first nodes by name taking one more when it does not divide; 0 for a node that drains or is not serving.
    public func fairShare(of node: String) -> Int {
        let serving = self.serving.map(\.name).sorted()
        guard let index = serving.firstIndex(of: node) else { return 0 }
        return shops.count / serving.count + (index < shops.count % serving.count ? 1 : 0)
    }
}

/// When a node must stop serving its shops if no renewal succeeds: one second before the lease could expire,
/// counted from when the last successful renewal was *sent* (its round trip may have taken most of the lease).
public struct LeaseDeadline: Sendable, Equatable {
    /// The safety margin: the node's clock and PostgreSQL's may run apart this much over one lease.
    public static let margin = Duration.seconds(1)

    public let lease: Duration
    public private(set) var servingUntil: ContinuousClock.Instant

    /// A lease granted (or renewed) by a statement sent at `sent`.
    public init(lease: Duration, sent: ContinuousClock.Instant) {
        self.lease = lease
        servingUntil = sent + lease - Self.margin
    }

    /// A renewal sent at `sent` succeeded.
    public mutating func renewed(sent: ContinuousClock.Instant) {
        servingUntil = max(servingUntil, sent + lease - Self.margin)
    }

    /// Whether the node may still serve at `now`.
    public func mayServe(at now: ContinuousClock.Instant) -> Bool { now < servingUntil }
}

import Synchronization

/// Which routing owner serves which shop on this node: a `LOGIN ... shop=<shop>` that reaches the owner of another
/// shop is handed to the one named here. Each shop's routing state stays with its one owner; only this map of names
/// to owners is shared, and only to be read (a reload that brings a new shop adds one; in a cluster, gaining or losing
/// a shop's lease adds or removes one).
///
/// In a cluster it also knows where the shops this node does not serve are, as the cluster's leases said at the last
/// probe, so that a `LOGIN` for one of them is answered with `MOVED` (or `tryagain`) without waiting for PostgreSQL.
final class ShopDirectory: Sendable {
    /// Where a shop not served here is.
    enum Location: Sendable, Equatable {
        /// Node `node` (its advertised `host:port`) serves it under lease epoch `epoch`.
        case servedBy(node: String, epoch: Int64)
        /// The cluster knows the shop, but no node serves it this instant (a failover or a handoff under way).
        case changingHands
    }

    private let owners = Mutex<[String: OwnerLink]>([:])
    private let elsewhere = Mutex<[String: Location]>([:])

    func owner(of shop: String) -> OwnerLink? { owners.withLock { $0[shop] } }

    func add(_ shop: String, _ owner: OwnerLink) { owners.withLock { $0[shop] = owner } }

    /// Stops handing logins to the shop's owner (it is about to stop serving the shop).
    func remove(_ shop: String) { owners.withLock { _ = $0.removeValue(forKey: shop) } }

    /// The shops served, by name.
    var shops: [String: OwnerLink] { owners.withLock { $0 } }

    /// Where a shop not served here is, or nil for a shop the cluster does not know (or outside a cluster).
    func location(of shop: String) -> Location? { elsewhere.withLock { $0[shop] } }

    /// Replaces what is known of the shops served elsewhere (the cluster's probe, every `probe_every_s`).
    func setLocations(_ locations: [String: Location]) { elsewhere.withLock { $0 = locations } }
}

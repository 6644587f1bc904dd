import Synchronization

/// Which routing owner serves which shop on this node: a `LOGIN ... shop=<shop>` that reaches the owner of another
/// shop is handed to the one named here. Each shop's routing state stays with its one owner; only this map of names
/// to owners is shared, and only to be read (a reload that brings a new shop adds one).
final class ShopDirectory: Sendable {
    private let owners = Mutex<[String: OwnerLink]>([:])

    func owner(of shop: String) -> OwnerLink? { owners.withLock { $0[shop] } }

    func add(_ shop: String, _ owner: OwnerLink) { owners.withLock { $0[shop] = owner } }

    /// The shops served, by name.
    var shops: [String: OwnerLink] { owners.withLock { $0 } }
}

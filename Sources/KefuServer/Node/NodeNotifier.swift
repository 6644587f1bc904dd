import KefuConfig
import Synchronization

/// What systemd hears from a node of many shops, each with its own routing owner: one `READY=1` once every shop has
/// started (or applied a reload), one `STATUS=` naming every shop, and a watchdog ping only once every shop's owner
/// has pinged since the last one, so that one stuck owner is a stuck daemon to systemd.
///
/// A node with one shop says exactly what a single owner said: `listening on …; <its status>`.
final class NodeNotifier: Sendable {
    private struct State {
        var shops: [String] = []
        var statuses: [String: String] = [:]
        /// Shops whose READY (start or reload) is still awaited before systemd hears READY=1.
        var awaitingReady: Set<String> = []
        var readyWanted = true
        var pinged: Set<String> = []
        var listening = ""
        /// Why the main file could not be read at the last reload (every shop kept its configuration).
        var rejected: String?
        var lastSent: String?
    }

    let base: any ServiceNotifier
    private let state = Mutex(State())

    init(base: any ServiceNotifier) {
        self.base = base
    }

    /// The shops served, `default` first; READY=1 waits for each of them.
    func serve(_ shops: [String]) {
        state.withLock { state in
            state.shops = shops
            state.awaitingReady.formUnion(shops)
        }
    }

    /// One more shop (a reload brought its file): READY=1 after the reload waits for it too.
    func add(_ shop: String) {
        state.withLock { state in
            if !state.shops.contains(shop) { state.shops.append(shop) }
            state.awaitingReady.insert(shop)
        }
    }

    /// A shop no longer served (in a cluster, its lease went to another node): nothing more is awaited from it.
    func remove(_ shop: String) {
        state.withLock { state in
            state.shops.removeAll { $0 == shop }
            state.statuses[shop] = nil
            state.awaitingReady.remove(shop)
            state.pinged.remove(shop)
        }
    }

    func listening(_ text: String) { state.withLock { $0.listening = text } }

    /// A reload begins: RELOADING=1 now, READY=1 once every shop has applied or rejected it. `rejected`: the main
    /// file could not be read, so every shop keeps what it has, READY=1 follows at once, and the status says why
    /// until a reload succeeds.
    func reloading(rejected: String?) {
        base.reloading()
        let line: String? = state.withLock { state in
            state.rejected = rejected
            guard rejected != nil else {
                state.awaitingReady = Set(state.shops)
                state.readyWanted = true
                return nil
            }
            state.readyWanted = false
            let line = Self.summary(state)
            state.lastSent = line
            return "\(state.listening); \(line)"
        }
        if let line { base.ready(status: line) }
    }

    /// The notifier one shop's owner talks to.
    func forShop(_ shop: String) -> any ServiceNotifier { ShopNotifier(node: self, shop: shop) }

    fileprivate func ready(_ shop: String, status: String) {
        let line: String? = state.withLock { state in
            state.statuses[shop] = status
            state.awaitingReady.remove(shop)
            guard state.readyWanted, state.awaitingReady.isEmpty else { return nil }
            state.readyWanted = false
            let line = Self.summary(state)
            state.lastSent = line
            return "\(state.listening); \(line)"
        }
        if let line { base.ready(status: line) }
    }

    fileprivate func status(_ shop: String, _ text: String) {
        let line: String? = state.withLock { state in
            state.statuses[shop] = text
            let line = Self.summary(state)
            guard line != state.lastSent, !state.readyWanted else { return nil }
            state.lastSent = line
            return line
        }
        if let line { base.status(line) }
    }

    fileprivate func watchdogPing(_ shop: String) {
        let all: Bool = state.withLock { state in
            state.pinged.insert(shop)
            guard state.pinged.isSuperset(of: state.shops) else { return false }
            state.pinged = []
            return true
        }
        if all { base.watchdogPing() }
    }

    /// `<status>` for one shop; `<n> shops; default: <status>; acme: <status>` for more; in a cluster (a node with
    /// a lobby) `cluster node: serving <n> shops; acme: <status>; …`, the lobby left out.
    private static func summary(_ state: State) -> String {
        let prefix = state.rejected.map { "reload rejected, previous configuration in force: \($0); " } ?? ""
        if state.shops.contains(Lobby.name) {
            let served = state.shops.filter { $0 != Lobby.name }.sorted()
            let shops = served.map { "\($0): \(state.statuses[$0] ?? "starting")" }
            return prefix + (["cluster node: serving \(served.count) shop\(served.count == 1 ? "" : "s")"] + shops)
                .joined(separator: "; ")
        }
        if state.shops.count == 1, let only = state.shops.first {
            return prefix + (state.statuses[only] ?? "")
        }
        let shops = state.shops.map { "\($0): \(state.statuses[$0] ?? "starting")" }
        return prefix + "\(state.shops.count) shops; " + shops.joined(separator: "; ")
    }
}

/// One shop's view of the node's notifier.
private struct ShopNotifier: ServiceNotifier {
    let node: NodeNotifier
    let shop: String

    var watchdogInterval: Duration? { node.base.watchdogInterval }
    func ready(status: String) { node.ready(shop, status: status) }
    func status(_ text: String) { node.status(shop, text) }
    func stopping() { node.base.stopping() }
    func reloading() { node.base.reloading() }
    func watchdogPing() { node.watchdogPing(shop) }
    func watchdogTrigger() { node.base.watchdogTrigger() }
    func extendTimeout(by duration: Duration) { node.base.extendTimeout(by: duration) }
}

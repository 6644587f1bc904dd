import KefuCluster
import KefuConfig
import KefuCore
import KefuProtocol
import KefuStore
import KefuSystemd
import Logging
import NIOCore
import NIOPosix
import Synchronization

/// A node of a cluster: which shops it serves, decided against PostgreSQL every `probe_every_s` (issue #12).
///
/// One task runs the probe, so the decisions about this node's shops are taken one at a time, in one place:
/// - renew every lease held, every `renew_every_s`; a shop missing from the answer was taken over: give it up;
/// - stop serving everything at the local deadline (the last renewal sent + TTL − 1 s) if no renewal got through;
/// - read the cluster (`ShopLeases.view`): where the other shops are (for `MOVED`), which shops exist, their
///   configuration versions (a new one is applied like a reload), and every node's fair share;
/// - give up shops beyond this node's share while another node has room (a graceful handoff: the owner finishes what
///   it committed, its sessions hear `* MOVED` naming the node expected to take the shop, the lease is released);
///   a draining node's share is none;
/// - take shops nobody serves (free, expired, or whose node's PostgreSQL session ended: a crash) up to its share:
///   a new epoch, a PostgreSQL store fenced by it, the routing state recovered from the store, an owner started.
actor ClusterNode {
    private struct Held {
        var epoch: Int64
        var version: Int64
        var served: ServedShop
    }

    private let settings: ClusterSettings
    private let leases: ShopLeases
    private let daemon: KefuDaemon
    private let serving: Serving
    private let logger: Logger
    private var held: [String: Held] = [:]
    /// Shops whose lease this node was granted and which it is recovering (a large shop takes a while): their leases
    /// are renewed with the others meanwhile.
    private var taking: [String: Int64] = [:]
    /// A renewal is in flight (the actor takes other work while it waits): no second one beside it.
    private var renewing = false
    private var deadline: LeaseDeadline?
    private var lastRenewalSent: ContinuousClock.Instant?
    private let stopRequested = Mutex(false)
    /// Shops whose store failed (fenced, or PostgreSQL went away mid-commit): given up at once.
    private var failed: Set<String> = []

    init(settings: ClusterSettings, leases: ShopLeases, daemon: KefuDaemon, serving: Serving, logger: Logger) {
        self.settings = settings
        self.leases = leases
        self.daemon = daemon
        self.serving = serving
        self.logger = logger
    }

    private var ttl: Duration { .milliseconds(Int64(settings.leaseSeconds * 1000)) }
    private var renewEvery: Duration { .milliseconds(Int64(settings.renewSeconds * 1000)) }
    private var probeEvery: Duration { .milliseconds(Int64(settings.probeSeconds * 1000)) }

    /// Asks the probe loop to end (a stop of the daemon); `run()` then returns.
    nonisolated func requestStop() { stopRequested.withLock { $0 = true } }

    /// Probes until asked to stop.
    func run() async {
        // Leases are renewed and the deadline watched on their own: a probe may be waiting on an unreachable
        // PostgreSQL, or recovering a large shop, for seconds (the actor takes other work meanwhile), and the leases
        // must be renewed, or the shops stop being served, on time all the same.
        let watchdog = Task { [weak self] in
            while let self, !self.stopRequested.withLock({ $0 }) {
                await self.renewIfDue()
                await self.enforceDeadline()
                try? await Task.sleep(for: .milliseconds(100))
            }
        }
        defer { watchdog.cancel() }
        while !stopRequested.withLock({ $0 }) {
            await probe()
            let until = ContinuousClock.now + probeEvery
            while ContinuousClock.now < until, !stopRequested.withLock({ $0 }), failed.isEmpty {
                try? await Task.sleep(for: .milliseconds(50))
            }
        }
    }

    /// The shops served now, with their epochs.
    var shops: [String: Int64] { held.mapValues(\.epoch) }

    /// A shop's owner could not commit: it waits, showing nothing more, until it is given up.
    nonisolated func storeFailed(_ shop: String) {
        Task { await self.markFailed(shop) }
    }

    private func markFailed(_ shop: String) { failed.insert(shop) }

    private func probe() async {
        for shop in failed.sorted() {
            failed.remove(shop)
            // Released (when the lease is still this node's) so that a node, this one included, takes it afresh.
            await giveUp(shop, farewell: await farewell(for: shop, view: nil), release: true, why: "its store failed")
        }
        await enforceDeadline()
        let view: ClusterView
        do {
            view = try await leases.view(freshWithin: ttl)
        } catch {
            logger.warning("cluster probe failed", metadata: ["error": "\(error)"])
            return
        }
        publishLocations(view)
        await followCatalog(view)
        await balance(view)
    }

    /// PostgreSQL has not heard from this node for almost a lease: another node may take its shops any moment, and
    /// must find them not served here.
    private func enforceDeadline() async {
        guard let deadline, !deadline.mayServe(at: .now) else { return }
        if !held.isEmpty {
            logger.error("lease deadline passed without a renewal; serving no shop", metadata: ["event": "shop_lost"])
        }
        for shop in held.keys.sorted() {
            await giveUp(shop, farewell: .bye(reason: .moved), release: false, why: "the lease deadline passed")
        }
        if held.isEmpty { self.deadline = nil }
    }

    private func renewIfDue() async {
        let leased = held.mapValues(\.epoch).merging(taking) { served, _ in served }
        guard !leased.isEmpty, !renewing else { return }
        if let last = lastRenewalSent, ContinuousClock.now - last < renewEvery { return }
        renewing = true
        defer { renewing = false }
        let sent = ContinuousClock.now
        do {
            let renewed = try await leases.renew(leased, for: ttl)
            lastRenewalSent = sent
            if deadline == nil {
                deadline = LeaseDeadline(lease: ttl, sent: sent)
            } else {
                deadline?.renewed(sent: sent)
            }
            let lost = held.filter { renewed[$0.key] != $0.value.epoch }.keys.sorted()
            // One look at the cluster tells the lost shops' sessions where each went.
            let view = lost.isEmpty ? nil : try? await leases.view()
            for shop in lost {
                await giveUp(shop, farewell: await farewell(for: shop, view: view), release: false, why: "lease taken")
            }
        } catch {
            logger.warning("lease renewal failed", metadata: ["error": "\(error)"])
        }
    }

    /// Where the shops this node does not serve are, for `LOGIN`s that reach it.
    private func publishLocations(_ view: ClusterView) {
        var locations: [String: ShopDirectory.Location] = [:]
        for shop in view.shops where held[shop.name] == nil {
            if let node = view.server(of: shop), node.name != settings.node {
                locations[shop.name] = .servedBy(node: node.advertise, epoch: shop.epoch)
            } else {
                locations[shop.name] = .changingHands
            }
        }
        serving.directory.setLocations(locations)
    }

    /// Shops removed from the catalog stop being served; a new configuration version is applied like a reload.
    private func followCatalog(_ view: ClusterView) async {
        let versions = Dictionary(view.shops.map { ($0.name, $0.version) }, uniquingKeysWith: { first, _ in first })
        for (shop, state) in held {
            guard let version = versions[shop] else {
                await giveUp(shop, farewell: .bye(reason: .removed), release: true, why: "removed from the cluster")
                continue
            }
            guard version != state.version else { continue }
            do {
                guard let stored = try await leases.configuration(of: shop) else { continue }
                let outcome = Result { try KefuConfiguration.parse(stored.text, file: "shop \(shop)", kind: .shop) }
                state.served.owner.post(.reload(outcome.mapError(ConfigurationLoadError.init)))
                held[shop]?.version = stored.version
                logger.info("shop configuration applied", metadata: ["shop": "\(shop)", "version": "\(version)"])
            } catch {
                logger.warning("shop configuration not read", metadata: ["shop": "\(shop)", "error": "\(error)"])
            }
        }
    }

    /// Gives away what is beyond this node's share while another node has room; takes free shops up to the share.
    private func balance(_ view: ClusterView) async {
        let share = view.fairShare(of: settings.node)
        var served: [String: Int] = [:]
        for shop in view.shops { if let node = view.server(of: shop) { served[node.name, default: 0] += 1 } }
        if held.count > share {
            let roomy = view.serving
                .filter { $0.name != settings.node && served[$0.name, default: 0] < view.fairShare(of: $0.name) }
                .min { served[$0.name, default: 0] < served[$1.name, default: 0] }
            if let roomy {
                for shop in held.keys.sorted().reversed().prefix(held.count - share) {
                    let epoch = (held[shop]?.epoch ?? 0) + 1
                    await giveUp(
                        shop, farewell: .moved(shop: shop, node: roomy.advertise, epoch: epoch), release: true,
                        why: "handed over to node \(roomy.name)")
                }
            }
            return
        }
        guard held.count < share else { return }
        // Nobody serves it, or the lease is still this node's though it serves the shop no more (a store failure
        // whose release did not get through, or this node before a restart).
        let free = view.shops.filter { shop in
            held[shop.name] == nil && (view.server(of: shop).map { $0.name == settings.node } ?? true)
        }.map(\.name)
        for shop in free.prefix(share - held.count) {
            await take(shop)
        }
    }

    /// Takes `shop`: a new epoch, its store, its routing state, an owner.
    private func take(_ shop: String) async {
        let sent = ContinuousClock.now
        let epoch: Int64
        do {
            guard let granted = try await leases.acquire(shop, for: ttl) else { return }
            epoch = granted
        } catch {
            logger.warning("lease not taken", metadata: ["shop": "\(shop)", "error": "\(error)"])
            return
        }
        // The new lease extends none of the others: while the node holds others, the deadline moves only when they
        // are all renewed (`renewIfDue`, which renews this one too from now on); with none, it is this lease's.
        if deadline == nil || (held.isEmpty && taking.isEmpty) {
            deadline = LeaseDeadline(lease: ttl, sent: sent)
            lastRenewalSent = sent
        }
        taking[shop] = epoch
        defer { taking[shop] = nil }
        do {
            guard let stored = try await leases.configuration(of: shop) else {
                try await leases.release(shop, epoch: epoch)
                return
            }
            let configuration = try KefuConfiguration.parse(stored.text, file: "shop \(shop)", kind: .shop)
            var storeLogger = logger
            storeLogger[metadataKey: "shop"] = "\(shop)"
            // The store works on its owner's loop: a commit's answer needs no other thread to reach the owner.
            let loop = MultiThreadedEventLoopGroup.singleton.next()
            let store = try await PostgresRecordStore.open(
                settings, shop: shop, epoch: epoch, on: loop, logger: storeLogger,
                onFenced: { [weak self] in self?.storeFailed(shop) })
            let served: ServedShop
            do {
                let core = try await daemon.restore(shop, configuration, from: store)
                served = try await daemon.startServing(
                    shop, configuration, on: loop, store: store, core: core, serving: serving,
                    onStoreFailure: { [weak self] shop in self?.storeFailed(shop) })
            } catch {
                await store.shutdown()
                throw error
            }
            held[shop] = Held(epoch: epoch, version: stored.version, served: served)
            // Never served without a deadline: at the latest, the lease's as granted (it may have passed already,
            // if recovery outlasted it without a renewal: the watchdog then gives the shop up at once).
            if deadline == nil { deadline = LeaseDeadline(lease: ttl, sent: sent) }
            logger.notice(
                "shop gained",
                metadata: [
                    "event": "shop_gained", "shop": "\(shop)", "epoch": "\(epoch)",
                    "message_id": "\(SystemdMessageID.shopGained)",
                ])
        } catch {
            logger.error("shop not served", metadata: ["shop": "\(shop)", "error": "\(error)"])
            try? await leases.release(shop, epoch: epoch)
        }
    }

    /// What a shop's sessions hear when this node stops serving it: `* MOVED` to the node that serves it now, or
    /// `* BYE reason=moved` when none does yet.
    private func farewell(for shop: String, view: ClusterView?) async -> OutboundLine {
        let view: ClusterView? =
            if let view { view } else { try? await leases.view() }
        if let view, let entry = view.shops.first(where: { $0.name == shop }), let node = view.server(of: entry),
            node.name != settings.node
        {
            return .moved(shop: shop, node: node.advertise, epoch: entry.epoch)
        }
        return .bye(reason: .moved)
    }

    /// Stops serving `shop`: no more logins handed to it, its sessions hear `farewell` and close, its store commits
    /// what was queued and closes, and (a graceful handoff) its lease is released.
    private func giveUp(_ shop: String, farewell: OutboundLine, release: Bool, why: String) async {
        guard let state = held.removeValue(forKey: shop) else { return }
        serving.directory.remove(shop)
        // A graceful handoff (`release`) lets the owner finish what it committed; otherwise the shop is no longer
        // this node's to write, and nothing waits for PostgreSQL (which may be out of reach).
        state.served.owner.post(.relinquish(farewell: farewell, now: !release))
        _ = try? await state.served.done.get()
        if release {
            await state.served.store.shutdown()
            try? await leases.release(shop, epoch: state.epoch)
        } else {
            let store = state.served.store
            Task { await store.shutdown() }
        }
        serving.shops.withLock { $0.removeAll { $0.name == shop } }
        daemon.notifier.remove(shop)
        logger.notice(
            "shop lost",
            metadata: [
                "event": "shop_lost", "shop": "\(shop)", "epoch": "\(state.epoch)", "reason": "\(why)",
                "message_id": "\(SystemdMessageID.shopLost)",
            ])
    }

    /// The daemon stops: every shop's sessions hear BYE, its store commits, its lease is released for another node
    /// to take at once.
    func stopServing() async {
        for shop in held.keys.sorted() {
            await giveUp(shop, farewell: .bye(reason: nil), release: true, why: "kefud stopped")
        }
        await leases.leave()
    }
}

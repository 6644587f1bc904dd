import KefuCluster
import KefuConfig
import KefuCore
import KefuStore
import NIOCore
import NIOPosix
import ServiceLifecycle

extension KefuDaemon {
    /// Serves as a node of a cluster (`[cluster]`): joins it, listens with a lobby that serves no shop, and lets the
    /// ``ClusterNode`` take and give up shops until asked to stop; then every shop's sessions hear BYE and its lease is
    /// released for another node to take at once.
    func serveCluster(_ settings: ClusterSettings) async throws {
        var logger = self.logger
        logger[metadataKey: "node"] = "\(settings.node)"
        let leases: ShopLeases
        do {
            leases = try await ShopLeases.join(settings, logger: logger)
        } catch {
            throw ClusterUnreachable(postgres: "\(settings.postgres)", reason: describe(error))
        }
        logger.notice("joined the cluster", metadata: ["postgres": "\(settings.postgres)"])
        let lobbyConfiguration = try Lobby.configuration
        let lobbyCore = RoutingCore(policy: RoutingPolicy(lobbyConfiguration), nextConversationID: ConversationID(1))
        let census = ConnectionCensus()
        notifier.serve([Lobby.name])
        let serving: Serving
        do {
            serving = try await listen(
                census: census,
                shops: [(Lobby.name, lobbyConfiguration, NoRecords(logger: logger), lobbyCore)], carried: nil,
                spreadConnections: true)
        } catch {
            await leases.leave()
            throw error
        }
        running.withLock { $0 = serving }
        defer { running.withLock { $0 = nil } }
        let period = housekeepingPeriod
        let lobby = serving.lobby.owner
        try await serving.lobby.loop.submit { lobby.value.start(housekeepingEvery: period) }.get()
        readiness.fulfil(serving.port)

        let node = ClusterNode(settings: settings, leases: leases, daemon: self, serving: serving, logger: logger)
        await withTaskCancellationHandler {
            await withGracefulShutdownHandler {
                await node.run()
            } onGracefulShutdown: {
                node.requestStop()
            }
        } onCancel: {
            node.requestStop()
        }
        notifier.base.stopping()
        readiness.withdraw()
        logger.info("stopping")
        serving.closeListeners()
        await node.stopServing()
        serving.lobby.post(.shutdown)
        _ = try? await serving.lobby.owner.eventLoop.flatSubmit { lobby.value.done.futureResult }.get()
        if !(await census.waitUntilEmpty(timeout: .seconds(server.shutdownGraceSeconds))) {
            census.closeAll()
        }
        logger.info("stopped")
    }

    /// Starts serving a shop a cluster node took: its owner on `loop` (its store's), logins handed to it from here on.
    func startServing(
        _ shop: String, _ configuration: KefuConfiguration, on loop: any EventLoop, store: any RecordStore,
        core: RoutingCore, serving: Serving, onStoreFailure: @escaping @Sendable (String) -> Void
    ) async throws -> ServedShop {
        notifier.add(shop)
        let (owner, done) = try await startOwner(
            shop, configuration, on: loop, store: store, core: core, directory: serving.directory, carried: nil,
            onStoreFailure: onStoreFailure)
        let period = housekeepingPeriod
        let started = owner.owner
        try await loop.submit { started.value.start(housekeepingEvery: period) }.get()
        let served = ServedShop(name: shop, owner: owner, store: store, done: done)
        serving.shops.withLock { $0.append(served) }
        serving.directory.add(shop, owner)
        return served
    }

    /// How often owners do their housekeeping: the watchdog at half its interval at most, `STATUS=` every second.
    var housekeepingPeriod: TimeAmount {
        max(TimeAmount(min(notifier.base.watchdogInterval ?? .seconds(1), .seconds(1))), .milliseconds(1))
    }
}

/// The cluster's PostgreSQL could not be joined at start: says where and why (postgres-nio's own text hides both).
struct ClusterUnreachable: Error, CustomStringConvertible {
    var postgres: String
    var reason: String
    var description: String { "cannot join the cluster at \(postgres): \(reason)" }
}

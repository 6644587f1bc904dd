import Foundation
import KefuConfig
import KefuStore
import KefuSystemd
import NIOCore
import ServiceLifecycle

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

extension KefuDaemon {
    /// Serves until a stop is asked for (SIGTERM, or SIGUSR2 for a restart) and the owner has finished it: BYE said
    /// to everyone (nil), or every session recorded for the next process (a restart). Throws when the store failed.
    func serveUntilStopped(_ serving: Serving, census: ConnectionCensus) async throws -> [RestartCarryOver.Sessions]? {
        let carryingOver = fileDescriptorStore != nil
        return try await withTaskCancellationHandler {
            try await withGracefulShutdownHandler {
                // Every owner is done; one whose store failed ends the node (it throws).
                let shops = serving.shops.withLock { $0 }
                let all = try await EventLoopFuture.whenAllSucceed(shops.map(\.done), on: serving.lobby.loop).get()
                let carried = all.compactMap { $0 }
                return carried.count == all.count ? carried : nil
            } onGracefulShutdown: { [self] in
                notifier.base.stopping()
                readiness.withdraw()
                guard carryingOver, restarting.withLock({ $0 }) else {
                    // Graceful stop: stop accepting, then the owner lets the store commit, says BYE and closes.
                    logger.info("stopping")
                    serving.closeListeners()
                    serving.postToEveryShop(.shutdown)
                    return
                }
                // A stop that keeps the connections (systemd closes them if it is not a restart): the listener too,
                // unless systemd's socket unit holds it anyway; connections made meanwhile wait in its backlog.
                logger.info("stopping: handing the connections over to systemd")
                serving.closeListeners()
                serving.postToEveryShop(.carryOver(serving.collector))
            }
        } onCancel: {
            // The graceful stop took longer than `shutdown_grace_s`: end now, from what the store has.
            serving.closeListeners()
            serving.postToEveryShop(.abort)
            census.closeAll()
        }
    }

    /// After the owner is done: every connection closes (BYE written) or leaves for the next process, the store
    /// commits what is left and closes, and for a restart systemd gets the listener and the connections.
    func stop(_ serving: Serving, census: ConnectionCensus, carriedOver: [RestartCarryOver.Sessions]?) async {
        // A client that does not read its BYE, or whose lines cannot reach the kernel for the hand-over, is closed.
        let grace = carriedOver == nil ? Duration.seconds(server.shutdownGraceSeconds) : .seconds(5)
        if !(await census.waitUntilEmpty(timeout: grace)) {
            logger.notice("closing connections that did not end in time", metadata: ["count": "\(census.count)"])
            census.closeAll()
        }
        // Flushing what the last moments wrote can take a while on a loaded disk: the same for TimeoutStopSec=.
        let stores = serving.shops.withLock { $0 }.map(\.store)
        await timeoutExtension.during(notifier.base) {
            for store in stores { await store.shutdown() }
        }
        let listener = serving.storedListener.withLock { $0 }
        let http = httpDuplicate.withLock { taken in
            defer { taken = nil }
            return taken
        }
        if let fileDescriptorStore, let carriedOver {
            giveToSystemd(
                carriedOver, sockets: serving.collector.take(), listener: listener, http: http, to: fileDescriptorStore)
        } else {
            if let listener { close(listener) }
            if let http { close(http) }
            writeKeptEvents()
        }
        logger.info("stopped")
    }

    /// A stop that said BYE: what the shops kept for away buyers goes next to the store (the hand-over file, with no
    /// connection in it), for the next start to give out.
    private func writeKeptEvents() {
        var byShop = keptAtStop.take()
        guard !byShop.isEmpty else { return }
        let kept = byShop.removeValue(forKey: NodeConfiguration.defaultShop) ?? RestartCarryOver.Kept()
        let file = RestartCarryOver.File(
            pid: getpid(), connections: [], kept: kept.kept, customerGateways: kept.customerGateways,
            shops: byShop.isEmpty ? nil : byShop)
        do {
            try file.write(to: stateDirectory)
            logger.info(
                "events kept for away buyers written for the next start",
                metadata: ["buyers": "\(kept.kept.count + byShop.values.reduce(0) { $0 + $1.kept.count })"])
        } catch {
            logger.error("events kept for away buyers not written", metadata: ["error": "\(error)"])
        }
    }

    /// Writes the sessions' records next to the store, then gives systemd the listener and every connection; the
    /// barrier makes sure systemd has them before this process exits.
    private func giveToSystemd(
        _ owners: [RestartCarryOver.Sessions], sockets: [SessionID: RestartCarryOver.DetachedSocket], listener: Int32?,
        http: Int32?, to store: FileDescriptorStore
    ) {
        // The HTTP listener first: whatever becomes of the connections, HTTP clients wait in its backlog meanwhile.
        if let http {
            store.store(http, name: RestartCarryOver.File.httpListenerName)
            close(http)
        }
        var carried = RestartCarryOver.Sessions()
        var keptByShop: [String: RestartCarryOver.Kept] = [:]
        for owner in owners {
            carried.sessions.merge(owner.sessions) { first, _ in first }
            keptByShop[owner.shop] = owner.kept
        }
        let kept = keptByShop.removeValue(forKey: NodeConfiguration.defaultShop) ?? RestartCarryOver.Kept()
        var file = RestartCarryOver.File(
            pid: getpid(), connections: [], kept: kept.kept, customerGateways: kept.customerGateways,
            shops: keptByShop.isEmpty ? nil : keptByShop)
        let ordered = sockets.sorted { $0.key.rawValue < $1.key.rawValue }
        for (session, socket) in ordered {
            guard let record = carried.sessions[session] else {
                close(socket.fd)
                continue
            }
            file.connections.append(
                .init(
                    name: RestartCarryOver.File.connectionPrefix + "\(session.rawValue)", session: record,
                    leftover: Data(socket.leftover), discarding: socket.discarding))
        }
        do {
            try file.write(to: stateDirectory)
        } catch {
            // Without the records the next process could not tell who is on which connection: keep none.
            logger.error("hand-over records not written; connections closed", metadata: ["error": "\(error)"])
            for (_, socket) in ordered { close(socket.fd) }
            return
        }
        var stored = 0
        if let listener {
            store.store(listener, name: RestartCarryOver.File.listenerName)
            close(listener)
        }
        for (session, socket) in ordered {
            if carried.sessions[session] != nil,
                store.store(socket.fd, name: RestartCarryOver.File.connectionPrefix + "\(session.rawValue)")
            {
                stored += 1
            }
            close(socket.fd)
        }
        store.barrier()
        logger.notice(
            "connections handed over to systemd's file descriptor store",
            metadata: ["event": "connections_handed_over", "count": "\(stored)"])
    }
}

import Foundation
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
    func serveUntilStopped(_ serving: Serving, census: ConnectionCensus) async throws -> RestartCarryOver.Sessions? {
        let carryingOver = fileDescriptorStore != nil
        return try await withTaskCancellationHandler {
            try await withGracefulShutdownHandler {
                try await serving.done.get()
            } onGracefulShutdown: { [self] in
                notifier.stopping()
                guard carryingOver, restarting.withLock({ $0 }) else {
                    // Graceful stop: stop accepting, then the owner lets the store commit, says BYE and closes.
                    logger.info("stopping")
                    serving.listener.close(promise: nil)
                    serving.owner.post(.shutdown)
                    return
                }
                // A stop that keeps the connections (systemd closes them if it is not a restart): the listener too,
                // unless systemd's socket unit holds it anyway; connections made meanwhile wait in its backlog.
                logger.info("stopping: handing the connections over to systemd")
                serving.listener.close(promise: nil)
                serving.owner.post(.carryOver(serving.collector))
            }
        } onCancel: {
            // The graceful stop took longer than `shutdown_grace_s`: end now, from what the store has.
            serving.listener.close(promise: nil)
            serving.owner.post(.abort)
            census.closeAll()
        }
    }

    /// After the owner is done: every connection closes (BYE written) or leaves for the next process, the store
    /// commits what is left and closes, and for a restart systemd gets the listener and the connections.
    func stop(
        _ serving: Serving, store: ConversationStore, census: ConnectionCensus,
        carriedOver: RestartCarryOver.Sessions?
    ) async {
        // A client that does not read its BYE, or whose lines cannot reach the kernel for the hand-over, is closed.
        let grace = carriedOver == nil ? Duration.seconds(configuration.server.shutdownGraceSeconds) : .seconds(5)
        if !(await census.waitUntilEmpty(timeout: grace)) {
            logger.notice("closing connections that did not end in time", metadata: ["count": "\(census.count)"])
            census.closeAll()
        }
        // Flushing what the last moments wrote can take a while on a loaded disk: the same for TimeoutStopSec=.
        await timeoutExtension.during(notifier) { await store.shutdown() }
        let listener = serving.storedListener.withLock { $0 }
        if let fileDescriptorStore, let carriedOver {
            giveToSystemd(carriedOver, sockets: serving.collector.take(), listener: listener, to: fileDescriptorStore)
        } else if let listener {
            close(listener)
        }
        logger.info("stopped")
    }

    /// Writes the sessions' records next to the store, then gives systemd the listener and every connection; the
    /// barrier makes sure systemd has them before this process exits.
    private func giveToSystemd(
        _ carried: RestartCarryOver.Sessions, sockets: [SessionID: RestartCarryOver.DetachedSocket], listener: Int32?,
        to store: FileDescriptorStore
    ) {
        var file = RestartCarryOver.File(
            pid: getpid(), connections: [], kept: carried.kept, customerGateways: carried.customerGateways)
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

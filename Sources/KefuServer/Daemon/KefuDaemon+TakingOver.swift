import Foundation
import KefuConfig
import KefuSystemd
import NIOCore
import NIOPosix

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

extension KefuDaemon {
    /// The records of the connections the previous process handed over (`handover.json`), read and removed.
    func takeCarriedSessions() -> RestartCarryOver.File? {
        do {
            return try RestartCarryOver.File.take(from: stateDirectory)
        } catch {
            logger.error(
                "hand-over records unreadable; connections handed over are closed", metadata: ["error": "\(error)"])
            return nil
        }
    }

    /// Takes back the connections the previous process left in systemd's file descriptor store, each with its
    /// session (logged in as before) and the bytes it had read without completing a line; before READY=1, and before
    /// any line read from them is handled.
    func takeOver(
        _ sockets: [String: Int32], records file: RestartCarryOver.File?, census: ConnectionCensus,
        directory: ShopDirectory, sessions: SessionCounter
    ) async {
        let records = Dictionary(
            (file?.connections ?? []).map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        let limits = connectionLimits
        let logger = self.logger
        var adopted = 0
        for (name, fd) in sockets.sorted(by: { $0.key < $1.key }) {
            // Out of the store now: a later restart must not find a connection that has ended since.
            FileDescriptorStore().remove(name: name)
            guard let record = records[name] else {
                logger.warning("connection without a session record closed", metadata: ["fd_name": "\(name)"])
                close(fd)
                continue
            }
            let shop = record.session.shop ?? NodeConfiguration.defaultShop
            guard let owner = directory.owner(of: shop) else {
                // Its shop's file was removed, or has an error now: the client reconnects and hears why at LOGIN.
                logger.warning(
                    "connection of a shop not served any more closed", metadata: ["fd_name": "\(name)", "shop": "\(shop)"])
                close(fd)
                continue
            }
            do {
                _ = try await ClientBootstrap(group: owner.loop)
                    .channelOption(.allowRemoteHalfClosure, value: true)
                    .channelInitializer { channel in
                        channel.eventLoop.makeCompletedFuture {
                            let connection = ClientConnection(
                                session: sessions.next(), owner: owner, limits: limits, census: census,
                                logger: logger, leftover: Array(record.leftover), discarding: record.discarding)
                            try channel.pipeline.syncOperations.addHandler(connection)
                            owner.post(.adopted(connection.link(on: channel.eventLoop), record.session))
                        }
                    }
                    .withConnectedSocket(fd).get()
                adopted += 1
            } catch {
                // Not closed here: NIO may own the descriptor already, and closing it twice could close another one.
                logger.warning(
                    "connection could not be taken over", metadata: ["fd_name": "\(name)", "error": "\(error)"])
            }
        }
        guard let file else { return }
        if sockets.isEmpty {
            // systemd closes the stored connections when kefud stops for good: the records are of no use then.
            logger.info(
                "the previous process handed its connections over but none came back (a stop, not a restart)",
                metadata: ["records": "\(file.connections.count)", "from_pid": "\(file.pid)"])
            return
        }
        for record in file.connections where sockets[record.name] == nil {
            logger.warning(
                "session record without its connection ignored (closed meanwhile, or beyond FileDescriptorStoreMax=)",
                metadata: ["fd_name": "\(record.name)"])
        }
        logger.info(
            "connections taken over from the previous process",
            metadata: ["count": "\(adopted)", "records": "\(file.connections.count)", "from_pid": "\(file.pid)"])
    }
}

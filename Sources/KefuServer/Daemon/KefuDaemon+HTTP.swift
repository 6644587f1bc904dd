import Foundation
import KefuHTTP
import KefuSystemd

extension KefuDaemon {
    /// Binds `[http] listen`, when set, before anything is recovered: `/healthz` answers from the start, `/readyz`
    /// with 503 until the line protocol's listener is bound and every shop recovered, and again once the stop begins.
    func startHTTP() async throws -> HTTPListener? {
        let passed = passedDescriptorsOnce()
        let activated = passed.first { $0.name == RestartCarryOver.File.httpActivatedName }
        var stored = passed.first { $0.name == RestartCarryOver.File.httpListenerName }
        guard let http = node.http else {
            // HTTP was turned off since: nothing listens there any more.
            for descriptor in [activated, stored].compactMap({ $0 }) { close(descriptor.fd) }
            if let stored { forget(stored.name) }
            return nil
        }
        if activated != nil, let kept = stored {
            // The socket unit holds the listener: one kept from a start without it is not needed any more.
            close(kept.fd)
            forget(kept.name)
            stored = nil
        }
        let readiness = self.readiness
        let directory = StaticPages.locate(configured: http.pagesDirectory)
        let pages = StaticPages(directory: directory)
        if pages == nil {
            logger.warning(
                "no pages: the board and workspace are not served", metadata: ["pages_dir": "\(directory)"])
        }
        func bind(_ socket: Int32?) async throws -> HTTPListener {
            do {
                return try await HTTPListener.bind(
                    http.listen, metrics: metricsSource, webSocket: webSocketService, pages: pages, boundSocket: socket
                ) { readiness.isReady }
            } catch {
                throw CannotListenForHTTP(address: "\(http.listen)", reason: "\(error)")
            }
        }
        var listener = try await bind((activated ?? stored)?.fd)
        if let kept = stored, let address = listener.localAddress,
            address.ipAddress != http.listen.host || (http.listen.port != 0 && address.port != http.listen.port)
        {
            // `[http] listen` changed since the listener was kept: the setting wins.
            logger.notice(
                "the HTTP listener kept by systemd is not [http] listen any more; binding that",
                metadata: ["kept": "\(address)", "listen": "\(http.listen)"])
            await listener.close()
            forget(kept.name)
            stored = nil
            listener = try await bind(nil)
        }
        let origin =
            activated.map { " (socket activation: \($0.name))" }
            ?? stored.map { " (file descriptor store: \($0.name))" } ?? ""
        let address = listener.localAddress.map { "\($0.ipAddress ?? http.listen.host):\($0.port ?? 0)" }
        logger.info("http listening", metadata: ["address": "\(address ?? "\(http.listen)")\(origin)"])
        httpPort.withLock { $0 = listener.localAddress?.port }
        // A restart hands the listener to the next process (a socket unit's stays with the unit).
        if activated == nil, fileDescriptorStore != nil {
            let duplicate = await listener.duplicateDescriptor()
            httpDuplicate.withLock { $0 = duplicate }
        }
        return listener
    }

    private func forget(_ name: String) {
        FileDescriptorStore().remove(name: name)
        FileDescriptorStore().barrier()
    }
}

/// `[http] listen` could not be bound: says which setting, where, and why.
struct CannotListenForHTTP: Error, CustomStringConvertible {
    var address: String
    var reason: String
    var description: String { "cannot listen for HTTP on \(address) ([http] listen): \(reason)" }
}

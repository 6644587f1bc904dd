import Foundation
import KefuHTTP
import KefuSystemd

extension KefuDaemon {
    /// Binds `[http] listen`, when set, before anything is recovered: `/healthz` answers from the start, `/readyz`
    /// with 503 until the line protocol's listener is bound and every shop recovered, and again once the stop begins.
    /// The plain listener is kept across a restart like the line protocol's; the HTTPS one (`[http] listen_tls`)
    /// comes from its socket unit or is bound again.
    func startHTTP() async throws -> [HTTPListener] {
        let passed = passedDescriptorsOnce()
        let activated = passed.first { $0.name == RestartCarryOver.File.httpActivatedName }
        var stored = passed.first { $0.name == RestartCarryOver.File.httpListenerName }
        let activatedTLS = passed.first { $0.name == RestartCarryOver.File.httpsActivatedName }
        guard let http = node.http else {
            // HTTP was turned off since: nothing listens there any more.
            for descriptor in [activated, stored, activatedTLS].compactMap({ $0 }) { close(descriptor.fd) }
            if let stored { forget(stored.name) }
            return []
        }
        let readiness = self.readiness
        let directory = StaticPages.locate(configured: http.pagesDirectory)
        let pages = StaticPages(directory: directory)
        if pages == nil {
            logger.warning(
                "no pages: the board and workspace are not served", metadata: ["pages_dir": "\(directory)"])
        }
        var listeners: [HTTPListener] = []
        if let tls = http.tls, let context = tlsContext(.http) {
            let listener: HTTPListener
            do {
                listener = try await HTTPListener.bind(
                    tls.listen, metrics: metricsSource, webSocket: webSocketService, pages: pages,
                    boundSocket: activatedTLS?.fd, tls: context, logger: logger
                ) { readiness.isReady }
            } catch {
                throw CannotListenForHTTP(address: "\(tls.listen)", key: "listen_tls", reason: "\(error)")
            }
            let origin = activatedTLS.map { " (socket activation: \($0.name))" } ?? ""
            let address = listener.localAddress.map { "\($0.ipAddress ?? tls.listen.host):\($0.port ?? 0)" }
            logger.info("https listening", metadata: ["address": "\(address ?? "\(tls.listen)")\(origin)"])
            httpsPort.withLock { $0 = listener.localAddress?.port }
            listeners.append(listener)
        } else if let activatedTLS {
            logger.warning("an HTTPS listener was passed but [http] listen_tls is not set; closed")
            close(activatedTLS.fd)
        }
        guard let plain = http.listen else {
            // HTTPS only.
            for descriptor in [activated, stored].compactMap({ $0 }) { close(descriptor.fd) }
            if let stored { forget(stored.name) }
            return listeners
        }
        if activated != nil, let kept = stored {
            // The socket unit holds the listener: one kept from a start without it is not needed any more.
            close(kept.fd)
            forget(kept.name)
            stored = nil
        }
        func bind(_ socket: Int32?) async throws -> HTTPListener {
            do {
                return try await HTTPListener.bind(
                    plain, metrics: metricsSource, webSocket: webSocketService, pages: pages, boundSocket: socket
                ) { readiness.isReady }
            } catch {
                throw CannotListenForHTTP(address: "\(plain)", key: "listen", reason: "\(error)")
            }
        }
        var listener = try await bind((activated ?? stored)?.fd)
        if let kept = stored, let address = listener.localAddress,
            address.ipAddress != plain.host || (plain.port != 0 && address.port != plain.port)
        {
            // `[http] listen` changed since the listener was kept: the setting wins.
            logger.notice(
                "the HTTP listener kept by systemd is not [http] listen any more; binding that",
                metadata: ["kept": "\(address)", "listen": "\(plain)"])
            await listener.close()
            forget(kept.name)
            stored = nil
            listener = try await bind(nil)
        }
        let origin =
            activated.map { " (socket activation: \($0.name))" }
            ?? stored.map { " (file descriptor store: \($0.name))" } ?? ""
        let address = listener.localAddress.map { "\($0.ipAddress ?? plain.host):\($0.port ?? 0)" }
        logger.info("http listening", metadata: ["address": "\(address ?? "\(plain)")\(origin)"])
        httpPort.withLock { $0 = listener.localAddress?.port }
        // A restart hands the listener to the next process (a socket unit's stays with the unit).
        if activated == nil, fileDescriptorStore != nil {
            let duplicate = await listener.duplicateDescriptor()
            httpDuplicate.withLock { $0 = duplicate }
        }
        return [listener] + listeners
    }

    private func forget(_ name: String) {
        FileDescriptorStore().remove(name: name)
        FileDescriptorStore().barrier()
    }
}

/// `[http] listen` could not be bound: says which setting, where, and why.
struct CannotListenForHTTP: Error, CustomStringConvertible {
    var address: String
    var key: String
    var reason: String
    var description: String { "cannot listen for HTTP on \(address) ([http] \(key)): \(reason)" }
}

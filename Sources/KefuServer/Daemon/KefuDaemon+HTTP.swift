import KefuHTTP

extension KefuDaemon {
    /// Binds `[http] listen`, when set, before anything is recovered: `/healthz` answers from the start, `/readyz`
    /// with 503 until the line protocol's listener is bound and every shop recovered, and again once the stop begins.
    func startHTTP() async throws -> HTTPListener? {
        guard let http = node.http else { return nil }
        let readiness = self.readiness
        let listener: HTTPListener
        let directory = StaticPages.locate(configured: http.pagesDirectory)
        let pages = StaticPages(directory: directory)
        if pages == nil {
            logger.warning(
                "no pages: the board and workspace are not served", metadata: ["pages_dir": "\(directory)"])
        }
        do {
            listener = try await HTTPListener.bind(
                http.listen, metrics: metricsSource, webSocket: webSocketService, pages: pages) { readiness.isReady }
        } catch {
            throw CannotListenForHTTP(address: "\(http.listen)", reason: "\(error)")
        }
        let address = listener.localAddress.map { "\($0.ipAddress ?? http.listen.host):\($0.port ?? 0)" }
        logger.info("http listening", metadata: ["address": "\(address ?? "\(http.listen)")"])
        httpPort.withLock { $0 = listener.localAddress?.port }
        return listener
    }
}

/// `[http] listen` could not be bound: says which setting, where, and why.
struct CannotListenForHTTP: Error, CustomStringConvertible {
    var address: String
    var reason: String
    var description: String { "cannot listen for HTTP on \(address) ([http] listen): \(reason)" }
}

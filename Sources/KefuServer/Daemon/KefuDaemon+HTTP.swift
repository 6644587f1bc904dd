import KefuHTTP
import NIOCore

extension KefuDaemon {
    /// Binds `[http] listen`, when set, before anything is recovered: `/healthz` answers from the start, `/readyz`
    /// with 503 until the line protocol's listener is bound and every shop recovered, and again once the stop begins.
    func startHTTP() async throws -> (any Channel)? {
        guard let http = node.http else { return nil }
        let readiness = self.readiness
        let channel = try await HTTPListener.bind(http.listen) { readiness.isReady }
        let address = channel.localAddress.map { "\($0.ipAddress ?? http.listen.host):\($0.port ?? 0)" }
        logger.info("http listening", metadata: ["address": "\(address ?? "\(http.listen)")"])
        httpPort.withLock { $0 = channel.localAddress?.port }
        return channel
    }
}

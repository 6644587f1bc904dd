import KefuHTTP
import KefuMetrics
import NIOCore

extension KefuDaemon {
    /// `/metrics`: each shop's owner sets its gauges from its state on its own loop (its routing state never leaves
    /// it), then the registry is written out once all have.
    var metricsSource: MetricsSource {
        return { [self] loop in
            let owners = running.withLock { $0?.directory.shops.values.filter { $0.shop != Lobby.name } } ?? []
            let refreshed = owners.map { link in
                let owner = link.owner
                return owner.eventLoop.submit { owner.value.refreshMetrics() }
            }
            return EventLoopFuture.andAllComplete(refreshed, on: loop).map { self.metrics.exposition() }
        }
    }
}

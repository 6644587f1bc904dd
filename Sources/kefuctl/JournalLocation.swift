import ArgumentParser
import KefuCluster
import KefuCore
import KefuStore

/// Where a shop's input journal is (`kefuctl replay`, `kefuctl simulate --recorded-day`): found as the store commands
/// find a store, except that `--config` names the rules to replay or simulate with, so kefud's own file is
/// `--node-config`.
struct JournalLocation: ParsableArguments {
    @Option(help: "The shop whose journal to read ([server] shops_dir); default: the main configuration's team.")
    var shop = "default"

    @Option(help: "kefud's state directory. Default: --node-config's [server] state_dir, else ./var.")
    var stateDir: String?

    @Option(help: "kefud's main configuration file: where its state directory or its cluster's PostgreSQL is.")
    var nodeConfig: String?

    @Option(help: "A cluster's PostgreSQL (postgresql://user@host:port/database) instead of a state directory.")
    var postgres: String?

    /// The journal rows a replay of `from`…`to` needs (from the restore point of the run under way at `from`).
    func rows(from: Instant, to: Instant) async throws -> JournalReading.Rows {
        var location = StoreLocation()
        location.shop = shop
        location.stateDir = stateDir
        location.config = nodeConfig
        location.postgres = postgres
        let node = try location.node()
        if let cluster = try location.cluster(node) {
            return try await ClusterJournalReading.read(cluster, shop: shop, from: from, to: to, logger: location.logger)
        }
        return try JournalReading.read(directory: location.directory(node), from: from, to: to)
    }
}

import ArgumentParser
import Foundation
import KefuCluster
import KefuConfig
import KefuCore
import KefuStore
import Logging

/// Which store a command works on: a shop's SQLite file under kefud's state directory, found from `--state-dir`, else
/// the `[server] state_dir` of `--config`, else `./var`; or, when `--config` is a cluster node's (or `--postgres` is
/// given), the shop's rows in the cluster's PostgreSQL.
struct StoreLocation: ParsableArguments {
    @Option(help: "kefud's state directory (the one holding kefu.sqlite). Default: --config's [server] state_dir, else ./var.")
    var stateDir: String?

    @Option(help: "The shop ([server] shops_dir); default: the main configuration's team.")
    var shop = "default"

    @Option(help: "kefud's main configuration file: its state_dir, the shop's [retention], or its [cluster].")
    var config: String?

    @Option(help: "A cluster's PostgreSQL (postgresql://user@host:port/database) instead of a state directory.")
    var postgres: String?

    /// The configuration file, read as kefud reads it (errors name the file, line and key).
    func node() throws -> NodeConfiguration? {
        guard let config else { return nil }
        return try NodeConfiguration.load(path: config)
    }

    /// The cluster's PostgreSQL, when the shop's records are there.
    func cluster(_ node: NodeConfiguration?) throws -> PostgresURL? {
        if let postgres {
            guard let url = PostgresURL(postgres) else {
                throw ValidationError("--postgres: not a postgresql://user@host:port/database URL")
            }
            return url
        }
        return node?.cluster?.postgres
    }

    /// The shop's SQLite store directory.
    func directory(_ node: NodeConfiguration?) -> String {
        ConversationStore.directory(of: shop, in: stateDir ?? node?.server.stateDirectory ?? "./var")
    }

    var logger: Logger { Logger(label: "kefuctl") { _ in SwiftLogNoOpLogHandler() } }
}

/// `kefuctl purge`: what retention deletes (`[retention] closed_after_days`), on demand.
struct PurgeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "purge",
        abstract: "Delete the messages' texts and the notes of conversations closed more than N days ago.",
        discussion: """
            What stays: the conversations, their rounds, changes of hands and ratings, the agents' presence, and of each \
            message who sent it when: every report is the same after a purge. Safe while kefud runs (small \
            transactions that wait for kefud's). In a cluster only --dry-run: the node serving the shop purges it \
            ([retention] in the shop's configuration).
            """)

    @OptionGroup var location: StoreLocation

    @Option(help: "Conversations closed more than this many days ago. Default: the shop's [retention] closed_after_days (--config).")
    var olderThanDays: Int?

    @Flag(help: "Say what would go, change nothing.")
    var dryRun = false

    @Option(help: "Rows one transaction changes.")
    var batch = RetentionSettings.defaultBatch

    func run() async throws {
        guard (10...10_000).contains(batch) else { throw ValidationError("--batch is 10 to 10000") }
        let node = try location.node()
        let cluster = try location.cluster(node)
        let days: Int
        if let olderThanDays {
            guard olderThanDays >= 1 else { throw ValidationError("--older-than-days is 1 or more") }
            days = olderThanDays
        } else {
            days = try await configuredDays(node, cluster: cluster)
        }
        let now = Instant(unixMilliseconds: Int64((Date().timeIntervalSince1970 * 1000).rounded()))
        let cutoff = now + Milliseconds(-Int64(days) * 86_400_000)
        print("shop: \(location.shop)")
        print("closed before: \(Self.time(cutoff)) (more than \(days) days ago)")
        if let cluster {
            guard dryRun else {
                throw ValidationError(
                    "in a cluster the node serving shop \(location.shop) purges it: set [retention] in the shop's "
                        + "configuration (kefuctl shop apply); --dry-run says what its next pass would take")
            }
            print(
                Self.describe(
                    try await ClusterRetention.preview(
                        cluster, shop: location.shop, closedBefore: cutoff, logger: location.logger)))
            print("dry run: nothing changed")
            return
        }
        let directory = location.directory(node)
        if dryRun {
            print(Self.describe(try StoreRetention.preview(directory: directory, closedBefore: cutoff)))
            print("dry run: nothing changed")
            return
        }
        let total = try StoreRetention.purge(
            directory: directory, closedBefore: cutoff, rows: batch,
            now: { Instant(unixMilliseconds: Int64((Date().timeIntervalSince1970 * 1000).rounded())) })
        print("purged conversations: \(total.conversations)")
        print("purged messages: \(total.messages)")
        print("purged notes: \(total.notes)")
        print("batches: \(total.batches)")
    }

    /// `[retention] closed_after_days` of the shop: from the main file or its shops_dir, or a cluster's catalog.
    private func configuredDays(_ node: NodeConfiguration?, cluster: PostgresURL?) async throws -> Int {
        let shop = location.shop
        var configuration: KefuConfiguration?
        if let cluster {
            let catalog = try await ShopCatalog.connect(cluster, logger: location.logger)
            let entries = try await catalog.list()
            await catalog.close()
            guard let entry = entries.first(where: { $0.shop == shop }) else {
                throw ValidationError("the cluster has no shop \(shop)")
            }
            configuration = try KefuConfiguration.parse(entry.configuration, file: "shop \(shop)", kind: .shop)
        } else if let node {
            switch node.shops[shop] {
            case .success(let shopConfiguration)?: configuration = shopConfiguration
            case .failure(let error)?: throw error
            case nil: throw ValidationError("\(location.config ?? "") serves no shop \(shop)")
            }
        } else {
            throw ValidationError("say how old: --older-than-days N, or --config with the shop's [retention]")
        }
        guard let days = configuration?.retention.closedAfterDays else {
            throw ValidationError(
                "retention is off for shop \(shop) ([retention] closed_after_days): give --older-than-days")
        }
        return days
    }

    static func describe(_ preview: PurgePreview) -> String {
        [
            "conversations: \(preview.conversations)",
            "messages: \(preview.messages)",
            "notes: \(preview.notes)",
            "oldest close: \(preview.oldestClose.map(time) ?? "-")",
            "newest close: \(preview.newestClose.map(time) ?? "-")",
        ].joined(separator: "\n")
    }

    /// An instant as ISO 8601 in UTC, with its unix milliseconds (as the protocol's `at=` writes them).
    static func time(_ instant: Instant) -> String {
        let formatter = ISO8601DateFormatter()
        let date = Date(timeIntervalSince1970: Double(instant.unixMilliseconds) / 1000)
        return "\(formatter.string(from: date)) (\(instant.unixMilliseconds))"
    }
}

/// `kefuctl backup <file>`: a consistent copy of a shop's SQLite store while kefud serves it.
struct BackupCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "backup",
        abstract: "Copy a shop's store, consistently, while kefud serves it (never a copy of the live files).",
        discussion: """
            The copy is SQLite's VACUUM INTO in one read transaction: every commit before it began is in it, none after. \
            It never overwrites a file. To restore: stop kefud, put the file as kefu.sqlite in an empty state directory \
            (no kefu.sqlite-wal or -shm beside it), start kefud. A cluster's records are in PostgreSQL: back them up \
            with PostgreSQL's own tools (pg_dump, or pg_basebackup with WAL archiving for point-in-time recovery).
            """)

    @OptionGroup var location: StoreLocation

    @Argument(help: "Where to write the copy (must not exist).")
    var file: String

    func run() async throws {
        let node = try location.node()
        if try location.cluster(node) != nil {
            throw ValidationError(
                "a cluster's records are in PostgreSQL: back them up with PostgreSQL's own tools (pg_dump, or "
                    + "pg_basebackup with WAL archiving for point-in-time recovery)")
        }
        let summary = try StoreBackup.write(directory: location.directory(node), to: file)
        print("backup: \(summary.path)")
        print("bytes: \(summary.bytes)")
        print("schema: \(summary.schemaVersion)")
        print("conversations: \(summary.conversations)")
        print("messages: \(summary.messages)")
        if let last = summary.lastMessage {
            print("last message: conversation=\(last.conversation) seq=\(last.seq) at=\(PurgeCommand.time(last.at))")
        } else {
            print("last message: -")
        }
    }
}

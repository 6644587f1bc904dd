import ArgumentParser
import Foundation
import KefuCluster
import KefuConfig
import Logging

/// Where the cluster's PostgreSQL is: `--postgres`, else `[cluster] postgres` of kefud's main file (`--config`), else
/// `$KEFU_POSTGRES`.
struct ClusterDatabase: ParsableArguments {
    @Option(help: "The cluster's PostgreSQL: postgresql://user[:password]@host[:port]/database.")
    var postgres: String?

    @Option(help: "kefud's main configuration file, whose [cluster] postgres to use.")
    var config: String?

    func url() throws -> PostgresURL {
        if let postgres {
            guard let url = PostgresURL(postgres) else {
                throw ValidationError("--postgres: not a postgresql://user@host:port/database URL")
            }
            return url
        }
        if let config {
            guard let cluster = try NodeConfiguration.load(path: config).cluster else {
                throw ValidationError("\(config) has no [cluster] table")
            }
            return cluster.postgres
        }
        if let text = ProcessInfo.processInfo.environment["KEFU_POSTGRES"], let url = PostgresURL(text) { return url }
        throw ValidationError("say where the cluster's PostgreSQL is: --postgres, --config or $KEFU_POSTGRES")
    }

    var logger: Logger { Logger(label: "kefuctl") { _ in SwiftLogNoOpLogHandler() } }
}

/// `kefuctl shop apply|list|remove`: the shops of a cluster and their configurations.
struct ShopCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "shop", abstract: "Store, list or remove the shops of a cluster.",
        subcommands: [Apply.self, List.self, Remove.self])

    struct Apply: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Validate a shop's configuration as kefud does and store it; its node applies it within 2 s.")
        @OptionGroup var database: ClusterDatabase
        @Argument(help: "The shop's name (a-z 0-9 _ -).") var shop: String
        @Argument(help: "The shop's configuration file (a team: no [server], no [cluster]).") var file: String

        func run() async throws {
            let text = try KefuConfiguration.text(at: file)
            let catalog = try await ShopCatalog.connect(try database.url(), logger: database.logger)
            defer { Task { await catalog.close() } }
            do {
                let version = try await catalog.apply(shop, text: text, file: file)
                print("shop \(shop): version \(version) stored")
            } catch let error as ConfigError {
                // file:line: key: message, as kefud says it.
                FileHandle.standardError.write(Data("kefuctl: \(error)\n".utf8))
                throw ExitCode(65)
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the shops and their configuration versions.")
        @OptionGroup var database: ClusterDatabase

        func run() async throws {
            let catalog = try await ShopCatalog.connect(try database.url(), logger: database.logger)
            for entry in try await catalog.list() { print("\(entry.shop)\tversion=\(entry.version)") }
            await catalog.close()
        }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Stop serving a shop anywhere in the cluster (its records stay in PostgreSQL).")
        @OptionGroup var database: ClusterDatabase
        @Argument var shop: String

        func run() async throws {
            let catalog = try await ShopCatalog.connect(try database.url(), logger: database.logger)
            let removed = try await catalog.remove(shop)
            await catalog.close()
            guard removed else { throw ValidationError("no shop \(shop) in the cluster") }
            print("shop \(shop) removed")
        }
    }
}

/// `kefuctl cluster status|drain`: the nodes and who serves what.
struct ClusterCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cluster", abstract: "Show the cluster, or move a node's shops away.",
        subcommands: [Status.self, Drain.self])

    struct Status: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Nodes (running or not, draining), the shops each serves with their epochs and last renewal.")
        @OptionGroup var database: ClusterDatabase

        func run() async throws {
            let catalog = try await ShopCatalog.connect(try database.url(), logger: database.logger)
            let view = try await catalog.view()
            await catalog.close()
            for node in view.nodes {
                let state = node.alive ? (node.draining ? "draining" : "running") : "down"
                print("node \(node.name)\t\(node.advertise)\t\(state)")
                for shop in view.shops where view.server(of: shop)?.name == node.name {
                    print("  shop \(shop.name)\tepoch=\(shop.epoch)\trenewed=\(shop.renewedAt ?? "-")")
                }
            }
            for shop in view.shops where view.server(of: shop) == nil {
                print("shop \(shop.name)\tnot served (epoch=\(shop.epoch))")
            }
        }
    }

    struct Drain: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Move a node's shops to the others gracefully (for a rolling upgrade); --undo ends it.")
        @OptionGroup var database: ClusterDatabase
        @Argument var node: String
        @Flag(help: "Let the node take shops again.") var undo = false
        @Option(help: "Wait at most this many seconds for the node to serve no shop.") var wait: Double = 60

        func run() async throws {
            // One connection for the whole wait, polled four times a second.
            let catalog = try await ShopCatalog.connect(try database.url(), logger: database.logger)
            defer { Task { await catalog.close() } }
            guard try await catalog.setDraining(node, !undo) else {
                throw ValidationError("no node \(node) in the cluster")
            }
            guard !undo else { return print("node \(node) takes shops again") }
            let start = ContinuousClock.now
            while ContinuousClock.now - start < .milliseconds(Int64(wait * 1000)) {
                if try await !catalog.view().shops.contains(where: { $0.owner == node && $0.current }) {
                    return print("node \(node) serves no shop")
                }
                try await Task.sleep(for: .milliseconds(250))
            }
            FileHandle.standardError.write(Data("kefuctl: node \(node) still serves shops after \(wait) s\n".utf8))
            throw ExitCode(1)
        }
    }
}

import ArgumentParser
import Foundation
import KefuConfig
import KefuServer
import KefuSystemd
import Logging
import ServiceLifecycle
import UnixSignals

/// The daemon's entry point: read flags and configuration, set up logging, run until SIGTERM/SIGINT.
@main
struct Kefud: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kefud",
        abstract: "Route e-commerce customer-service chats to agents by skill and load, and keep their SLAs."
    )

    @Option(help: "Configuration file (TOML). Without it kefud runs on its embedded demo configuration.")
    var config: String?

    @Option(help: "Where the SQLite store lives. Default: [server] state_dir, else $STATE_DIRECTORY, else ./var.")
    var stateDir: String?

    @Option(help: "Where logs go: auto (journald under systemd, else stderr), journal, or stderr.")
    var logTarget: LogTarget = .auto

    @Option(help: "Lowest log level written: trace, debug, info, notice, warning, error, critical.")
    var logLevel: String = "info"

    @Flag(help: "Print the embedded demo configuration and exit.")
    var printDemoConfig = false

    enum LogTarget: String, ExpressibleByArgument {
        case auto, journal, stderr
    }

    func run() async throws {
        if printDemoConfig {
            print(DemoConfiguration.text, terminator: "")
            return
        }
        let level = Logger.Level(rawValue: logLevel) ?? .info
        let useJournal: Bool
        switch logTarget {
        case .journal: useJournal = true
        case .stderr: useJournal = false
        // Under systemd stderr already goes to the journal, but native entries keep their fields and priority.
        case .auto:
            useJournal =
                ProcessInfo.processInfo.environment["JOURNAL_STREAM"] != nil
                && JournalLogHandler.journalIsAvailable()
        }
        JournalLogHandler.bootstrap(logLevel: level, useJournal: useJournal)
        let logger = Logger(label: "kefud")
        // SIGHUP reloads (below); until that handler is in place it must not end the process.
        signal(SIGHUP, SIG_IGN)

        let path = config
        let load: @Sendable () throws -> NodeConfiguration = {
            if let path { return try NodeConfiguration.load(path: path) }
            return try NodeConfiguration.parse(DemoConfiguration.text, file: "<embedded demo config>")
        }
        let node: NodeConfiguration
        do {
            node = try load()
        } catch {
            // The message names file, line and key; systemd must not restart into the same error (exit 78).
            FileHandle.standardError.write(Data("kefud: configuration error: \(error)\n".utf8))
            logger.critical("configuration error", metadata: ["error": "\(error)"])
            throw ExitCode(78)
        }
        let broken = node.shopNames.compactMap { name -> ConfigError? in
            if case .failure(let error)? = node.shops[name] { error } else { nil }
        }
        for error in broken {
            // One shop's error does not keep the others from being served (the daemon logs it too).
            FileHandle.standardError.write(Data("kefud: configuration error, shop not served: \(error)\n".utf8))
        }
        // A node of a cluster serves the shops stored in PostgreSQL; the others need one servable shop of their own.
        if node.cluster == nil && broken.count == node.shops.count { throw ExitCode(78) }
        let configuration = node.server
        let stateDirectory =
            stateDir
            ?? configuration.stateDirectory
            ?? ProcessInfo.processInfo.environment["STATE_DIRECTORY"]?.split(separator: ":").first.map(String.init)
            ?? "./var"

        let daemon = KefuDaemon(
            node: node,
            stateDirectory: stateDirectory,
            notifier: SystemdServiceNotifier(),
            journal: JournaldRecorder(fallback: logger),
            logger: logger,
            // A restart keeps the connections when systemd keeps descriptors for kefud (FileDescriptorStoreMax=,
            // announced in $FDSTORE); otherwise a stop says BYE to every client.
            fileDescriptorStore: FileDescriptorStore.limit(environment: ProcessInfo.processInfo.environment).map {
                _ in FileDescriptorStore()
            }
        )
        var groupConfiguration = ServiceGroupConfiguration(
            services: [.init(service: daemon)],
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger
        )
        // A graceful stop that takes longer than this (a client that never reads its BYE, a stuck disk) is
        // escalated to cancellation, well inside systemd's TimeoutStopSec.
        groupConfiguration.maximumGracefulShutdownDuration = .milliseconds(
            Int64(configuration.shutdownGraceSeconds * 1000)
        )
        let group = ServiceGroup(configuration: groupConfiguration)
        logger.info(
            "kefud starting",
            metadata: [
                "config": "\(config ?? "embedded demo")", "state_dir": "\(stateDirectory)",
            ])
        // `systemctl restart`: systemd stops a restarting kefud with RestartKillSignal=SIGUSR2 (a plain stop is
        // SIGTERM), so kefud can tell the two apart and keep the connections only through a restart.
        let restarts = Task {
            for await _ in await UnixSignalsSequence(trapping: .sigusr2) {
                logger.info("SIGUSR2: stopping for a restart")
                daemon.stopForRestart()
                await group.triggerGracefulShutdown()
            }
        }
        defer { restarts.cancel() }
        // `systemctl reload` (ExecReload=kill -HUP, or Type=notify-reload): read the file again and apply it.
        let reloads = Task {
            for await _ in await UnixSignalsSequence(trapping: .sighup) {
                logger.info("SIGHUP: reloading the configuration", metadata: ["config": "\(path ?? "embedded demo")"])
                daemon.reload(node: Result { try load() })
            }
        }
        defer { reloads.cancel() }
        try await group.run()
    }
}

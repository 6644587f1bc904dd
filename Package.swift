// swift-tools-version:6.1
import PackageDescription

// Kefu: the routing-and-SLA core is pure (KefuCore); everything that touches sockets, disk, clocks or
// systemd lives in thin layers around it.
let package = Package(
    name: "kefu",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "kefud", targets: ["kefud"]),
        .executable(name: "kefuctl", targets: ["kefuctl"]),
        // The pure core, for the benchmarks in Benchmarks/ (and for replaying recorded traffic offline).
        .library(name: "KefuCore", targets: ["KefuCore"]),
        // The framing and parsing of lines and the configuration loader, for the fuzz targets in Fuzz/.
        .library(name: "KefuProtocol", targets: ["KefuProtocol"]),
        .library(name: "KefuConfig", targets: ["KefuConfig"]),
        .library(name: "KefuReplay", targets: ["KefuReplay"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.81.0"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.5.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.6.0"),
        .package(url: "https://github.com/apple/swift-collections.git", from: "1.1.0"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "3.0.0"),
        .package(url: "https://github.com/x-sheep/swift-property-based.git", from: "2.0.1"),
        // Only KefuCluster (and kefuctl's cluster commands) use it: it adds minutes to a cold build.
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        // TLS on the listeners (postgres-nio builds it already, so it costs a cold build nothing more).
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.0"),
    ],
    targets: [
        // Pure routing + SLA state machine: commands and time in, effects out. No I/O, no clock reads.
        .target(name: "KefuCore"),
        // Line protocol: framing, parsing, and rendering the core's typed events into lines. No sockets.
        .target(
            name: "KefuProtocol",
            dependencies: ["KefuCore", .product(name: "NIOCore", package: "swift-nio")]
        ),
        // TOML configuration with file:line:key errors.
        // The configuration file and what it means for routing (`RoutingPolicy(configuration)`), for kefud and kefuctl.
        .target(name: "KefuConfig", dependencies: ["KefuCore"]),
        // Replaying a recorded day and simulating one that has not happened: pure, over the core (no I/O).
        .target(name: "KefuReplay", dependencies: ["KefuCore", "KefuConfig"]),
        .systemLibrary(
            name: "CSQLite",
            pkgConfig: "sqlite3",
            providers: [.apt(["libsqlite3-dev"])]
        ),
        // SQLite store: one writer thread, batched transactions.
        .target(
            name: "KefuStore",
            dependencies: ["KefuCore", "CSQLite", .product(name: "Logging", package: "swift-log")]
        ),
        .systemLibrary(
            name: "CSystemd",
            pkgConfig: "libsystemd",
            providers: [.apt(["libsystemd-dev"])]
        ),
        // The only importer of CSystemd: sd_notify, watchdog, journald.
        .target(
            name: "KefuSystemd",
            dependencies: ["CSystemd", .product(name: "Logging", package: "swift-log")]
        ),
        // NIO listener, sessions, the routing owner, timers; wires core, store and systemd together.
        .target(
            name: "KefuServer",
            dependencies: [
                "KefuCore", "KefuProtocol", "KefuConfig", "KefuStore", "KefuSystemd", "KefuCluster", "KefuHTTP",
                "KefuMetrics", "KefuTLS", "KefuAuth",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "DequeModule", package: "swift-collections"),
            ]
        ),
        // Login proofs: buyers' signed tokens (HMAC) and constant-time comparisons, for kefud and kefuctl.
        .target(name: "KefuAuth", dependencies: [.product(name: "Crypto", package: "swift-crypto")]),
        // TLS for the listeners: the certificate files read into a context a reload can swap.
        .target(
            name: "KefuTLS",
            dependencies: [
                "KefuConfig",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ]
        ),
        // HTTP beside the line protocol (`[http]`): health, readiness, /metrics' text, the pages and /ws.
        .target(
            name: "KefuHTTP",
            dependencies: [
                "KefuConfig", "KefuTLS",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
            ]
        ),
        // `/metrics`: every metric declared once, each shop's counted by its routing owner (swift-prometheus).
        .target(
            name: "KefuMetrics",
            dependencies: ["KefuCore", .product(name: "Prometheus", package: "swift-prometheus")]
        ),
        // Cluster mode: the shops' leases in PostgreSQL (one owner per shop, fenced by an epoch), node liveness.
        .target(
            name: "KefuCluster",
            dependencies: [
                "KefuConfig", "KefuCore", "KefuStore",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "DequeModule", package: "swift-collections"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .executableTarget(
            name: "kefud",
            dependencies: [
                "KefuServer", "KefuConfig", "KefuSystemd",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ]
        ),
        .executableTarget(
            name: "kefuctl",
            dependencies: [
                "KefuAuth", "KefuCore",
                "KefuStore", "KefuReplay",
                "KefuConfig",
                "KefuCluster",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),
        // Helpers shared by the test targets: temporary dirs, line clients, journald harness.
        .target(
            name: "KefuTestSupport",
            dependencies: [
                "KefuProtocol", "KefuCore", "KefuStore", "KefuReplay",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ],
            path: "Tests/KefuTestSupport"
        ),
        .testTarget(
            name: "KefuCoreTests",
            dependencies: [
                "KefuCore", "KefuReplay", "KefuTestSupport",
                .product(name: "PropertyBased", package: "swift-property-based"),
            ]
        ),
        .testTarget(
            name: "KefuProtocolTests",
            dependencies: ["KefuProtocol", "KefuCore", .product(name: "NIOTestUtils", package: "swift-nio")]
        ),
        .testTarget(name: "KefuConfigTests", dependencies: ["KefuConfig"]),
        .testTarget(
            name: "KefuReplayTests",
            dependencies: ["KefuReplay", "KefuCore", "KefuConfig", "KefuTestSupport"]),
        .testTarget(name: "KefuMetricsTests", dependencies: ["KefuMetrics", "KefuCore"]),
        .testTarget(
            name: "KefuHTTPTests",
            dependencies: [
                "KefuHTTP", "KefuConfig", "KefuTestSupport", .product(name: "NIOCore", package: "swift-nio"),
            ]),
        .testTarget(
            name: "KefuClusterTests",
            dependencies: ["KefuCluster", "KefuConfig", "KefuCore", "KefuStore", "KefuTestSupport"]),
        .testTarget(name: "KefuStoreTests", dependencies: ["KefuStore", "KefuTestSupport"]),
        .testTarget(name: "KefuSystemdTests", dependencies: ["KefuSystemd", "KefuTestSupport"]),
        .testTarget(
            name: "KefuServerTests",
            dependencies: [
                "KefuServer", "KefuTestSupport", "KefuConfig", "KefuCore", "KefuSystemd", "KefuProtocol", "KefuStore",
                "KefuHTTP", "KefuReplay",
            ]
        ),
    ],
    swiftLanguageModes: [.v6]
)

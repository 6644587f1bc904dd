// swift-tools-version:6.1
import PackageDescription

// Benchmarks of KefuCore (through its public API only) and of the running kefud, kept out of the root package so that
// `make test` and CI never build them. Run with `swift package benchmark` from this directory (see README.md).
let package = Package(
    name: "KefuBenchmarks",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(url: "https://github.com/ordo-one/benchmark.git", from: "1.38.1", traits: ["MallocInterposer"]),
        .package(url: "https://github.com/apple/swift-collections.git", from: "1.1.0"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.81.0"),
        .package(name: "kefu", path: "../"),
    ],
    targets: [
        .executableTarget(
            name: "Routing",
            dependencies: [
                .product(name: "KefuCore", package: "kefu"),
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "DequeModule", package: "swift-collections"),
            ],
            path: "Benchmarks/Routing",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
        // The running daemon: starts the root package's release kefud and measures how late breaches fire.
        .executableTarget(
            name: "BreachLateness",
            dependencies: [.product(name: "Benchmark", package: "benchmark")],
            path: "Benchmarks/BreachLateness",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
        // The relay benchmark of issue #11: the release kefud against a durable redis, one client driving both.
        // A plain executable (`swift run -c release Relay`, or `make bench-relay` from the root), outside the
        // `Benchmarks/` folder: the benchmark plugin runs every executable there as one of its own.
        // Issue #15: a busy day's input journal (1,000,000 inputs) replayed through the core (`swift run -c release
        // ReplayDay`).
        .executableTarget(
            name: "ReplayDay",
            dependencies: [.product(name: "KefuCore", package: "kefu"), .product(name: "KefuReplay", package: "kefu")],
            path: "ReplayDay"
        ),
        .executableTarget(
            name: "Relay",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            path: "Relay"
        ),
    ],
    swiftLanguageModes: [.v6]
)

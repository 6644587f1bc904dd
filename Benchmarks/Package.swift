// swift-tools-version:6.1
import PackageDescription

// Benchmarks of KefuCore, kept out of the root package so that `make test` and CI never build them.
// Run with `swift package benchmark` from this directory (see README.md).
//
// The root package exports no library product, and a package that depends on it cannot declare its own target
// named KefuCore (target names are unique across a package graph). So the core's sources are compiled here from
// the symlink Sources/KefuCore -> ../../Sources/KefuCore, as their own module with the root's dependency, and the
// benchmarks use only its public API. Once the root package exports `.library(name: "KefuCore", ...)`, replace the
// KefuCore target below by `.package(path: "../")` and `.product(name: "KefuCore", package: "kefu")`.
let package = Package(
    name: "KefuBenchmarks",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(url: "https://github.com/ordo-one/benchmark.git", from: "1.38.1", traits: ["MallocInterposer"]),
        .package(url: "https://github.com/apple/swift-collections.git", from: "1.1.0"),
    ],
    targets: [
        .target(
            name: "KefuCore",
            dependencies: [.product(name: "HeapModule", package: "swift-collections")],
            path: "Sources/KefuCore"
        ),
        .executableTarget(
            name: "Routing",
            dependencies: [
                "KefuCore",
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "DequeModule", package: "swift-collections"),
            ],
            path: "Benchmarks/Routing",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
    ],
    swiftLanguageModes: [.v6]
)

// swift-tools-version:6.1
import PackageDescription

// Coverage-guided fuzz targets (libFuzzer), kept out of the root package so that their sanitizer build has a .build of
// its own and never disturbs the main one. Built and run by `make fuzz` from the root (see README.md, "Fuzzing"):
//
//     swift build -Xswiftc -sanitize=fuzzer,address -Xswiftc -use-ld=lld
//
// Each target is an executable whose main hands control to libFuzzer's driver (FuzzSupport): SwiftPM links an
// executable with `--defsym main=<module>_main`, which overrides the `main` libFuzzer's runtime brings, so a target
// that only defined `LLVMFuzzerTestOneInput` would start, run its empty top-level code and exit 0 without fuzzing.
let package = Package(
    name: "KefuFuzz",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(name: "kefu", path: "../"),
        // The version the root package resolves (ByteBuffer, for the line framing's input).
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.81.0"),
    ],
    targets: [
        // Declares libFuzzer's `LLVMFuzzerRunDriver` (the runtime itself comes with `-sanitize=fuzzer`).
        .target(name: "CLibFuzzer"),
        .target(name: "FuzzSupport", dependencies: ["CLibFuzzer"]),
        // The line framing (split as it arrives, in any chunks) and the request parser.
        .executableTarget(
            name: "FuzzLines",
            dependencies: [
                "FuzzSupport",
                .product(name: "KefuProtocol", package: "kefu"),
                .product(name: "KefuCore", package: "kefu"),
                .product(name: "NIOCore", package: "swift-nio"),
            ]
        ),
        // The TOML configuration loader, as a main file and as a shop's file.
        .executableTarget(
            name: "FuzzConfiguration",
            dependencies: [
                "FuzzSupport",
                .product(name: "KefuConfig", package: "kefu"),
                .product(name: "KefuCore", package: "kefu"),
            ]
        ),
        // The routing core fed a team and a sequence of commands and clock ticks decoded from the bytes, its
        // invariants checked after each; the story's input journal must replay to the same decisions.
        .executableTarget(
            name: "FuzzCore",
            dependencies: [
                "FuzzSupport",
                .product(name: "KefuCore", package: "kefu"),
                .product(name: "KefuProtocol", package: "kefu"),
                .product(name: "KefuReplay", package: "kefu"),
            ]
        ),
    ],
    swiftLanguageModes: [.v6]
)

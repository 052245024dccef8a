// swift-tools-version: 6.1
// Aegis: a deterministic, simulation-tested multi-model database.
// Layout and rules: see ARCHITECTURE (shared) and each module folder's README.md.
import PackageDescription

// The simulator's own bookkeeping is single-threaded and class-heavy; Swift's dynamic
// exclusivity checks there cost about a tenth of its speed, and speed is seeds per
// hour. Release builds of Sim leave them out. The engine (Aegis), which ships, keeps
// them in every build, except on a few fields that scans and joins touch for every
// row (marked `@exclusivity(unchecked)` one by one, each with its reason: only its own
// class touches it, one call at a time); debug builds keep them everywhere else, and
// scripts/test.sh sweeps every Raft scenario with the debug build too.
let releaseWithoutDynamicExclusivity: [SwiftSetting] = [
    .unsafeFlags(["-enforce-exclusivity=unchecked"], .when(configuration: .release)),
]

let package = Package(
    name: "Aegis",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "Aegis", targets: ["Aegis"]),
        .library(name: "Sim", targets: ["Sim"]),
        .library(name: "Runtime", targets: ["Runtime"]),
        .library(name: "AegisClient", targets: ["AegisClient"]),
        .executable(name: "aegis", targets: ["aegis"]),
    ],
    traits: [
        // The seed's feature flags: Compression gates LZ4/Zstd blocks, Monitoring the
        // Prometheus export (/metrics), TLS the HTTPS and peer TLS of the server.
        .trait(name: "TLS", description: "TLS for clients and between nodes."),
        .trait(name: "Monitoring", description: "Prometheus metrics export."),
        .trait(name: "Replication", description: "Cluster replication."),
        .trait(name: "Compression", description: "LZ4/Zstd block compression."),
        .default(enabledTraits: ["Monitoring", "Replication", "Compression", "TLS"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.0.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.81.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.5.0"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.24.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.3.0"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.5.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.0.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.27.0"),
    ],
    targets: [
        .systemLibrary(
            name: "CLZ4",
            pkgConfig: "liblz4",
            providers: [.apt(["liblz4-dev"])]
        ),
        .systemLibrary(
            name: "CZstd",
            pkgConfig: "libzstd",
            providers: [.apt(["libzstd-dev"])]
        ),
        // Line editing and history for `aegis sql` on a terminal.
        .systemLibrary(
            name: "CEditLine",
            pkgConfig: "libedit",
            providers: [.apt(["libedit-dev"])]
        ),
        // CRC-32C with the SSE4.2 instruction (Common/CRC32C.swift falls back to tables).
        .target(name: "CCRC32C"),
        .target(
            name: "Aegis",
            dependencies: [
                "CCRC32C",
                .target(name: "CLZ4", condition: .when(traits: ["Compression"])),
                .target(name: "CZstd", condition: .when(traits: ["Compression"])),
            ],
            exclude: [
                "README.md", "Environment/README.md", "Common/README.md", "Replication/README.md", "Node/README.md",
                "Memory/README.md", "Storage/README.md", "Query/README.md",
            ]
        ),
        .target(
            name: "Sim",
            dependencies: ["Aegis", .product(name: "Yams", package: "Yams")],
            exclude: ["README.md"],
            swiftSettings: releaseWithoutDynamicExclusivity
        ),
        .target(
            name: "Runtime",
            dependencies: [
                "Aegis",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus", condition: .when(traits: ["Monitoring"])),
                .product(name: "NIOSSL", package: "swift-nio-ssl", condition: .when(traits: ["TLS"])),
                .product(name: "HummingbirdTLS", package: "hummingbird", condition: .when(traits: ["TLS"])),
                .product(name: "Yams", package: "Yams"),
            ],
            exclude: ["README.md"]
        ),
        .target(
            name: "AegisClient",
            dependencies: [
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOFoundationCompat", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ],
            exclude: ["README.md"]
        ),
        .executableTarget(
            name: "aegis",
            dependencies: [
                "Aegis", "Sim", "Runtime", "AegisClient", "CEditLine",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            exclude: ["README.md"]
        ),
        .testTarget(name: "AegisTests", dependencies: ["Aegis"], exclude: ["Transcripts"]),
        .testTarget(name: "SimTests", dependencies: ["Aegis", "Sim"]),
        .testTarget(
            name: "RuntimeTests",
            dependencies: [
                "Runtime", "Aegis",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(name: "AegisClientTests", dependencies: ["AegisClient"]),
        .testTarget(name: "SystemLibraryTests", dependencies: ["CLZ4", "CZstd"]),
        // Runs the built aegis binary as a separate process, for the CLI and end-to-end tests.
        .target(name: "AegisTestSupport", path: "Tests/AegisTestSupport"),
        .testTarget(name: "CLITests", dependencies: ["aegis", "AegisTestSupport"]),
        .testTarget(
            name: "EndToEndTests",
            dependencies: [
                "aegis", "AegisClient", "AegisTestSupport",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOFoundationCompat", package: "swift-nio"),
            ]
        ),
    ],
    swiftLanguageModes: [.v6]
)

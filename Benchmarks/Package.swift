// swift-tools-version: 6.1
// Benchmarks for Aegis, kept in their own package so the library carries no
// benchmark dependency. Run: swift run -c release --package-path Benchmarks SimSpeed
//                         swift run -c release --package-path Benchmarks StorageBench
//                         swift run -c release --package-path Benchmarks ClusterBench
//                         swift run -c release --package-path Benchmarks SQLBench
//                         swift run -c release --package-path Benchmarks ShardBench
//                         swift run -c release --package-path Benchmarks MultiRaftBench
import PackageDescription

let package = Package(
    name: "AegisBenchmarks",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(name: "Aegis", path: ".."),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.24.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.81.0"),
    ],
    targets: [
        .executableTarget(
            name: "SimSpeed",
            dependencies: [.product(name: "Sim", package: "Aegis")]
        ),
        // The sharded node in the simulator: what idle Raft groups cost a node, and
        // transfers per second on 1, 3 and 5 nodes.
        .executableTarget(
            name: "MultiRaftBench",
            dependencies: [.product(name: "Sim", package: "Aegis")]
        ),
        // SQLite, the peer the storage engine is measured against (Debian's libsqlite3-dev).
        .systemLibrary(
            name: "CSQLite",
            pkgConfig: "sqlite3",
            providers: [.apt(["libsqlite3-dev"])]
        ),
        .target(name: "BenchSupport", dependencies: ["CSQLite"]),
        .executableTarget(
            name: "StorageBench",
            dependencies: [
                .product(name: "Aegis", package: "Aegis"),
                .product(name: "Runtime", package: "Aegis"),
                "BenchSupport",
                "CSQLite",
            ]
        ),
        // The SQL engine against SQLite, embedded, 1M rows (bulk insert, point select,
        // range scan, GROUP BY, a two-table join).
        .executableTarget(
            name: "SQLBench",
            dependencies: [
                .product(name: "Aegis", package: "Aegis"),
                .product(name: "Runtime", package: "Aegis"),
                "BenchSupport",
                "CSQLite",
            ]
        ),
        // Writes per second and latency of a 3-node loopback cluster, Aegis against etcd
        // (Debian's etcd-server, its v3 JSON gateway), same load in the same run.
        .target(
            name: "LiveBenchSupport",
            dependencies: [
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOFoundationCompat", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ]
        ),
        .executableTarget(
            name: "ClusterBench",
            dependencies: ["LiveBenchSupport", .product(name: "NIOHTTP1", package: "swift-nio")]
        ),
        // Transfers per second on a sharded cluster of real processes: single-shard
        // against cross-shard (two-phase commit), same run.
        .executableTarget(
            name: "ShardBench",
            dependencies: ["LiveBenchSupport"]
        ),
    ],
    swiftLanguageModes: [.v6]
)

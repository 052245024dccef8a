// swift-tools-version: 6.1
// Benchmarks for Aegis, kept in their own package so the library carries no
// benchmark dependency. Run: swift run -c release --package-path Benchmarks SimSpeed
//                         swift run -c release --package-path Benchmarks StorageBench
import PackageDescription

let package = Package(
    name: "AegisBenchmarks",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(name: "Aegis", path: ".."),
    ],
    targets: [
        .executableTarget(
            name: "SimSpeed",
            dependencies: [.product(name: "Sim", package: "Aegis")]
        ),
        // SQLite, the peer the storage engine is measured against (Debian's libsqlite3-dev).
        .systemLibrary(
            name: "CSQLite",
            pkgConfig: "sqlite3",
            providers: [.apt(["libsqlite3-dev"])]
        ),
        .executableTarget(
            name: "StorageBench",
            dependencies: [
                .product(name: "Aegis", package: "Aegis"),
                .product(name: "Runtime", package: "Aegis"),
                "CSQLite",
            ]
        ),
    ],
    swiftLanguageModes: [.v6]
)

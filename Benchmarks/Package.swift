// swift-tools-version: 6.1
// Benchmarks for Aegis, kept in their own package so the library carries no
// benchmark dependency. Run: swift run -c release --package-path Benchmarks SimSpeed
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
    ],
    swiftLanguageModes: [.v6]
)

// swift-tools-version:6.2
import PackageDescription

// Micro benchmarks of Parley's hot paths (ordo-one/benchmark). A package of its own, so that the server
// and CI never build the benchmark library. Run: `swift package --package-path Benchmarks benchmark`.
let package = Package(
    name: "ParleyBenchmarks",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(name: "parley", path: ".."),
        // The MallocInterposer trait alone: the default RuntimeInterposer trait needs a package this machine lacks.
        .package(url: "https://github.com/ordo-one/benchmark.git", exact: "1.38.1", traits: ["MallocInterposer"]),
    ],
    targets: [
        .executableTarget(
            name: "Codec",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "ParleyProtocol", package: "parley"),
                .product(name: "ParleyServer", package: "parley"),
            ],
            path: "Benchmarks/Codec",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
        .executableTarget(
            name: "Delivery",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "ParleyProtocol", package: "parley"),
                .product(name: "ParleyServer", package: "parley"),
            ],
            path: "Benchmarks/Delivery",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
        .executableTarget(
            name: "Welcome",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "ParleyServer", package: "parley"),
            ],
            path: "Benchmarks/Welcome",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
    ]
)

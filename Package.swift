// swift-tools-version:6.0
// NovaCron control plane: shared libraries, services and tests. Layout: ../shared/ARCHITECTURE.md.
import PackageDescription

let package = Package(
    name: "NovaCron",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "novacron-devbroker", targets: ["DevBroker"]),
        .executable(name: "novacron-bench-bus", targets: ["BenchBus"]),
        .executable(name: "novacron-bench-placement", targets: ["BenchPlacement"]),
        .executable(name: "novacron-bench-runtime", targets: ["BenchRuntime"]),
        .executable(name: "novacron-placement", targets: ["Placement"]),
        .executable(name: "novacron-provider", targets: ["CloudAdapters"]),
        .executable(name: "novacronctl", targets: ["Novacronctl"]),
        .executable(name: "novacron-sim", targets: ["Simulator"]),
        .library(name: "NovaCore", targets: ["NovaCore"]),
        .library(name: "NovaBus", targets: ["NovaBus"]),
        .library(name: "NovaStore", targets: ["NovaStore"]),
        .library(name: "NovaService", targets: ["NovaService"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-protobuf.git", exact: "1.39.0"),
        .package(url: "https://github.com/vapor/postgres-nio.git", exact: "1.33.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", exact: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", exact: "2.4.1"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", exact: "1.8.2"),
        // SHA-256 and HMAC for AWS SigV4 (postgres-nio already depends on it).
        .package(url: "https://github.com/apple/swift-crypto.git", "3.9.0"..<"5.0.0"),
        // The AWS adapter's HTTP client (EC2 Query API).
        .package(url: "https://github.com/swift-server/async-http-client.git", exact: "1.37.0"),
    ],
    targets: [
        .systemLibrary(
            name: "CRdKafka", path: "Shared/CRdKafka", pkgConfig: "rdkafka",
            providers: [.apt(["librdkafka-dev"])]),
        .target(
            name: "NovaProto", dependencies: [.product(name: "SwiftProtobuf", package: "swift-protobuf")],
            path: "Shared/NovaProto"),
        .target(
            name: "NovaCore",
            dependencies: ["NovaProto", .product(name: "SwiftProtobuf", package: "swift-protobuf")],
            path: "Shared/NovaCore"),
        .target(
            name: "NovaBus",
            dependencies: ["CRdKafka", "NovaCore", "NovaProto", .product(name: "Logging", package: "swift-log")],
            path: "Shared/NovaBus"),
        .target(
            name: "NovaStore",
            dependencies: [
                "NovaCore", .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ],
            path: "Shared/NovaStore"),
        .target(
            name: "NovaService",
            dependencies: [
                "NovaCore", "NovaProto", "NovaBus", "NovaStore",
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            path: "Shared/NovaService"),
        .executableTarget(
            name: "DevBroker",
            dependencies: ["NovaBus", "NovaCore", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            path: "Services/DevBroker"),
        .executableTarget(
            name: "BenchBus",
            dependencies: ["NovaBus", "NovaCore", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            path: "Services/BenchBus"),
        // Placement: the pure engine (filters, scorers, explanations) and its benchmark.
        .target(name: "PlacementCore", dependencies: ["NovaCore", "NovaProto"], path: "Services/Placement/Core"),
        .executableTarget(
            name: "Placement",
            dependencies: [
                "PlacementCore", "NovaService", "NovaStore", "NovaCore", "NovaProto",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
            ],
            path: "Services/Placement/Service"),
        // Cloud-provider adapters: instance lifecycle and the simulated cloud (pure), and the
        // `novacron-provider` executable.
        .target(
            name: "CloudAdaptersCore",
            dependencies: ["NovaCore", "NovaProto", .product(name: "Crypto", package: "swift-crypto")],
            path: "Services/CloudAdapters/Core"),
        .executableTarget(
            name: "CloudAdapters",
            dependencies: [
                "CloudAdaptersCore", "NovaService", "NovaStore", "NovaCore", "NovaProto",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
            ],
            path: "Services/CloudAdapters/Service"),
        .executableTarget(
            name: "BenchPlacement",
            dependencies: [
                "PlacementCore", "NovaCore", "NovaBus", "NovaProto", "NovaStore", "NovaTestSupport",
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Services/Placement/Bench"),
        // The operator CLI: its option grammar and event filters (pure), and the executable.
        .target(name: "ControlCore", dependencies: ["NovaCore", "NovaProto", .product(name: "SwiftProtobuf", package: "swift-protobuf")], path: "Services/Control/Core"),
        .executableTarget(
            name: "Novacronctl",
            dependencies: [
                "ControlCore", "NovaBus", "NovaCore", "NovaProto",
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Services/Control/CLI"),
        // The fleet simulator: scenario, fleet and workload generators, summary (pure), and the executable.
        .target(
            name: "SimulatorCore", dependencies: ["ControlCore", "NovaCore", "NovaProto", .product(name: "SwiftProtobuf", package: "swift-protobuf")],
            path: "Services/Simulator/Core"),
        .executableTarget(
            name: "Simulator",
            dependencies: [
                "SimulatorCore", "NovaBus", "NovaCore", "NovaProto",
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Services/Simulator/Service"),
        // A minimal service built on NovaService that integration tests run as a child process
        // (to SIGKILL it, restart it, run two replicas). It is test infrastructure, not a product.
        .executableTarget(
            name: "NovaFixtureService",
            dependencies: ["NovaService", "NovaCore", "NovaProto"],
            path: "Tests/Fixture"),
        // The runtime's timers and key ownership measured through the fixture on the dev stack.
        .executableTarget(
            name: "BenchRuntime",
            dependencies: [
                "NovaTestSupport", "NovaService", "NovaBus", "NovaCore",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Services/Runtime/Bench"),
        .testTarget(name: "NovaCoreTests", dependencies: ["NovaCore", "NovaProto"]),
        .testTarget(name: "PlacementCoreTests", dependencies: ["PlacementCore", "NovaCore", "NovaProto"]),
        .testTarget(name: "CloudAdaptersCoreTests", dependencies: ["CloudAdaptersCore", "NovaCore", "NovaProto"]),
        .testTarget(name: "ControlCoreTests", dependencies: ["ControlCore", "NovaCore", "NovaProto"]),
        .testTarget(name: "SimulatorCoreTests", dependencies: ["SimulatorCore", "NovaCore", "NovaProto"]),
        // What every service's integration tests stand on: the private stack's servers, services
        // run as N child processes (kill, restart, pause), barriers, topic readers, schema reads.
        .target(
            name: "NovaTestSupport",
            dependencies: [
                "NovaBus", "NovaStore", "NovaService", "NovaCore", "NovaProto",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Tests/Support"),
        .testTarget(
            name: "IntegrationTests",
            dependencies: [
                "NovaTestSupport", "NovaBus", "NovaStore", "NovaService", "NovaCore", "NovaProto",
                .product(name: "PostgresNIO", package: "postgres-nio"),
            ]),
    ]
)

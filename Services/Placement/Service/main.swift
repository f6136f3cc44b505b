import Foundation
import NovaCore
import NovaService
import PlacementCore

/// `novacron-placement`: decides which host runs each VM (see README "Placement").
/// Besides the runtime's variables it reads PLACEMENT_DEFAULT_STRATEGY (binpack, spread or
/// balanced; default binpack).
let environment = ProcessInfo.processInfo.environment
let strategy: PlacementStrategy
if let raw = environment["PLACEMENT_DEFAULT_STRATEGY"] {
    guard let parsed = PlacementStrategy(rawValue: raw) else {
        FileHandle.standardError.write(
            Data("novacron-placement: configuration error: PLACEMENT_DEFAULT_STRATEGY: '\(raw)' is not binpack, spread or balanced\n".utf8))
        exit(2)
    }
    strategy = parsed
} else {
    strategy = .binpack
}

let definition = ServiceDefinition(
    name: "placement", topics: [TopicCatalog.hostEvents, TopicCatalog.hostTelemetry, TopicCatalog.vmCommands, TopicCatalog.providerEvents],
    migrations: PlacementSchema.migrations
) { context in
    PlacementHandler(
        cache: FleetCache(), engine: PlacementEngine(policy: PlacementPolicy(defaultStrategy: strategy)),
        metrics: PlacementMetrics(registry: context.metrics.registry))
}

await ServiceRuntime.main(definition)

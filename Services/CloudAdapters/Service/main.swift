import CloudAdaptersCore
import Foundation
import NovaCore
import NovaService

/// `novacron-provider`: the cloud-provider adapter, one process per provider
/// (`NOVACRON_PROVIDER`); see README "Providers". Only the simulated provider (`sim`) is
/// implemented so far; it reads the `SIM_*` variables.
let environment = ProcessInfo.processInfo.environment

func configurationError(_ message: String) -> Never {
    FileHandle.standardError.write(Data("novacron-provider: configuration error: \(message)\n".utf8))
    exit(2)
}

let provider: ProviderKind
let cloud: SimulatedCloud
do {
    provider = try ProviderKind(parsing: environment["NOVACRON_PROVIDER"])
    guard provider == .sim else {
        configurationError("NOVACRON_PROVIDER: '\(provider.rawValue)' has no adapter yet; only 'sim' runs in this build")
    }
    cloud = try SimulatedCloud(environment: environment)
} catch {
    configurationError(error.description)
}

let definition = ServiceDefinition(
    name: "provider", schema: provider.schema, topics: [provider.commandTopic], migrations: ProviderSchema.migrations,
    keyedPartitions: Int32(TopicCatalog.descriptor(for: provider.commandTopic)?.partitions ?? TopicCatalog.quietPartitions),
    consumerGroup: provider.consumerGroup
) { context in
    ProviderHandler(
        provider: provider, cloud: cloud, clock: context.clock, deadlines: context.deadlines,
        metrics: ProviderMetrics(registry: context.metrics.registry, provider: provider), events: ProviderEvents(provider: provider))
}

await ServiceRuntime.main(definition)

import CloudAdaptersCore
import Foundation
import NovaCore
import NovaService

/// `novacron-provider`: the cloud-provider adapter, one process per provider
/// (`NOVACRON_PROVIDER`); see README "Providers". `sim` reads the `SIM_*` variables; `aws`
/// the usual AWS variables plus NOVACRON_AWS_IMAGE_ID, and checks its credentials at start.
let environment = ProcessInfo.processInfo.environment

func fail(_ message: String, code: Int32) -> Never {
    FileHandle.standardError.write(Data("novacron-provider: \(message)\n".utf8))
    exit(code)
}

let provider: ProviderKind
do {
    provider = try ProviderKind(parsing: environment["NOVACRON_PROVIDER"])
} catch {
    fail("configuration error: \(error.description)", code: 2)
}

let backend: any ProviderBackend
switch provider {
case .sim:
    do { backend = try SimulatedCloud(environment: environment) } catch { fail("configuration error: \(error.description)", code: 2) }
case .aws:
    let client: EC2Client
    do { client = try EC2Client(environment: environment) } catch { fail("configuration error: \(error.description)", code: 2) }
    guard let image = environment["NOVACRON_AWS_IMAGE_ID"], !image.isEmpty else {
        fail("configuration error: NOVACRON_AWS_IMAGE_ID: is required for NOVACRON_PROVIDER=aws (the AMI new instances boot)", code: 2)
    }
    // Credentials are checked once at start: refused ones are a configuration error, not a retry.
    do {
        _ = try await client.call(EC2Query.describeHosts([]))
    } catch where error.kind == .auth {
        fail("configuration error: AWS refused the credentials (\(error)); check AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION", code: 2)
    } catch {
        fail("cannot reach EC2 at \(client.endpoint): \(error)", code: 1)
    }
    backend = AWSCloud(client: client, imageID: image)
case .azure, .gcp, .libvirt:
    fail("configuration error: NOVACRON_PROVIDER: '\(provider.rawValue)' has no adapter yet; 'sim' and 'aws' run in this build", code: 2)
}

// Tests only: SIGKILL inside the first completion's transaction, after the provider call and
// before the commit: the crash the adapter's tags and records must survive.
var hooks = FaultHooks()
if environment["NOVACRON_PROVIDER_CRASH_BEFORE_COMMIT"] == "1" {
    hooks.beforeTimerCommit = { _ in kill(getpid(), SIGKILL) }
}

let definition = ServiceDefinition(
    name: "provider", schema: provider.schema, topics: [provider.commandTopic], migrations: ProviderSchema.migrations, hooks: hooks,
    keyedPartitions: Int32(TopicCatalog.descriptor(for: provider.commandTopic)?.partitions ?? TopicCatalog.quietPartitions),
    consumerGroup: provider.consumerGroup
) { context in
    ProviderHandler(
        cloud: backend, clock: context.clock, deadlines: context.deadlines,
        metrics: ProviderMetrics(registry: context.metrics.registry, provider: provider), events: ProviderEvents(provider: provider))
}

await ServiceRuntime.main(definition)

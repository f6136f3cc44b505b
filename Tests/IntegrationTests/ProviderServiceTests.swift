import Foundation
import NovaBus
import NovaCore
import NovaProto
import NovaService
import NovaTestSupport
import SwiftProtobuf
import Testing

/// Everything this run's keys carried on some topics, decoded, as it arrives.
final class TopicLog: Sendable {
    private let consumer: KafkaConsumer
    private let store = TopicLogStore()
    private let reader: Task<Void, Error>

    init(env: TestEnvironment, topics: [String], run: String) throws {
        let consumer = try KafkaConsumer(configuration: env.kafka, groupID: TestEnvironment.uniqueName("log"), topics: topics)
        self.consumer = consumer
        let store = store
        reader = Task {
            for try await record in consumer where record.keyString.hasPrefix(run) {
                guard let event = try? EnvelopeCodec.decode(record.value) else { continue }
                await store.add(record.topic, event)
            }
        }
    }

    /// The messages of type `M` heard so far on `topic` (any topic when nil).
    func messages<M: SwiftProtobuf.Message>(_ type: M.Type, on topic: String? = nil) async -> [M] {
        await store.events.filter { topic == nil || $0.topic == topic }.compactMap { $0.event.message as? M }
    }

    /// Waits until `condition` holds over what was heard; false after `timeout`.
    func wait(timeout: Duration = .seconds(30), until condition: (TopicLog) async -> Bool) async -> Bool {
        await eventually(timeout: timeout) { await condition(self) }
    }

    func stop() {
        consumer.stopFetching()
        reader.cancel()
    }
}

actor TopicLogStore {
    private(set) var events: [(topic: String, event: DecodedEvent)] = []
    func add(_ topic: String, _ event: DecodedEvent) { events.append((topic, event)) }
}

/// A provider-adapter deployment: its own schema and consumer group on the provider's catalog
/// command topic, read from the end; this run's VMs carry its prefix.
struct ProviderDeployment {
    let env: TestEnvironment
    let deployment: ServiceDeployment
    let topic: String
    var run: String { deployment.schema }
    static let topic = TopicCatalog.providerCommands("sim")

    init(env: TestEnvironment, name: String, provider: String = "sim", environment: [String: String] = [:]) {
        self.env = env
        topic = TopicCatalog.providerCommands(provider)
        deployment = ServiceDeployment(
            env: env, binary: "novacron-provider", name: name,
            environment: ["NOVACRON_PROVIDER": provider, "KAFKA_AUTO_OFFSET_RESET": "latest"].merging(environment) { $1 })
    }

    /// Starts replicas and returns once the group consumes every partition of the command
    /// topic: terminate probes for unknown VMs, answered at once with `VMTerminated`.
    func startConsuming(_ names: [String], environment: [String: String] = [:]) async throws -> ReplicaSet {
        let replicas = try await deployment.startReady(names, environment: environment)
        do {
            try await env.waitUntilConsuming(
                partitions: TopicCatalog.quietPartitions, answers: [TopicCatalog.providerEvents],
                probe: { key in
                    var probe = Novacron_V1_TerminateVM()
                    probe.commandID = key
                    probe.vmID = key
                    return try Records.envelope(probe, key: key, topic: topic)
                }, answerKey: { $0.keyString })
            return replicas
        } catch {
            await replicas.stopAll()
            throw error
        }
    }

    func send(_ messages: [any SwiftProtobuf.Message]) async throws {
        try await env.publish(messages.map { m in
            let vmID = (try? Novacron_V1_TerminateVM(serializedBytes: try m.serializedBytes() as [UInt8], extensions: nil, partial: true))?.vmID ?? ""
            return try Records.envelope(m, key: vmID, topic: topic)
        })
    }

    /// A create of this run's VM `vm` on `host` (default: this run's `h-1`).
    func provision(_ vm: Int, host: String? = nil, command: String? = nil) -> Novacron_V1_ProvisionVM {
        var c = Novacron_V1_ProvisionVM()
        c.commandID = command ?? "\(run)-p\(vm)"
        c.vmID = "\(run)-vm\(vm)"
        c.hostID = host ?? "\(run)-h-1"
        c.resources = Resources(vcpuMillis: 1000, memoryMiB: 1024).proto
        return c
    }

    func terminate(_ vm: Int, command: String) -> Novacron_V1_TerminateVM {
        var c = Novacron_V1_TerminateVM()
        c.commandID = command
        c.vmID = "\(run)-vm\(vm)"
        return c
    }
}

@Suite(.serialized) struct ProviderServiceTests {
    static let start: Int64 = 1_800_000_000_000

    /// On a manual clock: a create answers only once its simulated latency has passed, once
    /// however often it is asked; a VM asked for on another host is refused; a terminate
    /// overtakes a create in flight; invalid commands are dead-lettered with the field; the
    /// records survive a restart, so a repeat after it still makes no second call.
    @Test func theSimulatedProviderIsIdempotentOnAManualClock() async throws {
        let env = try TestEnvironment.current()
        let clock = FileManager.default.temporaryDirectory.appendingPathComponent("novacron-clock-\(UUID().uuidString.prefix(8))").path
        try FileClock.write(Self.start, to: clock)
        defer { unlink(clock) }
        let p = ProviderDeployment(
            env: env, name: "simidem",
            environment: ["NOVACRON_CLOCK_FILE": clock, "SIM_PROVISION_MS": "1000", "SIM_TERMINATE_MS": "100", "SIM_FAILURE_RATE": "0"])
        var replicas = try await p.startConsuming(["a"])
        let log = try TopicLog(env: env, topics: [TopicCatalog.providerEvents, TopicCatalog.vmEvents, TopicCatalog.deadLetter], run: p.run)
        defer { log.stop() }
        do {
            var noHost = p.provision(9)
            noHost.hostID = ""
            try await p.send([p.provision(1), p.provision(1), p.provision(1, command: "\(p.run)-p1-again"), p.provision(2), noHost])
            try await p.send([p.terminate(2, command: "\(p.run)-t2"), p.provision(1, host: "\(p.run)-h-2", command: "\(p.run)-p1-elsewhere")])
            // Nothing answers before the clock moves, but the refusal of the other host.
            #expect(await log.wait { await $0.messages(Novacron_V1_ProvisionFailed.self).contains { $0.commandID == "\(p.run)-p1-elsewhere" } })
            let refusal = await log.messages(Novacron_V1_ProvisionFailed.self).first { $0.commandID == "\(p.run)-p1-elsewhere" }
            #expect(refusal?.reason.hasPrefix("conflict:") == true && refusal?.retryable == false, "\(String(describing: refusal))")
            #expect(await log.messages(Novacron_V1_VMProvisioned.self).isEmpty, "no create answers before its latency passed")
            let dead = try await collect(env, topics: [TopicCatalog.deadLetter], count: 1) { $0.keyString == "\(p.run)-vm9" }
            #expect(dead.first?.header(DeadLetterPublisher.Header.reason)?.contains("host_id") == true)

            try FileClock.write(Self.start + 1000, to: clock)
            #expect(await log.wait { log in
                let terminated = await log.messages(Novacron_V1_VMTerminated.self).contains { $0.vmID == "\(p.run)-vm2" }
                let provisioned = await log.messages(Novacron_V1_VMProvisioned.self)
                return terminated && !provisioned.isEmpty
            })
            let provisioned = await log.messages(Novacron_V1_VMProvisioned.self)
            #expect(provisioned.map(\.vmID) == ["\(p.run)-vm1"], "vm1 once, vm2 never (its terminate overtook the create)")
            #expect(provisioned.first?.commandID == "\(p.run)-p1" && provisioned.first?.provider == "sim")
            let running = await log.messages(Novacron_V1_VMStateChanged.self, on: TopicCatalog.vmEvents)
            #expect(running.count == 1 && running.first?.current == .running && running.first?.hostID == "\(p.run)-h-1")
            #expect(try await p.deployment.scalar("SELECT state FROM instances WHERE vm_id = \(p.run + "-vm2")", as: String.self) == "terminated")

            // A restart keeps the records: the same create again is answered from them.
            await replicas.stopAll()
            replicas = try await p.startConsuming(["b"])
            try await p.send([p.provision(1, command: "\(p.run)-p1-after-restart")])
            #expect(await log.wait { await $0.messages(Novacron_V1_VMProvisioned.self).count == 2 })
            let again = await log.messages(Novacron_V1_VMProvisioned.self)
            #expect(again.last?.providerRef == again.first?.providerRef, "the same instance, not a second one")
            #expect(try await p.deployment.scalar("SELECT count(*)::int FROM instances WHERE vm_id LIKE \(p.run + "-%")", as: Int.self) == 2)
        } catch {
            Issue.record(error)
        }
        await replicas.stopAll()
    }

    /// The whole path on the real clock: placement places a VM on a sim host and asks the sim
    /// provider, which reports it running; a release terminates it; a move between two sim
    /// hosts migrates it; a host without a provider gets no command.
    @Test func placementDrivesTheSimulatedProvider() async throws {
        let env = try TestEnvironment.current()
        let placement = PlacementDeployment(env: env, name: "plprov")
        let provider = ProviderDeployment(
            env: env, name: "plprov", environment: ["SIM_PROVISION_MS": "20-50", "SIM_MIGRATE_MS": "20-50", "SIM_FAILURE_RATE": "0"])
        let services = try await placement.startConsuming("placement")
        let providers = try await provider.startConsuming(["sim"])
        let run = placement.run
        let log = try TopicLog(
            env: env, topics: [TopicCatalog.vmEvents, TopicCatalog.providerEvents, ProviderDeployment.topic], run: run)
        defer { log.stop() }
        do {
            var hosts = (0..<2).map { i -> Novacron_V1_HostRegistered in
                var h = placement.host(i)
                h.provider = "sim"
                return h
            }
            var unmanaged = placement.host(2)
            unmanaged.labels = ["pool": "unmanaged"]
            hosts.append(unmanaged)
            try await placement.publish(hosts.map { (TopicCatalog.hostEvents, $0.hostID, $0) })
            #expect(await placement.waitForHosts(3))

            // On the unmanaged host: the VM is placed, no provider is asked.
            var onUnmanaged = placement.place(0)
            var inPool = Novacron_V1_LabelSelectorRequirement()
            inPool.key = "pool"
            inPool.operator = .exists
            onUnmanaged.constraints.selectors = [inPool]
            try await placement.publish([(TopicCatalog.vmCommands, onUnmanaged.vmID, onUnmanaged)])
            #expect(await log.wait { !(await $0.messages(Novacron_V1_VMPlaced.self)).isEmpty })
            #expect(await log.messages(Novacron_V1_VMPlaced.self).first?.hostID == "\(run)-h2")

            var onSim = placement.place(1)
            var selector = Novacron_V1_LabelSelectorRequirement()
            selector.key = "pool"
            selector.operator = .doesNotExist
            onSim.constraints.selectors = [selector]
            onSim.resources.vcpuMillis = 3000
            try await placement.publish([(TopicCatalog.vmCommands, onSim.vmID, onSim)])
            #expect(await log.wait {
                await $0.messages(Novacron_V1_VMStateChanged.self).contains { $0.vmID == onSim.vmID && $0.current == .running }
            })
            let placed = try #require(await log.messages(Novacron_V1_VMPlaced.self).first { $0.vmID == onSim.vmID })
            let provision = await log.messages(Novacron_V1_ProvisionVM.self)
            #expect(provision.count == 1 && provision.first?.vmID == onSim.vmID && provision.first?.hostID == placed.hostID)
            #expect(provision.first?.commandID == "\(onSim.commandID)/provision")
            #expect(provision.first?.resources.vcpuMillis == 3000)
            #expect(await log.messages(Novacron_V1_VMProvisioned.self).map(\.vmID) == [onSim.vmID])

            var migrate = Novacron_V1_MigrateVM()
            migrate.commandID = "\(run)-mig1"
            migrate.vmID = onSim.vmID
            try await placement.publish([(TopicCatalog.vmCommands, migrate.vmID, migrate)])
            #expect(await log.wait {
                await $0.messages(Novacron_V1_VMStateChanged.self).contains { $0.vmID == onSim.vmID && $0.previous == .migrating && $0.current == .running }
            })
            let moved = await log.messages(Novacron_V1_ProviderMigrateVM.self)
            #expect(moved.count == 1 && moved.first?.sourceHostID == placed.hostID && moved.first?.targetHostID != placed.hostID)

            var release = Novacron_V1_ReleaseVM()
            release.commandID = "\(run)-rel1"
            release.vmID = onSim.vmID
            try await placement.publish([(TopicCatalog.vmCommands, release.vmID, release)])
            #expect(await log.wait { await $0.messages(Novacron_V1_VMTerminated.self).map(\.vmID) == [onSim.vmID] })
            #expect(await log.messages(Novacron_V1_TerminateVM.self).map(\.commandID) == ["\(run)-rel1/terminate"])
            #expect(await log.messages(Novacron_V1_ProvisionVM.self).count == 1, "the unmanaged host's VM asked no provider")
        } catch {
            Issue.record(error)
        }
        await providers.stopAll()
        for service in services { await service.stop() }
    }

    /// A create the provider cannot carry out gives the claim back: placement reads the
    /// `ProvisionFailed` of its own provision command, releases the VM (no terminate: there is
    /// no instance) and its host's allocation returns to zero.
    @Test func aFailedCreateGivesTheClaimBack() async throws {
        let env = try TestEnvironment.current()
        let placement = PlacementDeployment(env: env, name: "plfail")
        let provider = ProviderDeployment(env: env, name: "plfail", environment: ["SIM_PROVISION_MS": "10", "SIM_FAILURE_RATE": "1"])
        let services = try await placement.startConsuming("placement")
        let providers = try await provider.startConsuming(["sim"])
        let run = placement.run
        let log = try TopicLog(env: env, topics: [TopicCatalog.vmEvents, TopicCatalog.providerEvents, ProviderDeployment.topic], run: run)
        defer { log.stop() }
        do {
            var h = placement.host(0)
            h.provider = "sim"
            try await placement.publish([(TopicCatalog.hostEvents, h.hostID, h)])
            #expect(await placement.waitForHosts(1))
            let command = placement.place(1)
            try await placement.publish([(TopicCatalog.vmCommands, command.vmID, command)])
            #expect(await log.wait { await $0.messages(Novacron_V1_VMReleased.self).contains { $0.vmID == command.vmID } })
            let failed = await log.messages(Novacron_V1_ProvisionFailed.self)
            #expect(failed.count == 1 && failed.first?.commandID == "\(command.commandID)/provision")
            let released = try #require(await log.messages(Novacron_V1_VMReleased.self).first)
            #expect(released.commandID == "\(command.commandID)/provision" && released.hostID == h.hostID)
            #expect(try await placement.allocatedCPU() == 0)
            #expect(await log.messages(Novacron_V1_TerminateVM.self).isEmpty, "no instance to terminate")
            let state = await log.messages(Novacron_V1_VMStateChanged.self).first
            #expect(state?.current == .failed && state?.reason.isEmpty == false)
        } catch {
            Issue.record(error)
        }
        await providers.stopAll()
        for service in services { await service.stop() }
    }
}

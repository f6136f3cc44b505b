import Foundation
import Logging
import NovaBus
import NovaCore
import NovaProto
import SimulatorCore
import SwiftProtobuf

/// Plays a scenario against a running control plane, through Kafka only: registers the
/// fleet (its hosts are the simulated provider's), keeps it heartbeating and reporting host and
/// VM utilisation, publishes the workload at the scenario's rate, injects its incidents, and
/// reports progress and a summary, including what `novacron-provider` (sim) made of the
/// placements.
final class FleetDriver: Sendable {
    static let producerName = "novacron-sim"

    let scenario: Scenario
    let run: String
    let hosts: [Novacron_V1_HostRegistered]
    let producer: KafkaProducer
    let reader: KafkaReader
    let book = AnswerBook()
    let conditions = FleetConditions()
    let progress: ProgressOutput
    /// The VM group of each workload VM, for its telemetry.
    let groupOf: [String: String]
    /// Each host's zone, for the load spikes its VMs see.
    let zoneOfHost: [String: String]

    init(
        scenario: Scenario, run: String, commands: [Novacron_V1_PlaceVM], kafka: KafkaConfiguration, progress: ProgressOutput,
        logger: Logger
    ) async throws {
        self.scenario = scenario
        groupOf = Dictionary(commands.compactMap { c in c.groups.first.map { (c.vmID, $0) } }, uniquingKeysWith: { first, _ in first })
        self.run = run
        self.progress = progress
        hosts = FleetGenerator.hosts(scenario.fleet, seed: scenario.seed)
        zoneOfHost = Dictionary(hosts.map { ($0.hostID, $0.topology.zone) }, uniquingKeysWith: { first, _ in first })
        producer = try KafkaProducer(configuration: kafka, logger: logger)
        do {
            _ = try await producer.topicNames()
            reader = try await KafkaReader.open(configuration: kafka, topics: [TopicCatalog.vmEvents], from: .end, logger: logger)
        } catch {
            await producer.close(flushTimeoutMillis: 0)
            throw error
        }
    }

    /// Registers the fleet and waits until the placement service counts every host.
    func registerFleet(timeout: Duration) async throws {
        progress.note("registering \(hosts.count) hosts in \(scenario.fleet.regions.count) regions x \(scenario.fleet.zonesPerRegion) zones")
        try await publish(hosts.map { ($0, $0.hostID, TopicCatalog.hostEvents) })
        for host in hosts { await book.apply(host) }
        let deadline = ContinuousClock.now + timeout
        var round = 0
        while ContinuousClock.now < deadline {
            round += 1
            // A dry run no host can take: its failure says how many hosts placement knows.
            var probe = Novacron_V1_PlaceVM()
            probe.vmID = "\(run)-inventory-probe"
            probe.commandID = "\(run)-probe-\(round)"
            probe.resources.vcpuMillis = 1
            probe.resources.memoryMib = 1
            var selector = Novacron_V1_LabelSelectorRequirement()
            selector.key = "novacron-sim-probe"
            selector.operator = .exists
            probe.constraints.selectors = [selector]
            probe.dryRun = true
            try await publish([(probe, probe.vmID, TopicCatalog.vmCommands)])
            let answerBy = ContinuousClock.now + .seconds(2)
            while ContinuousClock.now < answerBy {
                if let answer = await book.probe(probe.commandID) {
                    if answer.hostsTotal >= hosts.count {
                        progress.note("novacron-placement knows \(answer.hostsTotal) hosts")
                        return
                    }
                    break
                }
                try await Task.sleep(for: .milliseconds(50))
            }
            try await Task.sleep(for: .milliseconds(300))
        }
        throw SimulatorFailure("novacron-placement did not report all \(hosts.count) hosts within \(timeout); is it running and consuming?")
    }

    /// Reads `novacron.vm.events` into the answer book until the reader stops.
    func listen() async throws {
        var iterator = reader.makeAsyncIterator()
        while let batch = try await iterator.nextBatch() {
            let now = ContinuousClock.now
            for record in batch {
                guard let event = try? EnvelopeCodec.decode(record.value, topic: record.topic) else { continue }
                await book.heard(event.message, at: now)
            }
        }
    }

    /// Waits until the provider answered every VM placed (running or failed), up to `timeout`;
    /// returns how many are still waiting.
    func awaitProvisioning(timeout: Duration) async throws -> Int {
        let deadline = ContinuousClock.now + timeout
        var waiting = await book.awaitingProvider
        while waiting > 0 && ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(100))
            waiting = await book.awaitingProvider
        }
        return waiting
    }

    /// Heartbeats and utilisation samples from every live host, at the scenario's intervals.
    func report() async throws {
        let heartbeat = Duration.milliseconds(Int64(scenario.telemetry.heartbeatSeconds * 1000))
        let sample = Duration.milliseconds(Int64(scenario.telemetry.sampleSeconds * 1000))
        var nextHeartbeat = ContinuousClock.now
        var nextSample = ContinuousClock.now
        var sequence: UInt64 = 0
        var tick = 0
        while !Task.isCancelled {
            let now = ContinuousClock.now
            let failed = await conditions.failed
            if now >= nextHeartbeat {
                sequence += 1
                try await publish(hosts.filter { !failed.contains($0.hostID) }.map { h in
                    var beat = Novacron_V1_HostHeartbeat()
                    beat.hostID = h.hostID
                    beat.sequence = sequence
                    return (beat, h.hostID, TopicCatalog.hostTelemetry)
                })
                nextHeartbeat = now + heartbeat
            }
            if now >= nextSample {
                tick += 1
                try await sampleUtilisation(tick: tick, skipping: failed)
                nextSample = now + sample
            }
            try await Task.sleep(until: min(nextHeartbeat, nextSample), clock: .continuous)
        }
    }

    private func sampleUtilisation(tick: Int, skipping failed: Set<String>) async throws {
        let ledger = await book.ledger
        let spikes = await conditions.spikes
        var allocated: [String: Resources] = [:]
        var running: [String: Int32] = [:]
        for placement in ledger.placements.values {
            allocated[placement.hostID] = (try? (allocated[placement.hostID] ?? .zero).adding(placement.resources)) ?? allocated[placement.hostID]
            running[placement.hostID, default: 0] += 1
        }
        var samples: [(any SwiftProtobuf.Message, String, String)] = []
        samples.reserveCapacity(hosts.count + ledger.placements.count)
        for (index, h) in hosts.enumerated() where !failed.contains(h.hostID) {
            let used = allocated[h.hostID] ?? .zero
            var t = Novacron_V1_HostTelemetry()
            t.hostID = h.hostID
            t.utilisation = TelemetryModel.sample(
                cpuAllocated: Double(used.vcpuMillis) / Double(max(1, h.capacity.vcpuMillis)),
                memoryAllocated: Double(used.memoryMiB) / Double(max(1, h.capacity.memoryMib)),
                host: index, tick: tick, spike: spikes[h.topology.zone])
            t.runningVms = running[h.hostID] ?? 0
            samples.append((t, h.hostID, TopicCatalog.hostTelemetry))
        }
        for (message, _, _) in samples { await book.apply(message) }
        // Each running VM reports too, busier where its host's zone is under a spike.
        for (vmID, placement) in ledger.placements where !failed.contains(placement.hostID) {
            let spike = zoneOfHost[placement.hostID].flatMap { spikes[$0] }
            var t = Novacron_V1_VMTelemetry()
            t.vmID = vmID
            t.groupID = groupOf[vmID] ?? ""
            let u = TelemetryModel.sample(cpuAllocated: 1, memoryAllocated: 0.8, host: vmID.hashValue & 0xFFFF, tick: tick, spike: spike)
            t.cpu = u.cpu
            t.memory = u.memory
            t.requestsPerSecond = (u.cpu * 400).rounded()
            t.queueDepth = spike == nil ? 0 : (u.cpu * 50).rounded()
            samples.append((t, vmID, TopicCatalog.vmTelemetry))
        }
        try await publish(samples)
    }

    /// Publishes the workload at the scenario's rate, firing incidents as answers come in,
    /// and waits for every answer (or `timeout` after the last command).
    func placeWorkload(_ commands: [Novacron_V1_PlaceVM], timeout: Duration) async throws -> (elapsed: Duration, complete: Bool) {
        let started = ContinuousClock.now
        let rate = scenario.workload.rate
        let batch = max(1, rate / 100)
        var incidents = scenario.incidents.sorted { $0.afterAnswers < $1.afterAnswers }
        progress.note("placing \(commands.count) VMs at up to \(rate)/s")
        var sent = 0
        var lastDraw = ContinuousClock.now
        var lastAnswer = ContinuousClock.now
        var answeredBefore = 0
        while true {
            if sent < commands.count {
                let due = started + .microseconds(Int64(sent) * 1_000_000 / Int64(rate))
                if ContinuousClock.now < due { try await Task.sleep(until: due, clock: .continuous) }
                let slice = commands[sent..<min(commands.count, sent + batch)]
                await book.publishing(slice.map(\.commandID), at: ContinuousClock.now)
                try await publish(slice.map { ($0, $0.vmID, TopicCatalog.vmCommands) })
                sent += slice.count
            } else {
                try await Task.sleep(for: .milliseconds(20))
            }
            let summary = await book.summary
            let now = ContinuousClock.now
            if summary.answered != answeredBefore {
                answeredBefore = summary.answered
                lastAnswer = now
            }
            while let next = incidents.first, summary.answered >= next.afterAnswers {
                incidents.removeFirst()
                try await inject(next)
            }
            if now - lastDraw >= .milliseconds(100) || summary.answered == commands.count {
                progress.update(done: summary.answered, total: commands.count, placed: summary.placed, failed: summary.failed, elapsed: now - started)
                lastDraw = now
            }
            if summary.answered >= commands.count { return (now - started, true) }
            if sent == commands.count && now - lastAnswer > timeout { return (now - started, false) }
        }
    }

    /// Publishes the state changes and telemetry an incident stands for.
    func inject(_ incident: Scenario.Incident) async throws {
        let ledger = await book.ledger
        let inZone = hosts.filter { incident.zone == nil || $0.topology.zone == incident.zone }
        switch incident.kind {
        case .zoneOutage, .hostFailure:
            let ready = inZone.filter { ledger.hosts[$0.hostID]?.state == .ready }
            var random = SplitMix64(seed: scenario.seed &+ UInt64(incident.afterAnswers))
            let victims = incident.kind == .zoneOutage ? ready : Array(ready.shuffled(using: &random).prefix(incident.count ?? 1))
            try await changeState(victims, to: .failed, reason: "\(incident.kind.rawValue) injected by novacron-sim")
            await conditions.fail(victims.map(\.hostID))
            progress.note("incident: \(victims.count) hosts failed" + (incident.zone.map { " in \($0)" } ?? ""))
        case .recovery:
            let failed = inZone.filter { ledger.hosts[$0.hostID]?.state == .failed }
            try await changeState(failed, to: .ready, reason: "recovered (novacron-sim)")
            await conditions.recover(failed.map(\.hostID))
            progress.note("incident: \(failed.count) hosts recovered" + (incident.zone.map { " in \($0)" } ?? ""))
        case .loadSpike:
            await conditions.spike(zone: incident.zone, cpu: incident.cpu ?? 0.95, zones: Set(hosts.map(\.topology.zone)))
            try await sampleUtilisation(tick: -1, skipping: await conditions.failed)
            progress.note(String(format: "incident: load spike to %.0f%% cpu in %@", (incident.cpu ?? 0.95) * 100, incident.zone ?? "every zone"))
        }
    }

    private func changeState(_ hosts: [Novacron_V1_HostRegistered], to state: Novacron_V1_HostState, reason: String) async throws {
        let ledger = await book.ledger
        let changes = hosts.map { h in
            var change = Novacron_V1_HostStateChanged()
            change.hostID = h.hostID
            change.previous = ledger.hosts[h.hostID]?.state.proto ?? .unspecified
            change.current = state
            change.reason = reason
            return change
        }
        for change in changes { await book.apply(change) }
        try await publish(changes.map { ($0, $0.hostID, TopicCatalog.hostEvents) })
    }

    /// Publishes envelopes in one batch and waits for the broker to take them all.
    func publish(_ messages: [(any SwiftProtobuf.Message, String, String)]) async throws {
        guard !messages.isEmpty else { return }
        let now = Date()
        let records = try messages.map { message, key, topic in
            try EnvelopeRecord.outgoing(
                EnvelopeCodec.envelope(message, key: key, eventID: EventID.random(), occurredAt: now, producer: Self.producerName),
                topic: topic)
        }
        try await producer.sendAll(records)
    }

    func close() async {
        reader.stopFetching()
        await reader.close()
        await producer.close()
    }
}

/// Hosts the scenario has failed and zones under a load spike.
actor FleetConditions {
    private(set) var failed = Set<String>()
    private(set) var spikes: [String: Double] = [:]

    func fail(_ ids: [String]) { failed.formUnion(ids) }
    func recover(_ ids: [String]) { failed.subtract(ids) }
    func spike(zone: String?, cpu: Double, zones: Set<String>) {
        for z in zone.map({ [$0] }) ?? Array(zones) { spikes[z] = cpu }
    }
}

struct SimulatorFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

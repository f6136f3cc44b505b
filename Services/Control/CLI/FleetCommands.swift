import ArgumentParser
import ControlCore
import Foundation
import NovaBus
import NovaCore
import NovaProto
import SwiftProtobuf

/// `novacronctl explain VM`: the VM's commands and placement decisions, from the topics.
struct Explain: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show a VM's placement history with each decision's score breakdown or rejection counts.")

    @Argument(help: "The VM's id.") var vmID: String
    @Flag(help: "One JSON object per event.") var json = false
    @OptionGroup var connection: ConnectionOptions

    func run() async throws {
        let id = try Identifier.check(vmID, what: "VM id")
        let session = try connection.session()
        let reader = try await session.reader([TopicCatalog.vmCommands, TopicCatalog.vmEvents], from: .beginning)
        let history = try await reader.history()
        await reader.close()
        let events = history.filter { $0.keyString == id }
            .compactMap { record in (try? EnvelopeCodec.decode(record.value, topic: record.topic)).map { (record, $0) } }
            .sorted { ($0.0.timestampMillis, $0.0.topic) < ($1.0.timestampMillis, $1.0.topic) }
        guard !events.isEmpty else {
            printError("novacronctl: no commands or events for VM '\(id)' on \(TopicCatalog.vmCommands) or \(TopicCatalog.vmEvents)")
            throw CommandFailed()
        }
        if json {
            for (record, event) in events { print(EventJSON.render(event, record)) }
            return
        }
        print("\(id): \(events.count) commands and events, oldest first")
        for (record, event) in events {
            let when = Events.Tail.timestamp(record.timestampMillis)
            let text = EventText.decision(event.message) ?? EventText.line(event.message)
            let from = event.envelope.producer.isEmpty ? "" : " [\(event.envelope.producer)]"
            print("\(when)\(from) " + text.replacingOccurrences(of: "\n", with: "\n" + String(repeating: " ", count: when.count + from.count + 1)))
        }
    }
}

/// `novacronctl status`: fleet capacity and use by cloud, region and zone, folded from events.
struct Status: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Fleet capacity, allocation and measured use by cloud, region and zone.",
        discussion: "Built from novacron.host.events, novacron.vm.events and recent novacron.host.telemetry: no service is asked.")

    @Flag(help: "Print the rows as JSON.") var json = false
    @OptionGroup var connection: ConnectionOptions

    func run() async throws {
        let session = try connection.session()
        let events = try await session.reader([TopicCatalog.hostEvents, TopicCatalog.vmEvents], from: .beginning)
        let facts = try await events.history()
        await events.close()
        // Telemetry is a stream of samples: the newest few per partition are enough.
        let telemetry = try await session.reader([TopicCatalog.hostTelemetry], from: .last(2000))
        let samples = try await telemetry.history()
        await telemetry.close()
        var ledger = FleetLedger()
        for record in facts.sorted(by: { $0.timestampMillis < $1.timestampMillis }) + samples {
            if let event = try? EnvelopeCodec.decode(record.value, topic: record.topic) { ledger.apply(event.message) }
        }
        if json {
            let rows = ledger.zones().map { z -> [String: Any] in
                [
                    "cloud": z.topology.cloud, "region": z.topology.region, "zone": z.topology.zone, "hosts": z.hosts,
                    "ready_hosts": z.readyHosts, "vms": z.vms, "vcpu_millis_capacity": Int(z.capacity.vcpuMillis),
                    "vcpu_millis_allocated": Int(z.allocated.vcpuMillis), "memory_mib_capacity": Int(z.capacity.memoryMiB),
                    "memory_mib_allocated": Int(z.allocated.memoryMiB), "cpu_used": z.cpuUse as Any, "memory_used": z.memoryUse as Any,
                ]
            }
            let data = try JSONSerialization.data(withJSONObject: rows, options: [.sortedKeys])
            print(String(decoding: data, as: UTF8.self))
            return
        }
        guard !ledger.hosts.isEmpty else {
            print("no hosts registered yet (nothing on \(TopicCatalog.hostEvents))")
            return
        }
        print(ledger.table())
    }
}

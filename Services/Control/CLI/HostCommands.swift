import ArgumentParser
import ControlCore
import Foundation
import NovaBus
import NovaCore
import NovaProto
import SwiftProtobuf

struct HostCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "host", abstract: "Register, cordon, uncordon and drain hosts.",
        subcommands: [Register.self, Cordon.self, Uncordon.self, Drain.self])
}

extension HostCommand {
    struct Register: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Announce a host (or new capacity for one) on novacron.host.events.",
            discussion: "Example: novacronctl host register h-1 --cpu 64 --memory 256GiB --disk 2TiB --cloud onprem --region eu --zone eu-a --label disk=nvme --price 1.20")
        @Argument(help: "The host's id.") var hostID: String
        @Option(help: "vCPUs.") var cpu: String
        @Option(help: "Memory: 256GiB, or a number of MiB.") var memory: String
        @Option(help: "Disk: 2TiB, 500 (GiB).") var disk: String = "0"
        @Option(help: "Whole GPUs.") var gpus: Int = 0
        @Option(help: "Cloud.") var cloud: String
        @Option(help: "Region.") var region: String
        @Option(help: "Zone.") var zone: String
        @Option(name: .customLong("label"), help: "Host label KEY=VALUE. Repeatable.") var labels: [String] = []
        @Option(help: "Price in dollars per hour.") var price: String?
        @Flag(help: "A spot (preemptible) host.") var spot = false
        @Option(help: "The provider adapter that creates its VMs: aws, azure, gcp, libvirt or sim (default: none, unmanaged).")
        var provider: String = ""
        @OptionGroup var connection: ConnectionOptions

        func run() async throws {
            var spec = HostSpec(hostID: hostID, cpu: cpu, memory: memory, cloud: cloud, region: region, zone: zone)
            spec.disk = disk
            spec.gpus = gpus
            spec.labels = labels
            spec.price = price
            spec.spot = spot
            spec.provider = provider.isEmpty ? "" : try Identifier.check(provider, what: "provider", option: "--provider")
            let registration = try spec.registration()
            let delivered = try await HostEventRun(connection: connection).publish(registration, hostID: registration.hostID)
            print("\(EventText.line(registration)) (\(delivered.topic)[\(delivered.partition)]@\(delivered.offset))")
        }
    }

    struct Cordon: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Stop placing new VMs on a host; its VMs stay.")
        @Argument(help: "The host's id.") var hostID: String
        @Option(help: "Why, for the record.") var reason: String = "cordoned by operator"
        @OptionGroup var connection: ConnectionOptions

        func run() async throws {
            try await HostEventRun(connection: connection).changeState(of: hostID, to: .cordoned, reason: reason)
        }
    }

    struct Uncordon: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Make a cordoned host take new VMs again.")
        @Argument(help: "The host's id.") var hostID: String
        @Option(help: "Why, for the record.") var reason: String = "uncordoned by operator"
        @OptionGroup var connection: ConnectionOptions

        func run() async throws {
            try await HostEventRun(connection: connection).changeState(of: hostID, to: .ready, reason: reason)
        }
    }

    struct Drain: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Re-place every VM of a host elsewhere, reporting each, then mark it drained.")
        @Argument(help: "The host's id.") var hostID: String
        @OptionGroup var wait: WaitOptions
        @OptionGroup var connection: ConnectionOptions

        func run() async throws {
            let id = try Identifier.check(hostID, what: "host id")
            let timeout = try wait.timeoutDuration()
            let session = try connection.session()
            try await HostEventRun.requireRegistered(id, session: session)
            let reader = wait.noWait
                ? nil : try await session.reader([TopicCatalog.vmEvents, TopicCatalog.hostEvents, TopicCatalog.deadLetter], from: .end)
            let producer = try await session.producer()
            var command = Novacron_V1_DrainHost()
            command.commandID = newCommandID()
            command.hostID = id
            let delivered = try await BusSession.publish(command, key: id, topic: TopicCatalog.vmCommands, correlationID: command.commandID, with: producer)
            await producer.close()
            guard let reader else {
                print("published DrainHost for \(id) (command \(command.commandID)) to \(delivered.topic)[\(delivered.partition)]@\(delivered.offset)")
                return
            }
            // Per-VM answers (novacron.vm.events) and HostDrained (novacron.host.events) are on
            // different topics, so either may come first: finish once HostDrained has arrived
            // and as many per-VM answers as it counts.
            let prefix = command.commandID + "/"
            var answered = 0
            var summary: Novacron_V1_HostDrained?
            var summaryLine = ""
            try await BusSession.await(reader, delivered: delivered, timeout: timeout) { event, record in
                switch event.message {
                case let placed as Novacron_V1_VMPlaced where placed.commandID.hasPrefix(prefix):
                    answered += 1
                    print(wait.json ? EventJSON.render(event, record) : "  moved    \(EventText.line(placed))")
                case let failed as Novacron_V1_PlacementFailed where failed.commandID.hasPrefix(prefix):
                    answered += 1
                    print(wait.json ? EventJSON.render(event, record) : "  stays    \(EventText.line(failed))")
                case let drained as Novacron_V1_HostDrained where drained.hostID == id:
                    summary = drained
                    summaryLine = wait.json ? EventJSON.render(event, record) : EventText.line(drained)
                default:
                    break
                }
                guard let summary else { return false }
                return answered >= Int(summary.vmsMoved + summary.vmsFailed)
            }
            print(summaryLine)
            let failures = Int(summary?.vmsFailed ?? 0)
            await reader.close()
            if failures > 0 { throw CommandFailed() }
        }
    }
}

/// Publishes host facts on `novacron.host.events`. They have no answering event: the
/// broker's acknowledgement (acks=all) is the confirmation.
struct HostEventRun {
    let connection: ConnectionOptions

    func publish(_ message: any SwiftProtobuf.Message, hostID: String, session: BusSession? = nil) async throws -> DeliveryReport {
        let producer = try await (session ?? connection.session()).producer()
        do {
            let delivered = try await BusSession.publish(
                message, key: hostID, topic: TopicCatalog.hostEvents, correlationID: newCommandID(), with: producer)
            await producer.close()
            return delivered
        } catch {
            await producer.close()
            throw error
        }
    }

    func changeState(of hostID: String, to state: NovaCore.HostState, reason: String) async throws {
        let id = try Identifier.check(hostID, what: "host id")
        let session = try connection.session()
        let previous = try await Self.requireRegistered(id, session: session)
        var change = Novacron_V1_HostStateChanged()
        change.hostID = id
        change.previous = previous.proto
        change.current = state.proto
        change.reason = reason
        let delivered = try await publish(change, hostID: id, session: session)
        print("host \(id) \(previous.rawValue) -> \(state.rawValue) (\(delivered.topic)[\(delivered.partition)]@\(delivered.offset))")
    }

    /// The host's current state from the events, or a usage error (exit 2) when no
    /// registration of it is on `novacron.host.events`.
    @discardableResult
    static func requireRegistered(_ hostID: String, session: BusSession) async throws -> NovaCore.HostState {
        let reader = try await session.reader([TopicCatalog.hostEvents], from: .beginning)
        let history = try await reader.history()
        await reader.close()
        var ledger = FleetLedger()
        for record in history where record.keyString == hostID {
            if let event = try? EnvelopeCodec.decode(record.value, topic: record.topic) { ledger.apply(event.message) }
        }
        guard let host = ledger.hosts[hostID] else {
            throw UsageError("HOST", "host '\(hostID)' is not registered (no HostRegistered for it on \(TopicCatalog.hostEvents))",
                expected: "a registered host id; `novacronctl status` lists the fleet")
        }
        return host.state
    }
}

import ArgumentParser
import ControlCore
import Foundation
import NovaBus
import NovaCore
import NovaProto
import SwiftProtobuf

struct VM: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vm", abstract: "Place, release and migrate VMs.", subcommands: [Place.self, Release.self, Migrate.self])
}

extension VM {
    struct Place: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Find a host for a VM and claim its resources, or only explain with --dry-run.",
            discussion: """
                Examples:
                  novacronctl vm place web-1 --cpu 2 --memory 4GiB --zone us-east-a --spread web:zone:1 --group web
                  novacronctl vm place db-1 --cpu 8 --memory 32GiB --selector 'disk In ssd,nvme' --anti-affinity db:host
                  novacronctl vm place batch-7 --cpu 500m --memory 512MiB --spot --max-price 0.05 --dry-run
                """)

        @Argument(help: "The VM's id.") var vmID: String
        @Option(help: "vCPUs: 2, 1.5 or 500m.") var cpu: String
        @Option(help: "Memory: 4GiB, 512MiB, or a number of MiB.") var memory: String
        @Option(help: "Disk: 20 (GiB), 100GiB, 2TiB.") var disk: String?
        @Option(help: "Whole GPUs.") var gpus: Int = 0
        @Option(help: "Required cloud.") var cloud: String?
        @Option(help: "Required region.") var region: String?
        @Option(help: "Required zone.") var zone: String?
        @Option(name: .customLong("selector"), help: "Host label selector: 'KEY In A,B', 'KEY NotIn A', 'KEY Exists', '!KEY', 'KEY=V'. Repeatable.")
        var selectors: [String] = []
        @Option(help: "Run with members of a VM group: GROUP[:host|zone|region]. Repeatable.") var affinity: [String] = []
        @Option(help: "Run away from members of a VM group: GROUP[:host|zone|region]. Repeatable.") var antiAffinity: [String] = []
        @Option(help: "Keep a VM group spread: GROUP[:SCOPE[:MAX_SKEW]], default zone:1. Repeatable.") var spread: [String] = []
        @Option(name: .customLong("group"), help: "VM group this VM joins (for others' rules). Repeatable.") var groups: [String] = []
        @Option(name: .customLong("label"), help: "VM label KEY=VALUE. Repeatable.") var labels: [String] = []
        @Option(help: "Highest host price in dollars per hour, e.g. 0.45.") var maxPrice: String?
        @Flag(help: "Allow spot hosts.") var spot = false
        @Option(help: "binpack, spread or balanced (default: the service's).") var strategy: String?
        @Flag(help: "Decide and explain, claim nothing.") var dryRun = false
        @Option(help: "Command id for idempotent retries (default: a new one).") var commandID: String?
        @OptionGroup var wait: WaitOptions
        @OptionGroup var connection: ConnectionOptions

        func run() async throws {
            var spec = PlaceSpec(vmID: vmID, cpu: cpu, memory: memory)
            spec.disk = disk
            spec.gpus = gpus
            spec.cloud = cloud
            spec.region = region
            spec.zone = zone
            spec.selectors = selectors
            spec.affinity = affinity
            spec.antiAffinity = antiAffinity
            spec.spread = spread
            spec.groups = groups
            spec.labels = labels
            spec.maxPrice = maxPrice
            spec.spot = spot
            spec.strategy = strategy
            spec.dryRun = dryRun
            let id = try commandID.map { try Identifier.check($0, what: "command id", option: "--command-id") } ?? newCommandID()
            let command = try spec.command(commandID: id)
            try await VMCommandRun(connection: connection, wait: wait).send(command, vmID: command.vmID, commandID: id)
        }
    }

    struct Release: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Free a VM's resources on its host.")
        @Argument(help: "The VM's id.") var vmID: String
        @OptionGroup var wait: WaitOptions
        @OptionGroup var connection: ConnectionOptions

        func run() async throws {
            var command = Novacron_V1_ReleaseVM()
            command.commandID = newCommandID()
            command.vmID = try Identifier.check(vmID, what: "VM id")
            try await VMCommandRun(connection: connection, wait: wait).send(command, vmID: command.vmID, commandID: command.commandID)
        }
    }

    struct Migrate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Move a VM to another host (never its current one).")
        @Argument(help: "The VM's id.") var vmID: String
        @Option(name: .customLong("to"), help: "Target host (default: placement chooses).") var target: String?
        @OptionGroup var wait: WaitOptions
        @OptionGroup var connection: ConnectionOptions

        func run() async throws {
            var command = Novacron_V1_MigrateVM()
            command.commandID = newCommandID()
            command.vmID = try Identifier.check(vmID, what: "VM id")
            if let target { command.targetHostID = try Identifier.check(target, what: "host id", option: "--to") }
            try await VMCommandRun(connection: connection, wait: wait).send(command, vmID: command.vmID, commandID: command.commandID)
        }
    }
}

/// Publishes a command on `novacron.vm.commands` and prints the event that answers it.
struct VMCommandRun {
    let connection: ConnectionOptions
    let wait: WaitOptions

    func send(_ command: any SwiftProtobuf.Message, vmID: String, commandID: String) async throws {
        let timeout = try wait.timeoutDuration()
        let session = try connection.session()
        // The reader starts at the current end before the command is published, so the answer
        // cannot slip past it.
        let reader = wait.noWait ? nil : try await session.reader([TopicCatalog.vmEvents, TopicCatalog.deadLetter], from: .end)
        let producer = try await session.producer()
        let delivered: DeliveryReport
        do {
            delivered = try await BusSession.publish(command, key: vmID, topic: TopicCatalog.vmCommands, correlationID: commandID, with: producer)
        } catch {
            await producer.close()
            await reader?.close()
            throw error
        }
        await producer.close()
        guard let reader else {
            print("published \(type(of: command).protoMessageName) for \(vmID) (command \(commandID)) to \(delivered.topic)[\(delivered.partition)]@\(delivered.offset)")
            return
        }
        var refused = false
        defer { reader.stopFetching() }
        try await BusSession.await(reader, delivered: delivered, timeout: timeout) { event, record in
            guard record.topic == TopicCatalog.vmEvents, record.keyString == vmID, Self.commandID(of: event.message) == commandID else {
                return false
            }
            print(wait.json ? EventJSON.render(event, record) : (EventText.decision(event.message) ?? EventText.line(event.message)))
            refused = event.message is Novacron_V1_PlacementFailed
            return true
        }
        await reader.close()
        if refused { throw CommandFailed() }
    }

    static func commandID(of message: any SwiftProtobuf.Message) -> String? {
        switch message {
        case let m as Novacron_V1_VMPlaced: m.commandID
        case let m as Novacron_V1_PlacementFailed: m.commandID
        case let m as Novacron_V1_VMReleased: m.commandID
        default: nil
        }
    }
}

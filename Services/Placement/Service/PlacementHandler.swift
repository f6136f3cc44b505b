import NovaCore
import NovaProto
import NovaService
import NovaStore
import PlacementCore
import SwiftProtobuf

/// The placement service's handler: keeps the inventory from host events and answers VM
/// commands. Decide with the engine over the replica's fleet cache, persist the claim with a
/// generation compare-and-set, emit the decision with its explanation.
struct PlacementHandler: EventHandler {
    let cache: FleetCache
    let engine: PlacementEngine
    let metrics: PlacementMetrics
    /// Claim attempts before giving the command back to the runtime to retry.
    static let claimAttempts = 10

    func handle(_ event: DecodedEvent, in tx: StoreTransaction) async throws -> [Emission] {
        let repository = InventoryRepository(tx: tx)
        switch event.message {
        case let m as Novacron_V1_HostRegistered:
            try await repository.upsert(try NovaCore.Host(registered: m))
            return []
        case let m as Novacron_V1_HostStateChanged:
            let state = try HostState(m.current)
            guard try await repository.setState(state, of: m.hostID) else {
                throw HandlerRejection(code: "unknown_host", "host '\(m.hostID)' is not registered")
            }
            return []
        case let m as Novacron_V1_HostHeartbeat:
            try await repository.recordHeartbeat(of: m.hostID)
            return []
        case let m as Novacron_V1_HostTelemetry:
            try await repository.recordUtilisation((m.utilisation.cpu + m.utilisation.memory) / 2, of: m.hostID)
            return []
        case is Novacron_V1_HostDrained, is Novacron_V1_StartVM, is Novacron_V1_StopVM:
            return []
        case let m as Novacron_V1_PlaceVM where m.dryRun:
            // A dry run changes nothing, so it is decided afresh each time and not recorded.
            return try await place(m, repository)
        case let m as Novacron_V1_PlaceVM:
            return try await answering(m.commandID, repository) { try await place(m, repository) }
        case let m as Novacron_V1_ReleaseVM:
            return try await answering(m.commandID, repository) { try await release(m, repository) }
        case let m as Novacron_V1_MigrateVM:
            return try await answering(m.commandID, repository) { try await migrate(m, repository) }
        case let m as Novacron_V1_DrainHost:
            return try await answering(m.commandID, repository) { try await drain(m, repository) }
        default:
            throw HandlerRejection(code: "unsupported", "placement does not handle \(event.type)")
        }
    }

    /// A repeated command id gets its original answer again; a new one is decided and its
    /// answer stored with the decision, in the same transaction.
    private func answering(
        _ commandID: String, _ repository: InventoryRepository, _ decide: () async throws -> [Emission]
    ) async throws -> [Emission] {
        if !commandID.isEmpty, let prior = try await repository.commandResult(commandID),
            let type = EventRegistry.type(named: prior.type)
        {
            let message = try type.init(serializedBytes: prior.payload, extensions: nil, partial: false, options: BinaryDecodingOptions())
            return [Emission(topic: TopicCatalog.vmEvents, key: prior.key, message: message)]
        }
        let emissions = try await decide()
        if !commandID.isEmpty, let answer = emissions.first(where: { $0.topic == TopicCatalog.vmEvents }) ?? emissions.first {
            try await repository.storeCommandResult(
                commandID, type: type(of: answer.message).protoMessageName, key: answer.key,
                payload: try answer.message.serializedBytes())
        }
        return emissions
    }

    func place(_ command: Novacron_V1_PlaceVM, _ repository: InventoryRepository) async throws -> [Emission] {
        let request: VMRequest
        do {
            request = try VMRequest(command)
        } catch {
            metrics.decision("invalid")
            metrics.failure("INVALID_REQUEST")
            return [vmEvent(command.vmID, PlacementEvents.invalid(error.description, commandID: command.commandID, vmID: command.vmID, dryRun: command.dryRun))]
        }
        if !command.dryRun, let existing = try await repository.placement(of: request.id) {
            // The VM already has a host: answer with the original decision (under this command's
            // id, so its sender can match it), allocate nothing.
            var original = try Novacron_V1_VMPlaced(serializedBytes: existing.placedEvent)
            original.commandID = command.commandID
            return [vmEvent(request.id, original)]
        }
        return try await placeNew(request, command: command, repository)
    }

    /// Decides and (unless dry-run) claims a host for `request`; `previous` is set on migration.
    private func placeNew(
        _ request: VMRequest, command: Novacron_V1_PlaceVM, _ repository: InventoryRepository,
        excluding previous: String? = nil, only target: String? = nil
    ) async throws -> [Emission] {
        try await prepare(request, repository)
        for _ in 1...Self.claimAttempts {
            let started = ContinuousClock.now
            let decision = await cache.decide(request, engine: engine, excluding: previous, only: target)
            let elapsed = ContinuousClock.now - started
            metrics.duration.record(elapsed)
            let micros = elapsed.components.seconds * 1_000_000 + elapsed.components.attoseconds / 1_000_000_000_000
            switch decision {
            case .failed(let failure):
                metrics.decision(command.dryRun ? "dry_run_failed" : "failed")
                metrics.failure("\(failure.reason)")
                return [vmEvent(request.id, PlacementEvents.failed(failure, commandID: command.commandID, vmID: request.id, dryRun: command.dryRun))]
            case .placed(let choice):
                let fleet = await cache.fleet
                let event = PlacementEvents.placed(
                    choice, command: command, request: request, fleet: fleet, micros: micros, previousHost: previous ?? "")
                if command.dryRun {
                    metrics.decision("dry_run")
                    return [vmEvent(request.id, event)]
                }
                let hostID = choice.chosen.hostID
                guard let generation = try await repository.claim(request.resources, on: hostID, generation: await cache.generation(of: hostID)) else {
                    metrics.conflicts.increment()
                    if let fresh = try await repository.host(hostID) { await cache.apply(fresh) }
                    continue
                }
                try await repository.insert(
                    PlacementRecord(
                        vmID: request.id, hostID: hostID, resources: request.resources, groups: request.groups.sorted(),
                        command: try command.serializedBytes(), placedEvent: try event.serializedBytes()))
                await cache.claimed(request.id, request.resources, groups: request.groups, on: hostID, generation: generation)
                metrics.decision("placed")
                return [vmEvent(request.id, event)]
            }
        }
        throw PlacementContention(vmID: request.id, attempts: Self.claimAttempts)
    }

    /// Serialises decisions touching the same VM groups, syncs the cache with the database and
    /// refreshes those groups' members, so that group rules hold across replicas.
    private func prepare(_ request: VMRequest, _ repository: InventoryRepository) async throws {
        let groups = Array(
            Set(request.constraints.affinity.map(\.group)).union(request.constraints.spread.map(\.group)).union(request.groups)
        ).sorted()
        try await repository.lock(groups: groups)
        if let version = await cache.syncedVersion {
            await cache.apply(try await repository.hosts(changedAfter: version))
        } else {
            await cache.load(hosts: try await repository.hosts(changedAfter: 0), placements: try await repository.allPlacements())
        }
        metrics.inventory.set(Double(await cache.hostCount))
        if !groups.isEmpty { await cache.setMembers(try await repository.members(of: groups), of: groups) }
    }

    func release(_ command: Novacron_V1_ReleaseVM, _ repository: InventoryRepository) async throws -> [Emission] {
        guard let placement = try await repository.placement(of: command.vmID) else {
            metrics.failure("UNKNOWN_VM")
            return [vmEvent(command.vmID, PlacementEvents.invalid("VM '\(command.vmID)' is not placed", commandID: command.commandID, vmID: command.vmID, dryRun: false, reason: .unknownVm))]
        }
        try await repository.deletePlacement(of: placement.vmID)
        try await repository.unclaim(placement.resources, on: placement.hostID)
        await cache.released(placement.vmID)
        var event = Novacron_V1_VMReleased()
        event.commandID = command.commandID
        event.vmID = placement.vmID
        event.hostID = placement.hostID
        event.resources = placement.resources.proto
        metrics.decision("released")
        return [vmEvent(placement.vmID, event)]
    }

    func migrate(_ command: Novacron_V1_MigrateVM, _ repository: InventoryRepository) async throws -> [Emission] {
        guard let placement = try await repository.placement(of: command.vmID) else {
            metrics.failure("UNKNOWN_VM")
            return [vmEvent(command.vmID, PlacementEvents.invalid("VM '\(command.vmID)' is not placed", commandID: command.commandID, vmID: command.vmID, dryRun: false, reason: .unknownVm))]
        }
        if command.targetHostID == placement.hostID {
            return [vmEvent(command.vmID, PlacementEvents.invalid("VM '\(command.vmID)' already runs on \(placement.hostID); a migration needs another host", commandID: command.commandID, vmID: command.vmID, dryRun: false))]
        }
        return try await move(placement, commandID: command.commandID, target: command.targetHostID, repository)
    }

    /// Places a VM elsewhere (never on its current host; only on `target` when given), then
    /// frees its old host. On failure the VM stays where it is. One transaction throughout.
    private func move(
        _ placement: PlacementRecord, commandID: String, target: String = "", _ repository: InventoryRepository
    ) async throws -> [Emission] {
        var original = try Novacron_V1_PlaceVM(serializedBytes: placement.command)
        original.commandID = commandID
        original.dryRun = false
        let request = try VMRequest(original)
        if !target.isEmpty, try await repository.host(target) == nil {
            return [vmEvent(placement.vmID, PlacementEvents.invalid("target host '\(target)' is not registered", commandID: commandID, vmID: placement.vmID, dryRun: false))]
        }
        try await repository.deletePlacement(of: placement.vmID)
        let emissions = try await placeNew(
            request, command: original, repository, excluding: placement.hostID, only: target.isEmpty ? nil : target)
        if emissions.first?.message is Novacron_V1_VMPlaced {
            // The cache learns the old host's smaller allocation on its next sync.
            try await repository.unclaim(placement.resources, on: placement.hostID)
        } else {
            try await repository.insert(placement)
        }
        return emissions
    }

    func drain(_ command: Novacron_V1_DrainHost, _ repository: InventoryRepository) async throws -> [Emission] {
        guard try await repository.setState(.draining, of: command.hostID) else {
            throw HandlerRejection(code: "unknown_host", "host '\(command.hostID)' is not registered")
        }
        var emissions: [Emission] = []
        var moved: Int32 = 0
        var failed: Int32 = 0
        for placement in try await repository.placements(onHost: command.hostID) {
            let result = try await move(placement, commandID: "\(command.commandID)/\(placement.vmID)", repository)
            if result.first?.message is Novacron_V1_VMPlaced { moved += 1 } else { failed += 1 }
            emissions += result
        }
        var drained = Novacron_V1_HostDrained()
        drained.hostID = command.hostID
        drained.vmsMoved = moved
        drained.vmsFailed = failed
        emissions.append(Emission(topic: TopicCatalog.hostEvents, key: command.hostID, message: drained))
        return emissions
    }

    private func vmEvent(_ vmID: String, _ message: any SwiftProtobuf.Message) -> Emission {
        Emission(topic: TopicCatalog.vmEvents, key: vmID, message: message)
    }
}

/// Every claim attempt lost to another replica; the runtime retries the command.
struct PlacementContention: Error, CustomStringConvertible {
    let vmID: String
    let attempts: Int
    var description: String { "placement of \(vmID) lost \(attempts) claim races in a row" }
}

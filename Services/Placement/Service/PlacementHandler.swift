import Foundation
import NovaCore
import NovaProto
import NovaService
import NovaStore
import PlacementCore
import SwiftProtobuf

/// The placement service's handler: keeps the inventory from host events and answers VM
/// commands. Decide with the engine over the replica's fleet cache, persist the claims with a
/// generation compare-and-set, emit the decisions with their explanations.
///
/// A batch's place commands are decided together: one lookup of earlier answers and existing
/// placements, one group lock and cache sync, one claim statement for every chosen host, one
/// insert of the placements and answers. That keeps a batch's statements constant in its size.
struct PlacementHandler: EventHandler {
    let cache: FleetCache
    let engine: PlacementEngine
    let metrics: PlacementMetrics
    /// Claim attempts before giving the batch back to the runtime to retry.
    static let claimAttempts = 10

    func handle(_ event: DecodedEvent, in tx: StoreTransaction) async throws -> [Emission] {
        try await handle(batch: [event], in: tx)[0]
    }

    /// Inventory events first (they come from the host topics, so any order against commands
    /// is one Kafka could have delivered), then commands in order, consecutive place commands
    /// together.
    func handle(batch events: [DecodedEvent], in tx: StoreTransaction) async throws -> [[Emission]] {
        await cache.beginTransaction()
        if !events.allSatisfy({ $0.message is Novacron_V1_PlaceVM }) {
            // Inventory events, releases, migrations and drains write hosts beyond the claims
            // the cache confirms.
            await cache.writesUnmirrored()
        }
        let repository = InventoryRepository(tx: tx)
        var answers = [[Emission]](repeating: [], count: events.count)
        var commands: [Int] = []
        var hostEvents: [DecodedEvent] = []
        for (index, event) in events.enumerated() {
            switch event.message {
            case is Novacron_V1_HostRegistered, is Novacron_V1_HostStateChanged, is Novacron_V1_HostHeartbeat,
                is Novacron_V1_HostTelemetry, is Novacron_V1_HostDrained:
                hostEvents.append(event)
            default:
                commands.append(index)
            }
        }
        try await applyInventory(hostEvents, repository)
        var run: [PlaceEntry] = []
        for index in commands {
            if let command = events[index].message as? Novacron_V1_PlaceVM {
                run.append(PlaceEntry(index: index, command: command, bytes: events[index].envelope.payload))
                continue
            }
            if !run.isEmpty {
                try await place(run, repository, into: &answers)
                run.removeAll()
            }
            answers[index] = try await handleOne(events[index], repository)
        }
        if !run.isEmpty { try await place(run, repository, into: &answers) }
        return answers
    }

    /// A place command of the batch: its position, the message and its bytes as they arrived.
    struct PlaceEntry {
        var index: Int
        var command: Novacron_V1_PlaceVM
        var bytes: Data
    }

    func rolledBack() async {
        metrics.discard()
        await cache.rollBack()
    }

    func committed() async {
        metrics.commit()
    }

    /// Applies host events in order (a drained host needs nothing here). Consecutive
    /// registrations go in one statement, and so do consecutive heartbeats and telemetry
    /// samples (folded per host): a fleet's telemetry costs a statement per batch, not per
    /// sample. State changes go one at a time, each checking its host is known.
    private func applyInventory(_ events: [DecodedEvent], _ repository: InventoryRepository) async throws {
        var registrations: [NovaCore.Host] = []
        var reports = HostReports()
        func flush() async throws {
            try await repository.upsert(registrations)
            let ignored = try await repository.record(reports)
            if ignored > 0 { metrics.ignoredReports(ignored) }
            registrations.removeAll()
            reports = HostReports()
        }
        for event in events {
            switch event.message {
            case let m as Novacron_V1_HostRegistered:
                if !reports.isEmpty { try await flush() }
                registrations.append(try NovaCore.Host(registered: m))
            case let m as Novacron_V1_HostHeartbeat:
                if !registrations.isEmpty { try await flush() }
                reports.heartbeat(m.hostID)
            case let m as Novacron_V1_HostTelemetry:
                if !registrations.isEmpty { try await flush() }
                reports.sample((m.utilisation.cpu + m.utilisation.memory) / 2, of: m.hostID)
            case let m as Novacron_V1_HostStateChanged:
                try await flush()
                let state = try HostState(m.current)
                guard try await repository.setState(state, of: m.hostID) else {
                    throw HandlerRejection(code: "unknown_host", "host '\(m.hostID)' is not registered")
                }
            default:
                continue
            }
        }
        try await flush()
    }

    private func handleOne(_ event: DecodedEvent, _ repository: InventoryRepository) async throws -> [Emission] {
        switch event.message {
        case is Novacron_V1_StartVM, is Novacron_V1_StopVM, is Novacron_V1_VMProvisioned, is Novacron_V1_VMTerminated,
            is Novacron_V1_SnapshotCompleted, is Novacron_V1_PriceQuote:
            return []
        case let m as Novacron_V1_ProvisionFailed:
            return try await provisionFailed(m, repository)
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
        if !commandID.isEmpty, let prior = try await repository.commandResults([commandID])[commandID] {
            return [try replay(prior)]
        }
        let emissions = try await decide()
        if !commandID.isEmpty, let answer = emissions.first(where: { $0.topic == TopicCatalog.vmEvents }) ?? emissions.first {
            try await repository.storeCommandResults([(commandID, try stored(answer))])
        }
        return emissions
    }

    private func replay(_ answer: StoredAnswer) throws -> Emission {
        guard let type = EventRegistry.type(named: answer.type) else {
            throw HandlerRejection(code: "unknown_type", "stored answer has unknown type \(answer.type)")
        }
        let message = try type.init(serializedBytes: answer.payload, extensions: nil, partial: false, options: BinaryDecodingOptions())
        return Emission(topic: TopicCatalog.vmEvents, key: answer.key, message: message)
    }

    private func stored(_ emission: Emission) throws -> StoredAnswer {
        StoredAnswer(
            type: type(of: emission.message).protoMessageName, key: emission.key,
            payload: try emission.payload ?? emission.message.serializedBytes())
    }

    /// Answers consecutive place commands. Each gets, in this order: its earlier answer (same
    /// command id: a stored answer, or the placement the command made), the VM's existing
    /// placement (same VM id), an invalid-request failure, or a fresh decision. Within the run,
    /// a command repeating an earlier one's command or VM id gets that one's answer under its
    /// own command id. Dry runs are always decided afresh and never recorded. A fresh placement
    /// stores no separate answer: its row is the answer.
    private func place(
        _ run: [PlaceEntry], _ repository: InventoryRepository, into answers: inout [[Emission]]
    ) async throws {
        let requests = run.map { entry in Result { () throws(ValidationError) in try VMRequest(entry.command) } }
        var groups = Set<String>()
        for case .success(let request) in requests { groups.formUnion(Self.groups(of: request)) }
        let real = run.filter { !$0.command.dryRun }
        let commandIDs = real.map(\.command.commandID).filter { !$0.isEmpty }
        // The groups' locks come with the lookup; a repeated command's groups are locked too,
        // which costs nothing but a little waiting.
        let prior = try await repository.lookUp(vms: real.map(\.command.vmID), commands: commandIDs, lockingGroups: groups.sorted())
        var pending: [PendingPlacement] = []
        var pendingAnswer: [Int] = []
        var leaderByCommand: [String: Int] = [:]
        var leaderByVM: [String: Int] = [:]
        var followers: [(index: Int, leader: Int)] = []
        var toStore: [Int] = []
        for (entry, parsed) in zip(run, requests) {
            let (index, command) = (entry.index, entry.command)
            if command.dryRun {
                guard let request = validated(parsed, command, into: &answers[index]) else { continue }
                pending.append(PendingPlacement(request: request, command: command))
                pendingAnswer.append(index)
                continue
            }
            if let answer = prior.answers[command.commandID] {
                answers[index] = [try replay(answer)]
                continue
            }
            if let made = prior.placementsByCommand[command.commandID] {
                answers[index] = [vmEvent(made.vmID, try Novacron_V1_VMPlaced(serializedBytes: made.placedEvent))]
                continue
            }
            if let leader = leaderByCommand[command.commandID] ?? leaderByVM[command.vmID] {
                followers.append((index, leader))
                toStore.append(index)
                continue
            }
            if !command.commandID.isEmpty { leaderByCommand[command.commandID] = index }
            leaderByVM[command.vmID] = index
            toStore.append(index)
            if let placement = prior.placementsByVM[command.vmID] {
                // The VM already has a host: the original decision under this command's id,
                // so its sender can match it; nothing is allocated.
                var original = try Novacron_V1_VMPlaced(serializedBytes: placement.placedEvent)
                original.commandID = command.commandID
                answers[index] = [vmEvent(command.vmID, original)]
                continue
            }
            guard let request = validated(parsed, command, into: &answers[index]) else { continue }
            pending.append(PendingPlacement(request: request, command: command, commandBytes: [UInt8](entry.bytes)))
            pendingAnswer.append(index)
        }
        var answeredByRow = Set<Int>()
        if !pending.isEmpty {
            let decided = try await decideAndClaim(pending, repository)
            var chosen: [String] = []
            for (d, p) in zip(decided, pending) where !p.command.dryRun {
                if case .placed(let event) = d.decision { chosen.append(event.hostID) }
            }
            let providers = await cache.providers(of: chosen)
            for (decided, (index, p)) in zip(decided, zip(pendingAnswer, pending)) {
                answers[index] = [answer(decided.decision, for: p, payload: decided.payload)]
                if case .placed(let event) = decided.decision, !p.command.dryRun {
                    answeredByRow.insert(index)
                    if let provision = ProviderCommands.provision(event, provider: providers[event.hostID] ?? "", labels: p.command.labels) {
                        answers[index].append(provision)
                    }
                }
            }
        }
        let commandAt = Dictionary(uniqueKeysWithValues: run.map { ($0.index, $0.command) })
        for (index, leader) in followers {
            guard let answer = answers[leader].first else { continue }
            let commandID = commandAt[index]?.commandID ?? ""
            answers[index] = [Emission(topic: answer.topic, key: answer.key, message: Self.withCommandID(answer.message, commandID))]
        }
        try await repository.storeCommandResults(
            try toStore.compactMap { index -> (String, StoredAnswer)? in
                guard !answeredByRow.contains(index), let command = commandAt[index], !command.commandID.isEmpty,
                    let answer = answers[index].first
                else { return nil }
                return (command.commandID, try stored(answer))
            })
    }

    /// The request of a place command, or nil after answering it with `INVALID_REQUEST`.
    private func validated(
        _ parsed: Result<VMRequest, ValidationError>, _ command: Novacron_V1_PlaceVM, into answer: inout [Emission]
    ) -> VMRequest? {
        switch parsed {
        case .success(let request):
            return request
        case .failure(let error):
            metrics.decision("invalid")
            metrics.failure("INVALID_REQUEST")
            answer = [vmEvent(command.vmID, PlacementEvents.invalid(error.description, commandID: command.commandID, vmID: command.vmID, dryRun: command.dryRun))]
            return nil
        }
    }

    /// The event announcing `decision`; `payload` is the event already serialized, if it was.
    private func answer(_ decision: DecidedPlacement, for p: PendingPlacement, payload: [UInt8]? = nil) -> Emission {
        switch decision {
        case .placed(let event):
            return vmEvent(p.request.id, event, payload: payload)
        case .failed(let failure):
            return vmEvent(
                p.request.id, PlacementEvents.failed(failure, commandID: p.command.commandID, vmID: p.request.id, dryRun: p.command.dryRun))
        }
    }

    private static func withCommandID(_ message: any SwiftProtobuf.Message, _ commandID: String) -> any SwiftProtobuf.Message {
        switch message {
        case var placed as Novacron_V1_VMPlaced:
            placed.commandID = commandID
            return placed
        case var failed as Novacron_V1_PlacementFailed:
            failed.commandID = commandID
            return failed
        default:
            return message
        }
    }

    /// The VM groups a request's rules read or its placement joins.
    private static func groups(of request: VMRequest) -> Set<String> {
        var groups = Set(request.groups)
        groups.formUnion(request.constraints.affinity.map(\.group))
        groups.formUnion(request.constraints.spread.map(\.group))
        return groups
    }

    /// Decides `pending` in order over the cache, then claims every chosen host and records
    /// the placements in one statement. If another replica changed a chosen host first, the
    /// claims that succeeded are given back, the cache re-syncs and the whole set is decided
    /// again. Dry runs claim and record nothing. The caller holds the locks of the requests'
    /// groups. Each decision comes with its event's serialized bytes when it was recorded, so
    /// the answer is not serialized again.
    private func decideAndClaim(
        _ pending: [PendingPlacement], _ repository: InventoryRepository
    ) async throws -> [(decision: DecidedPlacement, payload: [UInt8]?)] {
        var groups = Set<String>()
        for p in pending { groups.formUnion(Self.groups(of: p.request)) }
        try await catchUp(groups.sorted(), repository)
        for _ in 1...Self.claimAttempts {
            let (decisions, claims, journal) = await cache.decide(pending, engine: engine)
            var placements: [PlacementRecord] = []
            var payloads = [[UInt8]?](repeating: nil, count: decisions.count)
            for (i, (decision, p)) in zip(decisions, pending).enumerated() {
                guard case .placed(let event) = decision, !p.command.dryRun else { continue }
                let payload: [UInt8] = try event.serializedBytes()
                payloads[i] = payload
                placements.append(
                    PlacementRecord(
                        vmID: p.request.id, hostID: event.hostID, resources: p.request.resources, groups: p.request.groups.sorted(),
                        command: try p.commandBytes ?? p.command.serializedBytes(), placedEvent: payload, commandID: p.command.commandID))
            }
            if !claims.isEmpty {
                let (claimed, writer, versions) = try await repository.claim(claims, recording: placements)
                guard claimed.count == claims.count else {
                    // All or nothing: give back what this attempt did claim.
                    await cache.writesUnmirrored()
                    try await repository.unclaim(claims.filter { claimed[$0.hostID] != nil })
                    metrics.conflicts.increment(by: Int64(claims.count - claimed.count))
                    await cache.undo(journal)
                    try await sync(repository)
                    continue
                }
                await cache.confirm(claimed, writer: writer)
                // The groups are locked, so these versions follow the cache's own view.
                await cache.noteGroupVersions(versions)
            }
            record(decisions, for: pending)
            return Array(zip(decisions, payloads))
        }
        throw PlacementContention(vms: pending.count, attempts: Self.claimAttempts)
    }

    private func record(_ decisions: [DecidedPlacement], for pending: [PendingPlacement]) {
        for (decision, p) in zip(decisions, pending) {
            metrics.decided(inMicros: decision.micros)
            switch decision {
            case .failed(let failure):
                metrics.decision(p.command.dryRun ? "dry_run_failed" : "failed")
                metrics.failure("\(failure.reason)")
            case .placed where p.command.dryRun:
                metrics.decision("dry_run")
            case .placed:
                metrics.decision("placed")
            }
        }
    }

    /// Syncs the cache with the database and re-reads the members of those of `groups` another
    /// writer changed since this replica last saw them (by group version), so that group rules
    /// hold across replicas. The caller holds the groups' locks, so what it reads stays true
    /// until commit.
    private func catchUp(_ groups: [String], _ repository: InventoryRepository) async throws {
        let current = try await sync(repository, readingVersionsOf: groups)
        guard !groups.isEmpty else { return }
        let stale = await cache.staleGroups(groups, current: current)
        guard !stale.isEmpty else { return }
        await cache.setMembers(try await repository.members(of: stale), of: stale)
        await cache.noteGroupVersions(current.filter { stale.contains($0.key) })
    }

    /// Brings the cache up to the database: changed hosts only, or everything the first time.
    /// Returns the current versions of `groups`, read in the same statement.
    @discardableResult
    private func sync(_ repository: InventoryRepository, readingVersionsOf groups: [String] = []) async throws -> [String: Int64] {
        let since = await cache.syncHorizon
        let (hosts, horizon, versions) = try await repository.hosts(
            unseenSince: since ?? 0, skipping: await cache.syncSkipping, readingVersionsOf: groups)
        if since == nil {
            await cache.load(hosts: hosts, horizon: horizon, placements: try await repository.allPlacements())
        } else {
            await cache.apply(hosts, horizon: horizon)
        }
        metrics.inventory.set(Double(await cache.hostCount))
        return versions
    }

    /// Frees a VM's resources; `terminate` asks its host's provider to delete the instance
    /// (not when the provider just said it never made one).
    func release(_ command: Novacron_V1_ReleaseVM, _ repository: InventoryRepository, terminate: Bool = true) async throws -> [Emission] {
        guard let placement = try await repository.placement(of: command.vmID) else {
            metrics.failure("UNKNOWN_VM")
            return [vmEvent(command.vmID, PlacementEvents.invalid("VM '\(command.vmID)' is not placed", commandID: command.commandID, vmID: command.vmID, dryRun: false, reason: .unknownVm))]
        }
        // Under the groups' lock, like placements, so a decision never misses a member leaving.
        try await repository.lock(groups: placement.groups)
        try await keepAnswer(of: placement, repository)
        try await repository.deletePlacement(of: placement.vmID)
        try await repository.unclaim(placement.resources, on: placement.hostID)
        await cache.released(placement.vmID)
        var event = Novacron_V1_VMReleased()
        event.commandID = command.commandID
        event.vmID = placement.vmID
        event.hostID = placement.hostID
        event.resources = placement.resources.proto
        metrics.decision("released")
        let provider = terminate ? try await repository.host(placement.hostID)?.host.provider ?? "" : ""
        return [vmEvent(placement.vmID, event)]
            + [ProviderCommands.terminate(vmID: placement.vmID, commandID: command.commandID, provider: provider)].compactMap { $0 }
    }

    /// The provider could not create a VM placement put on one of its hosts: the claim is
    /// given back (the VM does not run there), announced as `VMReleased` whose command id is
    /// the failed one's, and the VM is free to be placed again (the self-healer's job). A
    /// failure of any other command, or of a create that is no longer the VM's placement (it
    /// moved since), changes nothing.
    func provisionFailed(_ failure: Novacron_V1_ProvisionFailed, _ repository: InventoryRepository) async throws -> [Emission] {
        guard failure.commandID.hasSuffix("/provision"), let placement = try await repository.placement(of: failure.vmID),
            ProviderCommands.provisionID(placeCommandID: placement.commandID, vmID: placement.vmID, hostID: placement.hostID)
                == failure.commandID
        else { return [] }
        var release = Novacron_V1_ReleaseVM()
        release.commandID = failure.commandID
        release.vmID = failure.vmID
        metrics.failure("PROVISION_FAILED")
        return try await self.release(release, repository, terminate: false)
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
        try await keepAnswer(of: placement, repository)
        try await repository.deletePlacement(of: placement.vmID)
        // The cache lets go of the VM as the database just did: otherwise the group members
        // re-read below (without it) and the decision's own release would both subtract it.
        await cache.released(placement.vmID)
        let move = PendingPlacement(
            request: request, command: original, excluding: placement.hostID, only: target.isEmpty ? nil : target,
            previousHost: placement.hostID)
        try await repository.lock(groups: Self.groups(of: request).sorted())
        let (decision, payload) = try await decideAndClaim([move], repository)[0]
        guard case .placed(let event) = decision else {
            try await repository.insert([placement])
            await cache.restored(placement)
            return [answer(decision, for: move, payload: payload)]
        }
        try await repository.unclaim(placement.resources, on: placement.hostID)
        let providers = await cache.providers(of: [placement.hostID, event.hostID])
        return [answer(decision, for: move, payload: payload)]
            + ProviderCommands.move(
                event, from: placement.hostID, sourceProvider: providers[placement.hostID] ?? "",
                targetProvider: providers[event.hostID] ?? "", labels: original.labels)
    }

    /// Before a placement row goes, the answer it held for the command that made it moves to
    /// command_results, so that command repeated later still gets its original answer.
    private func keepAnswer(of placement: PlacementRecord, _ repository: InventoryRepository) async throws {
        guard !placement.commandID.isEmpty else { return }
        try await repository.storeCommandResults([
            (placement.commandID, StoredAnswer(type: Novacron_V1_VMPlaced.protoMessageName, key: placement.vmID, payload: placement.placedEvent))
        ])
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

    private func vmEvent(_ vmID: String, _ message: any SwiftProtobuf.Message, payload: [UInt8]? = nil) -> Emission {
        Emission(topic: TopicCatalog.vmEvents, key: vmID, message: message, payload: payload)
    }
}

/// Every claim attempt lost to another replica; the runtime retries the commands (with
/// backoff, for as long as it takes: the commands are fine, the moment was not).
struct PlacementContention: RetryableError, CustomStringConvertible {
    let vms: Int
    let attempts: Int
    var description: String { "placement of \(vms) VM(s) lost \(attempts) claim races in a row" }
}

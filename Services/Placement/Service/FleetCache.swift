import NovaCore
import NovaProto
import PlacementCore

/// A place command waiting for a decision, with the limits a migration adds.
struct PendingPlacement: Sendable {
    var request: VMRequest
    var command: Novacron_V1_PlaceVM
    /// `command` as it arrived, when it is stored unchanged (saves serializing it again).
    var commandBytes: [UInt8]? = nil
    /// A migration's current host: never chosen.
    var excluding: String?
    /// A migration's explicit target: the only host considered.
    var only: String?
    var previousHost = ""
}

/// The decision for one `PendingPlacement`, as the event that announces it.
enum DecidedPlacement: Sendable {
    case placed(Novacron_V1_VMPlaced)
    case failed(PlacementFailure)

    var micros: Int64 {
        switch self {
        case .placed(let event): event.decisionMicros
        case .failed: 0
        }
    }
}

/// What one `FleetCache.decide` call placed, so that a lost claim race can take it back.
struct DecisionJournal: Sendable {
    struct Entry: Sendable {
        var vmID: String
        /// The VM's placement before the decision, if the cache had one.
        var previous: Fleet.Placement?
    }

    var entries: [Entry] = []
}

/// Resources a batch claims on one host, valid only if the host's generation is unchanged.
struct HostClaim: Sendable {
    var hostID: String
    var resources: Resources
    var expectedGeneration: Int64
}

/// A claimed host's row as the claim left it: what the cache did not decide itself.
struct ClaimedHost: Sendable {
    var generation: Int64
    var measured: Double
}

/// One replica's in-memory copy of the inventory, kept in step with the database: the first
/// load takes every host and placement, later syncs only hosts written since (the
/// handler reads the rows in its transaction and hands them over). Decisions run against it;
/// claims are checked against the database by generation, so a stale copy can cost a retry but
/// never an over-commit.
///
/// Changes made during a transaction are provisional, but saving the whole state per batch
/// would copy every placement (copy-on-write on the first change). Instead: a lost claim race
/// undoes just that attempt's decisions (`undo(_:)`), and a rolled-back transaction that
/// changed the cache drops it (`rollBack()`), so the next sync reloads it from the database.
/// Rollbacks are rare; a rejected record is rejected before it touches the cache.
///
/// A sync skips the rows of the replica's own transactions whose every host write was a
/// claim the cache confirmed (`mirrored`): reading back the hosts the previous batch claimed
/// was most of a sync's cost. A transaction stops being mirrored at any other host write
/// (`writesUnmirrored()`); its rows are then read back as usual.
actor FleetCache {
    /// Every change goes through here, so `changed` cannot miss one. (A `didSet` that does not
    /// read `oldValue` mutates in place: no copy.)
    private var state = State() {
        didSet { changed = true }
    }
    /// Whether the cache changed since the current transaction began.
    private var changed = false
    /// Whether every host write of the current transaction so far is one the cache holds.
    private var mirrored = true
    /// The current transaction's id, once a confirmed claim has given it.
    private var writer: Int64?
    private var decisions = 0

    /// Everything the cache knows.
    struct State: Sendable {
        var fleet = Fleet()
        var generations: [String: Int64] = [:]
        var horizon: Int64 = 0
        /// This replica's mirrored transactions at or after `horizon`, whose rows a sync skips.
        var mirroredWriters: Set<Int64> = []
        var loaded = false
        /// The group version whose members the fleet holds, per group refreshed or written.
        var groupVersions: [String: Int64] = [:]
    }

    /// The horizon to sync from next (see `InventoryRepository.hosts(unseenSince:)`); nil
    /// before the first load.
    var syncHorizon: Int64? { state.loaded ? state.horizon : nil }

    /// Transactions whose host rows the next sync can skip: the cache wrote them itself. (A
    /// transaction that rolled back left no rows, so its id here is harmless.)
    var syncSkipping: [Int64] { Array(state.mirroredWriters) }

    var hostCount: Int { state.fleet.count }

    func beginTransaction() {
        changed = false
        mirrored = true
        writer = nil
    }

    /// The current transaction writes hosts in a way the cache does not hold: a sync must read
    /// its rows back.
    func writesUnmirrored() {
        mirrored = false
        if let writer { state.mirroredWriters.remove(writer) }
    }

    /// The transaction rolled back: if it changed the cache, forget everything; the next sync
    /// loads the committed state afresh.
    func rollBack() {
        if changed { state = State() }
        changed = false
    }

    /// Takes back the placements one `decide` call made (its claim lost a race): each VM leaves
    /// its new host and gets back any placement it had before.
    func undo(_ journal: DecisionJournal) {
        for entry in journal.entries.reversed() {
            state.fleet.release(entry.vmID)
            if let previous = entry.previous {
                try? state.fleet.place(previous.vmID, resources: previous.resources, groups: previous.groups, onHost: previous.hostIndex)
            }
        }
    }

    /// First load: every host and every placement (for VM group membership).
    func load(hosts: [HostRecord], horizon: Int64, placements: [PlacementRecord]) {
        for record in hosts { apply(record) }
        state.horizon = horizon
        for placement in placements {
            guard let index = state.fleet.index(of: placement.hostID) else { continue }
            state.fleet.adopt(placement.vmID, resources: placement.resources, groups: Set(placement.groups), onHost: index)
        }
        state.loaded = true
    }

    /// Applies host rows not seen since the last sync, and the horizon to sync from next.
    func apply(_ records: [HostRecord], horizon: Int64) {
        for record in records { apply(record) }
        state.horizon = horizon
        state.mirroredWriters = state.mirroredWriters.filter { $0 >= horizon }
    }

    /// Overwrites the cached host with the database's row.
    private func apply(_ record: HostRecord) {
        state.fleet.upsert(record.host)
        state.fleet.setAllocated(record.host.allocated, of: record.host.id)
        state.fleet.setMeasuredUtilisation(record.measured, of: record.host.id)
        state.generations[record.host.id] = record.generation
    }

    /// The groups among `groups` whose members changed in the database since the cache last
    /// read or wrote them (a group the cache never saw is stale once the database has it).
    func staleGroups(_ groups: [String], current: [String: Int64]) -> [String] {
        groups.filter { state.groupVersions[$0] != current[$0] }
    }

    /// Records that the cached members of these groups match these versions.
    func noteGroupVersions(_ versions: [String: Int64]) {
        for (group, version) in versions { state.groupVersions[group] = version }
    }

    /// Replaces the cached members of `groups` with the database's.
    func setMembers(_ members: [String: [String: Int]], of groups: [String]) {
        for group in groups {
            var perHost: [Int: Int] = [:]
            for (hostID, count) in members[group] ?? [:] {
                if let index = state.fleet.index(of: hostID) { perHost[index] = count }
            }
            state.fleet.setMembers(of: group, perHost: perHost)
        }
    }

    /// Decides each pending placement in order with the engine, each seeing the ones before it
    /// (a dry run sees them too but claims nothing). Returns the decisions and, per chosen
    /// host, the resources to claim at the generation the decisions assumed, and the journal
    /// that `undo(_:)` takes to reverse them.
    func decide(_ pending: [PendingPlacement], engine: PlacementEngine)
        -> (decisions: [DecidedPlacement], claims: [HostClaim], journal: DecisionJournal)
    {
        var journal = DecisionJournal()
        var decided: [DecidedPlacement] = []
        decided.reserveCapacity(pending.count)
        var claims: [String: HostClaim] = [:]
        var order: [String] = []
        for p in pending {
            let started = ContinuousClock.now
            let decision = decide(p.request, engine: engine, excluding: p.excluding, only: p.only)
            let elapsed = ContinuousClock.now - started
            let micros = elapsed.components.seconds * 1_000_000 + elapsed.components.attoseconds / 1_000_000_000_000
            switch decision {
            case .failed(let failure):
                decided.append(.failed(failure))
            case .placed(let choice):
                let event = PlacementEvents.placed(
                    choice, command: p.command, request: p.request, fleet: state.fleet, micros: micros, previousHost: p.previousHost)
                decided.append(.placed(event))
                guard !p.command.dryRun else { continue }
                let hostID = choice.chosen.hostID
                if var claim = claims[hostID] {
                    // Fits the host, so the sum cannot overflow its capacity.
                    claim.resources = (try? claim.resources.adding(p.request.resources)) ?? claim.resources
                    claims[hostID] = claim
                } else {
                    claims[hostID] = HostClaim(hostID: hostID, resources: p.request.resources, expectedGeneration: generation(of: hostID))
                    order.append(hostID)
                }
                let previous = state.fleet.release(p.request.id)
                try? state.fleet.place(p.request.id, resources: p.request.resources, groups: p.request.groups, onHost: choice.chosen.hostIndex)
                journal.entries.append(DecisionJournal.Entry(vmID: p.request.id, previous: previous))
            }
        }
        return (decided, order.compactMap { claims[$0] }, journal)
    }

    /// Rotates the start host so replicas and requests spread out. A migration excludes the VM's
    /// current host, or considers only an explicit target.
    private func decide(_ request: VMRequest, engine: PlacementEngine, excluding excluded: String?, only target: String?)
        -> PlacementDecision
    {
        decisions += 1
        if excluded == nil && target == nil {
            return engine.decide(request, in: state.fleet, start: decisions &* 7919)
        }
        var view = state.fleet
        for host in state.fleet.hosts where host.id == excluded || (target != nil && host.id != target) {
            view.setState(.cordoned, of: host.id)
        }
        return engine.decide(request, in: view, start: decisions &* 7919)
    }

    func generation(of hostID: String) -> Int64 { state.generations[hostID] ?? 0 }

    /// Records what the database's claim gave the claimed hosts, written by transaction
    /// `writer`. With the decisions already applied, the cache now holds those rows.
    func confirm(_ claimed: [String: ClaimedHost], writer: Int64) {
        for (hostID, host) in claimed {
            state.generations[hostID] = host.generation
            state.fleet.setMeasuredUtilisation(host.measured, of: hostID)
        }
        guard mirrored, !claimed.isEmpty else { return }
        self.writer = writer
        state.mirroredWriters.insert(writer)
    }

    /// Records a release.
    func released(_ vmID: String) {
        state.fleet.release(vmID)
    }

    /// Puts back a placement whose move failed: its resources and group membership return to
    /// its host, as its database row did.
    func restored(_ record: PlacementRecord) {
        guard let index = state.fleet.index(of: record.hostID) else { return }
        try? state.fleet.place(record.vmID, resources: record.resources, groups: Set(record.groups), onHost: index)
    }
}

extension FleetCache {
    /// The provider of each of `hostIDs` the cache knows (empty for an unmanaged host).
    func providers(of hostIDs: [String]) -> [String: String] {
        var providers: [String: String] = [:]
        for id in hostIDs {
            if let index = state.fleet.index(of: id) { providers[id] = state.fleet.hosts[index].provider }
        }
        return providers
    }
}

import NovaCore
import PlacementCore

/// One replica's in-memory copy of the inventory, kept in step with the database: the first
/// load takes every host and placement, later syncs only hosts whose `version` moved (the
/// handler reads the rows in its transaction and hands them over). Decisions
/// run against it; claims are checked against the database by generation, so a stale copy can
/// cost a retry but never an over-commit.
actor FleetCache {
    private(set) var fleet = Fleet()
    private var generations: [String: Int64] = [:]
    private var version: Int64 = 0
    private var loaded = false
    private var decisions = 0

    /// The newest inventory version applied; nil before the first load.
    var syncedVersion: Int64? { loaded ? version : nil }

    /// First load: every host and every placement (for VM group membership).
    func load(hosts: [HostRecord], placements: [PlacementRecord]) {
        for record in hosts { apply(record) }
        for placement in placements {
            guard let index = fleet.index(of: placement.hostID) else { continue }
            fleet.adopt(placement.vmID, resources: placement.resources, groups: Set(placement.groups), onHost: index)
        }
        loaded = true
    }

    /// Applies host rows changed since the last sync.
    func apply(_ records: [HostRecord]) {
        for record in records { apply(record) }
    }

    /// Overwrites the cached host with the database's row.
    func apply(_ record: HostRecord) {
        fleet.upsert(record.host)
        fleet.setAllocated(record.host.allocated, of: record.host.id)
        fleet.setMeasuredUtilisation(record.measured, of: record.host.id)
        generations[record.host.id] = record.generation
        version = max(version, record.version)
    }

    /// Replaces the cached members of `groups` with the database's.
    func setMembers(_ members: [String: [String: Int]], of groups: [String]) {
        for group in groups {
            var perHost: [Int: Int] = [:]
            for (hostID, count) in members[group] ?? [:] {
                if let index = fleet.index(of: hostID) { perHost[index] = count }
            }
            fleet.setMembers(of: group, perHost: perHost)
        }
    }

    /// Decides with the engine, rotating the start host so replicas and requests spread out.
    /// A migration excludes the VM's current host, or considers only an explicit target.
    func decide(_ request: VMRequest, engine: PlacementEngine, excluding excluded: String? = nil, only target: String? = nil)
        -> PlacementDecision
    {
        decisions += 1
        if excluded == nil && target == nil {
            return engine.decide(request, in: fleet, start: decisions &* 7919)
        }
        var view = fleet
        for host in fleet.hosts where host.id == excluded || (target != nil && host.id != target) {
            view.setState(.cordoned, of: host.id)
        }
        return engine.decide(request, in: view, start: decisions &* 7919)
    }

    func generation(of hostID: String) -> Int64 { generations[hostID] ?? 0 }

    /// Records a successful claim.
    func claimed(_ vmID: String, _ resources: Resources, groups: Set<String>, on hostID: String, generation: Int64) {
        guard let index = fleet.index(of: hostID) else { return }
        fleet.release(vmID)
        try? fleet.place(vmID, resources: resources, groups: groups, onHost: index)
        generations[hostID] = generation
    }

    /// Records a release.
    func released(_ vmID: String) {
        fleet.release(vmID)
    }

    var hostCount: Int { fleet.count }
}

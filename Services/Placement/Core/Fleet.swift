import NovaCore

/// The inventory placement decides over: hosts, where they are, what runs on them and which VM
/// groups have members where. A value type: decisions read it, `place`/`release` return the
/// changed state, so the engine stays a pure function of (fleet, request).
public struct Fleet: Sendable {
    public private(set) var hosts: [Host] = []
    /// Zone index of each host (parallel to `hosts`).
    public private(set) var zoneOf: [Int] = []
    /// Zone index -> topology of that zone.
    public private(set) var zones: [Topology] = []
    /// Measured utilisation per host (0...1, smoothed by the caller), parallel to `hosts`.
    public private(set) var measured: [Double] = []
    public private(set) var placements: [String: Placement] = [:]
    /// Hot fields of each host in parallel arrays, so the filter loop reads a few numbers per
    /// host instead of copying `Host` values (whose strings and label maps cost retains).
    private(set) var capacityOf: [Resources] = []
    private(set) var allocatedOf: [Resources] = []
    private(set) var readyOf: [Bool] = []
    private(set) var priceOf: [Int64] = []
    private(set) var spotOf: [Bool] = []
    /// Ready hosts per zone index: a zone with none cannot take a VM, so spread rules skip it.
    public private(set) var readyInZone: [Int] = []
    /// The highest price per hour in the fleet (for the price scorer).
    public private(set) var maxPrice: Int64 = 0
    private var indexOfHost: [String: Int] = [:]
    private var indexOfZone: [Topology: Int] = [:]
    /// Group -> members per host index / per zone index.
    private var groupHosts: [String: [Int: Int]] = [:]
    private var groupZones: [String: [Int: Int]] = [:]

    /// A VM's resources on a host.
    public struct Placement: Sendable, Hashable {
        public var vmID: String
        public var hostIndex: Int
        public var resources: Resources
        public var groups: Set<String>
    }

    public init(hosts: [Host] = []) {
        for host in hosts { upsert(host) }
    }

    public var count: Int { hosts.count }

    public func index(of hostID: String) -> Int? { indexOfHost[hostID] }

    public func zoneIndex(of topology: Topology) -> Int? { indexOfZone[topology] }

    /// Adds a host or updates its capacity, labels, price and state, keeping its allocations.
    public mutating func upsert(_ host: Host) {
        let zone = Topology(cloud: host.topology.cloud, region: host.topology.region, zone: host.topology.zone)
        let zoneIndex: Int
        if let existing = indexOfZone[zone] {
            zoneIndex = existing
        } else {
            zoneIndex = zones.count
            zones.append(zone)
            readyInZone.append(0)
            indexOfZone[zone] = zoneIndex
        }
        if let i = indexOfHost[host.id] {
            if readyOf[i] { readyInZone[zoneOf[i]] -= 1 }
            if host.state == .ready { readyInZone[zoneIndex] += 1 }
            var updated = host
            updated.allocated = hosts[i].allocated
            let oldPrice = hosts[i].priceMicrosPerHour
            hosts[i] = updated
            zoneOf[i] = zoneIndex
            capacityOf[i] = host.capacity
            readyOf[i] = host.state == .ready
            priceOf[i] = host.priceMicrosPerHour
            spotOf[i] = host.spot
            if oldPrice == maxPrice && host.priceMicrosPerHour < oldPrice { maxPrice = priceOf.max() ?? 0 }
        } else {
            indexOfHost[host.id] = hosts.count
            hosts.append(host)
            zoneOf.append(zoneIndex)
            measured.append(0)
            capacityOf.append(host.capacity)
            allocatedOf.append(host.allocated)
            readyOf.append(host.state == .ready)
            if host.state == .ready { readyInZone[zoneIndex] += 1 }
            priceOf.append(host.priceMicrosPerHour)
            spotOf.append(host.spot)
        }
        maxPrice = max(maxPrice, host.priceMicrosPerHour)
    }

    /// Sets a host's allocation as recorded elsewhere (e.g. the database), without placements.
    public mutating func setAllocated(_ allocated: Resources, of hostID: String) {
        guard let i = indexOfHost[hostID] else { return }
        hosts[i].allocated = allocated
        allocatedOf[i] = allocated
    }

    public mutating func setState(_ state: HostState, of hostID: String) {
        guard let i = indexOfHost[hostID] else { return }
        hosts[i].state = state
        if readyOf[i] != (state == .ready) { readyInZone[zoneOf[i]] += state == .ready ? 1 : -1 }
        readyOf[i] = state == .ready
    }

    public mutating func setMeasuredUtilisation(_ value: Double, of hostID: String) {
        guard let i = indexOfHost[hostID] else { return }
        measured[i] = min(1, max(0, value))
    }

    /// Members of `group` on host `index`.
    public func members(of group: String, onHost index: Int) -> Int { groupHosts[group]?[index] ?? 0 }

    /// Members of `group` in zone `index`.
    public func members(of group: String, inZone index: Int) -> Int { groupZones[group]?[index] ?? 0 }

    /// Whether `group` has any member anywhere.
    public func hasMembers(_ group: String) -> Bool { !(groupZones[group]?.isEmpty ?? true) }

    /// Replaces what the fleet knows of `group`'s members (per host index) with `counts`, e.g.
    /// as another replica's placements are read back from the database.
    public mutating func setMembers(of group: String, perHost counts: [Int: Int]) {
        let positive = counts.filter { $0.value > 0 }
        groupHosts[group] = positive.isEmpty ? nil : positive
        var zones: [Int: Int] = [:]
        for (host, count) in positive { zones[zoneOf[host], default: 0] += count }
        groupZones[group] = zones.isEmpty ? nil : zones
    }

    /// Claims `resources` on host `index` for `vmID`. Fails, changing nothing, when the host
    /// lacks the room (the engine never asks for that; this is the last line of defence).
    public mutating func place(_ vmID: String, resources: Resources, groups: Set<String>, onHost index: Int) throws(PlacementError) {
        guard placements[vmID] == nil else { throw .alreadyPlaced(vmID) }
        let allocated: Resources
        do { allocated = try hosts[index].allocated.adding(resources) } catch { throw .overCapacity(hosts[index].id) }
        guard allocated.fits(in: hosts[index].capacity) else { throw .overCapacity(hosts[index].id) }
        hosts[index].allocated = allocated
        allocatedOf[index] = allocated
        placements[vmID] = Placement(vmID: vmID, hostIndex: index, resources: resources, groups: groups)
        for group in groups {
            groupHosts[group, default: [:]][index, default: 0] += 1
            groupZones[group, default: [:]][zoneOf[index], default: 0] += 1
        }
    }

    /// Records a placement whose resources the host's allocation already includes (read back
    /// from a database), so that it counts for VM groups and can later be released.
    public mutating func adopt(_ vmID: String, resources: Resources, groups: Set<String>, onHost index: Int) {
        guard placements[vmID] == nil else { return }
        placements[vmID] = Placement(vmID: vmID, hostIndex: index, resources: resources, groups: groups)
        for group in groups {
            groupHosts[group, default: [:]][index, default: 0] += 1
            groupZones[group, default: [:]][zoneOf[index], default: 0] += 1
        }
    }

    /// Returns a VM's resources to its host; the placement it had, or nil for an unknown VM.
    @discardableResult
    public mutating func release(_ vmID: String) -> Placement? {
        guard let placement = placements.removeValue(forKey: vmID) else { return nil }
        let i = placement.hostIndex
        hosts[i].allocated = (try? hosts[i].allocated.subtracting(placement.resources)) ?? .zero
        allocatedOf[i] = hosts[i].allocated
        for group in placement.groups {
            Self.decrement(&groupHosts, group, i)
            Self.decrement(&groupZones, group, zoneOf[i])
        }
        return placement
    }

    private static func decrement(_ counts: inout [String: [Int: Int]], _ group: String, _ key: Int) {
        guard let current = counts[group]?[key] else { return }
        if current <= 1 {
            counts[group]?[key] = nil
            if counts[group]?.isEmpty == true { counts[group] = nil }
        } else {
            counts[group]?[key] = current - 1
        }
    }
}

/// A claim the fleet refused.
public enum PlacementError: Error, Equatable, Sendable {
    case alreadyPlaced(String)
    case overCapacity(String)
}

import NovaCore

// The feasibility filters, cheapest first. Each is a small type with one static check so the
// engine's loop dispatches statically (no existential per host); the chain order is fixed in
// `PlacementEngine.firstRejection`.

/// Only ready hosts take new VMs (cordoned, draining and failed ones do not).
public enum HostStateFilter {
    public static let name = "host-state"
    @inline(__always)
    static func check(ready: Bool) -> Rejection? { ready ? nil : .hostNotReady }
}

/// The host's cloud, region and zone satisfy the request's (empty fields match anything).
public enum TopologyFilter {
    public static let name = "topology"
    @inline(__always)
    static func check(zone: Int, _ request: PreparedRequest) -> Rejection? {
        guard let allowed = request.allowedZones else { return nil }
        return allowed[zone] ? nil : .topologyMismatch
    }
}

/// Spot hosts only when the request allows them.
public enum SpotFilter {
    public static let name = "spot"
    @inline(__always)
    static func check(spot: Bool, _ request: PreparedRequest) -> Rejection? {
        spot && !request.spotAllowed ? .spotNotAllowed : nil
    }
}

/// Host price per hour at most the request's maximum.
public enum PriceFilter {
    public static let name = "price"
    @inline(__always)
    static func check(price: Int64, _ request: PreparedRequest) -> Rejection? {
        price > request.maxPrice ? .priceTooHigh : nil
    }
}

/// Every label selector matches the host's labels.
public enum LabelSelectorFilter {
    public static let name = "labels"
    @inline(__always)
    static func check(_ labels: [String: String], _ request: PreparedRequest) -> Rejection? {
        for selector in request.request.constraints.selectors where !selector.matches(labels) {
            return .labelMismatch
        }
        return nil
    }
}

/// The host's free capacity holds the request, naming the first dimension that does not fit.
public enum CapacityFilter {
    public static let name = "capacity"
    @inline(__always)
    static func check(capacity: Resources, allocated: Resources, _ request: PreparedRequest) -> Rejection? {
        let need = request.need
        if need.memoryMiB > capacity.memoryMiB - allocated.memoryMiB { return .insufficientMemory }
        if need.vcpuMillis > capacity.vcpuMillis - allocated.vcpuMillis { return .insufficientCPU }
        if need.diskGiB > capacity.diskGiB - allocated.diskGiB { return .insufficientDisk }
        if need.gpus > capacity.gpus - allocated.gpus { return .insufficientGPU }
        return nil
    }
}

/// Affinity: the host (or its zone/region) already runs a member of the group. Anti-affinity:
/// it runs none. A group with no members yet admits its first member anywhere.
public enum AffinityFilter {
    public static let name = "affinity"
    @inline(__always)
    static func check(_ index: Int, _ fleet: Fleet, _ request: PreparedRequest) -> Rejection? {
        for rule in request.request.constraints.affinity {
            let here = request.members(of: rule.group, scope: rule.scope, hostIndex: index, fleet: fleet)
            if rule.anti {
                if here > 0 { return .antiAffinity }
            } else if here == 0 && fleet.hasMembers(rule.group) {
                return .affinity
            }
        }
        return nil
    }
}

/// Spread: after placement, the group's count in the host's domain exceeds the least-loaded
/// eligible domain by at most `maxSkew` (kube-scheduler's topology spread rule).
public enum SpreadFilter {
    public static let name = "spread"
    @inline(__always)
    static func check(_ index: Int, _ fleet: Fleet, _ request: PreparedRequest) -> Rejection? {
        for (i, rule) in request.request.constraints.spread.enumerated() {
            let here = request.members(of: rule.group, scope: rule.scope, hostIndex: index, fleet: fleet)
            if here + 1 - request.spreadMinimum[i] > rule.maxSkew { return .spreadSkew }
        }
        return nil
    }
}

import NovaCore

/// A request with what every host check needs computed once per decision: which zones the
/// topology requirement allows, group member counts per region, and each spread rule's
/// least-loaded eligible domain.
public struct PreparedRequest: Sendable {
    public let request: VMRequest
    let need: Resources
    let spotAllowed: Bool
    let maxPrice: Int64
    let hasSelectors: Bool
    let hasGroupRules: Bool
    /// Allowed zones by zone index; nil = every zone.
    let allowedZones: [Bool]?
    /// Per spread rule: the smallest member count among eligible domains (allowed by the
    /// topology requirement, with at least one ready host).
    let spreadMinimum: [Int]
    /// Region key of each zone index, and group -> region -> members, for region scope.
    private let regionOfZone: [String]
    private let regionMembers: [String: [String: Int]]

    init(_ request: VMRequest, fleet: Fleet) {
        self.request = request
        need = request.resources
        spotAllowed = request.constraints.spotAllowed
        maxPrice = request.constraints.maxPriceMicrosPerHour ?? .max
        hasSelectors = !request.constraints.selectors.isEmpty
        hasGroupRules = !request.constraints.affinity.isEmpty || !request.constraints.spread.isEmpty
        let requirement = request.constraints.topology
        if requirement == Topology() {
            allowedZones = nil
        } else {
            allowedZones = fleet.zones.map { $0.satisfies(requirement) }
        }
        // Region keys are built only for requests with a region-scope rule (the hot path has none).
        let groups = Set(request.constraints.affinity.filter { $0.scope == .region }.map(\.group))
            .union(request.constraints.spread.filter { $0.scope == .region }.map(\.group))
        let regionOfZone = groups.isEmpty ? [] : fleet.zones.map { "\($0.cloud)/\($0.region)" }
        self.regionOfZone = regionOfZone
        var regionMembers: [String: [String: Int]] = [:]
        for group in groups {
            for (zone, region) in regionOfZone.enumerated() {
                regionMembers[group, default: [:]][region, default: 0] += fleet.members(of: group, inZone: zone)
            }
        }
        self.regionMembers = regionMembers
        let zoneAllowed = allowedZones
        let members = regionMembers
        spreadMinimum = request.constraints.spread.map { rule in
            Self.minimum(rule, fleet: fleet, zoneAllowed: zoneAllowed, regionOfZone: regionOfZone, regionMembers: members)
        }
    }

    /// Members of `group` in the host's domain at `scope`.
    @inline(__always)
    func members(of group: String, scope: TopologyScope, hostIndex: Int, fleet: Fleet) -> Int {
        switch scope {
        case .host: fleet.members(of: group, onHost: hostIndex)
        case .zone: fleet.members(of: group, inZone: fleet.zoneOf[hostIndex])
        case .region: regionMembers[group]?[regionOfZone[fleet.zoneOf[hostIndex]]] ?? 0
        }
    }

    private static func minimum(
        _ rule: SpreadRule, fleet: Fleet, zoneAllowed: [Bool]?, regionOfZone: [String],
        regionMembers: [String: [String: Int]]
    ) -> Int {
        // Like kube-scheduler's topology spread, only domains that could take the VM count; a
        // zone without a ready host (an outage) would otherwise hold every group's skew at zero.
        let eligibleZones = fleet.zones.indices.filter { (zoneAllowed?[$0] ?? true) && fleet.readyInZone[$0] > 0 }
        switch rule.scope {
        case .zone:
            return eligibleZones.map { fleet.members(of: rule.group, inZone: $0) }.min() ?? 0
        case .region:
            let regions = Set(eligibleZones.map { regionOfZone[$0] })
            return regions.map { regionMembers[rule.group]?[$0] ?? 0 }.min() ?? 0
        case .host:
            var minimum = Int.max
            for (index, host) in fleet.hosts.enumerated() where host.state == .ready && (zoneAllowed?[fleet.zoneOf[index]] ?? true) {
                minimum = min(minimum, fleet.members(of: rule.group, onHost: index))
                if minimum == 0 { break }
            }
            return minimum == .max ? 0 : minimum
        }
    }
}

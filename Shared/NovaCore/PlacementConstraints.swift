import NovaProto

/// The granularity of an affinity or spread rule.
public enum TopologyScope: String, Hashable, Sendable {
    case host, zone, region
}

/// Place a VM with (affinity) or away from (anti-affinity) the members of a VM group.
public struct AffinityRule: Hashable, Sendable {
    public var group: String
    public var scope: TopologyScope
    public var anti: Bool

    public init(group: String, scope: TopologyScope, anti: Bool) {
        self.group = group
        self.scope = scope
        self.anti = anti
    }
}

/// Keep a VM group spread so member counts of any two domains differ by at most `maxSkew`.
public struct SpreadRule: Hashable, Sendable {
    public var group: String
    public var scope: TopologyScope
    public var maxSkew: Int

    public init(group: String, scope: TopologyScope, maxSkew: Int) {
        self.group = group
        self.scope = scope
        self.maxSkew = maxSkew
    }
}

/// How to rank feasible hosts.
public enum PlacementStrategy: String, Hashable, Sendable, CaseIterable {
    case binpack, spread, balanced
}

/// Everything a placement request may require of its host, validated.
public struct PlacementConstraints: Hashable, Sendable {
    public var topology: Topology
    public var selectors: [LabelSelector]
    public var affinity: [AffinityRule]
    public var spread: [SpreadRule]
    /// Maximum price per hour in micro-dollars; nil = no limit.
    public var maxPriceMicrosPerHour: Int64?
    public var spotAllowed: Bool
    /// nil = the service's configured default.
    public var strategy: PlacementStrategy?

    public init(
        topology: Topology = Topology(), selectors: [LabelSelector] = [], affinity: [AffinityRule] = [],
        spread: [SpreadRule] = [], maxPriceMicrosPerHour: Int64? = nil, spotAllowed: Bool = false,
        strategy: PlacementStrategy? = nil
    ) {
        self.topology = topology
        self.selectors = selectors
        self.affinity = affinity
        self.spread = spread
        self.maxPriceMicrosPerHour = maxPriceMicrosPerHour
        self.spotAllowed = spotAllowed
        self.strategy = strategy
    }
}

extension TopologyScope {
    init(_ proto: Novacron_V1_TopologyScope, field: String) throws(ValidationError) {
        switch proto {
        case .host: self = .host
        case .zone: self = .zone
        case .region: self = .region
        case .unspecified, .UNRECOGNIZED: throw ValidationError(field: field, "must be host, zone or region")
        }
    }

    var proto: Novacron_V1_TopologyScope {
        switch self {
        case .host: .host
        case .zone: .zone
        case .region: .region
        }
    }
}

extension PlacementConstraints {
    /// Converts and validates the wire form: malformed selectors, unspecified scopes, a
    /// negative price or a spread skew below 1 are errors naming the field.
    public init(_ proto: Novacron_V1_PlacementConstraints) throws(ValidationError) {
        var selectors: [LabelSelector] = []
        for s in proto.selectors { selectors.append(try LabelSelector(s)) }
        var affinity: [AffinityRule] = []
        for (i, a) in proto.affinity.enumerated() {
            if a.vmGroup.isEmpty { throw ValidationError(field: "affinity[\(i)].vm_group", "must not be empty") }
            affinity.append(
                AffinityRule(group: a.vmGroup, scope: try TopologyScope(a.scope, field: "affinity[\(i)].scope"), anti: a.anti))
        }
        var spread: [SpreadRule] = []
        for (i, s) in proto.spread.enumerated() {
            if s.vmGroup.isEmpty { throw ValidationError(field: "spread[\(i)].vm_group", "must not be empty") }
            if s.maxSkew < 1 { throw ValidationError(field: "spread[\(i)].max_skew", "must be at least 1, got \(s.maxSkew)") }
            spread.append(
                SpreadRule(group: s.vmGroup, scope: try TopologyScope(s.scope, field: "spread[\(i)].scope"), maxSkew: Int(s.maxSkew)))
        }
        if proto.maxPriceMicrosPerHour < 0 {
            throw ValidationError(field: "max_price_micros_per_hour", "must not be negative")
        }
        let strategy: PlacementStrategy?
        switch proto.strategy {
        case .unspecified: strategy = nil
        case .binpack: strategy = .binpack
        case .spread: strategy = .spread
        case .balanced: strategy = .balanced
        case .UNRECOGNIZED(let v): throw ValidationError(field: "strategy", "unknown strategy \(v)")
        }
        self.init(
            topology: Topology(proto.topology), selectors: selectors, affinity: affinity, spread: spread,
            maxPriceMicrosPerHour: proto.maxPriceMicrosPerHour == 0 ? nil : proto.maxPriceMicrosPerHour,
            spotAllowed: proto.spotAllowed, strategy: strategy)
    }

    public var proto: Novacron_V1_PlacementConstraints {
        var p = Novacron_V1_PlacementConstraints()
        p.topology = topology.proto
        p.selectors = selectors.map(\.proto)
        p.affinity = affinity.map { a in
            var r = Novacron_V1_AffinityRule()
            r.vmGroup = a.group
            r.scope = a.scope.proto
            r.anti = a.anti
            return r
        }
        p.spread = spread.map { s in
            var r = Novacron_V1_SpreadRule()
            r.vmGroup = s.group
            r.scope = s.scope.proto
            r.maxSkew = Int32(clamping: s.maxSkew)
            return r
        }
        p.maxPriceMicrosPerHour = maxPriceMicrosPerHour ?? 0
        p.spotAllowed = spotAllowed
        switch strategy {
        case nil: p.strategy = .unspecified
        case .binpack: p.strategy = .binpack
        case .spread: p.strategy = .spread
        case .balanced: p.strategy = .balanced
        }
        return p
    }
}

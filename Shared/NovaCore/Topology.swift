import NovaProto

/// Where a host is: cloud > region > zone. As a requirement, an empty field matches anything.
public struct Topology: Hashable, Sendable, CustomStringConvertible {
    public var cloud: String
    public var region: String
    public var zone: String

    public init(cloud: String = "", region: String = "", zone: String = "") {
        self.cloud = cloud
        self.region = region
        self.zone = zone
    }

    /// True when every non-empty field of `requirement` equals the same field of `self`.
    public func satisfies(_ requirement: Topology) -> Bool {
        (requirement.cloud.isEmpty || requirement.cloud == cloud)
            && (requirement.region.isEmpty || requirement.region == region)
            && (requirement.zone.isEmpty || requirement.zone == zone)
    }

    /// A host's location must be complete.
    public func validatedAsLocation(field: String = "topology") throws(ValidationError) -> Topology {
        if cloud.isEmpty { throw ValidationError(field: "\(field).cloud", "must not be empty") }
        if region.isEmpty { throw ValidationError(field: "\(field).region", "must not be empty") }
        if zone.isEmpty { throw ValidationError(field: "\(field).zone", "must not be empty") }
        return self
    }

    public var description: String {
        [cloud, region, zone].map { $0.isEmpty ? "*" : $0 }.joined(separator: "/")
    }
}

extension Topology {
    public init(_ proto: Novacron_V1_Topology) {
        self.init(cloud: proto.cloud, region: proto.region, zone: proto.zone)
    }

    public var proto: Novacron_V1_Topology {
        var p = Novacron_V1_Topology()
        p.cloud = cloud
        p.region = region
        p.zone = zone
        return p
    }
}

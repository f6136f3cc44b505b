import Foundation

/// A simulation, as a JSON file: the fleet to register, the telemetry it sends, the VMs to
/// place, and the incidents to inject along the way. `Services/Simulator/scenarios/` holds
/// the default one that `make run` plays.
public struct Scenario: Codable, Sendable, Equatable {
    public var name: String
    /// Seed for every random choice, so a scenario plays the same way each time.
    public var seed: UInt64
    public var fleet: FleetSpec
    public var telemetry: TelemetrySpec
    public var workload: WorkloadSpec
    public var incidents: [Incident]

    /// Where hosts are and what they look like.
    public struct FleetSpec: Codable, Sendable, Equatable {
        public var regions: [RegionSpec]
        public var zonesPerRegion: Int
        public var hostsPerZone: Int
        /// Fraction of hosts that are spot (cheaper, preemptible).
        public var spotFraction: Double
        public var shapes: [HostShape]
    }

    public struct RegionSpec: Codable, Sendable, Equatable {
        public var cloud: String
        public var region: String
    }

    /// A host model, drawn with probability proportional to `weight`.
    public struct HostShape: Codable, Sendable, Equatable {
        public var name: String
        public var weight: Int
        public var vcpus: Int
        public var memoryGiB: Int
        public var diskGiB: Int
        public var gpus: Int
        public var pricePerHour: Double
        public var labels: [String: String]
    }

    public struct TelemetrySpec: Codable, Sendable, Equatable {
        public var heartbeatSeconds: Double
        public var sampleSeconds: Double
    }

    /// How many VMs to place, how fast, and what kinds.
    public struct WorkloadSpec: Codable, Sendable, Equatable {
        public var placements: Int
        /// Place commands published per second.
        public var rate: Int
        public var kinds: [VMKind]
    }

    /// A kind of VM, drawn with probability proportional to `weight`.
    public struct VMKind: Codable, Sendable, Equatable {
        public var name: String
        public var weight: Int
        public var vcpuMillis: Int64
        public var memoryMiB: Int64
        public var diskGiB: Int64
        public var gpus: Int
        /// Members are spread over zones with this max skew (0 = no spread rule).
        public var spreadMaxSkew: Int
        /// Members never share a host with another member of their group.
        public var antiAffinity: Bool
        /// VMs of this kind form this many groups (members of a group get the group rules).
        public var groups: Int
        /// Host label selectors in `novacronctl` syntax, e.g. "disk In ssd,nvme".
        public var selectors: [String]
        /// Pin to one random region of the fleet.
        public var pinRegion: Bool
        /// Highest host price in dollars per hour; 0 = no limit.
        public var maxPricePerHour: Double
        public var spotAllowed: Bool
    }

    /// Something that happens once `afterAnswers` place commands were answered.
    public struct Incident: Codable, Sendable, Equatable {
        public enum Kind: String, Codable, Sendable {
            /// `count` random ready hosts (of `zone`, if given) fail.
            case hostFailure
            /// Every host of `zone` fails.
            case zoneOutage
            /// Hosts of `zone` (all, if not given) report `cpu` utilisation.
            case loadSpike
            /// Failed hosts of `zone` (all, if not given) come back ready.
            case recovery
        }
        public var afterAnswers: Int
        public var kind: Kind
        public var zone: String?
        public var count: Int?
        public var cpu: Double?

        public init(afterAnswers: Int, kind: Kind, zone: String? = nil, count: Int? = nil, cpu: Double? = nil) {
            self.afterAnswers = afterAnswers
            self.kind = kind
            self.zone = zone
            self.count = count
            self.cpu = cpu
        }
    }

    /// Reads and checks a scenario file; errors name the file and what is wrong.
    public static func load(_ path: String) throws -> Scenario {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ScenarioError("cannot read scenario file '\(path)'")
        }
        let scenario: Scenario
        do {
            scenario = try JSONDecoder().decode(Scenario.self, from: data)
        } catch let DecodingError.keyNotFound(key, context) {
            throw ScenarioError("\(path): missing '\(key.stringValue)' at \(Self.path(context))")
        } catch let DecodingError.typeMismatch(_, context), let DecodingError.valueNotFound(_, context) {
            throw ScenarioError("\(path): wrong type at \(Self.path(context)): \(context.debugDescription)")
        } catch let DecodingError.dataCorrupted(context) {
            throw ScenarioError("\(path): \(context.debugDescription) at \(Self.path(context))")
        }
        try scenario.validate()
        return scenario
    }

    private static func path(_ context: DecodingError.Context) -> String {
        let parts = context.codingPath.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }
        return parts.isEmpty ? "top level" : parts.joined()
    }

    /// Rejects values no simulation can use, naming the field.
    public func validate() throws {
        func check(_ condition: Bool, _ message: String) throws { if !condition { throw ScenarioError("scenario '\(name)': \(message)") } }
        try check(!fleet.regions.isEmpty, "fleet.regions must not be empty")
        try check(fleet.zonesPerRegion >= 1 && fleet.zonesPerRegion <= 26, "fleet.zonesPerRegion must be 1 to 26")
        try check(fleet.hostsPerZone >= 1, "fleet.hostsPerZone must be at least 1")
        try check((0...1).contains(fleet.spotFraction), "fleet.spotFraction must be between 0 and 1")
        try check(!fleet.shapes.isEmpty && fleet.shapes.allSatisfy { $0.weight > 0 && $0.vcpus > 0 && $0.memoryGiB > 0 && $0.pricePerHour >= 0 },
            "fleet.shapes need positive weight, vcpus and memoryGiB")
        try check(telemetry.heartbeatSeconds > 0 && telemetry.sampleSeconds > 0, "telemetry intervals must be positive")
        try check(workload.placements >= 0 && workload.rate > 0, "workload.placements must be at least 0 and workload.rate positive")
        try check(!workload.kinds.isEmpty || workload.placements == 0, "workload.kinds must not be empty")
        for kind in workload.kinds {
            try check(kind.weight > 0 && kind.vcpuMillis > 0 && kind.memoryMiB > 0, "workload kind '\(kind.name)' needs positive weight, cpu and memory")
            try check(kind.groups >= 1, "workload kind '\(kind.name)' needs groups of at least 1")
        }
        let zones = Set(fleet.regions.flatMap { r in (0..<fleet.zonesPerRegion).map { FleetGenerator.zoneName(r.region, $0) } })
        for incident in incidents {
            if let zone = incident.zone { try check(zones.contains(zone), "incident zone '\(zone)' is not in the fleet (\(zones.sorted().joined(separator: ", ")))") }
            try check(incident.afterAnswers >= 0, "incident afterAnswers must not be negative")
            if incident.kind == .zoneOutage { try check(incident.zone != nil, "a zoneOutage needs a zone") }
            if incident.kind == .loadSpike { try check((0...1).contains(incident.cpu ?? -1), "a loadSpike needs cpu between 0 and 1") }
        }
    }

    public var hostCount: Int { fleet.regions.count * fleet.zonesPerRegion * fleet.hostsPerZone }
}

public struct ScenarioError: Error, CustomStringConvertible, Equatable {
    public let description: String
    public init(_ description: String) { self.description = description }
}

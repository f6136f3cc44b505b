import NovaProto

/// A host's lifecycle state. Only `ready` hosts take new VMs.
public enum HostState: String, Hashable, Sendable, CaseIterable {
    case ready, cordoned, draining, failed

    public init(_ proto: Novacron_V1_HostState) throws(ValidationError) {
        switch proto {
        case .ready: self = .ready
        case .cordoned: self = .cordoned
        case .draining: self = .draining
        case .failed: self = .failed
        case .unspecified, .UNRECOGNIZED: throw ValidationError(field: "state", "must be ready, cordoned, draining or failed")
        }
    }

    public var proto: Novacron_V1_HostState {
        switch self {
        case .ready: .ready
        case .cordoned: .cordoned
        case .draining: .draining
        case .failed: .failed
        }
    }
}

/// A machine that runs VMs: its capacity, what is allocated on it, where it is and what it costs.
public struct Host: Hashable, Sendable, Identifiable {
    public var id: String
    public var capacity: Resources
    public var allocated: Resources
    public var topology: Topology
    public var labels: [String: String]
    public var priceMicrosPerHour: Int64
    public var spot: Bool
    public var state: HostState
    /// The adapter that runs the host's VMs (`TopicCatalog.providers`); empty for a host no
    /// adapter manages, whose VMs placement records but asks no provider to create.
    public var provider: String

    public init(
        id: String, capacity: Resources, allocated: Resources = .zero, topology: Topology,
        labels: [String: String] = [:], priceMicrosPerHour: Int64 = 0, spot: Bool = false,
        state: HostState = .ready, provider: String = ""
    ) {
        self.provider = provider
        self.id = id
        self.capacity = capacity
        self.allocated = allocated
        self.topology = topology
        self.labels = labels
        self.priceMicrosPerHour = priceMicrosPerHour
        self.spot = spot
        self.state = state
    }

    /// Capacity not yet allocated (never negative: allocation is checked when claimed).
    public var free: Resources {
        (try? capacity.subtracting(allocated)) ?? .zero
    }

    /// Builds a host from its registration, validating id, capacity, location and price.
    public init(registered event: Novacron_V1_HostRegistered) throws(ValidationError) {
        if event.hostID.isEmpty { throw ValidationError(field: "host_id", "must not be empty") }
        let capacity = Resources(event.capacity)
        if !capacity.isNonNegative || capacity.vcpuMillis == 0 || capacity.memoryMiB == 0 {
            throw ValidationError(field: "capacity", "vcpu and memory must be positive and nothing negative, got \(capacity)")
        }
        if event.priceMicrosPerHour < 0 {
            throw ValidationError(field: "price_micros_per_hour", "must not be negative")
        }
        if !event.provider.isEmpty && !TopicCatalog.providers.contains(event.provider) {
            throw ValidationError(
                field: "provider", "must be one of \(TopicCatalog.providers.joined(separator: ", ")) or empty, got '\(event.provider)'")
        }
        self.init(
            id: event.hostID, capacity: capacity, topology: try Topology(event.topology).validatedAsLocation(),
            labels: event.labels, priceMicrosPerHour: event.priceMicrosPerHour, spot: event.spot, provider: event.provider)
    }

    public var registration: Novacron_V1_HostRegistered {
        var e = Novacron_V1_HostRegistered()
        e.hostID = id
        e.capacity = capacity.proto
        e.topology = topology.proto
        e.labels = labels
        e.priceMicrosPerHour = priceMicrosPerHour
        e.spot = spot
        e.provider = provider
        return e
    }
}

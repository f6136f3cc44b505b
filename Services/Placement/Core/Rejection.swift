import NovaProto

/// Why a host cannot take a request: the first filter that refused it. Every rejected host
/// has exactly one, so an explanation's counts add up to the fleet size.
public enum Rejection: String, CaseIterable, Sendable, Hashable {
    case hostNotReady = "host not ready"
    case topologyMismatch = "topology mismatch"
    case spotNotAllowed = "spot not allowed"
    case priceTooHigh = "price too high"
    case labelMismatch = "label mismatch"
    case insufficientCPU = "insufficient cpu"
    case insufficientMemory = "insufficient memory"
    case insufficientDisk = "insufficient disk"
    case insufficientGPU = "insufficient gpu"
    case antiAffinity = "anti-affinity"
    case affinity = "affinity"
    case spreadSkew = "spread skew"

    /// Position in `allCases`, for counting in a flat array.
    @inline(__always)
    var ordinal: Int {
        switch self {
        case .hostNotReady: 0
        case .topologyMismatch: 1
        case .spotNotAllowed: 2
        case .priceTooHigh: 3
        case .labelMismatch: 4
        case .insufficientCPU: 5
        case .insufficientMemory: 6
        case .insufficientDisk: 7
        case .insufficientGPU: 8
        case .antiAffinity: 9
        case .affinity: 10
        case .spreadSkew: 11
        }
    }

    /// The filter that produces this rejection.
    public var filter: String {
        switch self {
        case .hostNotReady: HostStateFilter.name
        case .topologyMismatch: TopologyFilter.name
        case .spotNotAllowed: SpotFilter.name
        case .priceTooHigh: PriceFilter.name
        case .labelMismatch: LabelSelectorFilter.name
        case .insufficientCPU, .insufficientMemory, .insufficientDisk, .insufficientGPU: CapacityFilter.name
        case .antiAffinity, .affinity: AffinityFilter.name
        case .spreadSkew: SpreadFilter.name
        }
    }

    public var isCapacity: Bool {
        switch self {
        case .insufficientCPU, .insufficientMemory, .insufficientDisk, .insufficientGPU: true
        default: false
        }
    }

    public var proto: Novacron_V1_PlacementReason {
        switch self {
        case .hostNotReady: .hostNotReady
        case .topologyMismatch: .topologyMismatch
        case .spotNotAllowed: .spotNotAllowed
        case .priceTooHigh: .priceTooHigh
        case .labelMismatch: .labelMismatch
        case .insufficientCPU: .insufficientCpu
        case .insufficientMemory: .insufficientMemory
        case .insufficientDisk: .insufficientDisk
        case .insufficientGPU: .insufficientGpu
        case .antiAffinity: .antiAffinity
        case .affinity: .affinity
        case .spreadSkew: .spreadSkew
        }
    }
}

import NovaCore

// Scorers rank feasible hosts. Each returns a raw score in 0...1 (higher is better); the engine
// multiplies by a weight and keeps every component for the explanation.

/// Binpack: prefer the host that will be fullest after placement (cpu and memory averaged), to
/// keep whole hosts free for large VMs.
public enum BinpackScorer {
    public static let name = "binpack"
    @inline(__always)
    static func score(_ capacity: Resources, _ allocated: Resources, _ need: Resources) -> Double {
        utilisationAfter(capacity, allocated, need)
    }
}

/// Spread: prefer the emptiest host after placement, to limit the blast radius of a failure.
public enum SpreadScorer {
    public static let name = "spread"
    @inline(__always)
    static func score(_ capacity: Resources, _ allocated: Resources, _ need: Resources) -> Double {
        1 - utilisationAfter(capacity, allocated, need)
    }
}

/// Balanced: prefer the host whose cpu and memory use stay closest to each other after
/// placement, so neither runs out while the other idles.
public enum BalancedScorer {
    public static let name = "balanced"
    @inline(__always)
    static func score(_ capacity: Resources, _ allocated: Resources, _ need: Resources) -> Double {
        let cpu = fraction(allocated.vcpuMillis + need.vcpuMillis, capacity.vcpuMillis)
        let memory = fraction(allocated.memoryMiB + need.memoryMiB, capacity.memoryMiB)
        return 1 - abs(cpu - memory)
    }
}

/// Price: cheaper hosts score higher, relative to the most expensive host in the fleet.
public enum PriceScorer {
    public static let name = "price"
    @inline(__always)
    static func score(price: Int64, maxPrice: Int64) -> Double {
        maxPrice <= 0 ? 1 : 1 - Double(price) / Double(maxPrice)
    }
}

/// Measured utilisation: hosts that are actually busy (not merely allocated) score lower.
public enum MeasuredUtilisationScorer {
    public static let name = "measured-utilisation"
    @inline(__always)
    static func score(measured: Double) -> Double { 1 - measured }
}

@inline(__always)
func fraction(_ used: Int64, _ capacity: Int64) -> Double {
    capacity <= 0 ? 1 : min(1, Double(used) / Double(capacity))
}

@inline(__always)
func utilisationAfter(_ capacity: Resources, _ allocated: Resources, _ need: Resources) -> Double {
    (fraction(allocated.vcpuMillis + need.vcpuMillis, capacity.vcpuMillis)
        + fraction(allocated.memoryMiB + need.memoryMiB, capacity.memoryMiB)) / 2
}

import NovaProto

/// An amount of compute: CPU in millicores, memory in MiB, disk in GiB, whole GPUs.
///
/// Arithmetic is checked: overflow and going below zero are errors, never wrap-around, so a
/// host's free capacity can never silently become huge or negative.
public struct Resources: Hashable, Sendable, CustomStringConvertible {
    public var vcpuMillis: Int64
    public var memoryMiB: Int64
    public var diskGiB: Int64
    public var gpus: Int64

    public static let zero = Resources(vcpuMillis: 0, memoryMiB: 0, diskGiB: 0, gpus: 0)

    public init(vcpuMillis: Int64, memoryMiB: Int64, diskGiB: Int64 = 0, gpus: Int64 = 0) {
        self.vcpuMillis = vcpuMillis
        self.memoryMiB = memoryMiB
        self.diskGiB = diskGiB
        self.gpus = gpus
    }

    /// True when no dimension is negative.
    public var isNonNegative: Bool { vcpuMillis >= 0 && memoryMiB >= 0 && diskGiB >= 0 && gpus >= 0 }

    /// True when every dimension of `self` is at most the same dimension of `other`.
    public func fits(in other: Resources) -> Bool {
        vcpuMillis <= other.vcpuMillis && memoryMiB <= other.memoryMiB && diskGiB <= other.diskGiB
            && gpus <= other.gpus
    }

    /// The sum, or an error naming the dimension that overflowed.
    public func adding(_ other: Resources) throws(ResourceArithmeticError) -> Resources {
        Resources(
            vcpuMillis: try Self.add(vcpuMillis, other.vcpuMillis, "vcpu_millis"),
            memoryMiB: try Self.add(memoryMiB, other.memoryMiB, "memory_mib"),
            diskGiB: try Self.add(diskGiB, other.diskGiB, "disk_gib"),
            gpus: try Self.add(gpus, other.gpus, "gpus"))
    }

    /// The difference, or an error when any dimension would go below zero.
    public func subtracting(_ other: Resources) throws(ResourceArithmeticError) -> Resources {
        let result = Resources(
            vcpuMillis: try Self.sub(vcpuMillis, other.vcpuMillis, "vcpu_millis"),
            memoryMiB: try Self.sub(memoryMiB, other.memoryMiB, "memory_mib"),
            diskGiB: try Self.sub(diskGiB, other.diskGiB, "disk_gib"),
            gpus: try Self.sub(gpus, other.gpus, "gpus"))
        for (name, value) in result.dimensions where value < 0 {
            throw .underflow(dimension: name)
        }
        return result
    }

    /// The dimensions by their wire names, in a fixed order.
    public var dimensions: [(String, Int64)] {
        [("vcpu_millis", vcpuMillis), ("memory_mib", memoryMiB), ("disk_gib", diskGiB), ("gpus", gpus)]
    }

    /// Rejects negative amounts and an all-zero request.
    public func validatedAsRequest(field: String = "resources") throws(ValidationError) -> Resources {
        for (name, value) in dimensions where value < 0 {
            throw ValidationError(field: "\(field).\(name)", "must not be negative, got \(value)")
        }
        if vcpuMillis == 0 || memoryMiB == 0 {
            throw ValidationError(field: field, "vcpu_millis and memory_mib must be positive")
        }
        return self
    }

    public var description: String {
        "cpu=\(vcpuMillis)m mem=\(memoryMiB)MiB disk=\(diskGiB)GiB gpu=\(gpus)"
    }

    private static func add(_ a: Int64, _ b: Int64, _ name: String) throws(ResourceArithmeticError) -> Int64 {
        let (value, overflow) = a.addingReportingOverflow(b)
        if overflow { throw .overflow(dimension: name) }
        return value
    }

    private static func sub(_ a: Int64, _ b: Int64, _ name: String) throws(ResourceArithmeticError) -> Int64 {
        let (value, overflow) = a.subtractingReportingOverflow(b)
        if overflow { throw .overflow(dimension: name) }
        return value
    }
}

/// Why checked resource arithmetic refused to produce a value.
public enum ResourceArithmeticError: Error, Equatable, Sendable {
    case overflow(dimension: String)
    case underflow(dimension: String)
}

extension Resources {
    public init(_ proto: Novacron_V1_Resources) {
        self.init(
            vcpuMillis: proto.vcpuMillis, memoryMiB: proto.memoryMib, diskGiB: proto.diskGib,
            gpus: Int64(proto.gpus))
    }

    public var proto: Novacron_V1_Resources {
        var p = Novacron_V1_Resources()
        p.vcpuMillis = vcpuMillis
        p.memoryMib = memoryMiB
        p.diskGib = diskGiB
        p.gpus = Int32(clamping: gpus)
        return p
    }
}

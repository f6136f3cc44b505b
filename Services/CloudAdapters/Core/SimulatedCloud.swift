import Foundation
import NovaCore

/// The simulated provider's behaviour: how long each call takes and how often a create fails,
/// decided per command from a seed, so a run replays exactly and a repeated command gets the
/// same answer. It plays the provider side for `make run` and the whole-stack tests.
public struct SimulatedCloud: Sendable, Hashable {
    public var provisionMillis: ClosedRange<Int64>
    public var terminateMillis: ClosedRange<Int64>
    public var migrateMillis: ClosedRange<Int64>
    public var snapshotMillis: ClosedRange<Int64>
    /// Share of creates that fail, 0...1: three in four for lack of capacity (retryable), the
    /// rest for a host error (not retryable on that host).
    public var failureRate: Double
    public var snapshotMiB: ClosedRange<Int64>
    public var seed: UInt64

    public init(
        provisionMillis: ClosedRange<Int64> = 200...800, terminateMillis: ClosedRange<Int64> = 50...200,
        migrateMillis: ClosedRange<Int64> = 500...2000, snapshotMillis: ClosedRange<Int64> = 300...1500, failureRate: Double = 0.02,
        snapshotMiB: ClosedRange<Int64> = 512...8192, seed: UInt64 = 1
    ) {
        self.provisionMillis = provisionMillis
        self.terminateMillis = terminateMillis
        self.migrateMillis = migrateMillis
        self.snapshotMillis = snapshotMillis
        self.failureRate = failureRate
        self.snapshotMiB = snapshotMiB
        self.seed = seed
    }

    /// The variables it reads, with what each expects (for errors and the README).
    public static let variables: [(name: String, expects: String)] = [
        ("SIM_PROVISION_MS", "create latency range in ms, MIN-MAX or one number (default 200-800)"),
        ("SIM_TERMINATE_MS", "delete latency range in ms (default 50-200)"),
        ("SIM_MIGRATE_MS", "migration latency range in ms (default 500-2000)"),
        ("SIM_SNAPSHOT_MS", "snapshot latency range in ms (default 300-1500)"),
        ("SIM_FAILURE_RATE", "share of creates that fail, 0-1 (default 0.02)"),
        ("SIM_SNAPSHOT_MIB", "snapshot size range in MiB (default 512-8192)"),
        ("SIM_SEED", "seed of the per-command draws (default 1)"),
    ]

    /// Reads the `SIM_*` variables; an invalid one is an error naming it.
    public init(environment: [String: String]) throws(ValidationError) {
        self.init()
        provisionMillis = try Self.range(environment, "SIM_PROVISION_MS", default: provisionMillis)
        terminateMillis = try Self.range(environment, "SIM_TERMINATE_MS", default: terminateMillis)
        migrateMillis = try Self.range(environment, "SIM_MIGRATE_MS", default: migrateMillis)
        snapshotMillis = try Self.range(environment, "SIM_SNAPSHOT_MS", default: snapshotMillis)
        snapshotMiB = try Self.range(environment, "SIM_SNAPSHOT_MIB", default: snapshotMiB)
        if let raw = environment["SIM_FAILURE_RATE"], !raw.isEmpty {
            guard let rate = Double(raw), (0...1).contains(rate) else {
                throw ValidationError(field: "SIM_FAILURE_RATE", "must be a number from 0 to 1, got '\(raw)'")
            }
            failureRate = rate
        }
        if let raw = environment["SIM_SEED"], !raw.isEmpty {
            guard let seed = UInt64(raw) else { throw ValidationError(field: "SIM_SEED", "must be a non-negative integer, got '\(raw)'") }
            self.seed = seed
        }
    }

    /// How long `operation` of `commandID` takes, in ms.
    public func latency(of operation: ProviderOperation, commandID: String) -> Int64 {
        let range: ClosedRange<Int64> =
            switch operation {
            case .provision: provisionMillis
            case .terminate: terminateMillis
            case .migrate: migrateMillis
            case .snapshot: snapshotMillis
            }
        return Self.pick(range, draw(operation, commandID, salt: 1))
    }

    /// What the provider answers `operation` of `commandID` for `record`.
    public func result(of operation: ProviderOperation, commandID: String, record: InstanceRecord) -> ProviderResult {
        let ref = "sim-\(String(draw(operation, commandID, salt: 3) & 0xffff_ffff_ffff, radix: 16))"
        switch operation {
        case .provision:
            let u = Double(draw(operation, commandID, salt: 2) >> 11) / Double(1 << 53)
            if u < failureRate * 0.75 {
                return .failure(code: "insufficient_capacity", reason: "simulated: host '\(record.hostID)' has no capacity left", retryable: true)
            }
            if u < failureRate {
                return .failure(code: "host_error", reason: "simulated: host '\(record.hostID)' failed to start the instance", retryable: false)
            }
            return .success(ref: ref)
        case .snapshot:
            return .success(ref: "snap-\(ref.dropFirst(4))", sizeBytes: Self.pick(snapshotMiB, draw(operation, commandID, salt: 4)) << 20)
        case .terminate, .migrate:
            return .success(ref: operation == .migrate ? record.providerRef : "")
        }
    }

    private func draw(_ operation: ProviderOperation, _ commandID: String, salt: UInt64) -> UInt64 {
        SplitMix64.mix(StableHash.fnv1a("\(operation.rawValue)/\(commandID)") ^ SplitMix64.mix(seed &+ salt))
    }

    private static func pick(_ range: ClosedRange<Int64>, _ draw: UInt64) -> Int64 {
        range.lowerBound + Int64(draw % UInt64(range.upperBound - range.lowerBound + 1))
    }

    private static func range(_ environment: [String: String], _ name: String, default value: ClosedRange<Int64>) throws(ValidationError)
        -> ClosedRange<Int64>
    {
        guard let raw = environment[name], !raw.isEmpty else { return value }
        let parts = raw.split(separator: "-", omittingEmptySubsequences: false).map { Int64($0.trimmingCharacters(in: .whitespaces)) }
        let bad = ValidationError(field: name, "must be MIN-MAX or one number, whole and not negative, with MIN <= MAX, got '\(raw)'")
        switch parts.count {
        case 1:
            guard let v = parts[0], v >= 0 else { throw bad }
            return v...v
        case 2:
            guard let lo = parts[0], let hi = parts[1], lo >= 0, lo <= hi else { throw bad }
            return lo...hi
        default:
            throw bad
        }
    }
}

/// Nearest-rank percentiles of a sample, sorted once. Every latency and decision-time figure
/// the tools print (both benchmarks, the simulator's summary) is computed this one way, so
/// their p50 and p99 mean the same thing.
public struct Percentiles<Value: Comparable & Sendable>: Sendable {
    /// The sample, ascending.
    public let sorted: [Value]

    public init(_ values: some Sequence<Value>) {
        sorted = values.sorted()
    }

    /// The smallest value with at least `fraction` (0...1) of the sample at or below it; nil
    /// for an empty sample.
    public func at(_ fraction: Double) -> Value? {
        guard !sorted.isEmpty else { return nil }
        let rank = Int((fraction * Double(sorted.count)).rounded(.up)) - 1
        return sorted[Swift.min(sorted.count - 1, Swift.max(0, rank))]
    }

    public var p50: Value? { at(0.5) }
    public var p99: Value? { at(0.99) }
    public var max: Value? { sorted.last }
    public var count: Int { sorted.count }
}

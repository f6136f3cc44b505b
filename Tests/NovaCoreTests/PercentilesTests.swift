import NovaCore
import Testing

@Suite struct PercentilesTests {
    /// Nearest rank: the p-th percentile is the value at rank ceil(p * n), whatever order the
    /// sample came in.
    @Test func nearestRankOverAnUnsortedSample() {
        let sample = Percentiles((1...100).reversed().map(Double.init))
        #expect(sample.p50 == 50)
        #expect(sample.p99 == 99)
        #expect(sample.at(1) == 100 && sample.max == 100)
        #expect(sample.at(0) == 1)
        #expect(sample.count == 100)
        let small = Percentiles([30, 10, 20])
        #expect(small.p50 == 20 && small.p99 == 30)
        #expect(Percentiles([7]).p99 == 7)
    }

    @Test func anEmptySampleHasNoPercentiles() {
        let empty = Percentiles([Int]())
        #expect(empty.p50 == nil && empty.p99 == nil && empty.max == nil && empty.count == 0)
    }
}

import Prometheus
import Synchronization

/// `orchestration_decisions_total{result}`, `orchestration_decision_duration_seconds`,
/// `orchestration_placement_failures_total{reason}`, `orchestration_inventory_hosts`,
/// `orchestration_claim_conflicts_total`, `orchestration_unregistered_host_reports_total`.
///
/// Decisions, failures and decision times count when their transaction commits (`commit()`):
/// a batch that rolls back is retried record by record, and would otherwise count its
/// decisions twice. Claim conflicts and the inventory size count at once: they happened
/// either way.
struct PlacementMetrics: Sendable {
    let registry: PrometheusCollectorRegistry
    private let duration: DurationHistogram
    let inventory: Gauge
    let conflicts: Counter
    private let pending = PendingCounts()

    /// The current transaction's counts, kept until it commits or rolls back.
    private final class PendingCounts: Sendable {
        struct Counts {
            var results: [String: Int] = [:]
            var failures: [String: Int] = [:]
            var micros: [Int64] = []
            var ignoredReports = 0
        }

        let counts = Mutex(Counts())
    }

    init(registry: PrometheusCollectorRegistry) {
        self.registry = registry
        duration = registry.makeDurationHistogram(
            descriptor: MetricNameDescriptor(
                namespace: "orchestration", metricName: "decision_duration", unitName: "seconds",
                helpText: "Time to decide a placement, excluding the claim"),
            buckets: [.microseconds(10), .microseconds(50), .microseconds(100), .microseconds(500), .milliseconds(1),
                      .milliseconds(5), .milliseconds(10), .milliseconds(50)])
        inventory = registry.makeGauge(
            descriptor: MetricNameDescriptor(namespace: "orchestration", metricName: "inventory", unitName: "hosts", helpText: "Hosts known"))
        conflicts = registry.makeCounter(
            descriptor: MetricNameDescriptor(
                namespace: "orchestration", metricName: "claim_conflicts", unitName: "total",
                helpText: "Capacity claims retried after another replica changed the host"))
    }

    /// Counts a decision with this result, once the transaction commits.
    func decision(_ result: String) {
        pending.counts.withLock { $0.results[result, default: 0] += 1 }
    }

    /// Counts a failure for this reason, once the transaction commits.
    func failure(_ reason: String) {
        pending.counts.withLock { $0.failures[reason, default: 0] += 1 }
    }

    /// Records a decision's time, once the transaction commits.
    func decided(inMicros micros: Int64) {
        pending.counts.withLock { $0.micros.append(micros) }
    }

    /// Counts heartbeats and samples of hosts not registered (ignored), once the transaction
    /// commits.
    func ignoredReports(_ count: Int) {
        pending.counts.withLock { $0.ignoredReports += count }
    }

    /// Publishes the committed transaction's counts, one counter lookup per label rather than
    /// per decision.
    func commit() {
        let counts = pending.counts.withLock { counts in
            defer { counts = PendingCounts.Counts() }
            return counts
        }
        for (result, count) in counts.results {
            counter("decisions", "Placement decisions by result", ("result", result)).increment(by: Int64(count))
        }
        for (reason, count) in counts.failures {
            counter("placement_failures", "Placement failures by reason", ("reason", reason)).increment(by: Int64(count))
        }
        for micros in counts.micros { duration.record(.microseconds(micros)) }
        if counts.ignoredReports > 0 {
            counter("unregistered_host_reports", "Heartbeats and telemetry samples ignored: their host is not registered")
                .increment(by: Int64(counts.ignoredReports))
        }
    }

    /// Forgets the rolled-back transaction's counts.
    func discard() {
        pending.counts.withLock { $0 = PendingCounts.Counts() }
    }

    private func counter(_ name: String, _ help: String, _ label: (String, String)? = nil) -> Counter {
        registry.makeCounter(
            descriptor: MetricNameDescriptor(namespace: "orchestration", metricName: name, unitName: "total", helpText: help),
            labels: label.map { [$0] } ?? [])
    }
}

import Prometheus

/// `orchestration_decisions_total{result}`, `orchestration_decision_duration_seconds`,
/// `orchestration_placement_failures_total{reason}`, `orchestration_inventory_hosts`,
/// `orchestration_claim_conflicts_total`.
struct PlacementMetrics: Sendable {
    let registry: PrometheusCollectorRegistry
    let duration: DurationHistogram
    let inventory: Gauge
    let conflicts: Counter

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

    func decision(_ result: String, count: Int = 1) {
        registry.makeCounter(
            descriptor: MetricNameDescriptor(
                namespace: "orchestration", metricName: "decisions", unitName: "total", helpText: "Placement decisions by result"),
            labels: [("result", result)]
        ).increment(by: Int64(count))
    }

    func failure(_ reason: String, count: Int = 1) {
        registry.makeCounter(
            descriptor: MetricNameDescriptor(
                namespace: "orchestration", metricName: "placement_failures", unitName: "total",
                helpText: "Placement failures by reason"),
            labels: [("reason", reason)]
        ).increment(by: Int64(count))
    }

    /// Counts a batch's decisions and failures, one counter lookup per label rather than per
    /// decision.
    func record(results: [String: Int], failures: [String: Int]) {
        for (result, count) in results { decision(result, count: count) }
        for (reason, count) in failures { failure(reason, count: count) }
    }
}

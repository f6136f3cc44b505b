import Prometheus

/// The metrics every service exposes on `/metrics`, in one registry per process so that tests
/// can read them without a global bootstrap. Names: `novacron_events_consumed_total{topic}`,
/// `novacron_events_produced_total{topic}`, `novacron_events_deadlettered_total{topic,reason}`,
/// `novacron_events_duplicate_total{topic}`, `novacron_handler_duration_seconds`,
/// `novacron_outbox_backlog`, `novacron_consumer_lag{topic,partition}`, and for services with
/// timers or key ownership `novacron_timers_fired_total{kind}`, `novacron_owned_partitions`,
/// `novacron_stale_owner_refused_total`.
public final class ServiceMetrics: Sendable {
    public let registry: PrometheusCollectorRegistry
    public let handlerDuration: DurationHistogram
    public let outboxBacklog: Gauge

    public init(registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry()) {
        self.registry = registry
        handlerDuration = registry.makeDurationHistogram(
            descriptor: Self.name("handler_duration", "seconds", "Time from a record's arrival to its transaction's commit"),
            buckets: [
                .microseconds(250), .microseconds(500), .milliseconds(1), .milliseconds(2), .milliseconds(5),
                .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250),
                .seconds(1),
            ])
        outboxBacklog = registry.makeGauge(descriptor: Self.name("outbox_backlog", "", "Outbox records not yet published"))
    }

    static func name(_ metric: String, _ unit: String, _ help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(namespace: "novacron", metricName: metric, unitName: unit, helpText: help)
    }

    private static var consumedName: MetricNameDescriptor { name("events_consumed", "total", "Records consumed") }
    private static var producedName: MetricNameDescriptor { name("events_produced", "total", "Records published") }
    private static var deadLetteredName: MetricNameDescriptor { name("events_deadlettered", "total", "Records sent to novacron.deadletter") }
    private static var duplicateName: MetricNameDescriptor { name("events_duplicate", "total", "Redelivered records skipped by the inbox") }
    private static var lagName: MetricNameDescriptor { name("consumer_lag", "", "Records behind the high watermark") }

    public func consumed(topic: String, count: Int = 1) {
        registry.makeCounter(descriptor: Self.consumedName, labels: [("topic", topic)]).increment(by: Int64(count))
    }

    public func produced(topic: String, count: Int = 1) {
        registry.makeCounter(descriptor: Self.producedName, labels: [("topic", topic)]).increment(by: Int64(count))
    }

    public func deadLettered(topic: String, reason: String) {
        registry.makeCounter(descriptor: Self.deadLetteredName, labels: [("topic", topic), ("reason", reason)]).increment()
    }

    public func duplicate(topic: String) {
        registry.makeCounter(descriptor: Self.duplicateName, labels: [("topic", topic)]).increment()
    }

    public func lag(topic: String, partition: Int32, value: Int64) {
        registry.makeGauge(descriptor: Self.lagName, labels: [("topic", topic), ("partition", String(partition))])
            .set(Double(value))
    }

    private static var timersName: MetricNameDescriptor { name("timers_fired", "total", "Deadlines and ticks fired and committed") }
    private static var staleName: MetricNameDescriptor {
        name("stale_owner_refused", "total", "Transactions refused because another replica claimed their partitions")
    }

    public func timersFired(kind: String, count: Int) {
        registry.makeCounter(descriptor: Self.timersName, labels: [("kind", kind)]).increment(by: Int64(count))
    }

    public func staleOwnerRefused(count: Int = 1) {
        registry.makeCounter(descriptor: Self.staleName).increment(by: Int64(count))
    }

    public func ownedPartitions(_ count: Int) {
        registry.makeGauge(descriptor: Self.name("owned_partitions", "", "Partitions this replica owns (key ownership)")).set(Double(count))
    }

    /// The Prometheus text exposition of every metric.
    public func exposition() -> [UInt8] { registry.emitToBuffer() }
}

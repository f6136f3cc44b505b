import CloudAdaptersCore
import Prometheus
import Synchronization

/// `novacron_provider_calls_total{provider,operation,outcome}`,
/// `novacron_provider_call_duration_seconds{provider,operation}` and
/// `novacron_provider_refusals_total{provider,code}`, counted when their transaction commits
/// (a batch that rolls back is retried record by record).
struct ProviderMetrics: Sendable {
    let registry: PrometheusCollectorRegistry
    let provider: ProviderKind
    private let pending = Pending()

    private final class Pending: Sendable {
        struct Counts {
            var calls: [[String]: Int] = [:]
            var durations: [(String, Int64)] = []
            var refusals: [String: Int] = [:]
        }

        let counts = Mutex(Counts())
    }

    static var calls: MetricNameDescriptor { MetricNameDescriptor(
        namespace: "novacron", subsystem: "provider", metricName: "calls", unitName: "total", helpText: "Provider calls by operation and outcome") }
    static var duration: MetricNameDescriptor { MetricNameDescriptor(
        namespace: "novacron", subsystem: "provider", metricName: "call_duration", unitName: "seconds", helpText: "Provider call latency") }
    static var refusals: MetricNameDescriptor { MetricNameDescriptor(
        namespace: "novacron", subsystem: "provider", metricName: "refusals", unitName: "total",
        helpText: "Provider commands refused, by code") }

    init(registry: PrometheusCollectorRegistry, provider: ProviderKind) {
        self.registry = registry
        self.provider = provider
    }

    func started(_ operation: ProviderOperation) {
        pending.counts.withLock { $0.calls[[operation.rawValue, "started"], default: 0] += 1 }
    }

    func completed(_ operation: ProviderOperation, result: ProviderResult, millis: Int64) {
        let outcome: String
        switch result {
        case .success: outcome = "succeeded"
        case .failure(let code, _, _): outcome = code
        }
        pending.counts.withLock {
            $0.calls[[operation.rawValue, outcome], default: 0] += 1
            $0.durations.append((operation.rawValue, max(0, millis)))
        }
    }

    func answered(_ outcome: InstanceOutcome) {
        guard case .refused(_, _, let code, _, _) = outcome else { return }
        pending.counts.withLock { $0.refusals[code, default: 0] += 1 }
    }

    func discard() { pending.counts.withLock { $0 = Pending.Counts() } }

    func commit() {
        let counts = pending.counts.withLock { counts -> Pending.Counts in
            defer { counts = Pending.Counts() }
            return counts
        }
        let p = provider.rawValue
        for (key, n) in counts.calls {
            registry.makeCounter(descriptor: Self.calls, labels: [("provider", p), ("operation", key[0]), ("outcome", key[1])])
                .increment(by: Int64(n))
        }
        for (operation, millis) in counts.durations {
            registry.makeDurationHistogram(
                descriptor: Self.duration, labels: [("provider", p), ("operation", operation)],
                buckets: [.milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1), .seconds(2), .seconds(5), .seconds(30)]
            ).record(.milliseconds(millis))
        }
        for (code, n) in counts.refusals {
            registry.makeCounter(descriptor: Self.refusals, labels: [("provider", p), ("code", code)]).increment(by: Int64(n))
        }
    }
}

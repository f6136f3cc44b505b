import Logging
import NovaBus
import NovaStore
import ServiceLifecycle

/// Every few seconds: checks that Kafka and Postgres answer (for `/readyz`) and samples the
/// outbox backlog and consumer lag (for `/metrics`).
public final class HealthSampler: Service, Sendable {
    private let producer: KafkaProducer
    private let consumer: KafkaConsumer
    private let store: Store
    private let readiness: Readiness
    private let metrics: ServiceMetrics
    private let interval: Duration
    private let logger: Logger

    public init(
        producer: KafkaProducer, consumer: KafkaConsumer, store: Store, readiness: Readiness, metrics: ServiceMetrics,
        interval: Duration = .seconds(5), logger: Logger
    ) {
        self.producer = producer
        self.consumer = consumer
        self.store = store
        self.readiness = readiness
        self.metrics = metrics
        self.interval = interval
        self.logger = logger
    }

    public func run() async throws {
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            // A sample waiting on an unreachable Postgres must not hold up the stop.
            try? await ShutdownGrace.standard.run { await self.sample() }
            let interval = interval
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
        }
    }

    func sample() async {
        do {
            _ = try await producer.topicNames(timeoutMillis: 2000)
            readiness.set(.kafka, problem: nil)
        } catch {
            readiness.set(.kafka, problem: error.description)
        }
        await samplePostgres()
        for lag in await consumer.lag() {
            metrics.lag(topic: lag.topic, partition: lag.partition, value: lag.lag)
        }
    }

    /// Whether Postgres answers, then the outbox backlog: the outbox exists only once the
    /// migrations ran, and before that there is no backlog to sample.
    ///
    /// The check opens a connection of its own: a query through the pool waits for a pooled
    /// connection for as long as the server is away, so with the server down the check never
    /// returned and `/readyz` kept saying ready.
    private func samplePostgres() async {
        do {
            try await Store.checkConnection(store.settings, logger: logger)
            readiness.set(.postgres, problem: nil)
        } catch {
            readiness.set(.postgres, problem: error.description)
            return
        }
        guard readiness.holds(.migrations) else { return }
        do {
            metrics.outboxBacklog.set(Double(try await OutboxReader(store: store).backlog()))
        } catch {
            logger.warning("could not sample the outbox backlog", metadata: ["error": "\(StoreError(error))"])
        }
    }
}

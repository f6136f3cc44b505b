import Logging
import NovaBus
import NovaCore
import NovaStore
import ServiceLifecycle

/// Publishes committed outbox records to Kafka in `seq` order with the idempotent producer and
/// marks them published. Several replicas may run it: one at a time holds the relay lock.
///
/// A crash between Kafka's acknowledgement and the mark re-publishes those records on restart
/// (at-least-once on the wire); consumers' inboxes drop the duplicates by event id.
/// On graceful shutdown it drains what is committed, then flushes and closes the producer.
public final class OutboxRelayService: Service, Sendable {
    public static let headerType = EnvelopeRecord.typeHeader
    public static let headerEventID = EnvelopeRecord.eventIDHeader

    private let reader: OutboxReader
    private let producer: KafkaProducer
    private let doorbell: Doorbell
    private let metrics: ServiceMetrics
    private let hooks: FaultHooks
    private let logger: Logger
    private let batchSize: Int
    private let idlePoll: Duration
    private let prepared: @Sendable () async throws -> Void
    private let retention: Retention

    /// How long published outbox records and inbox entries are kept.
    public struct Retention: Sendable {
        public var publishedOutboxSeconds: Int
        public var inboxSeconds: Int
        /// How often the sweep runs.
        public var interval: Duration

        public init(publishedOutboxSeconds: Int = 3600, inboxSeconds: Int = 7 * 24 * 3600, interval: Duration = .seconds(60)) {
            self.publishedOutboxSeconds = publishedOutboxSeconds
            self.inboxSeconds = inboxSeconds
            self.interval = interval
        }
    }

    public init(
        store: Store, producer: KafkaProducer, doorbell: Doorbell, metrics: ServiceMetrics, hooks: FaultHooks = FaultHooks(),
        logger: Logger, batchSize: Int = 500, idlePoll: Duration = .milliseconds(200), retention: Retention = Retention(),
        prepared: @escaping @Sendable () async throws -> Void = {}
    ) {
        self.retention = retention
        self.reader = OutboxReader(store: store)
        self.producer = producer
        self.doorbell = doorbell
        self.metrics = metrics
        self.hooks = hooks
        self.logger = logger
        self.batchSize = batchSize
        self.idlePoll = idlePoll
        self.prepared = prepared
    }

    public func run() async throws {
        try await prepared()
        let doorbell = doorbell
        await withGracefulShutdownHandler {
            var nextSweep = ContinuousClock.now + retention.interval
            while !Task.isShuttingDownGracefully && !Task.isCancelled {
                if ContinuousClock.now >= nextSweep {
                    await sweep()
                    nextSweep = ContinuousClock.now + retention.interval
                }
                let round = await relayOnce()
                if case .published(let n) = round, n > 0 { continue }
                await doorbell.wait(timeout: round == .notLeader ? idlePoll * 5 : idlePoll)
            }
        } onGracefulShutdown: {
            doorbell.ring()
        }
        // Drain what handlers committed before they stopped.
        var rounds = 0
        while rounds < 100, case .published(let n) = await relayOnce(), n > 0 { rounds += 1 }
        await producer.close()
        logger.info("outbox relay stopped; producer flushed")
    }

    /// Deletes published outbox records and inbox entries past their retention.
    func sweep() async {
        do {
            let outbox = try await reader.prunePublished(olderThanSeconds: retention.publishedOutboxSeconds)
            let inbox = try await reader.pruneInbox(olderThanSeconds: retention.inboxSeconds)
            if outbox + inbox > 0 {
                logger.info("retention sweep", metadata: ["outbox_deleted": "\(outbox)", "inbox_deleted": "\(inbox)"])
            }
        } catch {
            logger.warning("retention sweep failed", metadata: ["error": "\(StoreError(error))"])
        }
    }

    /// One relay round; errors are logged and reported as nothing published.
    func relayOnce() async -> OutboxReader.Round {
        do {
            let round = try await reader.relayRound(limit: batchSize) { claimed in
                let results = try await producer.send(
                    claimed.map { c in
                        OutgoingMessage(
                            topic: c.record.topic, key: c.record.key, value: c.record.envelope,
                            headers: EnvelopeRecord.headers(type: c.record.eventType, eventID: c.record.eventID))
                    })
                var delivered: [Int64] = []
                for (c, result) in zip(claimed, results) {
                    switch result {
                    case .success:
                        delivered.append(c.seq)
                        metrics.produced(topic: c.record.topic)
                    case .failure(let error):
                        logger.warning("outbox record not delivered; will retry", metadata: ["event_id": "\(c.record.eventID)", "error": "\(error)"])
                    }
                }
                hooks.afterDelivery?(delivered.count)
                return delivered
            }
            return round
        } catch {
            logger.warning("outbox relay round failed", metadata: ["error": "\(StoreError(error))"])
            try? await Task.sleep(for: .seconds(1))
            return .published(0)
        }
    }
}

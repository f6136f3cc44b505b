import Logging
import NovaBus
import NovaCore
import NovaStore
import ServiceLifecycle
import Synchronization

/// A record's place in per-key order: its topic and key.
private struct KeyOfRecord: Hashable {
    var topic: String
    var key: String
}

/// Publishes committed outbox records to Kafka with the idempotent producer and deletes them
/// once Kafka acknowledged them.
///
/// Two paths. The handler's records come straight from the consumer after its commit
/// (`OutboxHandoff`) and go out in commit order, with no read back from the table. The table
/// path covers everything else: records left by a crash, by a failed send, or by a replica that
/// died; it reads records in `seq` order under the schema's relay lock (one replica at a time)
/// and takes only records older than `handoffGrace`, so it does not race a live handoff.
/// After a failed handoff send, the handoff pauses and the table path sends everything, with
/// no grace, until the outbox is empty again, so per-key order survives the failure.
///
/// A crash between Kafka's acknowledgement and the delete re-publishes those records on restart
/// (at-least-once on the wire); consumers' inboxes drop the duplicates by event id.
/// On graceful shutdown it drains what is committed, then flushes and closes the producer.
public final class OutboxRelayService: Service, Sendable {
    public static let headerType = EnvelopeRecord.typeHeader
    public static let headerEventID = EnvelopeRecord.eventIDHeader

    private let reader: OutboxReader
    private let producer: KafkaProducer
    private let doorbell: Doorbell
    private let handoff: OutboxHandoff
    private let metrics: ServiceMetrics
    private let hooks: FaultHooks
    private let logger: Logger
    private let batchSize: Int
    private let idlePoll: Duration
    private let handoffGrace: Duration
    private let prepared: @Sendable () async throws -> Void
    private let retention: Retention
    /// False after a handoff send failed, until a table round finds the outbox empty.
    private let handoffHealthy = Mutex(true)
    private let grace: ShutdownGrace

    /// How long inbox entries are kept (published outbox records are deleted at once).
    public struct Retention: Sendable {
        public var inboxSeconds: Int
        /// How often the sweep runs.
        public var interval: Duration

        public init(inboxSeconds: Int = 7 * 24 * 3600, interval: Duration = .seconds(60)) {
            self.inboxSeconds = inboxSeconds
            self.interval = interval
        }
    }

    public init(
        store: Store, producer: KafkaProducer, doorbell: Doorbell, handoff: OutboxHandoff = OutboxHandoff(), metrics: ServiceMetrics,
        hooks: FaultHooks = FaultHooks(), logger: Logger, batchSize: Int = 500, idlePoll: Duration = .milliseconds(200),
        handoffGrace: Duration = .seconds(2), retention: Retention = Retention(),
        prepared: @escaping @Sendable () async throws -> Void = {}, grace: ShutdownGrace = .standard
    ) {
        self.grace = grace
        self.handoff = handoff
        self.handoffGrace = handoffGrace
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
        // Set when a step outlived its grace (Postgres unreachable): the drain is skipped.
        var stuck = false
        await withGracefulShutdownHandler {
            var nextSweep = ContinuousClock.now + retention.interval
            var nextTableRound = ContinuousClock.now
            while !Task.isShuttingDownGracefully && !Task.isCancelled {
                if ContinuousClock.now >= nextSweep {
                    await sweep()
                    nextSweep = ContinuousClock.now + retention.interval
                }
                let wasHealthy = handoffHealthy.withLock { $0 }
                guard let handed = try? await grace.run({ await self.publishHandoff() }) else { stuck = true; break }
                // The table round runs when due even while the handoff stays busy, at once after
                // a failed handoff send, and again at once while it finds records.
                if wasHealthy && !handoffHealthy.withLock({ $0 }) { nextTableRound = ContinuousClock.now }
                if ContinuousClock.now >= nextTableRound {
                    guard let round = try? await grace.run({ await self.relayOnce() }) else { stuck = true; break }
                    if case .published(let n) = round, n > 0 { continue }
                    nextTableRound = ContinuousClock.now + (round == .notLeader ? idlePoll * 5 : idlePoll)
                    continue
                }
                if !handed { await doorbell.wait(timeout: nextTableRound - ContinuousClock.now) }
            }
        } onGracefulShutdown: {
            doorbell.ring()
        }
        // Drain what handlers committed before they stopped; each round within the grace, so
        // an unreachable Postgres ends the drain (what is left goes out on the next start).
        if !stuck {
            _ = try? await grace.run { await self.publishHandoff() }
            var rounds = 0
            while rounds < 100, case .published(let n)? = try? await grace.run({ await self.relayOnce(grace: .zero) }), n > 0 {
                rounds += 1
            }
        }
        await producer.close()
        logger.info("outbox relay stopped; producer flushed")
    }

    /// Sends what the consumer handed over, in commit order, and deletes what Kafka took.
    /// Returns whether there was anything to send. While the handoff is paused (a send failed),
    /// handed-over records are left to the table path.
    func publishHandoff() async -> Bool {
        let records = handoff.take()
        guard !records.isEmpty else { return false }
        defer { handoff.finished(records.map(\.seq)) }
        guard handoffHealthy.withLock({ $0 }) else { return true }
        let delivered: [Int64]
        do {
            delivered = try await send(records)
        } catch {
            logger.warning("outbox send failed; the table path will retry", metadata: ["records": "\(records.count)", "error": "\(error)"])
            delivered = []
        }
        if delivered.count < records.count {
            handoffHealthy.withLock { $0 = false }
            doorbell.ring()
        }
        do {
            try await reader.deletePublished(delivered)
        } catch {
            // Left in the table: the table path publishes them again (at-least-once).
            logger.warning("could not delete published outbox records", metadata: ["error": "\(StoreError(error))"])
        }
        return true
    }

    /// Sends records and returns the seqs Kafka acknowledged; throws if the producer took none.
    ///
    /// Per-key order: a key's records go out in waves, its n-th record in wave n, each wave
    /// sent once the one before is acknowledged, and a key whose record was refused sends
    /// nothing more this time. Sent all at once, a key's records were separate produce
    /// requests in flight together; when Kafka refused the first, the idempotent producer
    /// re-sequenced and delivered the ones behind it, and the refused record, re-sent later,
    /// landed after them. Records of distinct keys share a wave, so the usual batch is one.
    private func send(_ records: [OutboxReader.Claimed]) async throws -> [Int64] {
        var delivered: [Int64] = []
        var produced: [String: Int] = [:]
        var refused: [(eventID: String, error: KafkaError)] = []
        var blocked = Set<KeyOfRecord>()
        var remaining = records[...]
        var sentAny = false
        while !remaining.isEmpty {
            var wave: [OutboxReader.Claimed] = []
            var later: [OutboxReader.Claimed] = []
            var inWave = Set<KeyOfRecord>()
            for c in remaining {
                let key = KeyOfRecord(topic: c.record.topic, key: c.record.key)
                if blocked.contains(key) { continue }
                if inWave.insert(key).inserted { wave.append(c) } else { later.append(c) }
            }
            guard !wave.isEmpty else { break }
            let results: [Result<DeliveryReport, KafkaError>]
            do {
                results = try await producer.send(
                    wave.map { c in
                        OutgoingMessage(
                            topic: c.record.topic, key: c.record.key, value: c.record.envelope,
                            headers: EnvelopeRecord.headers(type: c.record.eventType, eventID: c.record.eventID))
                    })
            } catch {
                if !sentAny { throw error }
                break
            }
            sentAny = true
            for (c, result) in zip(wave, results) {
                switch result {
                case .success:
                    delivered.append(c.seq)
                    produced[c.record.topic, default: 0] += 1
                case .failure(let error):
                    refused.append((c.record.eventID, error))
                    blocked.insert(KeyOfRecord(topic: c.record.topic, key: c.record.key))
                }
            }
            remaining = later[...]
        }
        for (topic, count) in produced { metrics.produced(topic: topic, count: count) }
        // One line per send, not per record: a refused send of 500 records is one event.
        if let first = refused.first {
            logger.warning(
                "outbox records not delivered; will retry",
                metadata: [
                    "records": "\(records.count - delivered.count)", "first_event_id": "\(first.eventID)", "error": "\(first.error)",
                ])
        }
        hooks.afterDelivery?(delivered.count)
        return delivered.sorted()
    }

    /// Deletes inbox entries past their retention.
    func sweep() async {
        do {
            let inbox = try await reader.pruneInbox(olderThanSeconds: retention.inboxSeconds)
            if inbox > 0 {
                logger.info("retention sweep", metadata: ["inbox_deleted": "\(inbox)"])
            }
        } catch {
            logger.warning("retention sweep failed", metadata: ["error": "\(StoreError(error))"])
        }
    }

    /// One table round; errors are logged and reported as nothing published. Takes records
    /// older than `grace` (the handoff's grace while it is healthy), never those the handoff
    /// holds; a round that finds nothing to send resumes a paused handoff.
    func relayOnce(grace: Duration? = nil) async -> OutboxReader.Round {
        let healthy = handoffHealthy.withLock { $0 }
        let age = grace ?? (healthy ? handoffGrace : .zero)
        do {
            var found = false
            let round = try await reader.relayRound(
                limit: batchSize, olderThanSeconds: Double(age.components.seconds) + Double(age.components.attoseconds) / 1e18,
                excluding: handoff.held
            ) { claimed in
                found = true
                return try await send(claimed)
            }
            if round == .published(0), !found, !healthy { handoffHealthy.withLock { $0 = true } }
            return round
        } catch {
            if Task.isCancelled { return .published(0) }
            logger.warning("outbox relay round failed", metadata: ["error": "\(StoreError(error))"])
            try? await Task.sleep(for: .seconds(1))
            return .published(0)
        }
    }
}

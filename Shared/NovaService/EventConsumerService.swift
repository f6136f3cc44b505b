import Foundation
import Logging
import NovaBus
import NovaCore
import NovaStore
import ServiceLifecycle

/// The consume loop: records arrive in batches. Undecodable ones are dead-lettered; the rest
/// go through one transaction: claim their event ids in the inbox (redeliveries are skipped),
/// run the handler over the new ones, append their emissions to the outbox, commit; only then
/// are the batch's Kafka offsets stored. If a batch's transaction fails, its records are
/// retried one at a time, so a rejected record is dead-lettered alone and the rest commit.
///
/// On graceful shutdown it stops fetching, finishes the batch in flight (within its
/// `ShutdownGrace`: one stuck on an unreachable Postgres is cancelled and delivered again),
/// stores its offsets and closes the consumer, which commits the stored offsets.
public final class EventConsumerService: Service, Sendable {
    private let consumer: KafkaConsumer
    private let store: Store
    private let handler: any EventHandler
    private let deadLetters: DeadLetterPublisher
    private let metrics: ServiceMetrics
    private let doorbell: Doorbell
    private let handoff: OutboxHandoff
    private let producerName: String
    private let hooks: FaultHooks
    private let logger: Logger
    /// Set when the service owns state per key: partitions are claimed on assignment and every
    /// transaction is fenced by their epochs.
    private let ownership: PartitionOwnership?
    /// Migrations to wait for before consuming (set by the runtime).
    private let prepared: @Sendable () async throws -> Void
    private let grace: ShutdownGrace

    public init(
        consumer: KafkaConsumer, store: Store, handler: any EventHandler, deadLetters: DeadLetterPublisher,
        metrics: ServiceMetrics, doorbell: Doorbell, handoff: OutboxHandoff, producerName: String,
        hooks: FaultHooks = FaultHooks(), logger: Logger, ownership: PartitionOwnership? = nil,
        prepared: @escaping @Sendable () async throws -> Void = {}, grace: ShutdownGrace = .standard
    ) {
        self.grace = grace
        self.ownership = ownership
        self.consumer = consumer
        self.store = store
        self.handler = handler
        self.deadLetters = deadLetters
        self.metrics = metrics
        self.doorbell = doorbell
        self.handoff = handoff
        self.producerName = producerName
        self.hooks = hooks
        self.logger = logger
        self.prepared = prepared
    }

    public func run() async throws {
        try await prepared()
        let consumer = consumer
        do {
            try await withGracefulShutdownHandler {
                var records = consumer.makeAsyncIterator()
                if ownership == nil {
                    while let batch = try await records.nextBatch() {
                        try await grace.run { try await self.process(batch) }
                    }
                } else {
                    while let delivery = try await records.nextDelivery() {
                        switch delivery {
                        case .records(let batch): try await grace.run { try await self.process(batch) }
                        case .assigned(let partitions):
                            try await grace.run { try await self.claim(Set(partitions.map(\.partition)).sorted()) }
                        case .revoked: await lose(ownership?.releaseAll() ?? [], refused: false)
                        }
                    }
                }
            } onGracefulShutdown: {
                consumer.stopFetching()
            }
        } catch is CancellationError where Task.isShuttingDownGracefully {
            logger.info("stopped with a record in hand; it is not committed and will be delivered again")
        }
        await consumer.close()
        logger.info("consumer closed; stored offsets committed")
    }

    /// Claims newly assigned partitions (raising their epochs) and lets the handler load their
    /// keys' state, in one transaction, retried until it commits or the service stops.
    private func claim(_ partitions: [Int32]) async throws {
        guard let ownership, !partitions.isEmpty else { return }
        var attempt = 0
        while true {
            attempt += 1
            do {
                let handler = handler
                let claimed = try await store.withTransaction { tx in
                    let claimed = try await ownership.claim(partitions, in: tx)
                    if let keyed = handler as? any KeyedStateHandler { try await keyed.gained(partitions, in: tx) }
                    return claimed
                }
                ownership.grant(claimed)
                metrics.ownedPartitions(ownership.owned.count)
                logger.info("partitions claimed", metadata: ["partitions": "\(partitions)", "epochs": "\(claimed.values.sorted())"])
                return
            } catch {
                let cause = StoreError.underlying(error)
                if cause is CancellationError || Task.isCancelled { throw CancellationError() }
                logger.warning("partition claim failed; retrying", metadata: ["attempt": "\(attempt)", "error": "\(StoreError(cause))"])
                try await backOff(attempt: attempt)
            }
        }
    }

    /// Drops what the handler keeps of `partitions` (revoked, or refused as stale).
    private func lose(_ partitions: [Int32], refused: Bool) async {
        guard !partitions.isEmpty else { return }
        if refused {
            metrics.staleOwnerRefused(count: partitions.count)
            logger.warning("transaction refused: partitions now owned by another replica", metadata: ["partitions": "\(partitions)"])
        }
        if let keyed = handler as? any KeyedStateHandler { await keyed.lost(partitions) }
        metrics.ownedPartitions(ownership?.owned.count ?? 0)
    }

    /// Sleeps before retry `attempt`; throws if the service is told to stop meanwhile, so a
    /// shutdown during an outage does not wait for the outage to end. The record in hand is
    /// not committed, and its offset not stored: the group delivers it again.
    private func backOff(attempt: Int) async throws {
        let delay = Duration.milliseconds(min(5000, 50 << min(attempt, 7)))
        try await cancelWhenGracefulShutdown { try await Task.sleep(for: delay) }
        if Task.isShuttingDownGracefully { throw CancellationError() }
    }

    /// A decoded record and where it came from.
    private typealias Item = (event: DecodedEvent, message: KafkaMessage)

    /// Processes a batch to completion: every record is committed or dead-lettered before the
    /// batch's offsets are stored.
    func process(_ messages: [KafkaMessage]) async throws {
        var messages = messages
        if let ownership {
            // Records of a partition this replica no longer owns are dropped unprocessed, their
            // offsets not stored: the owner reads them.
            messages.removeAll { !ownership.owns($0.partition) }
            guard !messages.isEmpty else { return }
        }
        let started = ContinuousClock.now
        var items: [Item] = []
        items.reserveCapacity(messages.count)
        var consumed: [String: Int] = [:]
        for message in messages {
            consumed[message.topic, default: 0] += 1
            do {
                items.append((try EnvelopeCodec.decode(message.value, topic: message.topic), message))
            } catch {
                try await deadLetter(message, code: error.code, reason: error.description)
            }
        }
        for (topic, count) in consumed { metrics.consumed(topic: topic, count: count) }
        if items.count > 1 {
            do {
                let outcome = try await transact(items)
                await committed(outcome, started: started)
                consumer.storeOffsets(messages)
                return
            } catch {
                let cause = StoreError.underlying(error)
                if cause is CancellationError || Task.isCancelled { throw CancellationError() }
                await handler.rolledBack()
                if let stale = cause as? StaleOwnership {
                    await lose(ownership?.release(stale.partitions) ?? [], refused: true)
                }
                logger.debug(
                    "batch transaction failed; retrying its records one at a time",
                    metadata: ["records": "\(items.count)", "error": "\(StoreError(cause))"])
            }
        }
        for item in items { try await process(item) }
        consumer.storeOffsets(messages.filter { m in ownership?.owns(m.partition) ?? true })
    }

    /// Processes one record in its own transaction, retried until it is committed or
    /// dead-lettered, and stores its offset. Returns false when it was dropped because its
    /// partition belongs to another replica now.
    @discardableResult
    private func process(_ item: Item) async throws -> Bool {
        let started = ContinuousClock.now
        var logger = logger
        logger[metadataKey: "event_id"] = "\(item.event.eventID)"
        logger[metadataKey: "event_type"] = "\(item.event.type)"
        var attempt = 0
        while true {
            attempt += 1
            if let ownership, !ownership.owns(item.message.partition) { return false }
            do {
                let outcome = try await transact([item])
                await committed(outcome, started: started)
                consumer.storeOffset(item.message)
                return true
            } catch {
                let cause = StoreError.underlying(error)
                if cause is CancellationError || Task.isCancelled { throw CancellationError() }
                await handler.rolledBack()
                if let rejection = cause as? HandlerRejection {
                    try await deadLetter(item.message, code: rejection.code, reason: rejection.reason)
                    return true
                }
                if let invalid = cause as? ValidationError {
                    try await deadLetter(item.message, code: "invalid", reason: invalid.description)
                    return true
                }
                if let stale = cause as? StaleOwnership {
                    await lose(ownership?.release(stale.partitions) ?? [], refused: true)
                    return false
                }
                let storeError = StoreError(cause)
                logger.warning(
                    "handler transaction failed; retrying", metadata: ["attempt": "\(attempt)", "error": "\(storeError)"])
                if !storeError.isTransient && !(cause is any RetryableError) && attempt >= 5 {
                    try await deadLetter(item.message, code: "handler_failed", reason: "failed \(attempt) times: \(storeError)")
                    return true
                }
                try await backOff(attempt: attempt)
            }
        }
    }

    /// What one committed transaction did.
    private struct Outcome {
        var handled: [Item]
        var duplicates: [KafkaMessage]
        var emitted: [OutboxReader.Claimed]
    }

    /// Bookkeeping after a commit: fault hook, the handler's and the runtime's metrics, the
    /// emitted records to the relay.
    private func committed(_ outcome: Outcome, started: ContinuousClock.Instant) async {
        for item in outcome.handled { hooks.afterCommit?(item.event.eventID) }
        if !outcome.handled.isEmpty { await handler.committed() }
        for message in outcome.duplicates {
            metrics.duplicate(topic: message.topic)
            logger.debug("duplicate skipped by inbox", metadata: ["topic": "\(message.topic)", "offset": "\(message.offset)"])
        }
        if !outcome.emitted.isEmpty {
            handoff.push(outcome.emitted)
            doorbell.ring()
        }
        let records = outcome.handled.count + outcome.duplicates.count
        if records > 0 {
            let each = (ContinuousClock.now - started) / records
            for _ in 0..<records { metrics.handlerDuration.record(each) }
        }
    }

    /// One transaction over `items`: inbox, handler, outbox.
    private func transact(_ items: [Item]) async throws -> Outcome {
        let handler = handler
        let producerName = producerName
        return try await store.withTransaction { tx in
            let fresh = try await tx.claimInbox(
                items.map {
                    InboxEntry(
                        eventID: $0.event.eventID, type: $0.event.type, topic: $0.message.topic,
                        partition: $0.message.partition, offset: $0.message.offset)
                })
            var outcome = Outcome(handled: [], duplicates: [], emitted: [])
            var seen = Set<String>()
            for item in items {
                if fresh.contains(item.event.eventID) && seen.insert(item.event.eventID).inserted {
                    outcome.handled.append(item)
                } else {
                    outcome.duplicates.append(item.message)
                }
            }
            guard !outcome.handled.isEmpty else { return outcome }
            let emissions = try await handler.handle(batch: outcome.handled.map(\.event), in: tx)
            precondition(emissions.count == outcome.handled.count, "a handler must answer every event of its batch")
            let now = Date()
            var records: [OutboxRecord] = []
            for (item, emitted) in zip(outcome.handled, emissions) {
                records += try EmissionRecords.make(
                    emitted, producer: producerName, correlationID: item.event.envelope.correlationID,
                    causationID: item.event.eventID, at: now)
            }
            outcome.emitted = try await tx.appendOutbox(records)
            if let ownership {
                let held = ownership.owned
                var fenced: [Int32: Int64] = [:]
                for item in outcome.handled { fenced[item.message.partition] = held[item.message.partition] ?? -1 }
                try await ownership.fence(fenced, in: tx)
            }
            return outcome
        }
    }

    /// Publishes `message` to the dead-letter topic, retrying until Kafka takes it. The caller
    /// stores the offset once every earlier record of its batch is durable too.
    private func deadLetter(_ message: KafkaMessage, code: String, reason: String) async throws {
        logger.warning(
            "dead-lettering record",
            metadata: [
                "reason": "\(reason)", "source_topic": "\(message.topic)", "partition": "\(message.partition)",
                "offset": "\(message.offset)",
            ])
        var attempt = 0
        while true {
            do {
                try await deadLetters.publish(message, code: code, reason: reason)
                break
            } catch {
                attempt += 1
                logger.error("dead-letter publish failed; retrying", metadata: ["error": "\(error)", "attempt": "\(attempt)"])
                let delay = Duration.milliseconds(min(5000, 100 * attempt))
                try await cancelWhenGracefulShutdown { try await Task.sleep(for: delay) }
                if Task.isShuttingDownGracefully { throw CancellationError() }
            }
        }
        metrics.deadLettered(topic: message.topic, reason: code)
    }
}

import Foundation
import Logging
import NovaBus
import NovaCore
import NovaStore
import ServiceLifecycle

/// The consume loop: for each record, decode and validate it (dead-letter on failure), then in
/// one transaction claim its event id in the inbox (a duplicate is skipped), run the handler,
/// append its emissions to the outbox, commit; only then store the Kafka offset.
///
/// On graceful shutdown it stops fetching, finishes the record in flight, stores its offset and
/// closes the consumer, which commits the stored offsets.
public final class EventConsumerService: Service, Sendable {
    private let consumer: KafkaConsumer
    private let store: Store
    private let handler: any EventHandler
    private let deadLetters: DeadLetterPublisher
    private let metrics: ServiceMetrics
    private let doorbell: Doorbell
    private let producerName: String
    private let hooks: FaultHooks
    private let logger: Logger
    /// Migrations to wait for before consuming (set by the runtime).
    private let prepared: @Sendable () async throws -> Void

    public init(
        consumer: KafkaConsumer, store: Store, handler: any EventHandler, deadLetters: DeadLetterPublisher,
        metrics: ServiceMetrics, doorbell: Doorbell, producerName: String,
        hooks: FaultHooks = FaultHooks(), logger: Logger, prepared: @escaping @Sendable () async throws -> Void = {}
    ) {
        self.consumer = consumer
        self.store = store
        self.handler = handler
        self.deadLetters = deadLetters
        self.metrics = metrics
        self.doorbell = doorbell
        self.producerName = producerName
        self.hooks = hooks
        self.logger = logger
        self.prepared = prepared
    }

    public func run() async throws {
        try await prepared()
        let consumer = consumer
        try await withGracefulShutdownHandler {
            for try await message in consumer {
                try await process(message)
            }
        } onGracefulShutdown: {
            consumer.stopFetching()
        }
        await consumer.close()
        logger.info("consumer closed; stored offsets committed")
    }

    /// Processes one record to completion: retried until it is committed or dead-lettered.
    func process(_ message: KafkaMessage) async throws {
        let started = ContinuousClock.now
        metrics.consumed(topic: message.topic)
        let event: DecodedEvent
        do {
            event = try EnvelopeCodec.decode(message.value, topic: message.topic)
        } catch {
            try await deadLetter(message, code: error.code, reason: error.description)
            return
        }
        var logger = logger
        logger[metadataKey: "event_id"] = "\(event.eventID)"
        logger[metadataKey: "event_type"] = "\(event.type)"
        var attempt = 0
        while true {
            attempt += 1
            do {
                let outcome = try await transact(event, message, logger: logger)
                hooks.afterCommit?(event.eventID)
                consumer.storeOffset(message)
                switch outcome {
                case .duplicate:
                    metrics.duplicate(topic: message.topic)
                    logger.debug("duplicate skipped by inbox")
                case .committed(let emitted):
                    if emitted > 0 { doorbell.ring() }
                }
                metrics.handlerDuration.record(ContinuousClock.now - started)
                return
            } catch {
                let cause = StoreError.underlying(error)
                if let rejection = cause as? HandlerRejection {
                    try await deadLetter(message, code: rejection.code, reason: rejection.reason)
                    return
                }
                if let invalid = cause as? ValidationError {
                    try await deadLetter(message, code: "invalid", reason: invalid.description)
                    return
                }
                if cause is CancellationError { throw cause }
                let storeError = StoreError(cause)
                let delay = Duration.milliseconds(min(5000, 50 << min(attempt, 7)))
                logger.warning(
                    "handler transaction failed; retrying",
                    metadata: ["attempt": "\(attempt)", "error": "\(storeError)", "retry_in": "\(delay)"])
                if !storeError.isTransient && attempt >= 5 {
                    try await deadLetter(message, code: "handler_failed", reason: "failed \(attempt) times: \(storeError)")
                    return
                }
                try await Task.sleep(for: delay)
            }
        }
    }

    private enum Outcome { case duplicate, committed(emitted: Int) }

    private func transact(_ event: DecodedEvent, _ message: KafkaMessage, logger: Logger) async throws -> Outcome {
        let handler = handler
        let producerName = producerName
        return try await store.withTransaction { tx in
            let fresh = try await tx.claimInbox(
                eventID: event.eventID, type: event.type, topic: message.topic, partition: message.partition,
                offset: message.offset)
            guard fresh else { return Outcome.duplicate }
            let emissions = try await handler.handle(event, in: tx)
            let now = Date()
            let records = try emissions.map { emission in
                let id = UUID().uuidString.lowercased()
                let envelope = try EnvelopeCodec.envelope(
                    emission.message, key: emission.key, eventID: id, occurredAt: now, producer: producerName,
                    correlationID: event.envelope.correlationID, causationID: event.eventID)
                return OutboxRecord(
                    eventID: id, topic: emission.topic, key: emission.key, eventType: envelope.type,
                    envelope: try Array(envelope.serializedBytes() as [UInt8]))
            }
            try await tx.appendOutbox(records)
            return Outcome.committed(emitted: records.count)
        }
    }

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
                try await Task.sleep(for: .milliseconds(min(5000, 100 * attempt)))
            }
        }
        metrics.deadLettered(topic: message.topic, reason: code)
        consumer.storeOffset(message)
    }
}

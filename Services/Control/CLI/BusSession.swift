import ControlCore
import Foundation
import Logging
import NovaBus
import NovaCore
import NovaProto
import SwiftProtobuf

/// `novacronctl`'s connection to Kafka: where the brokers are, one producer, readers that
/// start before a command is published, and the wait for the event that answers it.
struct BusSession {
    let configuration: KafkaConfiguration
    let connectTimeoutMillis: Int32
    static let producerName = "novacronctl"

    /// Brokers from `--brokers`, else `KAFKA_BROKERS`, else the bootstrap file of a local stack
    /// (`.run/kafka.bootstrap`, written by `make run` / `make stack-start`). Other `KAFKA_*`
    /// variables pass through to librdkafka, as they do for the services.
    init(brokers: String?, connectTimeout: Duration) throws {
        var environment = ProcessInfo.processInfo.environment
        if let brokers { environment["KAFKA_BROKERS"] = brokers }
        if environment["KAFKA_BROKERS"]?.isEmpty ?? true, let local = Self.localBootstrap() {
            environment["KAFKA_BROKERS"] = local
        }
        do {
            configuration = try KafkaConfiguration.fromEnvironment(environment, clientID: Self.producerName)
        } catch .missingBrokers {
            throw UsageError(
                "--brokers", "no Kafka brokers given",
                expected: "--brokers HOST:PORT, KAFKA_BROKERS, or a local stack started with `make run` or `make stack-start`")
        } catch {
            throw UsageError("--brokers", error.description, expected: "HOST:PORT[,HOST:PORT...]")
        }
        connectTimeoutMillis = Int32(clamping: connectTimeout.components.seconds * 1000 + connectTimeout.components.attoseconds / 1_000_000_000_000_000)
    }

    /// `.run/kafka.bootstrap` in the working directory or any parent.
    private static func localBootstrap() -> String? {
        var directory = URL(fileURLWithPath: FileManager.default.currentDirectoryPath)
        for _ in 0..<8 {
            let file = directory.appendingPathComponent(".run/kafka.bootstrap")
            if let text = try? String(contentsOf: file, encoding: .utf8) {
                let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
                if !trimmed.isEmpty { return trimmed }
            }
            directory.deleteLastPathComponent()
        }
        return nil
    }

    /// librdkafka's own chatter stays quiet unless it is an error worth seeing.
    static var quietLogger: Logger {
        var logger = Logger(label: "novacronctl")
        logger.logLevel = ProcessInfo.processInfo.environment["LOG_LEVEL"].flatMap(Logger.Level.init(rawValue:)) ?? .critical
        return logger
    }

    func reader(_ topics: [String], from start: KafkaReader.Start) async throws -> KafkaReader {
        try await KafkaReader.open(
            configuration: configuration, topics: topics, from: start, timeoutMillis: connectTimeoutMillis, logger: Self.quietLogger)
    }

    /// A producer that has proved a broker answers.
    func producer() async throws -> KafkaProducer {
        let producer = try KafkaProducer(configuration: configuration, logger: Self.quietLogger)
        do {
            _ = try await producer.topicNames(timeoutMillis: connectTimeoutMillis)
        } catch {
            await producer.close(flushTimeoutMillis: 0)
            throw error
        }
        return producer
    }

    /// Publishes `message` keyed by `key` on `topic` and returns where it landed.
    static func publish(
        _ message: any SwiftProtobuf.Message, key: String, topic: String, correlationID: String, with producer: KafkaProducer
    ) async throws -> DeliveryReport {
        let envelope = try EnvelopeCodec.envelope(
            message, key: key, eventID: EventID.random(), occurredAt: Date(), producer: producerName,
            correlationID: correlationID)
        return try await producer.send(try EnvelopeRecord.outgoing(envelope, topic: topic))
    }

    /// Reads `reader` until `answer` returns true for a decoded event, or the command is found
    /// dead-lettered (then throws `CommandRejected`), or `timeout` passes (`NoAnswer`).
    static func await(
        _ reader: KafkaReader, delivered: DeliveryReport, timeout: Duration, answer: (DecodedEvent, KafkaMessage) throws -> Bool
    ) async throws {
        let timer = Task {
            try? await Task.sleep(for: timeout)
            reader.stopFetching()
        }
        defer { timer.cancel() }
        for try await record in reader {
            if record.topic == TopicCatalog.deadLetter {
                if record.header(DeadLetterPublisher.Header.sourceTopic) == delivered.topic,
                    record.header(DeadLetterPublisher.Header.sourcePartition) == String(delivered.partition),
                    record.header(DeadLetterPublisher.Header.sourceOffset) == String(delivered.offset)
                {
                    throw CommandRejected(
                        code: record.header(DeadLetterPublisher.Header.code) ?? "rejected",
                        reason: record.header(DeadLetterPublisher.Header.reason) ?? "no reason given",
                        by: record.header(DeadLetterPublisher.Header.consumerGroup) ?? "a service")
                }
                continue
            }
            guard let event = try? EnvelopeCodec.decode(record.value, topic: record.topic) else { continue }
            if try answer(event, record) { return }
        }
        throw NoAnswer(timeout: timeout, delivered: delivered)
    }
}

/// A service dead-lettered the command: it will never be answered.
struct CommandRejected: Error, CustomStringConvertible {
    let code: String
    let reason: String
    let by: String
    var description: String { "rejected by \(by) (\(code)): \(reason)" }
}

/// Nothing answered in time. The command was published; whoever consumes it may be down.
struct NoAnswer: Error, CustomStringConvertible {
    let timeout: Duration
    let delivered: DeliveryReport
    var description: String {
        "no answer within \(timeout) (the command was published to \(delivered.topic)[\(delivered.partition)] at offset \(delivered.offset)); "
            + "is novacron-placement running? `novacronctl events tail` shows what arrives"
    }
}

/// The command was answered, and the answer is a refusal (exit code 3).
struct CommandFailed: Error {}

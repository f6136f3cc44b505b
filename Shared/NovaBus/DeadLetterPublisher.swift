import NovaCore

/// Sends records that cannot be processed to `novacron.deadletter`, keeping the original key,
/// value and headers, and adding why and where from, so nothing is lost and the consumer can
/// move on.
public struct DeadLetterPublisher: Sendable {
    /// Header names on every dead-letter record.
    public enum Header {
        public static let reason = "novacron-dlq-reason"
        public static let code = "novacron-dlq-code"
        public static let sourceTopic = "novacron-dlq-source-topic"
        public static let sourcePartition = "novacron-dlq-source-partition"
        public static let sourceOffset = "novacron-dlq-source-offset"
        public static let consumerGroup = "novacron-dlq-consumer-group"
    }

    public let producer: KafkaProducer
    public let consumerGroup: String
    public let topic: String

    public init(producer: KafkaProducer, consumerGroup: String, topic: String = TopicCatalog.deadLetter) {
        self.producer = producer
        self.consumerGroup = consumerGroup
        self.topic = topic
    }

    /// The dead-letter record for `message`.
    public func record(for message: KafkaMessage, code: String, reason: String) -> OutgoingMessage {
        var headers = message.headers.filter { !$0.name.hasPrefix("novacron-dlq-") }
        headers.append(KafkaHeader(Header.reason, reason))
        headers.append(KafkaHeader(Header.code, code))
        headers.append(KafkaHeader(Header.sourceTopic, message.topic))
        headers.append(KafkaHeader(Header.sourcePartition, String(message.partition)))
        headers.append(KafkaHeader(Header.sourceOffset, String(message.offset)))
        headers.append(KafkaHeader(Header.consumerGroup, consumerGroup))
        return OutgoingMessage(topic: topic, key: message.key, value: message.value, headers: headers)
    }

    /// Publishes the dead-letter record and waits for the broker to acknowledge it.
    public func publish(_ message: KafkaMessage, code: String, reason: String) async throws(KafkaError) {
        try await producer.send(record(for: message, code: code, reason: reason))
    }
}

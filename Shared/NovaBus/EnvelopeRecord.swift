import NovaProto

/// The Kafka record of an `Envelope`: keyed by the aggregate id, with the type and event id
/// repeated as headers so tools can filter without decoding the payload.
public enum EnvelopeRecord {
    public static let typeHeader = "novacron-type"
    public static let eventIDHeader = "novacron-event-id"

    public static func outgoing(_ envelope: Novacron_V1_Envelope, topic: String) throws -> OutgoingMessage {
        OutgoingMessage(
            topic: topic, key: envelope.key, value: try envelope.serializedBytes(),
            headers: [KafkaHeader(typeHeader, envelope.type), KafkaHeader(eventIDHeader, envelope.eventID)])
    }
}

import NovaProto

/// The Kafka record of an `Envelope`: keyed by the aggregate id, with the type and event id
/// repeated as headers so tools can filter without decoding the payload.
public enum EnvelopeRecord {
    public static let typeHeader = "novacron-type"
    public static let eventIDHeader = "novacron-event-id"

    public static func outgoing(_ envelope: Novacron_V1_Envelope, topic: String) throws -> OutgoingMessage {
        OutgoingMessage(topic: topic, key: envelope.key, value: try envelope.serializedBytes(), headers: headers(type: envelope.type, eventID: envelope.eventID))
    }

    /// The headers of an envelope's record, for callers that hold it already serialized.
    public static func headers(type: String, eventID: String) -> [KafkaHeader] {
        [KafkaHeader(typeHeader, type), KafkaHeader(eventIDHeader, eventID)]
    }
}

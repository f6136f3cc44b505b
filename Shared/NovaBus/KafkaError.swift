import CRdKafka

/// What went wrong talking to Kafka, phrased for the operator who has to fix it.
public enum KafkaError: Error, Equatable, Sendable, CustomStringConvertible {
    /// A librdkafka property was refused: unknown name or invalid value.
    case invalidProperty(name: String, source: String, reason: String)
    /// The client could not be created.
    case clientCreation(String)
    /// No broker answered within the timeout.
    case brokerUnreachable(brokers: String, timeoutMillis: Int, detail: String)
    /// A produce or delivery failed.
    case delivery(code: Int32, reason: String)
    /// An operation on a consumer failed.
    case consumer(code: Int32, reason: String)
    /// The client was closed.
    case closed

    public var description: String {
        switch self {
        case .invalidProperty(let name, let source, let reason):
            "invalid Kafka property '\(name)' (from \(source)): \(reason)"
        case .clientCreation(let detail): "cannot create Kafka client: \(detail)"
        case .brokerUnreachable(let brokers, let timeout, let detail):
            "no Kafka broker reachable at \(brokers) within \(timeout) ms (\(detail)); check KAFKA_BROKERS"
        case .delivery(let code, let reason): "Kafka delivery failed (\(code)): \(reason)"
        case .consumer(let code, let reason): "Kafka consumer error (\(code)): \(reason)"
        case .closed: "Kafka client is closed"
        }
    }

    static func errorString(_ code: rd_kafka_resp_err_t) -> String {
        String(cString: rd_kafka_err2str(code))
    }
}

import CRdKafka
import Logging
import NovaCore

/// librdkafka's own mock Kafka cluster: real Kafka protocol on 127.0.0.1 ports, consumer
/// groups, idempotent producer and fault injection, held in memory. It backs
/// `novacron-devbroker` and the fault-injection tests. It has no CreateTopics, so topics are
/// created here, by default every topic of the catalog.
public final class MockKafkaCluster: Sendable {
    private let owner: RdKafkaHandle
    private let cluster: MockClusterPointer
    public let brokerCount: Int
    /// The bootstrap list, e.g. "127.0.0.1:40123,127.0.0.1:40125,127.0.0.1:40127".
    public let bootstrapServers: String

    public init(brokers: Int = 3, createCatalogTopics: Bool = true) throws(KafkaError) {
        precondition(brokers >= 1, "a cluster needs at least one broker")
        let conf = try KafkaConfiguration(brokers: "", clientID: "novacron-devbroker").makeConf(defaults: [
            ("log_level", "3")
        ])
        owner = RdKafkaHandle(pointer: try makeClient(type: RD_KAFKA_PRODUCER, conf: conf))
        guard let cluster = rd_kafka_mock_cluster_new(owner.pointer, Int32(brokers)) else {
            rd_kafka_destroy(owner.pointer)
            throw .clientCreation("rd_kafka_mock_cluster_new failed")
        }
        self.cluster = MockClusterPointer(pointer: cluster)
        self.brokerCount = brokers
        self.bootstrapServers = String(cString: rd_kafka_mock_cluster_bootstraps(cluster))
        if createCatalogTopics {
            for topic in TopicCatalog.all {
                try createTopic(topic.name, partitions: topic.partitions)
            }
        }
    }

    /// Creates a topic with `partitions` partitions, replicated on up to 3 brokers.
    public func createTopic(_ name: String, partitions: Int) throws(KafkaError) {
        let err = rd_kafka_mock_topic_create(cluster.pointer, name, Int32(partitions), Int32(min(3, brokerCount)))
        if err != RD_KAFKA_RESP_ERR_NO_ERROR {
            throw .clientCreation("cannot create topic \(name): \(KafkaError.errorString(err))")
        }
    }

    /// Takes broker `id` (1-based) down: its connections close and it refuses new ones.
    public func setBrokerDown(_ id: Int32) { _ = rd_kafka_mock_broker_set_down(cluster.pointer, id) }

    /// Brings broker `id` back.
    public func setBrokerUp(_ id: Int32) { _ = rd_kafka_mock_broker_set_up(cluster.pointer, id) }

    /// Adds `millis` of round-trip latency to every response of broker `id`.
    public func setBrokerLatency(_ id: Int32, millis: Int32) { _ = rd_kafka_mock_broker_set_rtt(cluster.pointer, id, millis) }

    /// Makes the next `count` requests of Kafka API `apiKey` (e.g. 0 = Produce, 1 = Fetch)
    /// fail with `error` (a Kafka error code, e.g. 6 = NOT_LEADER_OR_FOLLOWER).
    public func failNextRequests(apiKey: Int16, count: Int, error: Int32) {
        var errors = [rd_kafka_resp_err_t](repeating: rd_kafka_resp_err_t(rawValue: error), count: count)
        rd_kafka_mock_push_request_errors_array(cluster.pointer, apiKey, count, &errors)
    }

    /// Fails every request touching `topic` with `error` until cleared with error 0.
    public func setTopicError(_ topic: String, error: Int32) {
        rd_kafka_mock_topic_set_error(cluster.pointer, topic, rd_kafka_resp_err_t(rawValue: error))
    }

    deinit {
        rd_kafka_mock_cluster_destroy(cluster.pointer)
        rd_kafka_destroy(owner.pointer)
    }
}

/// `rd_kafka_mock_cluster_t *`. `@unchecked Sendable` is sound: the mock cluster runs on its
/// own thread and every control function posts an operation to it under its lock.
struct MockClusterPointer: @unchecked Sendable {
    let pointer: OpaquePointer
}

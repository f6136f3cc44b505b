import CRdKafka
import Foundation
import Logging

/// Reads topics without a consumer group: every partition is assigned explicitly, starting at
/// a position the caller picks, and nothing is committed.
///
/// For tools rather than services. `novacronctl` opens one at the current end of
/// `novacron.vm.events` *before* it publishes a command, so the answer cannot slip past it, and
/// it does so without the seconds a group join costs. `.beginning` plus `history(timeout:)`
/// replays what a topic holds (for `explain` and `status`).
public final class KafkaReader: Sendable, AsyncSequence {
    public typealias Element = KafkaMessage
    public typealias AsyncIterator = KafkaConsumer.Iterator

    /// Where each partition starts.
    public enum Start: Sendable, Equatable {
        /// The high watermark when the reader opened: only records produced afterwards.
        case end
        /// The oldest record the broker still holds.
        case beginning
        /// At most this many records before the high watermark, per partition.
        case last(Int)
    }

    public static let defaultProperties: [(String, String)] = [
        ("enable.auto.commit", "false"),
        ("enable.auto.offset.store", "false"),
        ("enable.partition.eof", "false"),
        // See KafkaConsumer.defaultProperties: the mock cluster holds empty fetches this long.
        ("fetch.wait.max.ms", "5"),
    ]

    public let topics: [String]
    /// Each partition's first offset to read.
    public let startOffsets: [PartitionKey: Int64]
    /// Each partition's high watermark when the reader opened: what came before is history.
    public let endOffsets: [PartitionKey: Int64]
    private let poller: ConsumerPoller
    /// Reached by librdkafka's callbacks: must live as long as the client.
    private let context: KafkaClientContext

    private init(
        topics: [String], start: [PartitionKey: Int64], end: [PartitionKey: Int64], poller: ConsumerPoller,
        context: KafkaClientContext
    ) {
        self.context = context
        self.topics = topics
        self.startOffsets = start
        self.endOffsets = end
        self.poller = poller
    }

    /// Connects, looks up every partition of `topics` and its watermarks, and assigns them.
    /// An unreachable broker or a missing topic is an error within `timeoutMillis`.
    public static func open(
        configuration: KafkaConfiguration, topics: [String], from start: Start, timeoutMillis: Int32 = 5000,
        logger: Logger = Logger(label: "novacron.bus.reader")
    ) async throws(KafkaError) -> KafkaReader {
        let context = KafkaClientContext(logger: logger)
        var defaults = defaultProperties
        defaults.append(("group.id", "novacron-reader-\(UUID().uuidString.prefix(8))"))
        let conf = try configuration.makeConf(defaults: defaults)
        context.install(on: conf)
        let handle = RdKafkaHandle(pointer: try makeClient(type: RD_KAFKA_CONSUMER, conf: conf))
        rd_kafka_poll_set_consumer(handle.pointer)
        let brokers = configuration.brokers
        let opened = await offloadBlocking { () -> Result<KafkaReader, KafkaError> in
            do throws(KafkaError) {
                let (first, end) = try assign(handle, topics: topics, from: start, brokers: brokers, timeoutMillis: timeoutMillis)
                let poller = ConsumerPoller(handle: handle, batchSize: 1000, assignments: nil, logger: logger)
                return .success(KafkaReader(topics: topics, start: first, end: end, poller: poller, context: context))
            } catch {
                rd_kafka_destroy(handle.pointer)
                return .failure(error)
            }
        }
        return try opened.get()
    }

    /// Blocking: partitions from metadata, watermarks per partition, then `rd_kafka_assign`.
    private static func assign(
        _ handle: RdKafkaHandle, topics: [String], from start: Start, brokers: String, timeoutMillis: Int32
    ) throws(KafkaError) -> (start: [PartitionKey: Int64], end: [PartitionKey: Int64]) {
        var metadata: UnsafePointer<rd_kafka_metadata>?
        let err = rd_kafka_metadata(handle.pointer, 1, nil, &metadata, timeoutMillis)
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR, let metadata else {
            throw .brokerUnreachable(brokers: brokers, timeoutMillis: Int(timeoutMillis), detail: KafkaError.errorString(err))
        }
        defer { rd_kafka_metadata_destroy(metadata) }
        var partitions: [String: Int32] = [:]
        for i in 0..<Int(metadata.pointee.topic_cnt) {
            let t = metadata.pointee.topics[i]
            partitions[String(cString: t.topic)] = t.partition_cnt
        }
        var first: [PartitionKey: Int64] = [:]
        var end: [PartitionKey: Int64] = [:]
        let list = rd_kafka_topic_partition_list_new(0)
        defer { rd_kafka_topic_partition_list_destroy(list) }
        for topic in topics {
            guard let count = partitions[topic], count > 0 else {
                throw .consumer(code: RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC.rawValue, reason: "topic '\(topic)' does not exist on \(brokers)")
            }
            for partition in 0..<count {
                var low: Int64 = 0
                var high: Int64 = 0
                let err = rd_kafka_query_watermark_offsets(handle.pointer, topic, partition, &low, &high, timeoutMillis)
                guard err == RD_KAFKA_RESP_ERR_NO_ERROR else {
                    throw .consumer(code: err.rawValue, reason: "watermarks of \(topic)[\(partition)]: \(KafkaError.errorString(err))")
                }
                let key = PartitionKey(topic: topic, partition: partition)
                let offset: Int64
                switch start {
                case .end: offset = high
                case .beginning: offset = low
                case .last(let n): offset = Swift.max(low, high - Int64(Swift.max(0, n)))
                }
                first[key] = offset
                end[key] = high
                rd_kafka_topic_partition_list_add(list, topic, partition).pointee.offset = offset
            }
        }
        let assigned = rd_kafka_assign(handle.pointer, list)
        guard assigned == RD_KAFKA_RESP_ERR_NO_ERROR else {
            throw .consumer(code: assigned.rawValue, reason: "assign: \(KafkaError.errorString(assigned))")
        }
        return (first, end)
    }

    public func makeAsyncIterator() -> KafkaConsumer.Iterator { KafkaConsumer.Iterator(poller: poller) }

    /// Every record from the start positions up to the high watermarks seen at open, in
    /// partition order (not across partitions). Stops early, returning what it has, after
    /// `timeout`.
    public func history(timeout: Duration = .seconds(30)) async throws -> [KafkaMessage] {
        var remaining = Set(endOffsets.filter { $0.value > (startOffsets[$0.key] ?? $0.value) }.keys)
        var records: [KafkaMessage] = []
        guard !remaining.isEmpty else { return records }
        let timer = Task { [poller] in
            try? await Task.sleep(for: timeout)
            poller.stopFetching()
        }
        defer { timer.cancel() }
        var iterator = makeAsyncIterator()
        while !remaining.isEmpty, let batch = try await iterator.nextBatch() {
            for message in batch {
                let key = PartitionKey(topic: message.topic, partition: message.partition)
                guard let end = endOffsets[key], message.offset < end else { continue }
                records.append(message)
                if message.offset >= end - 1 { remaining.remove(key) }
            }
        }
        return records
    }

    /// Ends iteration: a pending `next()` returns nil.
    public func stopFetching() {
        poller.stopFetching()
    }

    /// Stops polling and destroys the client. Safe to call more than once.
    public func close() async {
        let poller = poller
        await offloadBlocking { poller.close() }
    }

    deinit {
        poller.close()
    }
}

import CRdKafka
import Foundation
import Logging
import Synchronization

/// A member of a Kafka consumer group, delivering records as an `AsyncSequence`.
///
/// At-least-once: `enable.auto.offset.store=false`, so an offset is committed only after the
/// caller stores it with `storeOffset(_:)` (once its handler has succeeded); librdkafka commits
/// stored offsets every `auto.commit.interval.ms`, on rebalance, and on `close()`.
///
/// Polling runs on a dedicated thread with `rd_kafka_consume_batch_queue`, and the async
/// iterator takes whole batches from it, so there is one continuation per batch rather than
/// per record, and no librdkafka wait runs on the cooperative pool.
public final class KafkaConsumer: Sendable, AsyncSequence {
    public typealias Element = KafkaMessage

    public static let defaultProperties: [(String, String)] = [
        ("enable.auto.offset.store", "false"),
        ("enable.auto.commit", "true"),
        ("auto.commit.interval.ms", "500"),
        ("auto.offset.reset", "earliest"),
        ("enable.partition.eof", "false"),
        ("session.timeout.ms", "6000"),
        ("heartbeat.interval.ms", "500"),
        // librdkafka's mock cluster (the dev broker) answers a fetch that finds no records only
        // after this wait, even if records arrive meanwhile: at the default 500 ms every hop
        // of an event cost up to half a second, at 10 ms about 5 ms on average. An empty fetch
        // costs the mock next to nothing. Real brokers answer as soon as data arrives, so
        // there a short wait only adds idle fetch requests (set KAFKA_FETCH_WAIT_MAX_MS=500).
        ("fetch.wait.max.ms", "5"),
    ]

    private let context: KafkaClientContext
    private let poller: ConsumerPoller
    public let groupID: String
    public let topics: [String]
    public let configuration: KafkaConfiguration

    /// Joins `groupID` and subscribes to `topics`.
    ///
    /// With `observesAssignment`, the consumer reports every change of its assignment as a
    /// `ConsumerDelivery` before any record of a newly assigned partition (`nextDelivery()`),
    /// and drops fetched records of a partition once it is revoked. It then uses the eager
    /// `range` assignor, so partition N of every subscribed topic with the same partition count
    /// goes to one member (co-partitioning, as Kafka Streams requires for keyed state).
    public init(
        configuration: KafkaConfiguration, groupID: String, topics: [String], batchSize: Int = 500,
        observesAssignment: Bool = false, logger: Logger = Logger(label: "novacron.bus.consumer")
    ) throws(KafkaError) {
        self.configuration = configuration
        self.groupID = groupID
        self.topics = topics
        let assignments = AssignmentLog()
        let context = KafkaClientContext(logger: logger, assignments: observesAssignment ? assignments : nil)
        var defaults = Self.defaultProperties
        defaults.append(("group.id", groupID))
        if observesAssignment { defaults.append(("partition.assignment.strategy", "range")) }
        let conf = try configuration.makeConf(defaults: defaults)
        context.install(on: conf)
        if observesAssignment { context.installRebalance(on: conf) }
        self.context = context
        let handle = RdKafkaHandle(pointer: try makeClient(type: RD_KAFKA_CONSUMER, conf: conf))
        rd_kafka_poll_set_consumer(handle.pointer)
        let list = rd_kafka_topic_partition_list_new(Int32(topics.count))
        for topic in topics {
            rd_kafka_topic_partition_list_add(list, topic, RD_KAFKA_PARTITION_UA)
        }
        let err = rd_kafka_subscribe(handle.pointer, list)
        rd_kafka_topic_partition_list_destroy(list)
        if err != RD_KAFKA_RESP_ERR_NO_ERROR {
            rd_kafka_destroy(handle.pointer)
            throw .consumer(code: err.rawValue, reason: KafkaError.errorString(err))
        }
        self.poller = ConsumerPoller(
            handle: handle, batchSize: batchSize, assignments: observesAssignment ? assignments : nil, logger: logger)
    }

    public func makeAsyncIterator() -> Iterator { Iterator(poller: poller) }

    /// Pulls batches from the poller and hands out one record at a time.
    public struct Iterator: AsyncIteratorProtocol {
        let poller: ConsumerPoller
        var buffer: [KafkaMessage] = []
        var position = 0
        var pending: [ConsumerDelivery] = []

        public mutating func next() async throws -> KafkaMessage? {
            if position < buffer.count {
                // Buffered records are dropped once fetching stopped: their offsets are not
                // stored, so the group re-delivers them.
                guard poller.isFetching else { return nil }
                defer { position += 1 }
                return buffer[position]
            }
            guard let batch = try await nextBatch() else { return nil }
            buffer = batch
            position = 1
            return batch[0]
        }

        /// The rest of the current batch, or the next batch: for handlers that work in bulk.
        /// Assignment changes are skipped (see `nextDelivery()`).
        public mutating func nextBatch() async throws -> [KafkaMessage]? {
            if position < buffer.count {
                guard poller.isFetching else { return nil }
                defer { position = buffer.count }
                return Array(buffer[position...])
            }
            while let delivery = try await nextDelivery() {
                if case .records(let batch) = delivery { return batch }
            }
            return nil
        }

        /// The next batch of records or change of assignment, in the order they happened: a
        /// partition's `assigned` comes before its first record, and no record of a partition
        /// follows its `revoked`.
        public mutating func nextDelivery() async throws -> ConsumerDelivery? {
            if pending.isEmpty {
                guard let deliveries = try await poller.nextDeliveries() else { return nil }
                pending = deliveries
            }
            guard poller.isFetching else { return nil }
            return pending.removeFirst()
        }
    }

    /// Marks `message` processed: its offset + 1 will be committed. Call only after the
    /// message's effects are durable. A partition no longer assigned to this member is
    /// ignored (the new owner re-reads from the last commit: at-least-once).
    public func storeOffset(_ message: KafkaMessage) {
        storeOffsets([message])
    }

    /// Stores the highest offset per partition among `messages`.
    public func storeOffsets(_ messages: [KafkaMessage]) {
        var highest: [PartitionKey: Int64] = [:]
        for m in messages {
            let key = PartitionKey(topic: m.topic, partition: m.partition)
            highest[key] = Swift.max(highest[key] ?? -1, m.offset)
        }
        let list = rd_kafka_topic_partition_list_new(Int32(highest.count))
        for (key, offset) in highest {
            rd_kafka_topic_partition_list_add(list, key.topic, key.partition).pointee.offset = offset + 1
        }
        _ = poller.withOpenHandle { handle in rd_kafka_offsets_store(handle.pointer, list) }
        rd_kafka_topic_partition_list_destroy(list)
    }

    /// Records behind the high watermark per assigned partition, from librdkafka's cached
    /// watermarks (no broker round trip).
    public func lag() async -> [PartitionLag] {
        let poller = poller
        return await offloadBlocking { poller.withOpenHandle { handle in
            var assignment: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>?
            guard rd_kafka_assignment(handle.pointer, &assignment) == RD_KAFKA_RESP_ERR_NO_ERROR, let assignment else {
                return []
            }
            defer { rd_kafka_topic_partition_list_destroy(assignment) }
            _ = rd_kafka_position(handle.pointer, assignment)
            var result: [PartitionLag] = []
            for i in 0..<Int(assignment.pointee.cnt) {
                let element = assignment.pointee.elems[i]
                var low: Int64 = 0
                var high: Int64 = 0
                guard
                    rd_kafka_get_watermark_offsets(handle.pointer, element.topic, element.partition, &low, &high)
                        == RD_KAFKA_RESP_ERR_NO_ERROR, high >= 0
                else { continue }
                let position = element.offset >= 0 ? element.offset : low
                result.append(
                    PartitionLag(topic: String(cString: element.topic), partition: element.partition, lag: Swift.max(0, high - position)))
            }
            return result
        } ?? [] }
    }

    /// Ends iteration without leaving the group: a pending `next()` returns nil, and offsets
    /// of work still in flight can be stored before `close()` commits them.
    public func stopFetching() {
        poller.stopFetching()
    }

    /// Leaves the group: stops polling, commits stored offsets, revokes partitions cleanly.
    /// Iteration ends (returns nil). Safe to call more than once.
    public func close() async {
        let poller = poller
        await offloadBlocking { poller.close() }
    }

    deinit {
        poller.close()
    }
}

/// What the consumer hands over: records, or a change of which partitions it owns.
public enum ConsumerDelivery: Sendable {
    case records([KafkaMessage])
    /// The group gave this member these partitions (eager protocol: its whole new assignment).
    case assigned([PartitionKey])
    /// The group took these partitions away (its whole previous assignment); `lost` when the
    /// member was thrown out (session timeout) rather than asked to give them up.
    case revoked([PartitionKey], lost: Bool)
}

/// Assignment changes the rebalance callback saw, waiting for the poller to hand them over,
/// and the partitions assigned now (to drop fetched records of revoked ones).
final class AssignmentLog: Sendable {
    private struct State {
        var changes: [ConsumerDelivery] = []
        var assigned: Set<PartitionKey> = []
    }

    private let state = Mutex(State())

    func record(_ change: ConsumerDelivery) {
        state.withLock { state in
            state.changes.append(change)
            switch change {
            case .assigned(let partitions): state.assigned = Set(partitions)
            case .revoked: state.assigned = []
            case .records: break
            }
        }
    }

    /// The changes since the last call, and the partitions assigned now.
    func take() -> (changes: [ConsumerDelivery], assigned: Set<PartitionKey>) {
        state.withLock { state in
            defer { state.changes = [] }
            return (state.changes, state.assigned)
        }
    }
}

/// A topic partition.
public struct PartitionKey: Hashable, Sendable, CustomStringConvertible {
    public var topic: String
    public var partition: Int32

    public init(topic: String, partition: Int32) {
        self.topic = topic
        self.partition = partition
    }

    public var description: String { "\(topic)[\(partition)]" }
}

/// How far a member is behind on one partition.
public struct PartitionLag: Hashable, Sendable {
    public var topic: String
    public var partition: Int32
    public var lag: Int64
}

/// Owns the consumer's polling thread. A request for the next batch parks until the thread
/// has one; the thread polls only while a request is waiting, so records are never fetched
/// ahead of what the iterator will take (librdkafka prefetches internally).
///
/// Phases: running -> stopped (no more batches; the handle stays open so offsets of in-flight
/// work can still be stored) -> closing -> closed (consumer closed, offsets committed, handle
/// destroyed).
final class ConsumerPoller: Sendable {
    private enum Phase: Comparable { case running, stopped, closing, closed }

    private struct State {
        var phase = Phase.running
        var waiter: CheckedContinuation<[ConsumerDelivery]?, Error>?
    }

    private let handle: RdKafkaHandle
    private let batchSize: Int
    private let assignments: AssignmentLog?
    private let logger: Logger
    private let state = Mutex(State())
    private let wakeup = DispatchSemaphore(value: 0)
    private let finished = DispatchSemaphore(value: 0)

    init(handle: RdKafkaHandle, batchSize: Int, assignments: AssignmentLog?, logger: Logger) {
        self.handle = handle
        self.batchSize = batchSize
        self.assignments = assignments
        self.logger = logger
        let thread = Thread { [self] in
            nameCurrentThread("nc-consume")
            run()
        }
        thread.start()
    }

    /// Runs `body` with the client handle while it is alive; nil once the consumer is destroyed.
    /// The lock keeps destruction from overlapping the call.
    func withOpenHandle<T>(_ body: (RdKafkaHandle) -> T) -> T? {
        state.withLock { state in state.phase == .closed ? nil : body(handle) }
    }

    func nextDeliveries() async throws -> [ConsumerDelivery]? {
        try await withCheckedThrowingContinuation { continuation in
            let accepted = state.withLock { state -> Bool in
                guard state.phase == .running, state.waiter == nil else { return false }
                state.waiter = continuation
                return true
            }
            if accepted { wakeup.signal() } else { continuation.resume(returning: nil) }
        }
    }

    /// Ends iteration (a waiting `next()` returns nil) but keeps the consumer open.
    func stopFetching() {
        let changed = state.withLock { state -> Bool in
            guard state.phase == .running else { return false }
            state.phase = .stopped
            return true
        }
        if changed { wakeup.signal() }
    }

    /// Blocking: ends polling, closes the consumer (committing stored offsets) and destroys it.
    func close() {
        let owner = state.withLock { state -> Bool in
            guard state.phase < .closing else { return false }
            state.phase = .closing
            return true
        }
        if owner { wakeup.signal() }
        finished.wait()
        finished.signal()
    }

    private var phase: Phase { state.withLock { $0.phase } }

    /// False once `stopFetching()` or `close()` was called.
    var isFetching: Bool { phase == .running }

    private func takeWaiter() -> CheckedContinuation<[ConsumerDelivery]?, Error>? {
        state.withLock { state in
            defer { state.waiter = nil }
            return state.waiter
        }
    }

    private func run() {
        let queue = rd_kafka_queue_get_consumer(handle.pointer)
        var raw = [UnsafeMutablePointer<rd_kafka_message_t>?](repeating: nil, count: batchSize)
        var topicNames: [OpaquePointer: String] = [:]
        while true {
            wakeup.wait()
            if phase >= .closing { break }
            var batch: [KafkaMessage] = []
            var changes: [ConsumerDelivery] = []
            while batch.isEmpty && changes.isEmpty && phase == .running {
                let count = raw.withUnsafeMutableBufferPointer { buffer -> Int in
                    // Drain what is already queued without waiting (consume_batch_queue with a
                    // timeout waits for a *full* batch); if nothing is, wait for one record.
                    let ready = rd_kafka_consume_batch_queue(queue, 0, buffer.baseAddress, batchSize)
                    if ready > 0 { return ready }
                    guard let first = rd_kafka_consume_queue(queue, 100) else { return 0 }
                    buffer[0] = first
                    let more = rd_kafka_consume_batch_queue(queue, 0, buffer.baseAddress! + 1, batchSize - 1)
                    return 1 + max(0, more)
                }
                if count <= 0 {
                    if let assignments { changes = assignments.take().changes }
                    continue
                }
                batch.reserveCapacity(count)
                for i in 0..<count {
                    guard let m = raw[i] else { continue }
                    defer { rd_kafka_message_destroy(m) }
                    if m.pointee.err != RD_KAFKA_RESP_ERR_NO_ERROR {
                        logger.warning("Kafka consumer event: \(KafkaError.errorString(m.pointee.err))")
                        continue
                    }
                    batch.append(copy(m, topicNames: &topicNames))
                }
                if let assignments {
                    // The rebalance callback runs inside the consume calls above: hand its
                    // changes over first, and only records of partitions still assigned.
                    let (taken, assigned) = assignments.take()
                    changes = taken
                    if !taken.isEmpty {
                        batch.removeAll { !assigned.contains(PartitionKey(topic: $0.topic, partition: $0.partition)) }
                    }
                }
            }
            let deliveries = changes + (batch.isEmpty ? [] : [ConsumerDelivery.records(batch)])
            // Records fetched after a stop are not handed out; their offsets are not stored,
            // so the group re-delivers them (at-least-once).
            takeWaiter()?.resume(returning: deliveries.isEmpty || phase != .running ? nil : deliveries)
        }
        takeWaiter()?.resume(returning: nil)
        rd_kafka_queue_destroy(queue)
        let err = rd_kafka_consumer_close(handle.pointer)
        if err != RD_KAFKA_RESP_ERR_NO_ERROR {
            logger.warning("Kafka consumer close: \(KafkaError.errorString(err))")
        }
        state.withLock { $0.phase = .closed }
        rd_kafka_destroy(handle.pointer)
        finished.signal()
    }
    private func copy(_ m: UnsafeMutablePointer<rd_kafka_message_t>, topicNames: inout [OpaquePointer: String]) -> KafkaMessage {
        let rkt = m.pointee.rkt!
        let topic: String
        if let cached = topicNames[rkt] {
            topic = cached
        } else {
            topic = String(cString: rd_kafka_topic_name(rkt))
            topicNames[rkt] = topic
        }
        let value = m.pointee.payload.map { Array(UnsafeRawBufferPointer(start: $0, count: m.pointee.len)) } ?? []
        let key = m.pointee.key.map { Array(UnsafeRawBufferPointer(start: $0, count: m.pointee.key_len)) }
        var headers: [KafkaHeader] = []
        var hdrs: OpaquePointer?
        if rd_kafka_message_headers(m, &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR, let hdrs {
            var index = 0
            var name: UnsafePointer<CChar>?
            var valuePointer: UnsafeRawPointer?
            var size = 0
            while rd_kafka_header_get_all(hdrs, index, &name, &valuePointer, &size) == RD_KAFKA_RESP_ERR_NO_ERROR {
                let bytes = valuePointer.map { Array(UnsafeRawBufferPointer(start: $0, count: size)) } ?? []
                headers.append(KafkaHeader(name: String(cString: name!), value: bytes))
                index += 1
            }
        }
        var timestampType = RD_KAFKA_TIMESTAMP_NOT_AVAILABLE
        let timestamp = rd_kafka_message_timestamp(m, &timestampType)
        return KafkaMessage(
            topic: topic, partition: m.pointee.partition, offset: m.pointee.offset, key: key, value: value,
            headers: headers, timestampMillis: timestamp)
    }
}

import CRdKafka
import Foundation
import Logging
import Synchronization

/// An idempotent Kafka producer whose sends complete when the broker acknowledges them.
///
/// Defaults: `enable.idempotence=true`, `acks=all` (no loss, no duplicates from retries, order
/// kept per partition), `linger.ms=1` so a lone `send` is not held back for batching. Delivery
/// reports are served by a dedicated poll thread; each `send` awaits its report. A batch send
/// enqueues every record first, then resumes once when the last report arrives.
public final class KafkaProducer: Sendable {
    public static let defaultProperties: [(String, String)] = [
        ("enable.idempotence", "true"),
        ("acks", "all"),
        ("linger.ms", "1"),
        ("message.timeout.ms", "30000"),
    ]

    private let handle: RdKafkaHandle
    private let context: KafkaClientContext
    private let poller: PollThread
    private let closed = Atomic<Bool>(false)
    /// Metadata calls in flight: `close()` destroys the handle only once none is.
    private let metadataCalls = Atomic<Int>(0)
    public let configuration: KafkaConfiguration

    public init(configuration: KafkaConfiguration, logger: Logger = Logger(label: "novacron.bus.producer")) throws(KafkaError) {
        self.configuration = configuration
        let context = KafkaClientContext(logger: logger)
        let conf = try configuration.makeConf(defaults: Self.defaultProperties)
        context.install(on: conf)
        rd_kafka_conf_set_dr_msg_cb(conf) { _, message, _ in
            guard let message, let opaque = message.pointee._private else { return }
            let slot = opaque.assumingMemoryBound(to: DeliverySlot.self).pointee
            let group = slot.group.takeUnretainedValue()
            let m = message.pointee
            if m.err == RD_KAFKA_RESP_ERR_NO_ERROR {
                group.complete(slot.index, .success((m.partition, m.offset)))
            } else {
                group.complete(slot.index, .failure(.delivery(code: m.err.rawValue, reason: KafkaError.errorString(m.err))))
            }
        }
        self.context = context
        self.handle = RdKafkaHandle(pointer: try makeClient(type: RD_KAFKA_PRODUCER, conf: conf))
        self.poller = PollThread(name: "nc-produce", handle: handle)
    }

    /// Produces one record and returns where it landed once the broker acknowledged it.
    @discardableResult
    public func send(_ message: OutgoingMessage) async throws(KafkaError) -> DeliveryReport {
        try await send([message])[0].get()
    }

    /// Produces records in order and returns each one's outcome, in the same order, once all
    /// are acknowledged or failed. Records with the same key keep their order.
    public func send(_ messages: [OutgoingMessage]) async throws(KafkaError) -> [Result<DeliveryReport, KafkaError>] {
        if closed.load(ordering: .relaxed) { throw .closed }
        if messages.isEmpty { return [] }
        let group = DeliveryGroup(topics: messages.map(\.topic))
        for (index, message) in messages.enumerated() {
            while true {
                let code = enqueue(message, opaque: group.slot(index))
                if code == RD_KAFKA_RESP_ERR_NO_ERROR { break }
                if code == RD_KAFKA_RESP_ERR__QUEUE_FULL {
                    // The local queue drains as the poll thread serves reports; back off briefly.
                    try? await Task.sleep(for: .milliseconds(1))
                    continue
                }
                group.complete(index, .failure(.delivery(code: code.rawValue, reason: KafkaError.errorString(code))))
                break
            }
        }
        return await group.wait()
    }

    /// Produces records and throws the first failure, if any.
    public func sendAll(_ messages: [OutgoingMessage]) async throws(KafkaError) {
        for result in try await send(messages) { _ = try result.get() }
    }

    private func enqueue(_ message: OutgoingMessage, opaque: UnsafeMutableRawPointer) -> rd_kafka_resp_err_t {
        var headers: OpaquePointer? = nil
        if !message.headers.isEmpty {
            headers = rd_kafka_headers_new(message.headers.count)
            for header in message.headers {
                header.value.withUnsafeBytes { value in
                    _ = rd_kafka_header_add(headers, header.name, -1, value.baseAddress, value.count)
                }
            }
        }
        let error: OpaquePointer? = message.topic.withCString { topic in
            message.value.withUnsafeBytes { value in
                withOptionalBytes(message.key) { key in
                    withUnsafeTemporaryAllocation(of: rd_kafka_vu_t.self, capacity: 6) { vus in
                        vus.initialize(repeating: rd_kafka_vu_t())
                        vus[0].vtype = RD_KAFKA_VTYPE_TOPIC
                        vus[0].u.cstr = topic
                        vus[1].vtype = RD_KAFKA_VTYPE_VALUE
                        vus[1].u.mem.ptr = UnsafeMutableRawPointer(mutating: value.baseAddress)
                        vus[1].u.mem.size = value.count
                        vus[2].vtype = RD_KAFKA_VTYPE_MSGFLAGS
                        vus[2].u.i = RD_KAFKA_MSG_F_COPY
                        vus[3].vtype = RD_KAFKA_VTYPE_OPAQUE
                        vus[3].u.ptr = opaque
                        var count = 4
                        if let key {
                            vus[count].vtype = RD_KAFKA_VTYPE_KEY
                            vus[count].u.mem.ptr = UnsafeMutableRawPointer(mutating: key.baseAddress)
                            vus[count].u.mem.size = key.count
                            count += 1
                        }
                        if let headers {
                            vus[count].vtype = RD_KAFKA_VTYPE_HEADERS
                            vus[count].u.headers = headers
                            count += 1
                        }
                        return rd_kafka_produceva(handle.pointer, vus.baseAddress, count)
                    }
                }
            }
        }
        guard let error else { return RD_KAFKA_RESP_ERR_NO_ERROR }
        let code = rd_kafka_error_code(error)
        rd_kafka_error_destroy(error)
        if let headers { rd_kafka_headers_destroy(headers) }
        return code
    }

    /// Checks that a broker answers within `timeoutMillis` and returns the topics it knows.
    /// Throws `.closed` once the producer is closed.
    public func topicNames(timeoutMillis: Int32 = 5000) async throws(KafkaError) -> [String] {
        Array(try await metadata(timeoutMillis: timeoutMillis).keys)
    }

    /// Topic name -> partition count, from one metadata request. The handle is used only while
    /// the producer is open: a health check racing a shutdown gets `.closed`, never a call on a
    /// destroyed client (which hung the process, or crashed it, when a sample landed between
    /// the relay's close and the health sampler's stop).
    private func metadata(timeoutMillis: Int32) async throws(KafkaError) -> [String: Int32] {
        metadataCalls.add(1, ordering: .sequentiallyConsistent)
        defer { metadataCalls.subtract(1, ordering: .sequentiallyConsistent) }
        if closed.load(ordering: .sequentiallyConsistent) { throw .closed }
        let handle = handle
        let result = await offloadBlocking { fetchPartitionCounts(handle, timeoutMillis: timeoutMillis) }
        switch result {
        case .success(let counts): return counts
        case .failure(let code):
            throw .brokerUnreachable(
                brokers: configuration.brokers, timeoutMillis: Int(timeoutMillis),
                detail: context.lastErrorDescription ?? KafkaError.errorString(code.code))
        }
    }

    /// The partition count of each of `topics` the cluster knows.
    public func partitionCounts(of topics: [String], timeoutMillis: Int32 = 5000) async throws(KafkaError) -> [String: Int32] {
        try await metadata(timeoutMillis: timeoutMillis).filter { topics.contains($0.key) }
    }

    /// Flushes, then stops the poll thread and destroys the client. Records still unacknowledged
    /// after the flush timeout are purged and their senders get a delivery error.
    public func close(flushTimeoutMillis: Int32 = 10000) async {
        guard closed.compareExchange(expected: false, desired: true, ordering: .sequentiallyConsistent).exchanged else { return }
        let handle = handle
        let poller = poller
        await offloadBlocking { [self] in
            // A metadata call that started before the close finishes (its own timeout bounds it).
            while metadataCalls.load(ordering: .sequentiallyConsistent) > 0 { usleep(5000) }
            if rd_kafka_flush(handle.pointer, flushTimeoutMillis) != RD_KAFKA_RESP_ERR_NO_ERROR {
                _ = rd_kafka_purge(handle.pointer, Int32(RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT))
                _ = rd_kafka_flush(handle.pointer, 1000)
            }
            poller.stop()
            rd_kafka_destroy(handle.pointer)
        }
    }

    deinit {
        if !closed.load(ordering: .relaxed) {
            poller.stop()
            rd_kafka_destroy(handle.pointer)
        }
    }
}

private func withOptionalBytes<R>(_ bytes: [UInt8]?, _ body: (UnsafeRawBufferPointer?) -> R) -> R {
    guard let bytes else { return body(nil) }
    return bytes.withUnsafeBytes { body($0) }
}

/// The outcomes of one batch of sends, resumed once when the last report arrives.
///
/// Each record's librdkafka opaque points into `slots`, one buffer per batch (no allocation per
/// record). The group holds itself alive (`keepAlive`) until every record is reported, so the
/// delivery callback can reach it through an unretained reference.
final class DeliveryGroup: Sendable {
    private struct State {
        var outcomes: [Result<(Int32, Int64), KafkaError>?]
        var remaining: Int
        var waiter: CheckedContinuation<Void, Never>?
    }

    private let topics: [String]
    private let state: Mutex<State>
    private let slots: DeliverySlots

    init(topics: [String]) {
        self.topics = topics
        self.state = Mutex(State(outcomes: Array(repeating: nil, count: topics.count), remaining: topics.count))
        self.slots = DeliverySlots(count: topics.count)
        slots.bind(to: Unmanaged.passRetained(self))
    }

    /// The opaque pointer for record `index`.
    func slot(_ index: Int) -> UnsafeMutableRawPointer { slots.pointer(index) }

    func complete(_ index: Int, _ outcome: Result<(Int32, Int64), KafkaError>) {
        let waiter: CheckedContinuation<Void, Never>? = state.withLock { state in
            guard state.outcomes[index] == nil else { return nil }
            state.outcomes[index] = outcome
            state.remaining -= 1
            if state.remaining == 0 {
                slots.releaseGroup()
                if let waiter = state.waiter {
                    state.waiter = nil
                    return waiter
                }
            }
            return nil
        }
        waiter?.resume()
    }

    func wait() async -> [Result<DeliveryReport, KafkaError>] {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let ready = state.withLock { state in
                if state.remaining == 0 { return true }
                state.waiter = continuation
                return false
            }
            if ready { continuation.resume() }
        }
        let outcomes = state.withLock { $0.outcomes }
        return outcomes.enumerated().map { index, outcome in
            outcome!.map { DeliveryReport(topic: topics[index], partition: $0.0, offset: $0.1) }
        }
    }
}

/// What a record's opaque pointer points at: its batch and position.
struct DeliverySlot {
    var group: Unmanaged<DeliveryGroup>
    var index: Int
}

/// One contiguous buffer of slots per batch.
///
/// `@unchecked Sendable` is sound: slots are written once in `bind` before any record is
/// enqueued and only read afterwards (by the delivery callback); the buffer is freed in deinit,
/// which runs only after the group released its self-reference, i.e. after the last callback.
final class DeliverySlots: @unchecked Sendable {
    private let buffer: UnsafeMutableBufferPointer<DeliverySlot>
    private var group: Unmanaged<DeliveryGroup>?

    init(count: Int) {
        buffer = .allocate(capacity: count)
    }

    func bind(to group: Unmanaged<DeliveryGroup>) {
        self.group = group
        for index in buffer.indices {
            (buffer.baseAddress! + index).initialize(to: DeliverySlot(group: group, index: index))
        }
    }

    func pointer(_ index: Int) -> UnsafeMutableRawPointer { UnsafeMutableRawPointer(buffer.baseAddress! + index) }

    /// Drops the group's self-reference once every record is reported (called under its lock).
    func releaseGroup() {
        group?.release()
        group = nil
    }

    deinit {
        buffer.deallocate()
    }
}

/// A dedicated thread serving a producer's delivery reports and events (`rd_kafka_poll`), so
/// no librdkafka wait ever runs on the cooperative pool.
final class PollThread: Sendable {
    private let running = Atomic<Bool>(true)
    private let finished = DispatchSemaphore(value: 0)

    init(name: String, handle: RdKafkaHandle) {
        let thread = Thread { [self] in
            nameCurrentThread(name)
            while running.load(ordering: .relaxed) {
                rd_kafka_poll(handle.pointer, 50)
            }
            finished.signal()
        }
        thread.start()
    }

    /// Stops the loop and waits for the thread to leave librdkafka. Blocking.
    func stop() {
        guard running.compareExchange(expected: true, desired: false, ordering: .relaxed).exchanged else { return }
        finished.wait()
    }
}

import CRdKafka
import Dispatch
import Foundation

/// A librdkafka client handle (`rd_kafka_t *`).
///
/// `@unchecked Sendable` is sound: librdkafka documents every public function on `rd_kafka_t`
/// as thread-safe, and NovaBus destroys a handle only after every thread using it has stopped.
struct RdKafkaHandle: @unchecked Sendable {
    let pointer: OpaquePointer
}

/// Runs a blocking librdkafka call (flush, close, metadata) on a Dispatch thread, never on the
/// cooperative pool, and resumes the caller with its result.
func offloadBlocking<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T {
    await withCheckedContinuation { continuation in
        DispatchQueue.global().async { continuation.resume(returning: body()) }
    }
}

/// A librdkafka response code as a Swift error.
struct KafkaResponseCode: Error {
    let code: rd_kafka_resp_err_t
}

/// Names the calling OS thread (at most 15 characters on Linux), so NovaBus's threads are
/// recognisable in `top -H`, `perf` and debuggers.
func nameCurrentThread(_ name: String) {
    _ = novacron_name_thread(String(name.prefix(15)))
}

/// Asks a broker for cluster metadata, proving the brokers are reachable, and returns each
/// topic's partition count. Blocking: call through `offloadBlocking`.
func fetchPartitionCounts(_ handle: RdKafkaHandle, timeoutMillis: Int32) -> Result<[String: Int32], KafkaResponseCode> {
    var metadata: UnsafePointer<rd_kafka_metadata>?
    let err = rd_kafka_metadata(handle.pointer, 1, nil, &metadata, timeoutMillis)
    guard err == RD_KAFKA_RESP_ERR_NO_ERROR, let metadata else { return .failure(KafkaResponseCode(code: err)) }
    defer { rd_kafka_metadata_destroy(metadata) }
    var counts: [String: Int32] = [:]
    for i in 0..<Int(metadata.pointee.topic_cnt) {
        counts[String(cString: metadata.pointee.topics[i].topic)] = metadata.pointee.topics[i].partition_cnt
    }
    return .success(counts)
}

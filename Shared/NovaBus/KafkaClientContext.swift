import CRdKafka
import Logging
import Synchronization

/// State librdkafka's C callbacks reach through the client's opaque pointer: the logger that
/// its log and error events go to, and the last error seen (for readiness and probes).
final class KafkaClientContext: Sendable {
    let logger: Logger
    private let lastError = Mutex<String?>(nil)
    /// Where the rebalance callback reports assignment changes (consumers that observe them).
    let assignments: AssignmentLog?

    init(logger: Logger, assignments: AssignmentLog? = nil) {
        self.logger = logger
        self.assignments = assignments
    }

    var lastErrorDescription: String? { lastError.withLock { $0 } }

    func record(error: String) { lastError.withLock { $0 = error } }

    /// Installs log and error callbacks on `conf`, routing librdkafka's messages to swift-log.
    /// The context must outlive the client: the client object retains it.
    func install(on conf: OpaquePointer) {
        rd_kafka_conf_set_opaque(conf, Unmanaged.passUnretained(self).toOpaque())
        rd_kafka_conf_set_log_cb(conf) { rk, level, facility, message in
            guard let rk, let opaque = rd_kafka_opaque(rk) else { return }
            let context = Unmanaged<KafkaClientContext>.fromOpaque(opaque).takeUnretainedValue()
            let text = "\(String(cString: facility!)): \(String(cString: message!))"
            switch level {
            case 0...3: context.logger.error("\(text)", metadata: ["source": "librdkafka"])
            case 4: context.logger.warning("\(text)", metadata: ["source": "librdkafka"])
            case 5, 6: context.logger.info("\(text)", metadata: ["source": "librdkafka"])
            default: context.logger.debug("\(text)", metadata: ["source": "librdkafka"])
            }
        }
        rd_kafka_conf_set_error_cb(conf) { rk, code, reason, opaque in
            guard let opaque else { return }
            let context = Unmanaged<KafkaClientContext>.fromOpaque(opaque).takeUnretainedValue()
            let text = "\(KafkaError.errorString(rd_kafka_resp_err_t(code))): \(String(cString: reason!))"
            context.record(error: text)
            context.logger.warning("Kafka client error: \(text)", metadata: ["source": "librdkafka"])
        }
    }
}

extension KafkaClientContext {
    /// Installs a rebalance callback that applies each assignment (eager protocol) and reports
    /// it to `assignments`. Called on the consumer's poll thread, inside its consume calls.
    func installRebalance(on conf: OpaquePointer) {
        rd_kafka_conf_set_rebalance_cb(conf) { rk, err, partitions, opaque in
            guard let rk, let opaque else { return }
            let context = Unmanaged<KafkaClientContext>.fromOpaque(opaque).takeUnretainedValue()
            var keys: [PartitionKey] = []
            if let partitions {
                for i in 0..<Int(partitions.pointee.cnt) {
                    let element = partitions.pointee.elems[i]
                    keys.append(PartitionKey(topic: String(cString: element.topic), partition: element.partition))
                }
            }
            keys.sort { ($0.topic, $0.partition) < ($1.topic, $1.partition) }
            if err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS {
                _ = rd_kafka_assign(rk, partitions)
                context.logger.info("partitions assigned", metadata: ["partitions": "\(keys.count)"])
                context.assignments?.record(.assigned(keys))
            } else {
                let lost = rd_kafka_assignment_lost(rk) != 0
                _ = rd_kafka_assign(rk, nil)
                context.logger.info("partitions revoked", metadata: ["partitions": "\(keys.count)", "lost": "\(lost)"])
                context.assignments?.record(.revoked(keys, lost: lost))
            }
        }
    }
}

/// Creates a librdkafka client, turning the C error buffer into a `KafkaError`.
func makeClient(type: rd_kafka_type_t, conf: OpaquePointer) throws(KafkaError) -> OpaquePointer {
    var errstr = [CChar](repeating: 0, count: 512)
    guard let rk = rd_kafka_new(type, conf, &errstr, errstr.count) else {
        rd_kafka_conf_destroy(conf)
        throw .clientCreation(String(decoding: errstr.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
    }
    return rk
}

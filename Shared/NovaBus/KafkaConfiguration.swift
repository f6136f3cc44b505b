import CRdKafka
import Foundation

/// Kafka client settings: a few typed options plus any librdkafka property by name.
///
/// `properties` is passed to librdkafka as is, so SASL, TLS and tuning need no code here.
/// `fromEnvironment` maps `KAFKA_SASL_MECHANISM=PLAIN` to `sasl.mechanism=PLAIN`: strip the
/// prefix, lowercase, `_` becomes `.`. librdkafka itself validates every name and value when
/// a client is created, and a refusal names the property and the variable it came from.
public struct KafkaConfiguration: Sendable, Equatable {
    /// `bootstrap.servers`, comma-separated host:port.
    public var brokers: String
    /// `client.id`, shown in broker logs.
    public var clientID: String
    /// Extra librdkafka properties (name -> value), with where each came from for errors.
    public var properties: [String: String]
    public var propertySources: [String: String]

    public init(brokers: String, clientID: String = "novacron", properties: [String: String] = [:]) {
        self.brokers = brokers
        self.clientID = clientID
        self.properties = properties
        self.propertySources = [:]
    }

    /// Variables with this prefix are librdkafka properties, except `reservedVariables`.
    public static let environmentPrefix = "KAFKA_"
    /// Variables with the prefix that NovaCron reads itself.
    public static let reservedVariables: Set<String> = ["KAFKA_BROKERS"]

    /// Reads `KAFKA_BROKERS` and every other `KAFKA_*` variable as a librdkafka property.
    /// Returns nil brokers as an error so callers can name the variable.
    public static func fromEnvironment(
        _ environment: [String: String], clientID: String
    ) throws(KafkaConfigurationError) -> KafkaConfiguration {
        guard let brokers = environment["KAFKA_BROKERS"], !brokers.trimmingCharacters(in: .whitespaces).isEmpty else {
            throw .missingBrokers
        }
        for broker in brokers.split(separator: ",") {
            let parts = broker.trimmingCharacters(in: .whitespaces).split(separator: ":")
            guard parts.count >= 2, let port = Int(parts.last!), (1...65535).contains(port) else {
                throw .malformedBrokers(brokers)
            }
        }
        var config = KafkaConfiguration(brokers: brokers, clientID: clientID)
        for (variable, value) in environment
        where variable.hasPrefix(environmentPrefix) && !reservedVariables.contains(variable) {
            let name = variable.dropFirst(environmentPrefix.count).lowercased().replacingOccurrences(of: "_", with: ".")
            config.properties[name] = value
            config.propertySources[name] = variable
        }
        return config
    }

    /// Properties every NovaBus client gets before its own defaults. librdkafka leaves Nagle's
    /// algorithm on, so a second small request on a connection waits for the delayed ACK of
    /// the first: every batch of commands spread over partitions cost ~40 ms on loopback.
    public static let clientDefaults: [(String, String)] = [("socket.nagle.disable", "true")]

    /// Builds a librdkafka configuration from defaults, then typed options, then properties.
    /// The caller owns the result (librdkafka takes it over in `rd_kafka_new`).
    func makeConf(defaults: [(String, String)]) throws(KafkaError) -> OpaquePointer {
        let conf = rd_kafka_conf_new()!
        var all = Self.clientDefaults + defaults
        all.append(("bootstrap.servers", brokers))
        all.append(("client.id", clientID))
        for (name, value) in properties.sorted(by: { $0.key < $1.key }) { all.append((name, value)) }
        for (name, value) in all {
            var errstr = [CChar](repeating: 0, count: 512)
            let result = rd_kafka_conf_set(conf, name, value, &errstr, errstr.count)
            if result != RD_KAFKA_CONF_OK {
                rd_kafka_conf_destroy(conf)
                let reason = String(decoding: errstr.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
                throw .invalidProperty(name: name, source: propertySources[name] ?? "NovaCron default", reason: reason)
            }
        }
        return conf
    }
}

/// A problem with the Kafka variables themselves, before librdkafka is asked.
public enum KafkaConfigurationError: Error, Equatable, Sendable, CustomStringConvertible {
    case missingBrokers
    case malformedBrokers(String)

    public var description: String {
        switch self {
        case .missingBrokers: "KAFKA_BROKERS is not set: expected a comma-separated list of host:port"
        case .malformedBrokers(let v): "KAFKA_BROKERS='\(v)' is malformed: expected host:port[,host:port...]"
        }
    }
}

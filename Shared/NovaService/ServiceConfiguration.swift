import Logging
import NovaBus
import NovaStore

/// Everything a service reads from its environment, validated at start. A missing or malformed
/// value is a `ConfigurationError` naming the variable and what it expects (exit code 2).
public struct ServiceConfiguration: Sendable {
    /// e.g. "novacron-placement".
    public var serviceName: String
    public var kafka: KafkaConfiguration
    /// The service's own role (`POSTGRES_URL`).
    public var postgres: PostgresSettings
    /// An administrator (`POSTGRES_ADMIN_URL`, optional): when set, the service creates its own
    /// role and schema at start with the password from `POSTGRES_URL`.
    public var postgresAdmin: PostgresSettings?
    public var schema: SchemaName
    public var consumerGroup: String
    public var httpHost: String
    /// 0 picks a free port (logged at start).
    public var httpPort: Int
    public var logLevel: Logger.Level
    /// How long to wait for Kafka and Postgres at start before giving up with an error.
    public var startupTimeoutSeconds: Int
    /// Hours to keep inbox entries (for dedupe).
    public var inboxRetentionHours: Int = 168
    /// A file holding the time (a manual clock for tests); nil = the system clock.
    public var clockFile: String?
    /// How often the timer loop looks for due deadlines and ticks.
    public var timerPollMillis: Int = 20

    /// The variables every service reads, with what each expects: printed after a configuration
    /// error, and listed in the README.
    public static let variables: [(name: String, expects: String)] = [
        ("KAFKA_BROKERS", "comma-separated host:port list of Kafka bootstrap brokers (required)"),
        ("KAFKA_*", "any librdkafka property: KAFKA_SECURITY_PROTOCOL=SASL_SSL sets security.protocol"),
        ("POSTGRES_URL", "postgres://user:password@host:port/database for the service's own role (required)"),
        ("POSTGRES_ADMIN_URL", "optional administrator URL; when set the service creates its role and schema"),
        ("HTTP_HOST", "address for /healthz /readyz /metrics (default 0.0.0.0)"),
        ("HTTP_PORT", "port for /healthz /readyz /metrics, 0 = any free port (default 8080)"),
        ("LOG_LEVEL", "trace, debug, info, notice, warning, error or critical (default info)"),
        ("NOVACRON_CONSUMER_GROUP", "Kafka consumer group (default: the service name; novacron-provider-<provider> for an adapter)"),
        ("NOVACRON_SCHEMA", "Postgres schema and role stem (default: the service's own, e.g. placement)"),
        ("NOVACRON_STARTUP_TIMEOUT_SECONDS", "seconds to wait for Kafka and Postgres at start (default 15)"),
        ("NOVACRON_INBOX_RETENTION_HOURS", "hours to keep inbox entries; longer than the topics' retention (default 168)"),
        ("NOVACRON_TIMER_POLL_MS", "milliseconds between looks for due deadlines and ticks, 1-10000 (default 20)"),
        ("NOVACRON_CLOCK_FILE", "tests only: a file holding the time in milliseconds since 1970, instead of the system clock"),
    ]

    public static func fromEnvironment(
        _ environment: [String: String], serviceName: String, schema: String, consumerGroup: String? = nil
    ) throws(ConfigurationError) -> ServiceConfiguration {
        let kafka: KafkaConfiguration
        do {
            kafka = try KafkaConfiguration.fromEnvironment(environment, clientID: serviceName)
        } catch {
            throw ConfigurationError(variable: "KAFKA_BROKERS", problem: error.description)
        }
        let postgres = try postgresSettings(environment, "POSTGRES_URL", required: true)!
        let admin = try postgresSettings(environment, "POSTGRES_ADMIN_URL", required: false)
        if admin != nil && (postgres.password ?? "").isEmpty {
            throw ConfigurationError(
                variable: "POSTGRES_URL", problem: "needs a password when POSTGRES_ADMIN_URL is set (it becomes the role's password)")
        }
        let schemaName: SchemaName
        do { schemaName = try SchemaName(environment["NOVACRON_SCHEMA"].flatMap { $0.isEmpty ? nil : $0 } ?? schema) } catch {
            throw ConfigurationError(variable: "NOVACRON_SCHEMA", problem: error.description)
        }
        let port = try integer(environment, "HTTP_PORT", default: 8080, range: 0...65535)
        let timeout = try integer(environment, "NOVACRON_STARTUP_TIMEOUT_SECONDS", default: 15, range: 1...600)
        let level: Logger.Level
        if let raw = environment["LOG_LEVEL"] {
            guard let parsed = Logger.Level(rawValue: raw.lowercased()) else {
                throw ConfigurationError(
                    variable: "LOG_LEVEL", problem: "'\(raw)' is not a level; expected trace, debug, info, notice, warning, error or critical")
            }
            level = parsed
        } else {
            level = .info
        }
        let inboxHours = try integer(environment, "NOVACRON_INBOX_RETENTION_HOURS", default: 168, range: 1...87600)
        let group = environment["NOVACRON_CONSUMER_GROUP"].flatMap { $0.isEmpty ? nil : $0 } ?? consumerGroup ?? serviceName
        var configuration = ServiceConfiguration(
            serviceName: serviceName, kafka: kafka, postgres: postgres, postgresAdmin: admin, schema: schemaName,
            consumerGroup: group, httpHost: environment["HTTP_HOST"] ?? "0.0.0.0", httpPort: port, logLevel: level,
            startupTimeoutSeconds: timeout)
        configuration.inboxRetentionHours = inboxHours
        configuration.timerPollMillis = try integer(environment, "NOVACRON_TIMER_POLL_MS", default: 20, range: 1...10000)
        configuration.clockFile = environment["NOVACRON_CLOCK_FILE"].flatMap { $0.isEmpty ? nil : $0 }
        return configuration
    }

    private static func postgresSettings(
        _ environment: [String: String], _ variable: String, required: Bool
    ) throws(ConfigurationError) -> PostgresSettings? {
        guard let url = environment[variable], !url.isEmpty else {
            if required {
                throw ConfigurationError(variable: variable, problem: "is not set; expected postgres://user:password@host:port/database")
            }
            return nil
        }
        do {
            return try PostgresSettings(url: url)
        } catch {
            throw ConfigurationError(variable: variable, problem: "\(error.description); expected postgres://user:password@host:port/database")
        }
    }

    private static func integer(
        _ environment: [String: String], _ variable: String, default value: Int, range: ClosedRange<Int>
    ) throws(ConfigurationError) -> Int {
        guard let raw = environment[variable] else { return value }
        guard let parsed = Int(raw), range.contains(parsed) else {
            throw ConfigurationError(
                variable: variable, problem: "'\(raw)' is not valid; expected an integer from \(range.lowerBound) to \(range.upperBound)")
        }
        return parsed
    }
}

/// A configuration value that is missing or malformed.
public struct ConfigurationError: Error, Sendable, CustomStringConvertible {
    public var variable: String
    public var problem: String

    public init(variable: String, problem: String) {
        self.variable = variable
        self.problem = problem
    }

    public var description: String { problem.hasPrefix(variable) ? problem : "\(variable): \(problem)" }
}

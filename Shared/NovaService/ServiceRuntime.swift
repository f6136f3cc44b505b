import Foundation
import Logging
import NovaBus
import NovaCore
import NovaStore
import ServiceLifecycle
import Synchronization

/// What a service is: its name, schema, the topics it consumes, its migrations and its handler.
public struct ServiceDefinition: Sendable {
    /// Short name, e.g. "placement": the executable is `novacron-placement`.
    public var name: String
    /// Postgres schema (and role stem); defaults to the short name.
    public var schema: String
    public var topics: [String]
    public var migrations: [Migration]
    public var makeHandler: @Sendable (ServiceContext) throws -> any EventHandler
    public var hooks: FaultHooks
    /// Set when the service keeps state per key: the partition count every consumed topic
    /// has (checked at start). Each replica then owns the keys of the partitions assigned to
    /// it, claims them with an epoch, and its transactions are fenced (`PartitionOwnership`).
    public var keyedPartitions: Int32?
    /// Periodic ticks, fired on one replica at a time (the handler must be a `TimedHandler`).
    public var ticks: [Tick]
    /// The default consumer group (`NOVACRON_CONSUMER_GROUP` overrides it); the service name
    /// when nil. One executable run as several services (a provider adapter per provider)
    /// needs a group per service.
    public var consumerGroup: String?

    public init(
        name: String, schema: String? = nil, topics: [String], migrations: [Migration] = [], hooks: FaultHooks = FaultHooks(),
        keyedPartitions: Int32? = nil, ticks: [Tick] = [], consumerGroup: String? = nil,
        makeHandler: @escaping @Sendable (ServiceContext) throws -> any EventHandler
    ) {
        self.consumerGroup = consumerGroup
        self.name = name
        self.schema = schema ?? name
        self.topics = topics
        self.migrations = migrations
        self.hooks = hooks
        self.keyedPartitions = keyedPartitions
        self.ticks = ticks
        self.makeHandler = makeHandler
    }

    public var serviceName: String { "novacron-\(name)" }
}

/// What a handler may need at construction.
public struct ServiceContext: Sendable {
    public var configuration: ServiceConfiguration
    public var logger: Logger
    public var metrics: ServiceMetrics
    /// The service's time: the only clock its decisions read.
    public var clock: any ServiceClock
    /// Where its handler sets deadlines (keys map to partitions of its keyed topics; one
    /// partition when the service declares no key ownership).
    public var deadlines: Deadlines
}

/// Runs a service: validates configuration (exit 2 on error), checks Kafka and Postgres (a
/// clear error, exit 1, instead of a hang), provisions and migrates the schema, then runs the
/// consume loop, the outbox relay, health sampling and the status endpoint in one ServiceGroup
/// that shuts down gracefully on SIGTERM or SIGINT.
public enum ServiceRuntime {
    public enum ExitCode: Int32 {
        case success = 0
        case failure = 1
        case configuration = 2
    }

    /// Entry point for an executable's `main`.
    public static func main(_ definition: ServiceDefinition, environment: [String: String] = ProcessInfo.processInfo.environment) async -> Never {
        let code = await run(definition, environment: environment)
        exit(code.rawValue)
    }

    public static func run(_ definition: ServiceDefinition, environment: [String: String]) async -> ExitCode {
        let configuration: ServiceConfiguration
        do {
            configuration = try ServiceConfiguration.fromEnvironment(
                environment, serviceName: definition.serviceName, schema: definition.schema, consumerGroup: definition.consumerGroup)
        } catch {
            let table = ServiceConfiguration.variables.map { "  \($0.name): \($0.expects)" }.joined(separator: "\n")
            fail(definition.serviceName, "configuration error: \(error)\nvariables read at start:\n\(table)")
            return .configuration
        }
        bootstrapLogging(level: configuration.logLevel)
        var logger = Logger(label: definition.serviceName)
        logger[metadataKey: "service"] = "\(definition.serviceName)"

        let producer: KafkaProducer
        let consumer: KafkaConsumer
        do {
            producer = try KafkaProducer(configuration: configuration.kafka, logger: logger)
            consumer = try KafkaConsumer(
                configuration: configuration.kafka, groupID: configuration.consumerGroup, topics: definition.topics,
                observesAssignment: definition.keyedPartitions != nil, logger: logger)
        } catch {
            fail(definition.serviceName, "configuration error: \(error)")
            return .configuration
        }
        do {
            let known = Set(try await producer.topicNames(timeoutMillis: Int32(configuration.startupTimeoutSeconds * 1000)))
            let missing = definition.topics.filter { !known.contains($0) }
            if !missing.isEmpty {
                logger.warning("topics not (yet) on the cluster", metadata: ["topics": "\(missing.joined(separator: ","))"])
            }
            if let keyed = definition.keyedPartitions {
                let counts = try await producer.partitionCounts(
                    of: definition.topics.filter(known.contains), timeoutMillis: Int32(configuration.startupTimeoutSeconds * 1000))
                let wrong = counts.filter { $0.value != keyed }.sorted { $0.key < $1.key }
                if !wrong.isEmpty {
                    fail(
                        definition.serviceName,
                        "configuration error: key ownership needs every consumed topic to have \(keyed) partitions; "
                            + wrong.map { "\($0.key) has \($0.value)" }.joined(separator: ", "))
                    return .configuration
                }
            }
        } catch {
            fail(definition.serviceName, "\(error)")
            return .failure
        }
        do {
            if let admin = configuration.postgresAdmin {
                try await SchemaProvisioner(admin: admin, logger: logger).provision(
                    schema: configuration.schema, password: configuration.postgres.password ?? "")
            }
            try await Store.checkConnection(configuration.postgres, logger: logger)
        } catch {
            fail(definition.serviceName, error.description)
            return .failure
        }

        let metrics = ServiceMetrics()
        let readiness = Readiness()
        let store = Store(settings: configuration.postgres, schema: configuration.schema, logger: logger)
        let clock: any ServiceClock
        do {
            clock = try configuration.clockFile.map { path throws(ConfigurationError) in try FileClock(path: path) } ?? SystemServiceClock()
        } catch {
            fail(definition.serviceName, "configuration error: \(error)")
            return .configuration
        }
        let ownership = definition.keyedPartitions.map { _ in PartitionOwnership() }
        let context = ServiceContext(
            configuration: configuration, logger: logger, metrics: metrics, clock: clock,
            deadlines: Deadlines(partitioner: KeyPartitioner(partitionCount: definition.keyedPartitions ?? 1)))
        let handler: any EventHandler
        do {
            handler = try definition.makeHandler(context)
        } catch {
            fail(definition.serviceName, "cannot start handler: \(error)")
            return .failure
        }
        let migrationGate = MigrationGate()
        let migrations = definition.migrations
        let prepare: @Sendable () async throws -> Void = {
            try await migrationGate.once {
                do {
                    try await store.prepare(migrations: migrations)
                    readiness.set(.migrations, problem: nil)
                } catch {
                    readiness.set(.migrations, problem: "\(error)")
                    throw error
                }
            }
        }
        let doorbell = Doorbell()
        let handoff = OutboxHandoff()
        // A ServiceGroup stops its services in reverse order: timers and the consumer first (no
        // new outbox records), the health sampler before the relay closes the producer it
        // uses, the relay (draining the outbox), the status endpoint, Postgres last.
        var services: [any Service] = [
            store.client,
            StatusServer(
                host: configuration.httpHost, port: configuration.httpPort, readiness: readiness, metrics: metrics,
                logger: logger),
            OutboxRelayService(
                store: store, producer: producer, doorbell: doorbell, handoff: handoff, metrics: metrics, hooks: definition.hooks,
                logger: logger,
                retention: OutboxRelayService.Retention(
                    inboxSeconds: configuration.inboxRetentionHours * 3600),
                prepared: prepare),
            HealthSampler(
                producer: producer, consumer: consumer, store: store, readiness: readiness, metrics: metrics, logger: logger),
            EventConsumerService(
                consumer: consumer, store: store, handler: handler,
                deadLetters: DeadLetterPublisher(producer: producer, consumerGroup: configuration.consumerGroup),
                metrics: metrics, doorbell: doorbell, handoff: handoff, producerName: definition.serviceName,
                hooks: definition.hooks, logger: logger, ownership: ownership, prepared: prepare),
        ]
        if let timed = handler as? any TimedHandler {
            services.append(
                TimerService(
                    store: store, handler: timed, clock: clock, ownership: ownership, ticks: definition.ticks, metrics: metrics,
                    doorbell: doorbell, handoff: handoff, producerName: definition.serviceName, hooks: definition.hooks,
                    logger: logger, poll: .milliseconds(configuration.timerPollMillis), prepared: prepare))
        } else if !definition.ticks.isEmpty {
            fail(definition.serviceName, "the service declares ticks but its handler is not a TimedHandler")
            return .failure
        }
        var groupConfiguration = ServiceGroupConfiguration(
            services: services.map { ServiceGroupConfiguration.ServiceConfiguration(service: $0) },
            gracefulShutdownSignals: [.sigterm, .sigint],
            cancellationSignals: [],
            logger: logger)
        // A shutdown always ends: a service still draining after 15 s is cancelled, and one that
        // ignores cancellation for 10 s more ends the process with a trace of where it hung.
        groupConfiguration.maximumGracefulShutdownDuration = .seconds(15)
        groupConfiguration.maximumCancellationDuration = .seconds(10)
        let group = ServiceGroup(configuration: groupConfiguration)
        logger.info(
            "starting", metadata: ["topics": "\(definition.topics.joined(separator: ","))", "group": "\(configuration.consumerGroup)"])
        do {
            try await group.run()
            logger.info("stopped cleanly")
            return .success
        } catch {
            fail(definition.serviceName, "stopped on error: \(error)")
            return .failure
        }
    }

    private static let logging = Mutex(false)

    /// Installs the logfmt handler once per process.
    public static func bootstrapLogging(level: Logger.Level) {
        let first = logging.withLock { done -> Bool in
            defer { done = true }
            return !done
        }
        if first { LoggingSystem.bootstrap { LogfmtLogHandler(label: $0, level: level) } }
    }

    private static func fail(_ service: String, _ message: String) {
        FileHandle.standardError.write(Data("\(service): \(message)\n".utf8))
    }
}

/// Runs the migrations once for whichever service asks first; later callers wait for it.
final class MigrationGate: Sendable {
    private let task = Mutex<Task<Void, Error>?>(nil)

    func once(_ body: @escaping @Sendable () async throws -> Void) async throws {
        let running = task.withLock { task -> Task<Void, Error> in
            if let task { return task }
            let created = Task { try await body() }
            task = created
            return created
        }
        try await running.value
    }
}

import Foundation
import NovaBus
import NovaCore
import PostgresNIO
import SwiftProtobuf

/// Any NovaCron service run as child processes against the private stack: its own schema,
/// role and consumer group, N replicas that a test SIGKILLs, restarts, pauses and resumes,
/// a barrier that returns once the group consumes every partition, and reads of its schema.
/// Every service's integration tests start here.
public struct ServiceDeployment: Sendable {
    public let env: TestEnvironment
    /// The executable's name under `env.binaries`, e.g. `novacron-placement`.
    public let binary: String
    public let schema: String
    public let group: String
    /// Variables every replica gets on top of the stack's (`replica(_:environment:)` adds more).
    public let environment: [String: String]

    public init(env: TestEnvironment, binary: String, name: String, environment: [String: String] = [:]) {
        let schema = TestEnvironment.uniqueName(name)
        self.init(env: env, binary: binary, schema: schema, group: "\(name)-\(schema)", environment: environment)
    }

    public init(env: TestEnvironment, binary: String, schema: String, group: String, environment: [String: String]) {
        self.env = env
        self.binary = binary
        self.schema = schema
        self.group = group
        self.environment = environment
    }

    public var role: String { "novacron_\(schema)" }

    /// The stack's variables for one replica: brokers, its own role (created by the service from
    /// the admin URL), schema, group, a free status port.
    public func variables(_ extra: [String: String] = [:]) -> [String: String] {
        let port = URLComponents(string: env.adminURL)?.port ?? 5432
        var variables = [
            "KAFKA_BROKERS": env.brokers, "POSTGRES_ADMIN_URL": env.adminURL,
            "POSTGRES_URL": "postgres://\(role):pw_\(schema)@127.0.0.1:\(port)/\(env.admin.database)?sslmode=disable",
            "NOVACRON_SCHEMA": schema, "NOVACRON_CONSUMER_GROUP": group, "HTTP_PORT": "0", "HTTP_HOST": "127.0.0.1",
            "LOG_LEVEL": "info",
        ]
        variables.merge(environment) { $1 }
        variables.merge(extra) { $1 }
        return variables
    }

    /// Starts one replica (not waiting for it).
    public func replica(_ name: String, environment extra: [String: String] = [:]) throws -> ChildProcess {
        try ChildProcess(binary: "\(env.binaries)/\(binary)", name: name, environment: variables(extra))
    }

    /// Starts one replica per name and returns them once each reports ready; stops them all if
    /// one never does.
    public func startReady(_ names: [String], environment extra: [String: String] = [:]) async throws -> ReplicaSet {
        let set = ReplicaSet(deployment: self, environment: extra)
        do {
            for name in names { try await set.start(name) }
            return set
        } catch {
            await set.stopAll()
            throw error
        }
    }

    /// One scalar of the service's schema (tables unqualified: the query runs in the schema).
    public func scalar<T: PostgresDecodable & Sendable>(_ query: PostgresQuery, as type: T.Type) async throws -> T? {
        try await env.withAdminConnection { connection in
            try await connection.query(PostgresQuery(unsafeSQL: "SET search_path TO \(schema)"), logger: .init(label: "tests"))
            for try await value in try await connection.query(query, logger: .init(label: "tests")).decode(T.self) { return value }
            return nil
        }
    }

    /// Rows of `query` (one column), in the service's schema.
    public func column<T: PostgresDecodable & Sendable>(_ query: PostgresQuery, as type: T.Type) async throws -> [T] {
        try await env.withAdminConnection { connection in
            try await connection.query(PostgresQuery(unsafeSQL: "SET search_path TO \(schema)"), logger: .init(label: "tests"))
            var rows: [T] = []
            for try await value in try await connection.query(query, logger: .init(label: "tests")).decode(T.self) { rows.append(value) }
            return rows
        }
    }

    /// Publishes envelopes of `messages` (topic, key, message) with a producer of its own.
    public func publish(_ messages: [(topic: String, key: String, message: any SwiftProtobuf.Message)]) async throws {
        try await env.publish(messages.map { try Records.envelope($0.message, key: $0.key, topic: $0.topic) })
    }
}

/// The running replicas of one deployment, by name.
public final class ReplicaSet: @unchecked Sendable {
    // @unchecked: `replicas` is guarded by `lock`; ChildProcess is safe to share.
    private let lock = NSLock()
    private var replicas: [String: ChildProcess] = [:]
    public let deployment: ServiceDeployment
    private let environment: [String: String]

    init(deployment: ServiceDeployment, environment: [String: String]) {
        self.deployment = deployment
        self.environment = environment
    }

    public subscript(name: String) -> ChildProcess? { lock.withLock { replicas[name] } }

    public var all: [ChildProcess] { lock.withLock { Array(replicas.values) } }

    /// Starts (or restarts, after a kill) replica `name` and waits until it is ready.
    @discardableResult
    public func start(_ name: String, environment extra: [String: String] = [:]) async throws -> StatusProbe {
        let child = try deployment.replica(name, environment: environment.merging(extra) { $1 })
        lock.withLock { replicas[name] = child }
        let status = try await StatusProbe.find(in: child)
        try await status.waitUntilReady()
        return status
    }

    /// SIGKILLs replica `name` (a crash: no cleanup) and waits for it to be gone.
    public func kill(_ name: String) async {
        guard let child = self[name] else { return }
        child.kill()
        _ = await child.wait(timeout: .seconds(10))
    }

    /// SIGSTOP: the replica freezes (a long GC pause, a hung host) with its connections open.
    public func pause(_ name: String) { self[name]?.pause() }

    /// SIGCONT after `pause`.
    public func resume(_ name: String) { self[name]?.resume() }

    public func status(_ name: String) async throws -> StatusProbe {
        guard let child = self[name] else { throw TestSetupError("no replica \(name)") }
        return try await StatusProbe.find(in: child)
    }

    public func stopAll() async {
        for child in all {
            Foundation.kill(child.pid, SIGCONT)
            await child.stop()
        }
    }
}

extension TestEnvironment {
    /// Publishes `records` with a producer of its own, closed once they are acknowledged.
    public func publish(_ records: [OutgoingMessage]) async throws {
        let producer = try KafkaProducer(configuration: kafka)
        try await producer.sendAll(records)
        await producer.close()
    }

    /// Returns once a consumer group reads every partition of a topic (`ConsumptionBarrier`).
    public func waitUntilConsuming(
        partitions: Int, rounds: Int = 30, answers: [String], probe: (_ key: String) throws -> OutgoingMessage,
        answerKey: @escaping @Sendable (KafkaMessage) -> String?
    ) async throws {
        try await ConsumptionBarrier(kafka: kafka, partitions: partitions, answers: answers, rounds: rounds)
            .wait(probe: probe, answerKey: answerKey)
    }
}

/// Returns once a consumer group reads every partition of a topic: rounds of probes (one key
/// per partition, from `probe(key)`) are published until every probe of a round is answered
/// on `answers` (`answerKey` tells an answer's probe key). The barrier every multi-replica
/// test and end-to-end benchmark needs before it measures anything.
public struct ConsumptionBarrier: Sendable {
    public let kafka: KafkaConfiguration
    public let partitions: Int
    public let answers: [String]
    public let rounds: Int

    public init(kafka: KafkaConfiguration, partitions: Int, answers: [String], rounds: Int = 30) {
        self.kafka = kafka
        self.partitions = partitions
        self.answers = answers
        self.rounds = rounds
    }

    public func wait(probe: (_ key: String) throws -> OutgoingMessage, answerKey: @escaping @Sendable (KafkaMessage) -> String?) async throws {
        let run = TestEnvironment.uniqueName("probe")
        let partitioner = KeyPartitioner(partitionCount: Int32(partitions))
        let producer = try KafkaProducer(configuration: kafka)
        defer { Task { await producer.close() } }
        for round in 0..<rounds {
            // The first key of each partition (probe keys hash to partitions like any key).
            var keys: [Int32: String] = [:]
            var i = 0
            while keys.count < partitions {
                let key = "\(run)-\(round)-\(i)"
                if keys[partitioner.partition(of: key)] == nil { keys[partitioner.partition(of: key)] = key }
                i += 1
            }
            let prefix = "\(run)-\(round)-"
            let consumer = try KafkaConsumer(configuration: kafka, groupID: "\(run)-\(round)", topics: answers)
            try await producer.sendAll(try keys.values.map(probe))
            let stop = Task {
                try? await Task.sleep(for: .seconds(8))
                consumer.stopFetching()
            }
            var seen = Set<String>()
            for try await record in consumer {
                guard let key = answerKey(record), key.hasPrefix(prefix) else { continue }
                seen.insert(key)
                if seen.count == keys.count { break }
            }
            stop.cancel()
            await consumer.close()
            if seen.count == keys.count { return }
        }
        throw TestSetupError("the group never consumed every partition of the probed topic in \(rounds) rounds")
    }
}

import Foundation
import Logging
import NovaBus
import NovaCore
import NovaProto
import NovaStore
import PostgresNIO
import SwiftProtobuf

/// The servers `make test` starts (scripts/devstack.sh). A missing one is a loud failure
/// naming what to run, never a skip.
public struct TestEnvironment: Sendable {
    public let brokers: String
    public let adminURL: String
    public let admin: PostgresSettings
    public let control: DevBrokerControl
    public let binaries: String

    public static func current() throws -> TestEnvironment {
        let env = ProcessInfo.processInfo.environment
        func require(_ name: String) throws -> String {
            guard let value = env[name], !value.isEmpty else {
                throw TestSetupError(
                    "\(name) is not set: integration tests need the dev stack. Run `make test`, or "
                        + "`eval \"$(scripts/devstack.sh start)\"` before `swift test`.")
            }
            return value
        }
        let adminURL = try require("POSTGRES_ADMIN_URL")
        return TestEnvironment(
            brokers: try require("KAFKA_BROKERS"), adminURL: adminURL, admin: try PostgresSettings(url: adminURL),
            control: try DevBrokerControl(portFile: try require("NOVACRON_DEVBROKER_CONTROL")),
            binaries: env["NOVACRON_BIN"] ?? ".build/debug")
    }

    public var kafka: KafkaConfiguration { KafkaConfiguration(brokers: brokers, clientID: "novacron-tests") }

    /// The repository's root directory (scripts/, the Makefile).
    public static let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path

    /// `binaries` as an absolute path, for tools run from another directory.
    public var absoluteBinaries: String { binaries.hasPrefix("/") ? binaries : "\(Self.repositoryRoot)/\(binaries)" }

    /// A unique suffix for topics, schemas and groups of one test.
    public static func uniqueName(_ prefix: String) -> String {
        "\(prefix)_\(UUID().uuidString.prefix(8).lowercased())"
    }

    /// Creates a topic on the dev broker.
    public func createTopic(_ name: String, partitions: Int) throws {
        try control.send("topic \(name) \(partitions)")
    }

    /// Runs `body` with a plain admin connection.
    public func withAdminConnection<T>(_ body: (PostgresConnection) async throws -> T) async throws -> T {
        let connection = try await PostgresConnection.connect(
            configuration: PostgresConnection.Configuration(
                host: admin.host, port: admin.port, username: admin.username, password: admin.password,
                database: admin.database, tls: .disable),
            id: 1, logger: Logger(label: "tests"))
        do {
            let result = try await body(connection)
            try await connection.close()
            return result
        } catch {
            try? await connection.close()
            throw error
        }
    }

    /// Runs one scalar query as the administrator.
    public func scalar<T: PostgresDecodable & Sendable>(_ query: PostgresQuery, as: T.Type) async throws -> T? {
        try await withAdminConnection { connection in
            for try await value in try await connection.query(query, logger: Logger(label: "tests")).decode(T.self) {
                return value
            }
            return nil
        }
    }
}

/// A process running on this machine, as /proc shows it.
public struct LiveProcess: Sendable {
    public let pid: Int32
    public let parent: Substring
    public let state: Substring
    /// Its arguments, space-separated.
    public let command: String
    /// Its environment as it started, NUL-separated.
    public let environment: String

    /// Every process but this one.
    public static func all() -> [LiveProcess] {
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc") else { return [] }
        return entries.compactMap { entry in
            guard let pid = Int32(entry), pid != getpid(),
                let stat = try? String(contentsOfFile: "/proc/\(entry)/stat", encoding: .utf8)
            else { return nil }
            let read = { (file: String) in (try? Data(contentsOf: URL(fileURLWithPath: "/proc/\(entry)/\(file)"))) ?? Data() }
            // stat: "pid (comm) state ppid ..."; comm may hold spaces, so split after ")".
            let fields = stat[(stat.lastIndex(of: ")").map { stat.index(after: $0) } ?? stat.startIndex)...].split(separator: " ")
            return LiveProcess(
                pid: pid, parent: fields.dropFirst().first ?? "?", state: fields.first ?? "?",
                command: String(decoding: read("cmdline").map { $0 == 0 ? 32 : $0 }, as: UTF8.self),
                environment: String(decoding: read("environ"), as: UTF8.self))
        }
    }
}

/// Command lines of processes whose arguments or environment name `text`.
public func processesMentioning(_ text: String) -> [String] {
    LiveProcess.all().filter { $0.command.contains(text) || $0.environment.contains(text) }.map { "\($0.pid): \($0.command)" }
}

/// A TCP port on 127.0.0.1 that nothing listens on right now.
public func freeTCPPort() throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = 0
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
    }
    guard bound else { throw TestSetupError("no free port") }
    return Int(UInt16(bigEndian: address.sin_port))
}

public struct TestSetupError: Error, Sendable, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// Builds envelope records for tests.
public enum Records {
    public static func envelope(
        _ message: any SwiftProtobuf.Message, key: String, eventID: String = UUID().uuidString, topic: String
    ) throws -> OutgoingMessage {
        let envelope = try EnvelopeCodec.envelope(message, key: key, eventID: eventID, occurredAt: Date(), producer: "tests")
        return OutgoingMessage(topic: topic, key: key, value: Array(try envelope.serializedData()))
    }

    public static func heartbeat(host: String, sequence: UInt64, topic: String, eventID: String = UUID().uuidString) throws -> OutgoingMessage {
        var m = Novacron_V1_HostHeartbeat()
        m.hostID = host
        m.sequence = sequence
        return try envelope(m, key: host, eventID: eventID, topic: topic)
    }
}

/// Reads a topic with a fresh consumer group until `count` records arrived or `timeout` passed.
public func collect(
    _ env: TestEnvironment, topics: [String], count: Int, timeout: Duration = .seconds(30),
    where predicate: @escaping @Sendable (KafkaMessage) -> Bool = { _ in true }
) async throws -> [KafkaMessage] {
    let consumer = try KafkaConsumer(
        configuration: env.kafka, groupID: TestEnvironment.uniqueName("collector"), topics: topics)
    let collector = Task {
        var messages: [KafkaMessage] = []
        for try await message in consumer where predicate(message) {
            messages.append(message)
            if messages.count >= count { break }
        }
        return messages
    }
    let timer = Task {
        try? await Task.sleep(for: timeout)
        consumer.stopFetching()
    }
    let collected = try await collector.value
    timer.cancel()
    await consumer.close()
    return collected
}

/// Polls `condition` until it holds or `timeout` passes; returns whether it held.
public func eventually(timeout: Duration = .seconds(30), _ condition: () async throws -> Bool) async rethrows -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if try await condition() { return true }
        try? await Task.sleep(for: .milliseconds(100))
    }
    return try await condition()
}

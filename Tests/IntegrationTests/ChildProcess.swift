import Foundation
import NovaBus
import Synchronization

/// Every child started by the tests, killed at exit so that no service outlives the run.
private let liveChildren = Mutex<Set<Int32>>([])
private let reaperInstalled: Bool = {
    atexit {
        for pid in liveChildren.withLock({ $0 }) { kill(pid, SIGKILL) }
    }
    return true
}()

/// A service binary run as a child process, so tests can SIGKILL it like a crash, SIGTERM it
/// like an orchestrator, and read what it printed.
final class ChildProcess: @unchecked Sendable {
    // @unchecked: `process` is only mutated before `run()` and read-only afterwards; Process
    // itself is thread-safe for terminate/waitUntilExit/terminationStatus.
    let process = Process()
    let logFile: URL
    let name: String

    /// Starts `binary` with this process's environment plus `environment`, or exactly
    /// `replacing` when given.
    init(binary: String, name: String, environment: [String: String], replacing: [String: String]? = nil) throws {
        self.name = name
        logFile = FileManager.default.temporaryDirectory.appendingPathComponent("novacron-test-\(name)-\(UUID().uuidString.prefix(6)).log")
        _ = FileManager.default.createFile(atPath: logFile.path, contents: nil)
        let handle = try FileHandle(forWritingTo: logFile)
        process.executableURL = URL(fileURLWithPath: binary)
        var env = replacing ?? ProcessInfo.processInfo.environment
        for (key, value) in environment { env[key] = value }
        process.environment = env
        process.standardOutput = handle
        process.standardError = handle
        _ = reaperInstalled
        try process.run()
        let pid = process.processIdentifier
        liveChildren.withLock { _ = $0.insert(pid) }
    }

    var pid: Int32 { process.processIdentifier }
    var isRunning: Bool { process.isRunning }

    func kill() { Foundation.kill(pid, SIGKILL) }
    func terminate() { Foundation.kill(pid, SIGTERM) }

    /// Waits for exit up to `timeout`; returns the exit status, or nil if still running.
    func wait(timeout: Duration) async -> Int32? {
        let deadline = ContinuousClock.now + timeout
        while process.isRunning && ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(50))
        }
        if process.isRunning { return nil }
        let pid = pid
        liveChildren.withLock { _ = $0.remove(pid) }
        return process.terminationStatus
    }

    var output: String { (try? String(contentsOf: logFile, encoding: .utf8)) ?? "" }

    /// Makes sure nothing is left running when a test ends.
    func stop() async {
        if process.isRunning {
            terminate()
            if await wait(timeout: .seconds(10)) == nil {
                kill()
                _ = await wait(timeout: .seconds(5))
            }
        }
    }
}

/// One fixture service instance with its own schema, topics and role.
struct FixtureDeployment {
    let env: TestEnvironment
    let schema: String
    let input: String
    let output: String
    let group: String

    init(env: TestEnvironment, name: String, partitions: Int = 6) throws {
        self.env = env
        let unique = TestEnvironment.uniqueName(name)
        schema = unique
        input = "test.\(unique).in"
        output = "test.\(unique).out"
        group = "fixture-\(unique)"
        try env.createTopic(input, partitions: partitions)
        try env.createTopic(output, partitions: partitions)
    }

    var role: String { "novacron_\(schema)" }

    func environment(extra: [String: String] = [:]) -> [String: String] {
        let port = URLComponents(string: env.adminURL)?.port ?? 5432
        var e = [
            "KAFKA_BROKERS": env.brokers,
            "POSTGRES_ADMIN_URL": env.adminURL,
            "POSTGRES_URL": "postgres://\(role):pw_\(schema)@127.0.0.1:\(port)/\(env.admin.database)?sslmode=disable",
            "FIXTURE_SCHEMA": schema,
            "FIXTURE_INPUT_TOPIC": input,
            "FIXTURE_OUTPUT_TOPIC": output,
            "NOVACRON_CONSUMER_GROUP": group,
            "HTTP_PORT": "0",
            "HTTP_HOST": "127.0.0.1",
            "LOG_LEVEL": "info",
        ]
        for (k, v) in extra { e[k] = v }
        return e
    }

    func start(_ name: String = "fixture", extra: [String: String] = [:]) throws -> ChildProcess {
        try ChildProcess(binary: "\(env.binaries)/NovaFixtureService", name: name, environment: environment(extra: extra))
    }

    /// Starts the fixture and returns it with its status probe once it is ready (stopped
    /// again if it never is).
    func startReady(extra: [String: String] = [:]) async throws -> (ChildProcess, StatusProbe) {
        let child = try start(extra: extra)
        do {
            let status = try await StatusProbe.find(in: child)
            try await status.waitUntilReady()
            return (child, status)
        } catch {
            await child.stop()
            throw error
        }
    }

    /// Publishes heartbeats numbered `sequences` for `hosts` hosts to the input topic.
    func feed(_ sequences: Range<Int>, hosts: Int) async throws {
        try await send(sequences.map { try Records.heartbeat(host: "h\($0 % hosts)", sequence: UInt64($0), topic: input) })
    }

    /// Publishes `records` with a producer of its own, closed once they are acknowledged.
    func send(_ records: [OutgoingMessage]) async throws {
        let producer = try KafkaProducer(configuration: env.kafka)
        try await producer.sendAll(records)
        await producer.close()
    }

    /// Rows in the fixture's `processed` table (the handler's effect).
    func processedCount() async throws -> Int {
        (try? await env.scalar("SELECT count(*)::int FROM \(unescaped: schema).processed", as: Int.self)) ?? 0
    }

    func processedDistinct() async throws -> Int {
        (try? await env.scalar("SELECT count(DISTINCT event_id)::int FROM \(unescaped: schema).processed", as: Int.self)) ?? 0
    }

    /// Outbox records not yet published (the relay deletes what Kafka acknowledged).
    func outboxBacklog() async throws -> Int {
        (try? await env.scalar("SELECT count(*)::int FROM \(unescaped: schema).outbox", as: Int.self)) ?? 0
    }
}

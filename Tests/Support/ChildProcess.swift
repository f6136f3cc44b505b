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
public final class ChildProcess: @unchecked Sendable {
    // @unchecked: `process` is only mutated before `run()` and read-only afterwards; Process
    // itself is thread-safe for terminate/waitUntilExit/terminationStatus.
    public let process = Process()
    public let logFile: URL
    public let name: String

    /// Starts `binary` with this process's environment plus `environment`, or exactly
    /// `replacing` when given.
    public init(
        binary: String, name: String, arguments: [String] = [], environment: [String: String], replacing: [String: String]? = nil
    ) throws {
        self.name = name
        logFile = FileManager.default.temporaryDirectory.appendingPathComponent("novacron-test-\(name)-\(UUID().uuidString.prefix(6)).log")
        _ = FileManager.default.createFile(atPath: logFile.path, contents: nil)
        let handle = try FileHandle(forWritingTo: logFile)
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = arguments
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

    public var pid: Int32 { process.processIdentifier }
    public var isRunning: Bool { process.isRunning }

    public func kill() { Foundation.kill(pid, SIGKILL) }
    public func pause() { Foundation.kill(pid, SIGSTOP) }
    public func resume() { Foundation.kill(pid, SIGCONT) }
    public func terminate() { Foundation.kill(pid, SIGTERM) }

    /// Waits for exit up to `timeout`; returns the exit status, or nil if still running.
    public func wait(timeout: Duration) async -> Int32? {
        let deadline = ContinuousClock.now + timeout
        while process.isRunning && ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(50))
        }
        if process.isRunning { return nil }
        let pid = pid
        liveChildren.withLock { _ = $0.remove(pid) }
        return process.terminationStatus
    }

    public var output: String { (try? String(contentsOf: logFile, encoding: .utf8)) ?? "" }

    /// The service's own log lines (logfmt, `ts=` first), without a crash's backtrace, which
    /// would otherwise fill a failure message's tail.
    public var logLines: [String] { output.split(separator: "\n").filter { $0.hasPrefix("ts=") }.map(String.init) }

    /// Makes sure nothing is left running when a test ends.
    public func stop() async {
        if process.isRunning {
            terminate()
            if await wait(timeout: .seconds(10)) == nil {
                kill()
                _ = await wait(timeout: .seconds(5))
            }
        }
    }
}

/// The fixture service (Tests/Fixture) as a deployment with its own schema, topics and group.
public struct FixtureDeployment: Sendable {
    public let env: TestEnvironment
    public let deployment: ServiceDeployment
    public let input: String
    public let output: String
    public let partitions: Int

    public init(env: TestEnvironment, name: String, partitions: Int = 6, environment: [String: String] = [:]) throws {
        self.env = env
        self.partitions = partitions
        let base = ServiceDeployment(env: env, binary: "NovaFixtureService", name: name)
        input = "test.\(base.schema).in"
        output = "test.\(base.schema).out"
        deployment = ServiceDeployment(
            env: env, binary: "NovaFixtureService", schema: base.schema, group: "fixture-\(base.schema)",
            environment: ["FIXTURE_SCHEMA": base.schema, "FIXTURE_INPUT_TOPIC": input, "FIXTURE_OUTPUT_TOPIC": output].merging(
                environment) { $1 })
        try env.createTopic(input, partitions: partitions)
        try env.createTopic(output, partitions: partitions)
    }

    public var schema: String { deployment.schema }
    public var group: String { deployment.group }
    public var role: String { deployment.role }

    public func environment(extra: [String: String] = [:]) -> [String: String] { deployment.variables(extra) }

    public func start(_ name: String = "fixture", extra: [String: String] = [:]) throws -> ChildProcess {
        try deployment.replica(name, environment: extra)
    }

    /// Starts the fixture and returns it with its status probe once it is ready (stopped
    /// again if it never is).
    public func startReady(extra: [String: String] = [:]) async throws -> (ChildProcess, StatusProbe) {
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
    public func feed(_ sequences: Range<Int>, hosts: Int) async throws {
        try await send(sequences.map { try Records.heartbeat(host: "h\($0 % hosts)", sequence: UInt64($0), topic: input) })
    }

    /// Publishes `records` with a producer of its own, closed once they are acknowledged.
    public func send(_ records: [OutgoingMessage]) async throws {
        try await env.publish(records)
    }

    /// Rows in the fixture's `processed` table (the handler's effect).
    public func processedCount() async throws -> Int {
        (try? await env.scalar("SELECT count(*)::int FROM \(unescaped: schema).processed", as: Int.self)) ?? 0
    }

    public func processedDistinct() async throws -> Int {
        (try? await env.scalar("SELECT count(DISTINCT event_id)::int FROM \(unescaped: schema).processed", as: Int.self)) ?? 0
    }

    /// Outbox records not yet published (the relay deletes what Kafka acknowledged).
    public func outboxBacklog() async throws -> Int {
        (try? await env.scalar("SELECT count(*)::int FROM \(unescaped: schema).outbox", as: Int.self)) ?? 0
    }
}

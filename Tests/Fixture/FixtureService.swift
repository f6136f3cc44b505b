import Foundation
import NovaCore
import NovaProto
import NovaService
import NovaStore
import Synchronization

/// A minimal real service on the NovaService runtime, for integration tests: for every
/// `HostHeartbeat` on its input topic it records the heartbeat in its schema and emits a
/// `HostTelemetry` (running_vms = the heartbeat's sequence) to its output topic.
///
/// Environment (besides the runtime's): FIXTURE_INPUT_TOPIC, FIXTURE_OUTPUT_TOPIC,
/// FIXTURE_SCHEMA; crash points FIXTURE_CRASH_AFTER_COMMIT=N and FIXTURE_CRASH_AFTER_DELIVERY=N
/// SIGKILL the process at the Nth occurrence; FIXTURE_HANDLER_DELAY_MS slows each handler.
/// A heartbeat from host `contended-N` fails with a `RetryableError` its first N times.
struct HeartbeatRecorder: EventHandler {
    let outputTopic: String
    let delay: Duration
    let contention = Contention()

    /// Failures so far per contended event id.
    final class Contention: Sendable {
        let failures = Mutex<[String: Int]>([:])
    }

    struct Contended: RetryableError {}

    func handle(_ event: DecodedEvent, in tx: StoreTransaction) async throws -> [Emission] {
        guard let heartbeat = event.message as? Novacron_V1_HostHeartbeat else {
            throw HandlerRejection(code: "unsupported", "fixture handles HostHeartbeat only, got \(event.type)")
        }
        guard !heartbeat.hostID.isEmpty else { throw ValidationError(field: "host_id", "must not be empty") }
        if heartbeat.hostID.hasPrefix("contended-"), let times = Int(heartbeat.hostID.dropFirst("contended-".count)) {
            let fail = contention.failures.withLock { failures in
                failures[event.eventID, default: 0] += 1
                return failures[event.eventID]! <= times
            }
            if fail { throw Contended() }
        }
        if delay > .zero { try await Task.sleep(for: delay) }
        try await tx.query(
            """
            INSERT INTO processed (event_id, host_id, sequence, pid)
            VALUES (\(event.eventID), \(heartbeat.hostID), \(Int64(heartbeat.sequence)), \(Int(getpid())))
            """)
        var telemetry = Novacron_V1_HostTelemetry()
        telemetry.hostID = heartbeat.hostID
        telemetry.runningVms = Int32(truncatingIfNeeded: heartbeat.sequence)
        return [Emission(topic: outputTopic, key: heartbeat.hostID, message: telemetry)]
    }
}

/// Counts occurrences and SIGKILLs the process at the Nth (no cleanup, like a power cut).
final class CrashPoint: Sendable {
    private let at: Int
    private let count = Mutex(0)

    init?(_ value: String?) {
        guard let value, let n = Int(value), n > 0 else { return nil }
        at = n
    }

    func hit() {
        let reached = count.withLock { count -> Bool in
            count += 1
            return count == at
        }
        if reached { kill(getpid(), SIGKILL) }
    }
}

let environment = ProcessInfo.processInfo.environment
let input = environment["FIXTURE_INPUT_TOPIC"] ?? "novacron.test.input"
let output = environment["FIXTURE_OUTPUT_TOPIC"] ?? "novacron.test.output"
let delay = Duration.milliseconds(Int(environment["FIXTURE_HANDLER_DELAY_MS"] ?? "0") ?? 0)
let afterCommit = CrashPoint(environment["FIXTURE_CRASH_AFTER_COMMIT"])
let afterDelivery = CrashPoint(environment["FIXTURE_CRASH_AFTER_DELIVERY"])

var hooks = FaultHooks()
if let afterCommit {
    hooks.afterCommit = { @Sendable _ in afterCommit.hit() }
}
if let afterDelivery {
    hooks.afterDelivery = { @Sendable count in if count > 0 { afterDelivery.hit() } }
}

let definition = ServiceDefinition(
    name: "fixture", schema: environment["FIXTURE_SCHEMA"] ?? "fixture", topics: [input],
    migrations: [
        Migration(
            version: 1, name: "processed",
            sql: """
                CREATE TABLE processed (
                  event_id text PRIMARY KEY, host_id text NOT NULL, sequence bigint NOT NULL, pid int NOT NULL,
                  processed_at timestamptz NOT NULL DEFAULT now())
                """)
    ],
    hooks: hooks
) { _ in HeartbeatRecorder(outputTopic: output, delay: delay) }

await ServiceRuntime.main(definition)

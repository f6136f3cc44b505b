import Foundation
import NovaCore
import NovaProto
import NovaService
import NovaStore
import Synchronization

/// A minimal real service on the NovaService runtime, for integration tests and the runnable
/// example a new service copies: for every `HostHeartbeat` on its input topic it records the
/// heartbeat in its schema and emits a `HostTelemetry` (running_vms = the heartbeat's
/// sequence) to its output topic.
///
/// With FIXTURE_DEADLINE_MS it is also a tiny failure detector, using every mechanism of the
/// runtime's time and ownership: each heartbeat counts in a per-host state row and moves the
/// host's `expire` deadline to now + that many milliseconds of the service clock; when a
/// deadline fires, the host's count (from the keyed state it loaded when it gained the
/// host's partition) goes out as a `HostSuspected` (suspicion = heartbeats seen,
/// last_heartbeat_unix_millis = the slot) and a row in `fired`. FIXTURE_PARTITIONS=N turns on
/// key ownership over N partitions; FIXTURE_TICK_MS declares a `sweep` tick recorded in `sweeps`;
/// FIXTURE_REKEY_TOPIC re-keys each heartbeat by zone through that topic (which the fixture
/// also consumes) and counts it per zone in `zone_beats`: input keyed by one id, decided per another.
///
/// Environment (besides the runtime's): FIXTURE_INPUT_TOPIC, FIXTURE_OUTPUT_TOPIC,
/// FIXTURE_SCHEMA; crash points FIXTURE_CRASH_AFTER_COMMIT=N, FIXTURE_CRASH_AFTER_DELIVERY=N,
/// FIXTURE_CRASH_BEFORE_TIMER_COMMIT=N and FIXTURE_CRASH_AFTER_TIMER_COMMIT=N SIGKILL the
/// process at the Nth occurrence; FIXTURE_HANDLER_DELAY_MS slows each handler.
/// A heartbeat from host `contended-N` fails with a `RetryableError` its first N times.
struct HeartbeatRecorder: KeyedStateHandler, TimedHandler {
    let outputTopic: String
    let delay: Duration
    let deadline: Int64?
    /// FIXTURE_REKEY_TOPIC: heartbeats are counted per zone too, through this topic.
    let rekeyTopic: String?
    let clock: any ServiceClock
    let deadlines: Deadlines
    let contention = Contention()
    /// Heartbeats seen per host, for the hosts of owned partitions.
    let beats = KeyedCounts()

    /// The keyed state: one count per host.
    final class KeyedCounts: Sendable {
        private let counts = Mutex<[String: Int64]>([:])

        func withLock<T>(_ body: (inout [String: Int64]) -> T) -> T { counts.withLock { body(&$0) } }
    }

    /// Failures so far per contended event id.
    final class Contention: Sendable {
        let failures = Mutex<[String: Int]>([:])
    }

    struct Contended: RetryableError {}

    func handle(_ event: DecodedEvent, in tx: StoreTransaction) async throws -> [Emission] {
        if let rekeyed = event.message as? Novacron_V1_HostTelemetry, rekeyTopic != nil {
            return try await countPerZone(rekeyed, zone: event.envelope.key, in: tx)
        }
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
        if let deadline {
            let partition = deadlines.partitioner.partition(of: heartbeat.hostID)
            for try await count in try await tx.query(
                """
                INSERT INTO host_beats (host_id, partition, beats) VALUES (\(heartbeat.hostID), \(partition), 1)
                ON CONFLICT (host_id) DO UPDATE SET beats = host_beats.beats + 1 RETURNING beats
                """
            ).decode(Int64.self) {
                beats.withLock { $0[heartbeat.hostID] = count }
            }
            try await deadlines.set("expire", key: heartbeat.hostID, at: clock.nowMillis() + deadline, in: tx)
        }
        var telemetry = Novacron_V1_HostTelemetry()
        telemetry.hostID = heartbeat.hostID
        telemetry.runningVms = Int32(truncatingIfNeeded: heartbeat.sequence)
        var emissions = [Emission(topic: outputTopic, key: heartbeat.hostID, message: telemetry)]
        if let rekeyTopic {
            // Decided per zone, not per host: re-keyed through the fixture's own topic, whose
            // partition (the zone's) is owned by one replica.
            emissions.append(Emission(topic: rekeyTopic, key: "zone-\(heartbeat.sequence % 3)", message: telemetry))
        }
        return emissions
    }

    /// The per-zone decision on the re-keyed topic: a count per zone, and who counted.
    private func countPerZone(_ telemetry: Novacron_V1_HostTelemetry, zone: String, in tx: StoreTransaction) async throws -> [Emission] {
        try await tx.query(
            """
            INSERT INTO zone_beats (zone, beats, pids) VALUES (\(zone), 1, ARRAY[\(Int(getpid()))])
            ON CONFLICT (zone) DO UPDATE SET beats = zone_beats.beats + 1,
              pids = CASE WHEN \(Int(getpid())) = ANY(zone_beats.pids) THEN zone_beats.pids ELSE zone_beats.pids || \(Int(getpid())) END
            """)
        return []
    }

    func fire(_ deadline: Deadline, now: Int64, in tx: StoreTransaction) async throws -> [Emission] {
        try await fire(batch: [deadline], now: now, in: tx)[0]
    }

    /// One statement for the batch's `fired` rows; a HostSuspected per deadline.
    func fire(batch: [Deadline], now: Int64, in tx: StoreTransaction) async throws -> [[Emission]] {
        let seen = beats.withLock { beats in batch.map { beats[$0.key] ?? 0 } }
        try await tx.query(
            """
            INSERT INTO fired (host_id, slot, beats, fired_ms, pid)
            SELECT h, s, b, \(now), \(Int(getpid())) FROM unnest(\(batch.map(\.key))::text[], \(batch.map(\.slot))::bigint[], \(seen)::bigint[]) AS t(h, s, b)
            """)
        return zip(batch, seen).map { deadline, seen in
            var suspected = Novacron_V1_HostSuspected()
            suspected.hostID = deadline.key
            suspected.suspicion = Double(seen)
            suspected.lastHeartbeatUnixMillis = deadline.slot
            return [Emission(topic: outputTopic, key: deadline.key, message: suspected)]
        }
    }

    func tick(_ name: String, slot: Int64, now: Int64, in tx: StoreTransaction) async throws -> [Emission] {
        try await tx.query("INSERT INTO sweeps (name, slot, fired_ms, pid) VALUES (\(name), \(slot), \(now), \(Int(getpid())))")
        return []
    }

    func gained(_ partitions: [Int32], in tx: StoreTransaction) async throws {
        var loaded: [String: Int64] = [:]
        for try await (host, count) in try await tx.query(
            "SELECT host_id, beats FROM host_beats WHERE partition = ANY(\(partitions))"
        ).decode((String, Int64).self) {
            loaded[host] = count
        }
        beats.withLock { $0.merge(loaded) { _, new in new } }
    }

    func lost(_ partitions: [Int32]) async {
        let lost = Set(partitions)
        beats.withLock { beats in beats = beats.filter { !lost.contains(deadlines.partitioner.partition(of: $0.key)) } }
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
let beforeTimerCommit = CrashPoint(environment["FIXTURE_CRASH_BEFORE_TIMER_COMMIT"])
let afterTimerCommit = CrashPoint(environment["FIXTURE_CRASH_AFTER_TIMER_COMMIT"])
let deadline = environment["FIXTURE_DEADLINE_MS"].flatMap { Int64($0) }
let partitions = environment["FIXTURE_PARTITIONS"].flatMap { Int32($0) }
let tickMillis = environment["FIXTURE_TICK_MS"].flatMap { Int64($0) }
let rekeyTopic = environment["FIXTURE_REKEY_TOPIC"].flatMap { $0.isEmpty ? nil : $0 }

var hooks = FaultHooks()
if let afterCommit {
    hooks.afterCommit = { @Sendable _ in afterCommit.hit() }
}
if let afterDelivery {
    hooks.afterDelivery = { @Sendable count in if count > 0 { afterDelivery.hit() } }
}
if let beforeTimerCommit {
    hooks.beforeTimerCommit = { @Sendable _ in beforeTimerCommit.hit() }
}
if let afterTimerCommit {
    hooks.afterTimerCommit = { @Sendable _ in afterTimerCommit.hit() }
}

let definition = ServiceDefinition(
    name: "fixture", schema: environment["FIXTURE_SCHEMA"] ?? "fixture", topics: [input] + (rekeyTopic.map { [$0] } ?? []),
    migrations: [
        Migration(
            version: 1, name: "processed",
            sql: """
                CREATE TABLE processed (
                  event_id text PRIMARY KEY, host_id text NOT NULL, sequence bigint NOT NULL, pid int NOT NULL,
                  processed_at timestamptz NOT NULL DEFAULT now())
                """),
        Migration(
            version: 2, name: "keyed state and timer effects",
            statements: [
                "CREATE TABLE host_beats (host_id text PRIMARY KEY, partition int NOT NULL, beats bigint NOT NULL)",
                """
                CREATE TABLE fired (
                  host_id text NOT NULL, slot bigint NOT NULL, beats bigint NOT NULL, fired_ms bigint NOT NULL, pid int NOT NULL,
                  committed_at timestamptz NOT NULL DEFAULT clock_timestamp())
                """,
                "CREATE TABLE sweeps (name text NOT NULL, slot bigint NOT NULL, fired_ms bigint NOT NULL, pid int NOT NULL)",
            ]),
        Migration(
            version: 3, name: "per-zone counts of the re-keyed heartbeats",
            sql: "CREATE TABLE zone_beats (zone text PRIMARY KEY, beats bigint NOT NULL, pids int[] NOT NULL)"),
    ],
    hooks: hooks, keyedPartitions: partitions,
    ticks: tickMillis.map { [Tick(name: "sweep", periodMillis: $0)] } ?? []
) { context in
    HeartbeatRecorder(
        outputTopic: output, delay: delay, deadline: deadline, rekeyTopic: rekeyTopic, clock: context.clock,
        deadlines: context.deadlines)
}

await ServiceRuntime.main(definition)

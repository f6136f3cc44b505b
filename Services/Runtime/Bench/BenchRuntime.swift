import ArgumentParser
import Foundation
import NovaBus
import NovaCore
import NovaService
import NovaTestSupport
import PostgresNIO

/// `novacron-bench-runtime`: the runtime's time and ownership on the dev stack, through the
/// fixture service (release build): deadlines fired per second and how late their effects
/// commit, and the throughput cost of key ownership (with and without, same run, a ratio).
@main
struct BenchRuntime: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "novacron-bench-runtime",
        abstract: "Benchmark timers (deadlines fired and committed vs their time) and the cost of key ownership.")

    @Option(help: "Deadlines, due evenly over one second.")
    var deadlines = 10_000

    @Option(help: "Heartbeats through the fixture per ownership run.")
    var records = 30_000

    @Option(help: "Partitions of the fixture's input topic (and of key ownership).")
    var partitions = 6

    func run() async throws {
        guard deadlines > 0, records > 0, (1...64).contains(partitions) else {
            throw ValidationError("--deadlines and --records must be positive, --partitions 1 to 64")
        }
        let env = try TestEnvironment.current()
        print("novacron-bench-runtime: fixture from \(env.binaries), \(ProcessInfo.processInfo.activeProcessorCount) cores")
        try await timerFigures(env, ownership: false)
        try await timerFigures(env, ownership: true)
        try await ownershipFigures(env)
    }

    /// 10k deadlines written straight into the fixture's schema, due over [T+3 s, T+4 s) of
    /// the system clock; the fixture fires each in a transaction batch that records it in
    /// `fired` (committed_at = clock_timestamp() at the insert) and emits a HostSuspected.
    func timerFigures(_ env: TestEnvironment, ownership: Bool) async throws {
        let fixture = try FixtureDeployment(
            env: env, name: "benchtimers", partitions: partitions,
            environment: ownership ? ["FIXTURE_PARTITIONS": "\(partitions)"] : [:])
        let replicas = try await fixture.deployment.startReady(["bench"])
        defer { Task { await replicas.stopAll() } }
        if ownership {
            try await env.waitUntilConsuming(
                partitions: partitions, answers: [fixture.output],
                probe: { try Records.heartbeat(host: $0, sequence: 0, topic: fixture.input) }, answerKey: { $0.keyString })
        }
        let partitioner = KeyPartitioner(partitionCount: Int32(ownership ? partitions : 1))
        let start = SystemServiceClock().nowMillis() + 3000
        let keys = (0..<deadlines).map { "timer-\($0)" }
        let slots = (0..<deadlines).map { start + Int64($0) * 1000 / Int64(deadlines) }
        _ = try await env.withAdminConnection { connection in
            try await connection.query(
                """
                INSERT INTO \(unescaped: fixture.schema).deadlines (name, key, partition, due_ms)
                SELECT 'expire', k, p, d FROM unnest(\(keys)::text[], \(keys.map { partitioner.partition(of: $0) })::int[], \(slots)::bigint[]) AS t(k, p, d)
                """, logger: .init(label: "bench"))
        }
        let fired = { try await fixture.deployment.scalar("SELECT count(*)::int FROM fired WHERE host_id LIKE 'timer-%'", as: Int.self) ?? 0 }
        let done = await eventually(timeout: .seconds(120)) { (try? await fired()) == deadlines }
        guard done else { throw TestSetupError("only \(try await fired()) of \(deadlines) deadlines fired in 120 s") }
        let lateness = try await fixture.deployment.column(
            """
            SELECT (extract(epoch FROM committed_at) * 1000)::bigint - slot FROM fired WHERE host_id LIKE 'timer-%' ORDER BY 1
            """, as: Int64.self)
        let last = try await fixture.deployment.scalar(
            "SELECT (extract(epoch FROM max(committed_at)) * 1000)::bigint FROM fired WHERE host_id LIKE 'timer-%'", as: Int64.self) ?? 0
        let backlogDrained = await eventually(timeout: .seconds(60)) { (try? await fixture.outboxBacklog()) == 0 }
        let pct = { (p: Double) in lateness[min(lateness.count - 1, Int(Double(lateness.count) * p))] }
        let span = Double(last - start) / 1000
        print(
            """
            timers (\(ownership ? "key ownership, \(partitions) partitions" : "no ownership, deadlines lease")): \
            \(deadlines) deadlines due over 1 s fired and committed in \(String(format: "%.2f", span)) s from the first slot \
            (\(String(format: "%.0f", Double(deadlines) / max(span, 0.001))) /s); commit lateness ms p50 \(pct(0.5)) \
            p99 \(pct(0.99)) max \(lateness.last ?? 0); target: all within 1000 ms of their time: \
            \((lateness.last ?? .max) <= 1000 ? "met" : "missed"); outbox drained: \(backlogDrained)
            """)
    }

    /// The same heartbeats through the fixture with and without key ownership: records/s
    /// between the first and the last commit (the input is published first; the replica's
    /// start and group join are left out).
    func ownershipFigures(_ env: TestEnvironment) async throws {
        var rates: [Bool: Double] = [:]
        for ownership in [false, true, false, true] {
            let fixture = try FixtureDeployment(
                env: env, name: "benchowners", partitions: partitions,
                environment: ownership ? ["FIXTURE_PARTITIONS": "\(partitions)"] : [:])
            var sent = 0
            while sent < records {
                let chunk = min(5000, records - sent)
                try await env.publish((sent..<sent + chunk).map { try Records.heartbeat(host: "h\($0 % 500)", sequence: UInt64($0), topic: fixture.input) })
                sent += chunk
            }
            let replicas = try await fixture.deployment.startReady(["bench"])
            let done = await eventually(timeout: .seconds(300)) { (try? await fixture.processedCount()) == records }
            await replicas.stopAll()
            guard done else { throw TestSetupError("the fixture did not process \(records) records in 300 s") }
            let seconds = try await fixture.deployment.scalar(
                "SELECT extract(epoch FROM max(processed_at) - min(processed_at))::float8 FROM processed", as: Double.self) ?? 0
            let rate = Double(records) / max(seconds, 0.001)
            rates[ownership] = max(rates[ownership] ?? 0, rate)
            print("ownership \(ownership ? "on " : "off"): \(records) records in \(String(format: "%.2f", seconds)) s, \(String(format: "%.0f", rate)) records/s")
        }
        let ratio = (rates[true] ?? 0) / max(rates[false] ?? 1, 1)
        print(
            """
            key ownership: \(String(format: "%.3f", ratio)) of the throughput without it (best of two runs each), \
            costs \(String(format: "%.1f", (1 - ratio) * 100))%; target: under 10%: \(ratio >= 0.9 ? "met" : "missed")
            """)
    }
}

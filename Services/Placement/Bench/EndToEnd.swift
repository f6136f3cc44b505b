import Foundation
import Logging
import NovaBus
import NovaTestSupport
import NovaCore
import NovaProto
import NovaStore
import SwiftProtobuf
import Synchronization

/// End to end through the dev broker and Postgres: a `novacron-placement` child process, place
/// commands published in paced batches, latency from publish to the `VMPlaced` being consumed.
struct EndToEnd {
    let brokers: String
    let adminURL: String
    let binary: String
    let hosts: Int
    /// Commands measured.
    let commands: Int
    /// Commands published first at the same rate and reported apart, to tell a fresh service's
    /// first seconds (statement plans, caches, allocator growth) from what comes after.
    let warmup: Int
    /// Commands published per second; 0 for as fast as possible.
    let rate: Int
    /// Paced commands go out in one send per slot of this many milliseconds.
    let slotMillis: Int
    let run = "e2e-\(UUID().uuidString.prefix(6).lowercased())"

    var kafka: KafkaConfiguration { KafkaConfiguration(brokers: brokers, clientID: "bench-e2e") }

    struct Result {
        var perSecond: Double
        var p50: Double
        var p99: Double
        var placed: Int
        var failed: Int
        /// The warm-up commands' answers, p50 and p99 (ms); nil without a warm-up.
        var warmup: (answers: Int, p50: Double, p99: Double)?
        /// Per second of the publishing schedule: answers, p50 and p99 (ms) of the commands
        /// published in it. Shows whether a tail is steady or one stall.
        var seconds: [(answers: Int, p50: Double, p99: Double)]
        /// Where the time went, p50 and p99 (ms) of each stage, in order.
        var stages: [(name: String, p50: Double, p99: Double)]
        /// The machine's CPU during the run (busy and stolen shares), when /proc/stat is readable.
        var machine: (busy: Double, stolen: Double)?
    }

    /// An answer's journey in wall-clock milliseconds: published, decided (its envelope's
    /// `occurred_at`, stamped before the outbox insert), handed to Kafka by the relay (the
    /// record's timestamp, millisecond precision), read by the bench.
    struct Journey {
        var published: Double
        var decided: Double
        var relayed: Double
        var read: Double
    }

    /// Runs the measurement, then drops the run's schema and role whatever happened.
    func measure() async throws -> Result {
        let outcome: Swift.Result<Result, any Error>
        do { outcome = .success(try await measureWithService()) } catch { outcome = .failure(error) }
        await dropSchema()
        return try outcome.get()
    }

    private var schema: String { run.replacingOccurrences(of: "-", with: "_") }

    /// Every run leaves 20,000+ rows behind; dropped, they are not autovacuum's work in the
    /// next run.
    private func dropSchema() async {
        do {
            var logger = Logger(label: "bench")
            logger.logLevel = .warning
            try await SchemaProvisioner(admin: try PostgresSettings(url: adminURL), logger: logger).drop(schema: try SchemaName(schema))
            FileHandle.standardError.write(Data("  e2e: dropped schema \(schema) and its role\n".utf8))
        } catch {
            FileHandle.standardError.write(Data("  e2e: could not drop schema \(schema): \(error)\n".utf8))
        }
    }

    private func measureWithService() async throws -> Result {
        let service = try startService()
        defer { service.terminate(); service.waitUntilExit() }
        let producer = try KafkaProducer(configuration: kafka)
        defer { Task { await producer.close() } }
        try await waitUntilConsuming()
        FileHandle.standardError.write(Data("  e2e: service consuming; registering \(hosts) hosts\n".utf8))
        try await producer.sendAll((0..<hosts).map { i in
            var h = Novacron_V1_HostRegistered()
            h.hostID = "\(run)-h\(i)"
            h.capacity = Resources(vcpuMillis: 256_000, memoryMiB: 1_048_576, diskGiB: 10_000).proto
            h.topology = Topology(cloud: "sim", region: "r\(i % 3)", zone: "r\(i % 3)-z\(i % 9 / 3)").proto
            return try envelope(h, key: h.hostID, topic: TopicCatalog.hostEvents)
        })
        // The last host's registration answers nothing; a dry run queued behind it on every
        // partition would not prove order across topics, so wait for the rows instead.
        try await Task.sleep(for: .seconds(2))

        // Read answers without a consumer group, from the current ends: no join to wait for,
        // and nothing published after this point can be missed.
        let answers = try await KafkaReader.open(configuration: kafka, topics: [TopicCatalog.vmEvents], from: .end)
        // Built before the clock starts: serializing them is the rig's work, and it would
        // otherwise take CPU from the service being measured.
        let total = warmup + commands
        let prepared = try (0..<total).map(placeCommand)
        let keys = prepared.map { String(decoding: $0.key ?? [], as: UTF8.self) }
        let published = PublishTimes()
        let started = ContinuousClock.now
        // A measured answer as read; its envelope (for the decision stamp) is decoded after the run.
        typealias Read = (sent: ContinuousClock.Instant, latency: Double, published: Double, relayed: Double, read: Double, envelope: [UInt8])
        let collector = Task { () -> (measured: [Read], warm: [Double], placed: Int, failed: Int, last: ContinuousClock.Instant) in
            var measured: [Read] = []
            var warm: [Double] = []
            var placed = 0
            var failed = 0
            var last = ContinuousClock.now
            let prefix = "\(run)-vm"
            for try await record in answers {
                let key = record.keyString
                guard key.hasPrefix(prefix) else { continue }
                let now = ContinuousClock.now
                if let (sent, wall, warmingUp) = published.take(key) {
                    let latency = Self.micros(now - sent) / 1000
                    if warmingUp {
                        warm.append(latency)
                    } else {
                        measured.append(
                            (sent, latency, wall.timeIntervalSince1970 * 1000, Double(record.timestampMillis),
                             Date().timeIntervalSince1970 * 1000, record.value))
                        let type = record.header("novacron-type") ?? ""
                        if type.hasSuffix("VMPlaced") { placed += 1 } else { failed += 1 }
                        last = now
                    }
                }
                if warm.count + placed + failed == total { break }
            }
            return (measured, warm, placed, failed, last)
        }
        FileHandle.standardError.write(Data("  e2e: publishing \(warmup > 0 ? "\(warmup) warm-up and " : "")\(commands) place commands\n".utf8))
        // Paced in one send per slot, each due at its place in the schedule. Open loop: a send
        // does not wait for the one before it to be acknowledged, so a slow broker shows as
        // latency, not as a lower offered rate.
        let batch = rate == 0 ? 100 : max(1, rate * slotMillis / 1000)
        // Taken when the first measured command goes out, so the warm-up's CPU is not counted.
        var cpuBefore: CPUTimes?
        let sendMillis = try await withThrowingTaskGroup(of: Double.self) { group in
            var sent = 0
            while sent < total {
                if rate > 0 {
                    try await Task.sleep(until: started + .microseconds(Int64(sent) * 1_000_000 / Int64(rate)), clock: .continuous)
                }
                // A send holds warm-up or measured commands, never both.
                let end = sent < warmup ? min(sent + batch, warmup) : min(sent + batch, total)
                let messages = Array(prepared[sent..<end])
                if sent == warmup { cpuBefore = CPUTimes.now() }
                let now = ContinuousClock.now
                published.record(Array(keys[sent..<end]), at: now, wall: Date(), warmup: sent < warmup)
                if rate == 0 {
                    try await producer.sendAll(messages)
                    let millis = Self.micros(ContinuousClock.now - now) / 1000
                    group.addTask { millis }
                } else {
                    group.addTask {
                        try await producer.sendAll(messages)
                        return Self.micros(ContinuousClock.now - now) / 1000
                    }
                }
                sent += messages.count
            }
            var millis: [Double] = []
            for try await m in group { millis.append(m) }
            return millis
        }
        let timeout = Task {
            try await Task.sleep(for: .seconds(300))
            answers.stopFetching()
        }
        let sends = Percentiles(sendMillis)
        FileHandle.standardError.write(Data(String(format: "  e2e: %d batch sends, p50 %.1f ms, p99 %.1f ms, max %.1f ms\n", sends.count, sends.p50 ?? 0, sends.p99 ?? 0, sends.max ?? 0).utf8))
        let outcome = try await collector.value
        let machine = CPUTimes.now().flatMap { after in cpuBefore.flatMap { after.since($0) } }
        let journeys = outcome.measured.compactMap { read -> Journey? in
            guard let envelope = try? Novacron_V1_Envelope(serializedBytes: read.envelope) else { return nil }
            return Journey(
                published: read.published, decided: envelope.occurredAt.date.timeIntervalSince1970 * 1000, relayed: read.relayed,
                read: read.read)
        }
        timeout.cancel()
        await answers.close()
        guard let measuredStart = outcome.measured.map(\.sent).min() else { throw BenchFailure("no answers from novacron-placement") }
        let elapsed = Self.micros(outcome.last - measuredStart) / 1e6
        let latencies = Percentiles(outcome.measured.map(\.latency))
        var bySecond: [Int: [Double]] = [:]
        for m in outcome.measured { bySecond[Int(Self.micros(m.sent - measuredStart) / 1e6), default: []].append(m.latency) }
        let seconds = bySecond.keys.sorted().map { second in
            let s = Percentiles(bySecond[second]!)
            return (s.count, s.p50 ?? 0, s.p99 ?? 0)
        }
        let warm = Percentiles(outcome.warm)
        return Result(
            perSecond: Double(latencies.count) / elapsed, p50: latencies.p50 ?? 0, p99: latencies.p99 ?? 0, placed: outcome.placed,
            failed: outcome.failed, warmup: warm.count == 0 ? nil : (warm.count, warm.p50 ?? 0, warm.p99 ?? 0),
            seconds: seconds,
            stages: [
                ("published -> decided", \Journey.published, \Journey.decided), ("decided -> relayed", \.decided, \.relayed),
                ("relayed -> read", \.relayed, \.read),
            ].map { name, from, to in
                let s = Percentiles(journeys.map { $0[keyPath: to] - $0[keyPath: from] })
                return (name, s.p50 ?? 0, s.p99 ?? 0)
            },
            machine: machine)
    }

    /// The `i`th place command of the run; a third of them spread over a VM group.
    private func placeCommand(_ i: Int) throws -> OutgoingMessage {
        var c = Novacron_V1_PlaceVM()
        c.vmID = "\(run)-vm\(i)"
        c.commandID = "\(run)-c\(i)"
        c.resources = Resources(vcpuMillis: 1000, memoryMiB: 2048, diskGiB: 10).proto
        if i % 3 == 0 {
            var spread = Novacron_V1_SpreadRule()
            spread.vmGroup = "g\(i % 50)"
            spread.scope = .zone
            spread.maxSkew = 2
            c.constraints.spread = [spread]
            c.groups = ["g\(i % 50)"]
        }
        return try envelope(c, key: c.vmID, topic: TopicCatalog.vmCommands)
    }

    private func startService() throws -> Process {
        let url = URLComponents(string: adminURL)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        var env = ProcessInfo.processInfo.environment
        env["KAFKA_BROKERS"] = brokers
        env["POSTGRES_ADMIN_URL"] = adminURL
        env["POSTGRES_URL"] = "postgres://novacron_\(schema):pw@\(url?.host ?? "127.0.0.1"):\(url?.port ?? 5432)\(url?.path ?? "/novacron")?sslmode=disable"
        env["NOVACRON_SCHEMA"] = schema
        env["NOVACRON_CONSUMER_GROUP"] = "placement-\(run)"
        env["KAFKA_AUTO_OFFSET_RESET"] = "latest"
        env["HTTP_PORT"] = "0"
        env["LOG_LEVEL"] = env["LOG_LEVEL"] ?? "warning"
        process.environment = env
        try process.run()
        return process
    }

    /// Dry-run probes on every partition until a whole round is answered (the harness's barrier).
    private func waitUntilConsuming() async throws {
        let partitions = TopicCatalog.all.first { $0.name == TopicCatalog.vmCommands }?.partitions ?? 12
        try await ConsumptionBarrier(kafka: kafka, partitions: partitions, answers: [TopicCatalog.vmEvents]).wait(
            probe: { key in
                var probe = Novacron_V1_PlaceVM()
                probe.vmID = key
                probe.commandID = key
                probe.resources = Resources(vcpuMillis: 1, memoryMiB: 1).proto
                probe.dryRun = true
                return try envelope(probe, key: key, topic: TopicCatalog.vmCommands)
            }, answerKey: { $0.keyString })
    }

    private func envelope(_ message: any SwiftProtobuf.Message, key: String, topic: String) throws -> OutgoingMessage {
        let e = try EnvelopeCodec.envelope(message, key: key, eventID: EventID.random(), occurredAt: Date(), producer: "bench")
        return OutgoingMessage(topic: topic, key: key, value: Array(try e.serializedData()))
    }

    static func micros(_ d: Duration) -> Double {
        Double(d.components.seconds) * 1e6 + Double(d.components.attoseconds) / 1e12
    }
}

/// Publish instants (monotonic, and wall-clock to compare with the answers' stamps) by VM id,
/// taken once when the answer arrives.
/// A lock, not an actor: the collector takes one entry per answer, and an actor hop each time
/// was the rig's CPU taken from the service being measured.
final class PublishTimes: Sendable {
    private let times = Mutex<[String: (ContinuousClock.Instant, Date, Bool)]>([:])
    func record(_ keys: [String], at instant: ContinuousClock.Instant, wall: Date, warmup: Bool) {
        times.withLock { times in for key in keys { times[key] = (instant, wall, warmup) } }
    }
    /// When the command was published, and whether it was a warm-up command.
    func take(_ key: String) -> (ContinuousClock.Instant, Date, Bool)? { times.withLock { $0.removeValue(forKey: key) } }
}

struct BenchFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// The machine's cumulative CPU times from /proc/stat (Linux), to say how loaded the machine
/// was during a run and how much of it the host took (steal): figures on a shared virtual
/// machine move with both.
struct CPUTimes {
    var busy: Double
    var steal: Double
    var total: Double

    static func now() -> CPUTimes? {
        guard let text = try? String(contentsOfFile: "/proc/stat", encoding: .utf8),
            let line = text.split(separator: "\n").first, line.hasPrefix("cpu ")
        else { return nil }
        let fields = line.split(separator: " ").dropFirst().compactMap { Double($0) }
        guard fields.count >= 8 else { return nil }
        // user nice system idle iowait irq softirq steal [guest guest_nice, counted in user]
        let idle = fields[3] + fields[4]
        let steal = fields[7]
        let total = fields[0..<8].reduce(0, +)
        return CPUTimes(busy: total - idle - steal, steal: steal, total: total)
    }

    /// Busy and stolen shares of the time between `earlier` and this.
    func since(_ earlier: CPUTimes) -> (busy: Double, stolen: Double)? {
        let total = self.total - earlier.total
        guard total > 0 else { return nil }
        return ((busy - earlier.busy) / total, (steal - earlier.steal) / total)
    }
}

import ArgumentParser
import Foundation
import NovaBus
import NovaCore

/// `novacron-bench-bus`: NovaBus against kcat (librdkafka's reference client) on the same
/// broker in one run. Prints msgs/s for both and the ratio, plus `send` latency percentiles.
@main
struct BenchBus: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "novacron-bench-bus",
        abstract: "Benchmark NovaBus produce/consume against kcat on the same Kafka broker.",
        discussion: "Needs KAFKA_BROKERS, and NOVACRON_DEVBROKER_CONTROL to create its topics (make bench-bus sets both).")

    @Option(help: "Messages per run for 100-byte payloads.")
    var smallMessages = 200_000

    @Option(help: "Messages per run for 1 KiB payloads (fits the mock cluster's 5 MiB per partition).")
    var largeMessages = 40_000

    @Option(help: "Partitions of each benchmark topic.")
    var partitions = 12

    @Option(help: "NovaBus: records per send(batch) call.")
    var produceBatch = 5_000

    @Option(help: "NovaBus: batches in flight at once.")
    var produceWindow = 16

    @Option(help: "Rounds per payload size; clients alternate and the median is reported.")
    var rounds = 3

    @Option(help: "Sequential single-message sends for the latency figures.")
    var latencySamples = 2000

    func validate() throws {
        guard smallMessages > 0, largeMessages > 0, partitions > 0, latencySamples > 0, rounds > 0 else {
            throw ValidationError("counts must be positive")
        }
    }

    func run() async throws {
        let env = ProcessInfo.processInfo.environment
        guard let brokers = env["KAFKA_BROKERS"] else { throw ValidationError("KAFKA_BROKERS is not set (run make bench-bus)") }
        guard let controlFile = env["NOVACRON_DEVBROKER_CONTROL"] else {
            throw ValidationError("NOVACRON_DEVBROKER_CONTROL is not set (run make bench-bus)")
        }
        let bench = Bench(
            brokers: brokers, control: try DevBrokerControl(portFile: controlFile), partitions: partitions,
            produceBatch: produceBatch, produceWindow: produceWindow)
        print("NovaBus vs kcat on \(brokers) (\(partitions) partitions, idempotent, acks=all, linger.ms=1)")
        print(String(repeating: "-", count: 78))
        print("payload   messages  client    produce msg/s  consume msg/s   (median of \(rounds) alternating rounds;")
        print("                                                          consume = consumer group, first record to last)")
        var ratios: [String] = []
        for (size, count) in [(100, smallMessages), (1024, largeMessages)] {
            var novaRounds: [Bench.Rates] = []
            var kcatRounds: [Bench.Rates] = []
            for round in 1...rounds {
                FileHandle.standardError.write(Data("  \(size) B round \(round)/\(rounds)...\n".utf8))
                let (nova, topic) = try await bench.novaBus(size: size, count: count)
                novaRounds.append(nova)
                kcatRounds.append(try await bench.kcat(size: size, count: count, readTopic: topic))
            }
            let nova = Bench.Rates.median(novaRounds)
            let kcat = Bench.Rates.median(kcatRounds)
            print(Self.row(size, count, "NovaBus", nova))
            print(Self.row(size, count, "kcat", kcat))
            print(String(format: "%5d B %10d  %-8@ %14@ %14.0f", size, count, "kcat -C", "", kcat.simpleConsume)
                + "   (simple consumer, no group: context only)")
            ratios.append(
                String(format: "%5d B: produce %.2fx, consume %.2fx of kcat", size, nova.produce / kcat.produce, nova.consume / kcat.consume))
        }
        print(String(repeating: "-", count: 78))
        for line in ratios { print("ratio  " + line) }
        let latency = try await bench.sendLatency(samples: latencySamples)
        print(String(format: "send latency (%d sequential 100 B sends): p50 %.2f ms  p99 %.2f ms  max %.2f ms",
                     latencySamples, latency.p50, latency.p99, latency.max))
        print("targets: NovaBus >= 0.9x kcat for produce and consume; send p99 < 10 ms")
    }

    static func row(_ size: Int, _ count: Int, _ client: String, _ r: Bench.Rates) -> String {
        String(format: "%5d B %10d  %-8@ %14.0f %14.0f", size, count, client, r.produce, r.consume)
    }
}

/// One benchmark run's state and measurements.
struct Bench {
    struct Rates {
        var produce: Double
        var consume: Double
        /// kcat only: its simple (partition-assigning, no group) consumer, for context.
        var simpleConsume: Double = 0

        static func median(_ rounds: [Rates]) -> Rates {
            func middle(_ values: [Double]) -> Double { Percentiles(values).p50 ?? 0 }
            return Rates(
                produce: middle(rounds.map(\.produce)), consume: middle(rounds.map(\.consume)),
                simpleConsume: middle(rounds.map(\.simpleConsume)))
        }
    }

    let brokers: String
    let control: DevBrokerControl
    let partitions: Int
    let produceBatch: Int
    let produceWindow: Int
    let run = UUID().uuidString.prefix(6).lowercased()

    var kafka: KafkaConfiguration { KafkaConfiguration(brokers: brokers, clientID: "bench") }

    func topic(_ label: String) throws -> String {
        let name = "bench.\(run).\(label).\(UUID().uuidString.prefix(4).lowercased())"
        try control.send("topic \(name) \(partitions)")
        return name
    }

    /// Produces `count` records through NovaBus into a new topic, then reads them back with a
    /// consumer group. Returns the rates and the topic (kcat reads the same one).
    func novaBus(size: Int, count: Int) async throws -> (Rates, String) {
        let topic = try topic("nova.\(size)")
        let payload = [UInt8](repeating: 0x61, count: size)
        let producer = try KafkaProducer(configuration: kafka)
        let keys = (0..<1000).map { Array("k\($0)".utf8) }
        let batch = produceBatch
        let window = produceWindow
        // Start-up (connections, idempotent producer id) is not timed, as for kcat below.
        try await producer.send(OutgoingMessage(topic: topic, key: keys[0], value: payload))
        let started = ContinuousClock.now
        // Up to `window` batches in flight, as a busy service would produce.
        try await withThrowingTaskGroup(of: Void.self) { group in
            var sent = 0
            var inFlight = 0
            while sent < count {
                if inFlight == window {
                    try await group.next()
                    inFlight -= 1
                }
                let first = sent
                let n = min(batch, count - sent)
                group.addTask {
                    try await producer.sendAll((first..<first + n).map { i in
                        OutgoingMessage(topic: topic, key: keys[i % keys.count], value: payload)
                    })
                }
                inFlight += 1
                sent += n
            }
            try await group.waitForAll()
        }
        let produceTime = ContinuousClock.now - started
        await producer.close()

        let consumer = try KafkaConsumer(configuration: kafka, groupID: "bench-\(run)-\(size)", topics: [topic], batchSize: 1000)
        var iterator = consumer.makeAsyncIterator()
        var received = 0
        var first: ContinuousClock.Instant?
        while received < count, let records = try await iterator.nextBatch() {
            if first == nil { first = .now }
            received += records.count
            consumer.storeOffsets(records)
        }
        let consumeTime = ContinuousClock.now - (first ?? .now)
        await consumer.close()
        guard received >= count else { throw BenchError("NovaBus consumed \(received) of \(count)") }
        return (Rates(produce: Double(count) / produceTime.seconds, consume: Double(count) / consumeTime.seconds), topic)
    }

    /// Produces `count` records with kcat into a new topic, and reads `readTopic` (the one
    /// NovaBus produced: the mock broker serves one record batch per partition per fetch, so
    /// consumers are compared on the same data).
    func kcat(size: Int, count: Int, readTopic: String) async throws -> Rates {
        let topic = try topic("kcat.\(size)")
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("bench-\(run)-\(size).txt")
        // Same keys as the NovaBus run, so both spread over partitions alike ("key:value" lines).
        let value = String(repeating: "a", count: size)
        var text = ""
        text.reserveCapacity(count * (size + 6))
        for i in 0..<count { text += "k\(i % 1000):\(value)\n" }
        try text.write(to: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: file) }
        let settings = ["-X", "enable.idempotence=true", "-X", "acks=all", "-X", "linger.ms=1"]
        let one = FileManager.default.temporaryDirectory.appendingPathComponent("bench-\(run)-\(size)-one.txt")
        try "k0:\(value)\n".write(to: one, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: one) }
        // Start-up (process, connections, idempotent producer id) timed with one record and subtracted.
        let writer = ["-P", "-b", brokers, "-t", topic, "-K:", "-l"]
        let produceStartup = try Self.time("kcat", writer + [one.path] + settings)
        let produce = max(0.001, try Self.time("kcat", writer + [file.path] + settings) - produceStartup)

        // Consumer group mode (-G), as NovaBus's consumer: timed from the first record to the
        // last, as for NovaBus, so the group join is not counted.
        let grouped = try Self.streamedRecordTime(
            "kcat", ["-b", brokers, "-G", "bench-kcat-\(UUID().uuidString.prefix(6))", "-X", "auto.offset.reset=earliest",
                     "-q", "-c", String(count), readTopic], records: count)
        // Simple consumer (assigns partitions itself): start-up timed with -c 1 and subtracted.
        let reader = ["-C", "-b", brokers, "-t", readTopic, "-o", "beginning", "-q", "-c"]
        let startup = try Self.time("kcat", reader + ["1"])
        let simple = max(0.001, try Self.time("kcat", reader + [String(count)]) - startup)
        return Rates(produce: Double(count) / produce, consume: Double(count) / grouped, simpleConsume: Double(count) / simple)
    }

    func sendLatency(samples: Int) async throws -> (p50: Double, p99: Double, max: Double) {
        let topic = try topic("latency")
        let producer = try KafkaProducer(configuration: kafka)
        let payload = [UInt8](repeating: 0x62, count: 100)
        try await producer.send(OutgoingMessage(topic: topic, key: "warm", value: payload))
        var millis: [Double] = []
        for i in 0..<samples {
            let started = ContinuousClock.now
            try await producer.send(OutgoingMessage(topic: topic, key: "k\(i % 100)", value: payload))
            millis.append((ContinuousClock.now - started).seconds * 1000)
        }
        await producer.close()
        let times = Percentiles(millis)
        return (times.p50 ?? 0, times.p99 ?? 0, times.max ?? 0)
    }

    /// Seconds from a consumer command's first output record to its `records`-th (one per line).
    static func streamedRecordTime(_ tool: String, _ arguments: [String], records: Int) throws -> Double {
        let process = Process()
        let pipe = Pipe()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [tool] + arguments
        process.standardOutput = pipe
        try process.run()
        DispatchQueue.global().asyncAfter(deadline: .now() + 120) { if process.isRunning { process.terminate() } }
        let fd = pipe.fileHandleForReading.fileDescriptor
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        var seen = 0
        var first: ContinuousClock.Instant?
        while seen < records {
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n <= 0 { break }
            if first == nil { first = .now }
            buffer.withUnsafeBytes { bytes in
                for i in 0..<n where bytes[i] == 0x0A { seen += 1 }
            }
        }
        let elapsed = ContinuousClock.now - (first ?? .now)
        process.waitUntilExit()
        guard seen >= records else { throw BenchError("\(tool) delivered \(seen) of \(records) records") }
        return elapsed.seconds
    }

    /// Wall time of a command in seconds; stdout goes to /dev/null.
    static func time(_ tool: String, _ arguments: [String]) throws -> Double {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [tool] + arguments
        process.standardOutput = FileHandle.nullDevice
        let started = ContinuousClock.now
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { throw BenchError("\(tool) \(arguments.joined(separator: " ")) exited \(process.terminationStatus)") }
        return (ContinuousClock.now - started).seconds
    }
}

struct BenchError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

extension Duration {
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}

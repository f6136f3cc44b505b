import ArgumentParser
import Foundation
import NovaCore
import PlacementCore

/// `novacron-bench-placement`: the placement engine in-process on one core, and its packing
/// quality against an offline first-fit-decreasing reference computed in the same run.
@main
struct BenchPlacement: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "novacron-bench-placement",
        abstract: "Benchmark the placement engine: decisions/s, p50/p99, packing quality vs first-fit-decreasing.")

    @Option(help: "Fleet sizes (hosts), comma-separated.")
    var fleets = "1000,10000,100000"

    @Option(help: "Decisions measured per fleet size.")
    var decisions = 50_000

    @Option(help: "Hosts in the packing-quality fleet.")
    var packingHosts = 1000

    @Flag(help: "Also run end to end through the dev broker and Postgres (needs KAFKA_BROKERS, POSTGRES_ADMIN_URL, NOVACRON_BIN).")
    var e2e = false

    @Option(help: "End to end: place commands measured.")
    var e2eCommands = 20_000

    @Option(help: "End to end: place commands published first, at the same rate, and reported apart (to see a fresh service's first seconds on their own).")
    var e2eWarmup = 0

    @Option(help: "End to end: commands published per second (paced, open loop); 0 publishes as fast as possible, 100 per send, each send after the previous one was acknowledged.")
    var e2eRate = 5_000

    @Option(
        help: ArgumentHelp(
            "End to end: milliseconds per paced send.",
            discussion: """
                Each send is a produce request, and the dev broker keeps every request's records per partition as one \
                entry of a linked list that each fetch walks from the start and that a fetch returns one of, so its \
                work grows with the square of the sends per partition: at 5 ms (800 sends for 20,000 commands) the \
                walk was 60% of its CPU. A send's commands are timed from the send, so a longer slot hides no \
                waiting; it only makes arrivals burstier. Real Kafka has neither cost.
                """))
    var e2eSlotMs = 20

    @Flag(help: "Skip the in-process engine and packing figures (with --e2e).")
    var e2eOnly = false

    func run() async throws {
        let sizes = fleets.split(separator: ",").compactMap { Int($0) }
        guard !sizes.isEmpty, decisions > 0 else { throw ValidationError("--fleets and --decisions must be positive") }
        guard e2eCommands > 0, e2eRate >= 0, e2eWarmup >= 0 else {
            throw ValidationError("--e2e-commands must be positive, --e2e-rate and --e2e-warmup at least 0")
        }
        guard (1...1000).contains(e2eSlotMs) else { throw ValidationError("--e2e-slot-ms must be 1 to 1000") }
        if !e2eOnly { engineFigures(sizes) }
        if e2e { try await endToEndFigures() }
    }

    private func engineFigures(_ sizes: [Int]) {
        print("Placement engine, one core; mixed stream (1/3 anti-affinity or spread), steady state ~70% full;")
        print("decisions/s = decisions per second spent in decide() (applying the result is not timed)")
        print(String(repeating: "-", count: 78))
        print("hosts      decisions/s   p50 us   p99 us   max us   placed   failed   avg visited")
        for n in sizes {
            let r = Self.throughput(hosts: n, decisions: decisions)
            print(
                String(
                    format: "%-9d %12.0f %8.1f %8.1f %8.1f %8d %8d %10.1f", n, r.perSecond, r.p50, r.p99, r.max, r.placed,
                    r.failed, r.visited))
        }
        print("target: >= 50,000 decisions/s at 10k hosts, p99 < 1 ms")
        print(String(repeating: "-", count: 78))
        let p = Self.packing(hosts: packingHosts)
        print("packing: binpack online until the first failure, \(packingHosts) hosts, standard mix of 6 VM sizes")
        print(
            String(
                format: "  engine fill %.3f; first-fit-decreasing of the same VMs %.3f; ratio %.3f", p.engine, p.sameVMs,
                p.engine / p.sameVMs))
        print(
            String(
                format: "  (context: first-fit-decreasing choosing from the whole over-sized mix fills %.3f; ratio %.3f)",
                p.wholeMix, p.engine / p.wholeMix))
        print("target: ratio >= 0.97")
    }

    private func endToEndFigures() async throws {
        let env = ProcessInfo.processInfo.environment
        guard let brokers = env["KAFKA_BROKERS"], let admin = env["POSTGRES_ADMIN_URL"] else {
            throw ValidationError("--e2e needs KAFKA_BROKERS and POSTGRES_ADMIN_URL (make bench-placement sets them)")
        }
        print(String(repeating: "-", count: 78))
        let endToEnd = EndToEnd(
            brokers: brokers, adminURL: admin, binary: "\(env["NOVACRON_BIN"] ?? ".build/release")/novacron-placement", hosts: 1000,
            commands: e2eCommands, warmup: e2eWarmup, rate: e2eRate, slotMillis: e2eSlotMs)
        let r = try await endToEnd.measure()
        let brokerCount = brokers.split(separator: ",").count
        print(
            "end to end: novacron-placement (1 replica) on the dev broker (\(brokerCount) broker\(brokerCount == 1 ? "" : "s")) and Postgres,"
                + " 1000 hosts, a third with spread")
        let offered = e2eRate == 0 ? "as fast as possible" : "at \(e2eRate)/s, one send per \(e2eSlotMs) ms"
        print("  \(e2eCommands) commands offered \(offered)" + (e2eWarmup > 0 ? ", after \(e2eWarmup) warm-up commands at the same rate:" : ":"))
        print(
            String(
                format: "  %.0f commands/s answered; publish -> VMPlaced consumed p50 %.1f ms, p99 %.1f ms (%d placed, %d failed)",
                r.perSecond, r.p50, r.p99, r.placed, r.failed))
        if let w = r.warmup {
            print(String(format: "  warm-up (not counted above): %d answers, p50 %.1f ms, p99 %.1f ms", w.answers, w.p50, w.p99))
        }
        print("  by second published (answers p50/p99 ms): " + r.seconds.map { String(format: "%d %.0f/%.0f", $0.answers, $0.p50, $0.p99) }.joined(separator: ", "))
        if let machine = r.machine {
            print(String(format: "  machine during the run: %.0f%% busy, %.0f%% stolen by the host", machine.busy * 100, machine.stolen * 100))
        }
        print("  stages (p50/p99 ms): " + r.stages.map { $0.name + String(format: " %.1f/%.1f", $0.p50, $0.p99) }.joined(separator: ", "))
        print("target: >= 5,000/s sustained, p99 < 50 ms")
    }

    struct Throughput {
        var perSecond: Double
        var p50: Double
        var p99: Double
        var max: Double
        var placed: Int
        var failed: Int
        var visited: Double
    }

    static func fleet(_ n: Int, rng: inout SplitMix64) -> Fleet {
        var fleet = Fleet()
        let shapes: [(Int64, Int64)] = [(16000, 65536), (32000, 131072), (64000, 262144), (96000, 393216)]
        for i in 0..<n {
            let shape = shapes[i % shapes.count]
            let region = "region-\(i % 3)"
            fleet.upsert(
                Host(
                    id: "host-\(i)", capacity: Resources(vcpuMillis: shape.0, memoryMiB: shape.1, diskGiB: 2000),
                    topology: Topology(cloud: "cloud", region: region, zone: "\(region)-\((i / 3) % 3)"),
                    labels: ["tier": i % 4 == 0 ? "gold" : "standard"], priceMicrosPerHour: Int64(500_000 + (i % 17) * 100_000),
                    spot: i % 10 == 0))
        }
        return fleet
    }

    static let sizes: [(Int64, Int64)] = [(500, 1024), (1000, 2048), (2000, 4096), (2000, 8192), (4000, 16384), (8000, 32768)]

    static func request(_ i: Int, rng: inout SplitMix64) -> VMRequest {
        let size = sizes[Int(rng.next() % UInt64(sizes.count))]
        var constraints = PlacementConstraints(spotAllowed: i % 2 == 0)
        switch i % 6 {
        case 0: constraints.affinity = [AffinityRule(group: "app-\(i % 97)", scope: .host, anti: true)]
        case 1: constraints.spread = [SpreadRule(group: "app-\(i % 89)", scope: .zone, maxSkew: 1)]
        default: break
        }
        return VMRequest(
            id: "vm-\(i)", resources: Resources(vcpuMillis: size.0, memoryMiB: size.1, diskGiB: 20), constraints: constraints,
            groups: ["app-\(i % 97)", "app-\(i % 89)"])
    }

    static func throughput(hosts n: Int, decisions: Int) -> Throughput {
        var rng = SplitMix64(seed: UInt64(n))
        var fleet = fleet(n, rng: &rng)
        let engine = PlacementEngine()
        // Fill to ~70% first, so decisions run against a realistic, partly used fleet.
        let capacity = fleet.hosts.reduce(Int64(0)) { $0 + $1.capacity.memoryMiB }
        var used: Int64 = 0
        var live: [String] = []
        var next = 0
        while Double(used) < 0.7 * Double(capacity) {
            let vm = request(next, rng: &rng)
            next += 1
            if case .placed(let choice) = engine.decide(vm, in: fleet, start: next) {
                try? fleet.place(vm.id, resources: vm.resources, groups: vm.groups, onHost: choice.chosen.hostIndex)
                used += vm.resources.memoryMiB
                live.append(vm.id)
            } else if next > 10 * n * 20 {
                break
            }
        }
        var samples = [Double](repeating: 0, count: decisions)
        var placed = 0
        var failed = 0
        var visited = 0
        var oldest = 0
        let clock = ContinuousClock()
        for k in 0..<decisions {
            let vm = request(next, rng: &rng)
            next += 1
            let started = clock.now
            let decision = engine.decide(vm, in: fleet, start: next &* 7919)
            let elapsed = clock.now - started
            samples[k] = Double(elapsed.components.seconds) * 1e6 + Double(elapsed.components.attoseconds) / 1e12
            switch decision {
            case .placed(let choice):
                placed += 1
                visited += choice.hostsConsidered
                // Steady state (not timed): each placement replaces the oldest VM.
                try? fleet.place(vm.id, resources: vm.resources, groups: vm.groups, onHost: choice.chosen.hostIndex)
                live.append(vm.id)
                fleet.release(live[oldest])
                oldest += 1
            case .failed(let failure):
                failed += 1
                visited += failure.hostsTotal
            }
        }
        // Throughput of the engine itself: decisions per second of time spent deciding.
        let seconds = samples.reduce(0, +) / 1e6
        let times = Percentiles(samples)
        return Throughput(
            perSecond: Double(decisions) / seconds, p50: times.p50 ?? 0, p99: times.p99 ?? 0, max: times.max ?? 0,
            placed: placed, failed: failed,
            visited: Double(visited) / Double(decisions))
    }

    /// Fill ratio (mean of cpu and memory use) after binpacking a standard mix until the first
    /// failure, and after offline first-fit-decreasing of the same requests.
    /// Binpacks the stream online until the first failure; returns the engine's fill, the fill
    /// of first-fit-decreasing over exactly the VMs the engine was offered (including the one
    /// that failed), and of first-fit-decreasing over the whole over-sized mix (an upper bound
    /// that may pick a subset the arrival order never offered).
    static func packing(hosts n: Int) -> (engine: Double, sameVMs: Double, wholeMix: Double) {
        var rng = SplitMix64(seed: 2024)
        let empty = fleet(n, rng: &rng)
        let requests = (0..<(n * 40)).map { i -> VMRequest in
            let size = sizes[Int(rng.next() % UInt64(sizes.count))]
            return VMRequest(
                id: "p-\(i)", resources: Resources(vcpuMillis: size.0, memoryMiB: size.1),
                constraints: PlacementConstraints(spotAllowed: true))
        }
        var online = empty
        let engine = PlacementEngine(policy: PlacementPolicy(defaultStrategy: .binpack, priceWeight: 0, measuredUtilisationWeight: 0))
        var offered = requests.count
        for (i, vm) in requests.enumerated() {
            guard case .placed(let choice) = engine.decide(vm, in: online, start: i) else {
                offered = i + 1
                break
            }
            try? online.place(vm.id, resources: vm.resources, groups: [], onHost: choice.chosen.hostIndex)
        }
        return (fill(online), fill(firstFitDecreasing(Array(requests[..<offered]), into: empty)),
                fill(firstFitDecreasing(requests, into: empty)))
    }

    static func firstFitDecreasing(_ requests: [VMRequest], into empty: Fleet) -> Fleet {
        var fleet = empty
        let decreasing = requests.sorted {
            ($0.resources.memoryMiB, $0.resources.vcpuMillis) > ($1.resources.memoryMiB, $1.resources.vcpuMillis)
        }
        for vm in decreasing {
            if let index = fleet.hosts.firstIndex(where: { vm.resources.fits(in: $0.free) }) {
                try? fleet.place(vm.id, resources: vm.resources, groups: [], onHost: index)
            }
        }
        return fleet
    }

    static func fill(_ fleet: Fleet) -> Double {
        var cpu = (0.0, 0.0)
        var memory = (0.0, 0.0)
        for host in fleet.hosts {
            cpu.0 += Double(host.allocated.vcpuMillis)
            cpu.1 += Double(host.capacity.vcpuMillis)
            memory.0 += Double(host.allocated.memoryMiB)
            memory.1 += Double(host.capacity.memoryMiB)
        }
        return (cpu.0 / cpu.1 + memory.0 / memory.1) / 2
    }
}

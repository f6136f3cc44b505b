import NovaCore
import PlacementCore

typealias SeededGenerator = SplitMix64

func host(
    _ id: String, zone: String = "z1", region: String = "r1", cpu: Int64 = 16000, memory: Int64 = 65536,
    disk: Int64 = 500, gpus: Int64 = 0, labels: [String: String] = [:], price: Int64 = 1_000_000, spot: Bool = false,
    state: HostState = .ready
) -> Host {
    Host(
        id: id, capacity: Resources(vcpuMillis: cpu, memoryMiB: memory, diskGiB: disk, gpus: gpus),
        topology: Topology(cloud: "c", region: region, zone: zone), labels: labels, priceMicrosPerHour: price, spot: spot,
        state: state)
}

func request(
    _ id: String = "vm", cpu: Int64 = 1000, memory: Int64 = 2048, disk: Int64 = 10, gpus: Int64 = 0,
    constraints: PlacementConstraints = PlacementConstraints(), groups: Set<String> = []
) -> VMRequest {
    VMRequest(
        id: id, resources: Resources(vcpuMillis: cpu, memoryMiB: memory, diskGiB: disk, gpus: gpus), constraints: constraints,
        groups: groups)
}

/// A full scan: every host is a candidate (the reference sampling is checked against).
let exhaustive = PlacementEngine(policy: PlacementPolicy(candidates: { $0 }))

extension PlacementDecision {
    var hostID: String? {
        if case .placed(let choice) = self { return choice.chosen.hostID }
        return nil
    }

    var failure: PlacementFailure? {
        if case .failed(let failure) = self { return failure }
        return nil
    }
}

/// Random fleets over 2 regions x 3 zones with mixed sizes, labels, prices and spot hosts.
func randomFleet(hosts: Int, using rng: inout SeededGenerator) -> Fleet {
    var fleet = Fleet()
    let shapes: [(Int64, Int64)] = [(8000, 32768), (16000, 65536), (32000, 131072), (64000, 262144)]
    for i in 0..<hosts {
        let shape = shapes.randomElement(using: &rng)!
        let region = "r\(Int.random(in: 1...2, using: &rng))"
        let zone = "\(region)-z\(Int.random(in: 1...3, using: &rng))"
        let states: [HostState] = [.ready, .ready, .ready, .ready, .ready, .cordoned, .draining, .failed]
        fleet.upsert(
            host(
                "h\(i)", zone: zone, region: region, cpu: shape.0, memory: shape.1, disk: 1000,
                gpus: Int64.random(in: 0...10, using: &rng) == 0 ? 2 : 0,
                labels: ["tier": ["gold", "silver", "bronze"].randomElement(using: &rng)!]
                    .merging(Bool.random(using: &rng) ? ["ssd": "yes"] : [:]) { a, _ in a },
                price: Int64.random(in: 100_000...5_000_000, using: &rng), spot: Int.random(in: 0...4, using: &rng) == 0,
                state: states.randomElement(using: &rng)!))
    }
    return fleet
}

/// Random requests: sizes from tiny to huge, about a third with anti-affinity or spread.
func randomRequest(_ i: Int, using rng: inout SeededGenerator) throws -> VMRequest {
    let sizes: [(Int64, Int64)] = [(500, 1024), (1000, 2048), (2000, 4096), (4000, 16384), (8000, 32768), (48000, 200000)]
    let size = sizes.randomElement(using: &rng)!
    var constraints = PlacementConstraints(spotAllowed: Bool.random(using: &rng))
    switch Int.random(in: 0..<9, using: &rng) {
    case 0: constraints.affinity = [AffinityRule(group: "g\(i % 5)", scope: .host, anti: true)]
    case 1: constraints.affinity = [AffinityRule(group: "g\(i % 5)", scope: .zone, anti: true)]
    case 2: constraints.spread = [SpreadRule(group: "g\(i % 5)", scope: .zone, maxSkew: 1)]
    case 3: constraints.selectors = [try LabelSelector(key: "tier", op: .in, values: ["gold"])]
    case 4: constraints.topology = Topology(region: "r2")
    case 5: constraints.maxPriceMicrosPerHour = 2_000_000
    case 6: constraints.affinity = [AffinityRule(group: "g\(i % 5)", scope: .zone, anti: false)]
    default: break
    }
    constraints.strategy = [nil, .binpack, .spread, .balanced].randomElement(using: &rng)!
    return request(
        "vm\(i)", cpu: size.0, memory: size.1, disk: 20, gpus: Int.random(in: 0...20, using: &rng) == 0 ? 1 : 0,
        constraints: constraints, groups: ["g\(i % 5)"])
}

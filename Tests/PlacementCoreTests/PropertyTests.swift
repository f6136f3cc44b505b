import NovaCore
import PlacementCore
import Testing

/// Properties over random fleets and request streams, checked against an independent reading
/// of each constraint (written here, not borrowed from the engine's filters).
@Suite struct PlacementPropertyTests {
    static let seeds: [UInt64] = [1, 7, 42, 1234, 99_991]

    @Test(arguments: seeds)
    func everyPlacementSatisfiesEveryConstraintAndNoHostOverflows(seed: UInt64) throws {
        var rng = SeededGenerator(seed: seed)
        var fleet = randomFleet(hosts: 120, using: &rng)
        let engine = PlacementEngine()
        var placed = 0
        for i in 0..<600 {
            let vm = try randomRequest(i, using: &rng)
            let decision = engine.decide(vm, in: fleet, start: Int.random(in: 0..<1000, using: &rng))
            switch decision {
            case .placed(let choice):
                let index = choice.chosen.hostIndex
                try Self.checkSatisfies(vm, hostIndex: index, fleet: fleet)
                try fleet.place(vm.id, resources: vm.resources, groups: vm.groups, onHost: index)
                placed += 1
            case .failed(let failure):
                #expect(failure.rejections.values.reduce(0, +) == fleet.count, "counts add up to the fleet size")
            }
            for host in fleet.hosts { #expect(host.allocated.fits(in: host.capacity), "\(host.id) over capacity") }
            if i % 50 == 49, let victim = fleet.placements.keys.sorted().first { fleet.release(victim) }
        }
        #expect(placed > 100, "the stream should mostly place")
    }

    /// Sampling stops early but never reports a failure the full scan would not.
    @Test(arguments: seeds)
    func samplingNeverReportsNoCapacityWhenAHostFits(seed: UInt64) throws {
        var rng = SeededGenerator(seed: seed)
        var fleet = randomFleet(hosts: 300, using: &rng)
        let sampled = PlacementEngine(policy: PlacementPolicy(candidates: { _ in 2 }))
        for i in 0..<800 {
            let vm = try randomRequest(i, using: &rng)
            let quick = sampled.decide(vm, in: fleet, start: Int.random(in: 0..<10_000, using: &rng))
            let full = exhaustive.decide(vm, in: fleet)
            #expect((quick.hostID == nil) == (full.hostID == nil), "sampled and full scans disagree on feasibility for \(vm.id)")
            if let failure = quick.failure {
                #expect(failure.rejections == full.failure?.rejections, "a failure is only ever reported after a full scan")
            }
            if case .placed(let choice) = quick {
                try fleet.place(vm.id, resources: vm.resources, groups: vm.groups, onHost: choice.chosen.hostIndex)
            }
        }
    }

    /// The constraints, read independently of the engine.
    static func checkSatisfies(_ vm: VMRequest, hostIndex: Int, fleet: Fleet) throws {
        let host = fleet.hosts[hostIndex]
        let c = vm.constraints
        #expect(host.state == .ready)
        #expect(host.topology.satisfies(c.topology))
        #expect(!host.spot || c.spotAllowed)
        if let max = c.maxPriceMicrosPerHour { #expect(host.priceMicrosPerHour <= max) }
        for selector in c.selectors { #expect(selector.matches(host.labels)) }
        #expect(try host.allocated.adding(vm.resources).fits(in: host.capacity))
        let zone = fleet.zoneOf[hostIndex]
        for rule in c.affinity {
            let here: Int
            switch rule.scope {
            case .host: here = fleet.placements.values.filter { $0.hostIndex == hostIndex && $0.groups.contains(rule.group) }.count
            case .zone: here = fleet.placements.values.filter { fleet.zoneOf[$0.hostIndex] == zone && $0.groups.contains(rule.group) }.count
            case .region:
                here = fleet.placements.values.filter {
                    fleet.hosts[$0.hostIndex].topology.region == host.topology.region && $0.groups.contains(rule.group)
                }.count
            }
            let anyMember = fleet.placements.values.contains { $0.groups.contains(rule.group) }
            if rule.anti { #expect(here == 0, "anti-affinity \(rule.group) broken on \(host.id)") }
            else if anyMember { #expect(here > 0, "affinity \(rule.group) broken on \(host.id)") }
        }
        for rule in c.spread where rule.scope == .zone {
            let eligible = fleet.zones.indices.filter { fleet.zones[$0].satisfies(c.topology) }
            let count = { (z: Int) in fleet.placements.values.filter { fleet.zoneOf[$0.hostIndex] == z && $0.groups.contains(rule.group) }.count }
            let minimum = eligible.map(count).min() ?? 0
            #expect(count(zone) + 1 - minimum <= rule.maxSkew, "spread \(rule.group) skew broken")
        }
    }
}

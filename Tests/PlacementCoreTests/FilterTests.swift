import NovaCore
@testable import PlacementCore
import Testing

@Suite struct FilterTests {
    func only(_ hosts: [Host], _ request: VMRequest) -> PlacementDecision {
        exhaustive.decide(request, in: Fleet(hosts: hosts))
    }

    @Test func capacityNamesTheDimensionThatDoesNotFit() {
        let small = host("small", cpu: 2000, memory: 4096)
        #expect(only([small], request(cpu: 1000, memory: 8192)).failure?.rejections == [.insufficientMemory: 1])
        #expect(only([small], request(cpu: 4000, memory: 1024)).failure?.rejections == [.insufficientCPU: 1])
        #expect(only([host("d", disk: 5)], request(disk: 10)).failure?.rejections == [.insufficientDisk: 1])
        #expect(only([host("g")], request(gpus: 1)).failure?.rejections == [.insufficientGPU: 1])
        #expect(only([small], request(cpu: 2000, memory: 4096)).hostID == "small")
    }

    @Test func onlyReadyHostsTakeVMs() {
        for state in [HostState.cordoned, .draining, .failed] {
            #expect(only([host("h", state: state)], request()).failure?.rejections == [.hostNotReady: 1])
        }
    }

    @Test func topologyRequirementAndUnknownZones() {
        let fleet = [host("a", zone: "z1"), host("b", zone: "z2")]
        #expect(only(fleet, request(constraints: PlacementConstraints(topology: Topology(zone: "z2")))).hostID == "b")
        let unknown = only(fleet, request(constraints: PlacementConstraints(topology: Topology(zone: "nowhere"))))
        #expect(unknown.failure?.reason == .invalidRequest)
        #expect(unknown.failure?.message.contains("nowhere") == true)
        let wrongRegion = only(fleet, request(constraints: PlacementConstraints(topology: Topology(region: "r9"))))
        #expect(wrongRegion.failure?.rejections == [.topologyMismatch: 2])
    }

    @Test func labelSelectors() throws {
        let fleet = [host("gold", labels: ["tier": "gold"]), host("plain")]
        let gold = PlacementConstraints(selectors: [try LabelSelector(key: "tier", op: .in, values: ["gold"])])
        #expect(only(fleet, request(constraints: gold)).hostID == "gold")
        let notGold = PlacementConstraints(selectors: [try LabelSelector(key: "tier", op: .doesNotExist)])
        #expect(only(fleet, request(constraints: notGold)).hostID == "plain")
        let none = PlacementConstraints(selectors: [try LabelSelector(key: "gpu", op: .exists)])
        #expect(only(fleet, request(constraints: none)).failure?.rejections == [.labelMismatch: 2])
    }

    @Test func priceAndSpot() {
        let fleet = [host("cheap-spot", price: 100, spot: true), host("dear", price: 9_000_000)]
        #expect(only(fleet, request()).hostID == "dear", "spot is refused unless allowed")
        #expect(only(fleet, request(constraints: PlacementConstraints(spotAllowed: true))).hostID == "cheap-spot")
        let capped = only(fleet, request(constraints: PlacementConstraints(maxPriceMicrosPerHour: 1_000_000)))
        #expect(capped.failure?.rejections == [.spotNotAllowed: 1, .priceTooHigh: 1])
    }

    @Test func hostAndZoneAntiAffinity() throws {
        var fleet = Fleet(hosts: [host("a1", zone: "z1"), host("a2", zone: "z1"), host("b1", zone: "z2")])
        try fleet.place("web-0", resources: Resources(vcpuMillis: 1000, memoryMiB: 1024), groups: ["web"], onHost: 0)
        let hostAnti = request(constraints: PlacementConstraints(affinity: [AffinityRule(group: "web", scope: .host, anti: true)]))
        let decision = exhaustive.decide(hostAnti, in: fleet)
        #expect(decision.hostID != "a1")
        let zoneAnti = request(constraints: PlacementConstraints(affinity: [AffinityRule(group: "web", scope: .zone, anti: true)]))
        #expect(exhaustive.decide(zoneAnti, in: fleet).hostID == "b1")
        try fleet.place("web-1", resources: Resources(vcpuMillis: 1000, memoryMiB: 1024), groups: ["web"], onHost: 2)
        #expect(exhaustive.decide(zoneAnti, in: fleet).failure?.rejections == [.antiAffinity: 3])
    }

    @Test func affinityFollowsTheGroupButAdmitsTheFirstMember() throws {
        var fleet = Fleet(hosts: [host("a", zone: "z1"), host("b", zone: "z2")])
        let follow = request(constraints: PlacementConstraints(affinity: [AffinityRule(group: "db", scope: .zone, anti: false)]))
        #expect(exhaustive.decide(follow, in: fleet).hostID != nil, "no member yet: anywhere")
        try fleet.place("db-0", resources: Resources(vcpuMillis: 1000, memoryMiB: 1024), groups: ["db"], onHost: 1)
        #expect(exhaustive.decide(follow, in: fleet).hostID == "b")
    }

    @Test func spreadKeepsSkewWithinTheLimit() throws {
        var fleet = Fleet(hosts: [host("a", zone: "z1"), host("b", zone: "z2"), host("c", zone: "z3")])
        let spread = request(constraints: PlacementConstraints(spread: [SpreadRule(group: "web", scope: .zone, maxSkew: 1)]))
        var zones: [String] = []
        for i in 0..<6 {
            let decision = exhaustive.decide(spread, in: fleet)
            let chosen = try #require(decision.hostID)
            zones.append(chosen)
            try fleet.place("web-\(i)", resources: Resources(vcpuMillis: 100, memoryMiB: 100), groups: ["web"], onHost: fleet.index(of: chosen)!)
            let counts = (0..<3).map { fleet.members(of: "web", inZone: $0) }
            #expect(counts.max()! - counts.min()! <= 1)
        }
        #expect(Set(zones).count == 3)
    }

    @Test func spreadSkipsZonesWithNoReadyHostAndReturnsToThemLater() throws {
        var fleet = Fleet(hosts: [host("a", zone: "z1"), host("b", zone: "z2"), host("c", zone: "z3", state: .failed)])
        #expect(fleet.readyInZone == [1, 1, 0])
        let spread = request(constraints: PlacementConstraints(spread: [SpreadRule(group: "web", scope: .zone, maxSkew: 1)]))
        for i in 0..<4 {
            let chosen = try #require(exhaustive.decide(spread, in: fleet).hostID, "z3 is down, so it does not hold the skew")
            try fleet.place("web-\(i)", resources: Resources(vcpuMillis: 100, memoryMiB: 100), groups: ["web"], onHost: fleet.index(of: chosen)!)
        }
        #expect(fleet.members(of: "web", inZone: 0) == 2 && fleet.members(of: "web", inZone: 1) == 2)
        fleet.setState(.ready, of: "c")
        #expect(fleet.readyInZone == [1, 1, 1])
        #expect(exhaustive.decide(spread, in: fleet).hostID == "c", "the recovered zone is now the least loaded")
        fleet.setState(.cordoned, of: "a")
        fleet.setState(.failed, of: "a")
        #expect(fleet.readyInZone == [0, 1, 1])
        fleet.upsert(host("a", zone: "z2"))
        #expect(fleet.readyInZone == [0, 2, 1], "re-registration moves the host's readiness to its new zone")
    }

    @Test func failureCountsAddUpAndExplain() {
        let fleet = [host("a", cpu: 1000, memory: 1024), host("b", state: .failed), host("c", zone: "z9")]
        let failure = only(fleet, request(cpu: 2000, memory: 4096, constraints: PlacementConstraints(topology: Topology(zone: "z1"))))
            .failure
        #expect(failure?.rejections.values.reduce(0, +) == 3)
        #expect(failure?.explanation.hasPrefix("0 of 3 hosts fit: ") == true)
        #expect(failure?.reason == .insufficientCapacity || failure?.reason == .hostNotReady || failure?.reason == .topologyMismatch)
    }

    @Test func requestLargerThanAnyHostSaysSo() {
        let failure = only([host("a"), host("b")], request(cpu: 1_000_000, memory: 1024)).failure
        #expect(failure?.reason == .insufficientCapacity)
        #expect(failure?.message.contains("larger than any host") == true)
        #expect(failure?.rejections == [.insufficientCPU: 2])
    }
}

@Suite struct ScorerTests {
    @Test func binpackPrefersTheFullestHostAndSpreadTheEmptiest() throws {
        var fleet = Fleet(hosts: [host("empty"), host("busy")])
        try fleet.place("x", resources: Resources(vcpuMillis: 8000, memoryMiB: 32768), groups: [], onHost: 1)
        #expect(exhaustive.decide(request(constraints: PlacementConstraints(strategy: .binpack)), in: fleet).hostID == "busy")
        #expect(exhaustive.decide(request(constraints: PlacementConstraints(strategy: .spread)), in: fleet).hostID == "empty")
    }

    @Test func balancedPrefersEvenCpuAndMemoryUse() throws {
        var fleet = Fleet(hosts: [host("cpu-heavy"), host("even")])
        try fleet.place("x", resources: Resources(vcpuMillis: 12000, memoryMiB: 4096), groups: [], onHost: 0)
        try fleet.place("y", resources: Resources(vcpuMillis: 4000, memoryMiB: 16384), groups: [], onHost: 1)
        let decision = exhaustive.decide(request(cpu: 1000, memory: 40000, constraints: PlacementConstraints(strategy: .balanced)), in: fleet)
        #expect(decision.hostID == "cpu-heavy", "memory-heavy request evens out the cpu-heavy host")
    }

    @Test func priceAndMeasuredUtilisationBreakTies() {
        var fleet = Fleet(hosts: [host("dear", price: 4_000_000), host("cheap", price: 1_000_000)])
        #expect(exhaustive.decide(request(), in: fleet).hostID == "cheap")
        fleet.setMeasuredUtilisation(0.95, of: "cheap")
        let busyAware = PlacementEngine(policy: PlacementPolicy(priceWeight: 0.1, measuredUtilisationWeight: 1, candidates: { $0 }))
        #expect(busyAware.decide(request(), in: fleet).hostID == "dear")
    }

    @Test func placedDecisionExplainsChosenAndRunnerUp() throws {
        let fleet = Fleet(hosts: [host("a"), host("b"), host("c")])
        guard case .placed(let choice) = exhaustive.decide(request(), in: fleet) else {
            Issue.record("expected a placement")
            return
        }
        #expect(choice.chosen.components.map(\.scorer) == ["binpack", "price", "measured-utilisation"])
        #expect(abs(choice.chosen.total - choice.chosen.components.reduce(0) { $0 + $1.weighted }) < 1e-9)
        let runnerUp = try #require(choice.runnerUp)
        #expect(runnerUp.total <= choice.chosen.total)
        #expect(runnerUp.hostID != choice.chosen.hostID)
        #expect(choice.hostsFeasible == 3)
    }
}

@Suite struct RejectionTests {
    @Test func ordinalsFollowDeclarationOrder() {
        for (i, rejection) in Rejection.allCases.enumerated() { #expect(rejection.ordinal == i) }
    }
}

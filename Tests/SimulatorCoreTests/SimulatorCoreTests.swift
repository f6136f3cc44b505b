import Foundation
import NovaCore
import NovaProto
import SimulatorCore
import Testing

/// The default scenario, as `make run` plays it.
func defaultScenario() throws -> Scenario {
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    return try Scenario.load(root.appendingPathComponent("Services/Simulator/scenarios/default.json").path)
}

@Suite struct ScenarioTests {
    @Test func defaultScenarioIsTheAdvertisedOne() throws {
        let s = try defaultScenario()
        #expect(s.fleet.regions.count == 3 && s.fleet.zonesPerRegion == 3)
        #expect(s.hostCount == 900)
        #expect(s.workload.placements == 5000)
        #expect(!s.incidents.isEmpty)
    }

    @Test func badScenariosNameWhatIsWrong() throws {
        var s = try defaultScenario()
        s.fleet.zonesPerRegion = 0
        #expect { try s.validate() } throws: { "\($0)".contains("zonesPerRegion") }
        s = try defaultScenario()
        s.incidents = [Scenario.Incident(afterAnswers: 1, kind: .zoneOutage, zone: "mars-a")]
        #expect { try s.validate() } throws: { "\($0)".contains("'mars-a' is not in the fleet") }
        s = try defaultScenario()
        s.incidents = [Scenario.Incident(afterAnswers: 1, kind: .loadSpike, zone: nil, cpu: 3)]
        #expect { try s.validate() } throws: { "\($0)".contains("cpu between 0 and 1") }
    }

    @Test func unreadableAndMalformedFilesAreClearErrors() throws {
        #expect { try Scenario.load("/nonexistent/scenario.json") } throws: { "\($0)".contains("cannot read scenario file") }
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("scenario-\(UUID()).json")
        try Data(#"{"name": "x", "seed": 1}"#.utf8).write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        #expect { try Scenario.load(file.path) } throws: { "\($0)".contains("missing 'fleet'") }
    }
}

@Suite struct GeneratorTests {
    @Test func fleetIsDeterministicValidAndShaped() throws {
        let s = try defaultScenario()
        let hosts = FleetGenerator.hosts(s.fleet, seed: s.seed)
        #expect(hosts.count == 900)
        #expect(Set(hosts.map(\.hostID)).count == 900, "ids are unique")
        #expect(hosts == FleetGenerator.hosts(s.fleet, seed: s.seed), "same seed, same fleet")
        #expect(Set(hosts.map(\.topology.zone)).count == 9)
        for h in hosts { #expect(throws: Never.self) { try Host(registered: h) } }
        let spot = hosts.filter(\.spot).count
        #expect(spot > 60 && spot < 220, "about 15% spot, got \(spot)")
        #expect(hosts.contains { $0.labels["gpu"] == "a100" && $0.capacity.gpus == 4 })
    }

    @Test func workloadIsValidMixedAndRunScoped() throws {
        let s = try defaultScenario()
        let commands = try WorkloadGenerator.commands(s, run: "r1")
        #expect(commands.count == 5000)
        #expect(Set(commands.map(\.vmID)).count == 5000 && commands.allSatisfy { $0.vmID.hasPrefix("r1-") })
        for c in commands { #expect(throws: Never.self) { try VMRequest(c) } }
        let withRules = commands.filter { !$0.constraints.spread.isEmpty || !$0.constraints.affinity.isEmpty }.count
        #expect(withRules > 1000, "a good share spreads or keeps apart, got \(withRules)")
        #expect(commands.contains { !$0.constraints.selectors.isEmpty })
        #expect(commands.contains { !$0.constraints.topology.region.isEmpty })
        #expect(commands.contains { $0.constraints.spotAllowed && $0.constraints.maxPriceMicrosPerHour > 0 })
        #expect(try WorkloadGenerator.commands(s, run: "r1").map(\.vmID) == commands.map(\.vmID), "deterministic")
    }

    @Test func malformedSelectorInAScenarioIsAnError() throws {
        var s = try defaultScenario()
        s.workload.kinds[0].selectors = ["disk Like ssd"]
        #expect { try WorkloadGenerator.commands(s, run: "r") } throws: { "\($0)".contains("workload kind 'web'") }
    }

    @Test func telemetryFollowsAllocationAndSpikes() {
        let idle = TelemetryModel.sample(cpuAllocated: 0, memoryAllocated: 0, host: 1, tick: 1, spike: nil)
        let busy = TelemetryModel.sample(cpuAllocated: 0.9, memoryAllocated: 0.9, host: 1, tick: 1, spike: nil)
        let spiked = TelemetryModel.sample(cpuAllocated: 0, memoryAllocated: 0, host: 1, tick: 1, spike: 0.95)
        #expect(idle.cpu < 0.1 && busy.cpu > idle.cpu && busy.cpu <= 1)
        #expect(busy.memory > idle.memory)
        #expect(spiked.cpu >= 0.95)
    }
}

@Suite struct RunSummaryTests {
    @Test func talliesAndRenders() {
        var summary = RunSummary()
        for i in 0..<98 {
            var p = Novacron_V1_VMPlaced()
            p.decisionMicros = Int64(i)
            summary.record(p, roundTripMillis: Double(i))
        }
        var f = Novacron_V1_PlacementFailed()
        f.reason = .insufficientCapacity
        summary.record(f, roundTripMillis: 500)
        f.reason = .spreadSkew
        summary.record(f, roundTripMillis: 600)
        summary.record(Novacron_V1_VMReleased(), roundTripMillis: 1)
        #expect(summary.placed == 98 && summary.failed == 2 && summary.answered == 100)
        #expect(summary.failuresByReason == ["INSUFFICIENT_CAPACITY": 1, "SPREAD_SKEW": 1])
        #expect(Percentiles(summary.roundTripMillis).p50 == 49)
        #expect(Percentiles(summary.roundTripMillis).p99 == 500)
        let text = summary.render(commands: 100, elapsedSeconds: 2, fleet: FleetLedger())
        #expect(text.contains("100 place commands answered of 100 in 2.0 s (50/s)"))
        #expect(text.contains("1 INSUFFICIENT_CAPACITY"))
        #expect(text.contains("p50 49.0 ms, p99 500.0 ms"))
        #expect(text.contains("utilisation per zone"))
    }

    @Test func progressBar() {
        #expect(ProgressBar.line(done: 50, total: 100, placed: 45, failed: 5, perSecond: 10, width: 10)
            == "[#####-----]  50% 50/100  placed 45  failed 5  10/s")
        #expect(ProgressBar.line(done: 0, total: 0, placed: 0, failed: 0, perSecond: 0, width: 4).hasPrefix("[####] 100%"))
    }
}

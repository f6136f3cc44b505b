import NovaCore
import NovaProto
import Testing

@Suite struct FleetLedgerTests {
    func host(_ id: String, zone: String, cpu: Int64 = 32_000, memory: Int64 = 65_536) -> Novacron_V1_HostRegistered {
        Host(id: id, capacity: Resources(vcpuMillis: cpu, memoryMiB: memory), topology: Topology(cloud: "sim", region: "r1", zone: zone))
            .registration
    }

    func placed(_ vm: String, on host: String, cpu: Int64, memory: Int64, dryRun: Bool = false, from previous: String = "") -> Novacron_V1_VMPlaced {
        var p = Novacron_V1_VMPlaced()
        p.vmID = vm
        p.hostID = host
        p.resources = Resources(vcpuMillis: cpu, memoryMiB: memory).proto
        p.dryRun = dryRun
        p.previousHostID = previous
        return p
    }

    @Test func foldsHostsPlacementsReleasesAndMigrations() {
        var ledger = FleetLedger()
        ledger.apply(host("a1", zone: "a"))
        ledger.apply(host("a2", zone: "a"))
        ledger.apply(host("b1", zone: "b"))
        ledger.apply(placed("vm1", on: "a1", cpu: 4000, memory: 8192))
        ledger.apply(placed("vm2", on: "a2", cpu: 2000, memory: 4096))
        ledger.apply(placed("dry", on: "b1", cpu: 2000, memory: 4096, dryRun: true))
        ledger.apply(placed("vm2", on: "b1", cpu: 2000, memory: 4096, from: "a2"))
        var released = Novacron_V1_VMReleased()
        released.vmID = "vm1"
        released.hostID = "a1"
        ledger.apply(released)
        var cordon = Novacron_V1_HostStateChanged()
        cordon.hostID = "a2"
        cordon.current = .cordoned
        ledger.apply(cordon)
        var sample = Novacron_V1_HostTelemetry()
        sample.hostID = "b1"
        sample.utilisation.cpu = 0.5
        sample.utilisation.memory = 0.25
        ledger.apply(sample)

        let zones = ledger.zones()
        #expect(zones.map(\.topology.zone) == ["a", "b"])
        #expect(zones[0].hosts == 2 && zones[0].readyHosts == 1 && zones[0].vms == 0 && zones[0].allocated == .zero)
        #expect(zones[1].vms == 1 && zones[1].allocated == Resources(vcpuMillis: 2000, memoryMiB: 4096))
        #expect(zones[1].cpuAllocated == 2000.0 / 32_000 && zones[1].cpuUse == 0.5 && zones[1].memoryUse == 0.25)
        #expect(zones[0].cpuUse == nil)
        let table = ledger.table()
        #expect(table.contains("total"))
        #expect(table.split(separator: "\n").count == 5)
    }

    @Test func reRegistrationKeepsState() {
        var ledger = FleetLedger()
        ledger.apply(host("h", zone: "a"))
        var failed = Novacron_V1_HostStateChanged()
        failed.hostID = "h"
        failed.current = .failed
        ledger.apply(failed)
        ledger.apply(host("h", zone: "a", cpu: 64_000))
        #expect(ledger.hosts["h"]?.state == .failed)
        #expect(ledger.hosts["h"]?.capacity.vcpuMillis == 64_000)
    }
}

@Suite struct EventTextTests {
    @Test func failureNamesReasonAndCounts() {
        var f = Novacron_V1_PlacementFailed()
        f.vmID = "big"
        f.reason = .insufficientCapacity
        f.message = "0 of 10 hosts fit: 6 insufficient memory, 4 topology mismatch"
        f.hostsTotal = 10
        var r = Novacron_V1_ReasonCount()
        r.reason = .insufficientMemory
        r.hosts = 6
        r.filter = "capacity"
        f.rejections = [r]
        let text = EventText.failed(f)
        #expect(text.hasPrefix("big not placed: INSUFFICIENT_CAPACITY: 0 of 10 hosts fit"))
        #expect(text.contains("6 rejected: insufficient memory (filter capacity)"))
    }

    @Test func placementShowsScoresAndRunnerUp() {
        var p = Novacron_V1_VMPlaced()
        p.vmID = "web-1"
        p.hostID = "h-7"
        p.resources = Resources(vcpuMillis: 1500, memoryMiB: 512).proto
        p.chosen.hostID = "h-7"
        p.chosen.total = 0.8
        var c = Novacron_V1_ScoreComponent()
        c.scorer = "binpack"
        c.weight = 1
        c.raw = 0.8
        p.chosen.components = [c]
        let text = EventText.placed(p)
        #expect(text.contains("web-1 placed on h-7"))
        #expect(text.contains("cpu 1.5 vCPU, memory 512 MiB"))
        #expect(text.contains("h-7 score 0.800 = binpack 0.800×1.00"))
        #expect(text.contains("runner-up none"))
        p.runnerUp.hostID = "h-8"
        p.runnerUp.total = 0.5
        #expect(EventText.placed(p).contains("runner-up h-8 score 0.500"))
    }
}

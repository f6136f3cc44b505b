import ControlCore
import NovaCore
import NovaProto

/// Turns a scenario's workload into place commands with mixed constraints: each VM a
/// weighted draw from the kinds; kinds with rules put their VMs in groups that spread over
/// zones or keep apart on hosts; some pin a region, select host labels, cap the price or
/// allow spot. Deterministic in the seed; ids carry `run` so runs never collide.
public enum WorkloadGenerator {
    public static func commands(_ scenario: Scenario, run: String) throws -> [Novacron_V1_PlaceVM] {
        var random = SplitMix64(seed: scenario.seed &+ 1)
        let kinds = scenario.workload.kinds
        let totalWeight = kinds.reduce(0) { $0 + $1.weight }
        var selectors: [String: [Novacron_V1_LabelSelectorRequirement]] = [:]
        for kind in kinds {
            do {
                selectors[kind.name] = try kind.selectors.map { try OptionGrammar.selector($0) }
            } catch {
                throw ScenarioError("workload kind '\(kind.name)': \(error)")
            }
        }
        var commands: [Novacron_V1_PlaceVM] = []
        commands.reserveCapacity(scenario.workload.placements)
        for i in 0..<scenario.workload.placements {
            var draw = Int(random.next() % UInt64(totalWeight))
            let kind = kinds.first { draw -= $0.weight; return draw < 0 } ?? kinds[0]
            var c = Novacron_V1_PlaceVM()
            c.vmID = "\(run)-\(kind.name)-\(i)"
            c.commandID = "\(run)-place-\(i)"
            c.resources.vcpuMillis = kind.vcpuMillis
            c.resources.memoryMib = kind.memoryMiB
            c.resources.diskGib = kind.diskGiB
            c.resources.gpus = Int32(kind.gpus)
            c.labels = ["kind": kind.name]
            let group = "\(run)-\(kind.name)-g\(random.next() % UInt64(kind.groups))"
            if kind.spreadMaxSkew > 0 || kind.antiAffinity {
                c.groups = [group]
            }
            if kind.spreadMaxSkew > 0 {
                var rule = Novacron_V1_SpreadRule()
                rule.vmGroup = group
                rule.scope = .zone
                rule.maxSkew = Int32(kind.spreadMaxSkew)
                c.constraints.spread = [rule]
            }
            if kind.antiAffinity {
                var rule = Novacron_V1_AffinityRule()
                rule.vmGroup = group
                rule.scope = .host
                rule.anti = true
                c.constraints.affinity = [rule]
            }
            c.constraints.selectors = selectors[kind.name] ?? []
            if kind.pinRegion {
                let region = scenario.fleet.regions[Int(random.next() % UInt64(scenario.fleet.regions.count))]
                c.constraints.topology.cloud = region.cloud
                c.constraints.topology.region = region.region
            }
            if kind.maxPricePerHour > 0 { c.constraints.maxPriceMicrosPerHour = Int64((kind.maxPricePerHour * 1_000_000).rounded()) }
            c.constraints.spotAllowed = kind.spotAllowed
            commands.append(c)
        }
        return commands
    }
}

/// What hosts report as measured use: the allocated share times how busy their VMs are
/// (40-70 %, varying by host and over time), plus a spike where one is injected.
public enum TelemetryModel {
    public static func sample(cpuAllocated: Double, memoryAllocated: Double, host: Int, tick: Int, spike: Double?) -> Novacron_V1_Utilisation {
        var random = SplitMix64(seed: UInt64(truncatingIfNeeded: host) &* 0x9E37_79B9 &+ UInt64(truncatingIfNeeded: tick))
        let busy = 0.4 + Double(random.next() % 300) / 1000
        var u = Novacron_V1_Utilisation()
        u.cpu = min(1, max(spike ?? 0, cpuAllocated * busy + 0.02))
        u.memory = min(1, memoryAllocated * (0.7 + Double(random.next() % 200) / 1000) + 0.03)
        u.disk = 0.1
        u.network = min(1, u.cpu * 0.5)
        return u
    }
}

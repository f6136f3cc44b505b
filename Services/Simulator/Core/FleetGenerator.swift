import NovaCore
import NovaProto

/// Turns a scenario's fleet spec into host registrations: every region gets
/// `zonesPerRegion` zones of `hostsPerZone` hosts, each host a weighted draw from the shapes,
/// a share of them spot (at a third of the price). Deterministic in the seed.
public enum FleetGenerator {
    /// "us-east-a", "us-east-b", ...
    public static func zoneName(_ region: String, _ index: Int) -> String {
        "\(region)-\(Character(UnicodeScalar(UInt8(97 + index))))"
    }

    public static func hosts(_ spec: Scenario.FleetSpec, seed: UInt64) -> [Novacron_V1_HostRegistered] {
        var random = SplitMix64(seed: seed)
        let totalWeight = spec.shapes.reduce(0) { $0 + $1.weight }
        var hosts: [Novacron_V1_HostRegistered] = []
        hosts.reserveCapacity(spec.regions.count * spec.zonesPerRegion * spec.hostsPerZone)
        for region in spec.regions {
            for z in 0..<spec.zonesPerRegion {
                let zone = zoneName(region.region, z)
                for i in 0..<spec.hostsPerZone {
                    var draw = Int(random.next() % UInt64(totalWeight))
                    let shape = spec.shapes.first { draw -= $0.weight; return draw < 0 } ?? spec.shapes[0]
                    let spot = Double(random.next() % 10_000) / 10_000 < spec.spotFraction
                    var h = Novacron_V1_HostRegistered()
                    h.hostID = "\(zone)-\(shape.name)-\(i)"
                    h.capacity.vcpuMillis = Int64(shape.vcpus) * 1000
                    h.capacity.memoryMib = Int64(shape.memoryGiB) * 1024
                    h.capacity.diskGib = Int64(shape.diskGiB)
                    h.capacity.gpus = Int32(shape.gpus)
                    h.topology.cloud = region.cloud
                    h.topology.region = region.region
                    h.topology.zone = zone
                    h.labels = shape.labels
                    h.labels["shape"] = shape.name
                    h.spot = spot
                    let price = shape.pricePerHour * (spot ? 1.0 / 3 : 1)
                    h.priceMicrosPerHour = Int64((price * 1_000_000).rounded())
                    h.provider = "sim"
                    hosts.append(h)
                }
            }
        }
        return hosts
    }
}

import NovaCore
import NovaProto
import Testing

@Suite struct LabelSelectorTests {
    let labels = ["tier": "gold", "gpu": "a100"]

    @Test func operatorsMatchAsInKubernetes() throws {
        #expect(try LabelSelector(key: "tier", op: .in, values: ["gold", "silver"]).matches(labels))
        #expect(try !LabelSelector(key: "tier", op: .in, values: ["bronze"]).matches(labels))
        #expect(try !LabelSelector(key: "missing", op: .in, values: ["x"]).matches(labels))
        #expect(try LabelSelector(key: "tier", op: .notIn, values: ["bronze"]).matches(labels))
        #expect(try !LabelSelector(key: "tier", op: .notIn, values: ["gold"]).matches(labels))
        #expect(try LabelSelector(key: "missing", op: .notIn, values: ["x"]).matches(labels))
        #expect(try LabelSelector(key: "gpu", op: .exists).matches(labels))
        #expect(try !LabelSelector(key: "ssd", op: .exists).matches(labels))
        #expect(try LabelSelector(key: "ssd", op: .doesNotExist).matches(labels))
        #expect(try !LabelSelector(key: "gpu", op: .doesNotExist).matches(labels))
    }

    @Test func malformedSelectorsAreRejected() {
        #expect(throws: ValidationError.self) { try LabelSelector(key: "", op: .exists) }
        #expect(throws: ValidationError.self) { try LabelSelector(key: "tier", op: .in) }
        #expect(throws: ValidationError.self) { try LabelSelector(key: "tier", op: .notIn) }
        #expect(throws: ValidationError.self) { try LabelSelector(key: "tier", op: .exists, values: ["x"]) }
        var proto = Novacron_V1_LabelSelectorRequirement()
        proto.key = "tier"
        #expect { try LabelSelector(proto) } throws: { ($0 as? ValidationError)?.field == "selector[tier].operator" }
    }
}

@Suite struct TopologyAndRequestTests {
    @Test func emptyRequirementFieldsMatchAnything() {
        let host = Topology(cloud: "aws", region: "eu-west-1", zone: "eu-west-1a")
        #expect(host.satisfies(Topology()))
        #expect(host.satisfies(Topology(region: "eu-west-1")))
        #expect(!host.satisfies(Topology(region: "us-east-1")))
        #expect(!host.satisfies(Topology(cloud: "aws", region: "eu-west-1", zone: "eu-west-1b")))
    }

    @Test func placeCommandValidation() throws {
        var command = Novacron_V1_PlaceVM()
        command.vmID = "vm-1"
        command.resources = Resources(vcpuMillis: 1000, memoryMiB: 2048).proto
        var spread = Novacron_V1_SpreadRule()
        spread.vmGroup = "web"
        spread.scope = .zone
        spread.maxSkew = 1
        command.constraints.spread = [spread]
        let request = try VMRequest(command)
        #expect(request.constraints.spread == [SpreadRule(group: "web", scope: .zone, maxSkew: 1)])
        #expect(try VMRequest(request.placeCommand) == request)

        command.constraints.spread[0].maxSkew = 0
        #expect { try VMRequest(command) } throws: { ($0 as? ValidationError)?.field == "spread[0].max_skew" }
        command.constraints.spread = []
        command.constraints.maxPriceMicrosPerHour = -1
        #expect { try VMRequest(command) } throws: { ($0 as? ValidationError)?.field == "max_price_micros_per_hour" }
        command.constraints.maxPriceMicrosPerHour = 0
        command.vmID = ""
        #expect { try VMRequest(command) } throws: { ($0 as? ValidationError)?.field == "vm_id" }
    }

    @Test func hostRegistrationValidation() throws {
        let host = Host(
            id: "h1", capacity: Resources(vcpuMillis: 32000, memoryMiB: 131072, diskGiB: 1000),
            topology: Topology(cloud: "aws", region: "eu-west-1", zone: "eu-west-1a"), labels: ["tier": "gold"],
            priceMicrosPerHour: 1_200_000, spot: true)
        #expect(try Host(registered: host.registration) == host)
        var bad = host.registration
        bad.topology.zone = ""
        #expect { try Host(registered: bad) } throws: { ($0 as? ValidationError)?.field == "topology.zone" }
        bad = host.registration
        bad.capacity.memoryMib = -1
        #expect { try Host(registered: bad) } throws: { ($0 as? ValidationError)?.field == "capacity" }
    }

    @Test func freeCapacityNeverNegative() {
        var host = Host(id: "h", capacity: Resources(vcpuMillis: 1000, memoryMiB: 1000), topology: Topology())
        host.allocated = Resources(vcpuMillis: 400, memoryMiB: 250)
        #expect(host.free == Resources(vcpuMillis: 600, memoryMiB: 750))
    }
}

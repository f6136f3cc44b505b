import ControlCore
import Foundation
import NovaCore
import NovaProto
import Testing

@Suite struct OptionGrammarTests {
    @Test func cpuAcceptsVCPUsAndMillicores() throws {
        #expect(try OptionGrammar.cpu("2") == 2000)
        #expect(try OptionGrammar.cpu("1.5") == 1500)
        #expect(try OptionGrammar.cpu("500m") == 500)
        #expect(try OptionGrammar.cpu(" 0.25 ") == 250)
    }

    @Test(arguments: ["", "two", "0", "-1", "0m", "1e300", "nan", "2 cores"])
    func cpuRejects(_ text: String) {
        #expect(throws: UsageError.self) { try OptionGrammar.cpu(text) }
    }

    @Test func memoryUnits() throws {
        #expect(try OptionGrammar.memory("4GiB") == 4096)
        #expect(try OptionGrammar.memory("4g") == 4096)
        #expect(try OptionGrammar.memory("512MiB") == 512)
        #expect(try OptionGrammar.memory("2048") == 2048)
        #expect(try OptionGrammar.memory("1TiB") == 1_048_576)
        #expect(try OptionGrammar.memory("1.5GiB") == 1536)
    }

    @Test func memoryErrorsSayWhatIsExpected() {
        do {
            _ = try OptionGrammar.memory("4 parsecs")
            Issue.record("accepted 4 parsecs")
        } catch {
            #expect(error.option == "--memory")
            #expect(error.description.contains("unknown unit 'parsecs'"))
            #expect(error.description.contains("expected an amount such as 4GiB"))
        }
        #expect(throws: UsageError.self) { try OptionGrammar.memory("0") }
        #expect(throws: UsageError.self) { try OptionGrammar.memory("-4GiB") }
    }

    @Test func diskAllowsZero() throws {
        #expect(try OptionGrammar.disk("0") == 0)
        #expect(try OptionGrammar.disk("2TiB") == 2048)
        #expect(throws: UsageError.self) { try OptionGrammar.disk("lots") }
    }

    @Test func price() throws {
        #expect(try OptionGrammar.price("0.45") == 450_000)
        #expect(try OptionGrammar.price("$1.20") == 1_200_000)
        #expect(try OptionGrammar.price("$2/h") == 2_000_000)
        #expect(throws: UsageError.self) { try OptionGrammar.price("0") }
        #expect(throws: UsageError.self) { try OptionGrammar.price("cheap") }
    }

    @Test func selectorsInEverySyntax() throws {
        let setBased = try OptionGrammar.selector("tier In gold,silver")
        #expect(setBased.key == "tier" && setBased.operator == .in && setBased.values == ["gold", "silver"])
        #expect(try OptionGrammar.selector("arch NotIn arm").operator == .notIn)
        #expect(try OptionGrammar.selector("gpu Exists").operator == .exists)
        #expect(try OptionGrammar.selector("gpu DoesNotExist").operator == .doesNotExist)
        let equality = try OptionGrammar.selector("disk=ssd")
        #expect(equality.operator == .in && equality.values == ["ssd"])
        #expect(try OptionGrammar.selector("disk!=hdd").operator == .notIn)
        #expect(try OptionGrammar.selector("!spot").operator == .doesNotExist)
        #expect(try OptionGrammar.selector("gpu").operator == .exists)
    }

    @Test(arguments: ["tier Like gold", "tier In", "gpu Exists yes", "=gold", "tier=", "!"])
    func malformedSelectorsAreRefused(_ text: String) {
        #expect(throws: UsageError.self) { try OptionGrammar.selector(text) }
    }

    @Test func groupRules() throws {
        let anti = try OptionGrammar.affinity("db:zone", anti: true)
        #expect(anti.vmGroup == "db" && anti.scope == .zone && anti.anti)
        #expect(try OptionGrammar.affinity("cache", anti: false).scope == .host)
        let spread = try OptionGrammar.spread("web:region:3")
        #expect(spread.vmGroup == "web" && spread.scope == .region && spread.maxSkew == 3)
        let defaults = try OptionGrammar.spread("web")
        #expect(defaults.scope == .zone && defaults.maxSkew == 1)
        #expect(throws: UsageError.self) { try OptionGrammar.affinity("db:rack", anti: false) }
        #expect(throws: UsageError.self) { try OptionGrammar.spread("web:zone:0") }
        #expect(throws: UsageError.self) { try OptionGrammar.spread(":zone") }
        #expect(throws: UsageError.self) { try OptionGrammar.spread("a:b:c:d") }
    }

    @Test func durationsAndSince() throws {
        #expect(try OptionGrammar.duration("30s", option: "--timeout") == .seconds(30))
        #expect(try OptionGrammar.duration("500ms", option: "--timeout") == .milliseconds(500))
        #expect(try OptionGrammar.duration("2h", option: "--timeout") == .seconds(7200))
        #expect(throws: UsageError.self) { try OptionGrammar.duration("soon", option: "--timeout") }
        let now = Date(timeIntervalSince1970: 1_000_000)
        #expect(try OptionGrammar.since("10m", now: now) == 1_000_000_000 - 600_000)
        #expect(try OptionGrammar.since("beginning", now: now) == .min)
        #expect(try OptionGrammar.since("1970-01-01T00:00:10Z", now: now) == 10_000)
        #expect(throws: UsageError.self) { try OptionGrammar.since("yesterday", now: now) }
    }
}

@Suite struct CommandSpecTests {
    @Test func placeSpecBuildsTheWholeCommand() throws {
        var spec = PlaceSpec(vmID: "web-1", cpu: "2", memory: "4GiB")
        spec.disk = "20"
        spec.zone = "us-east-a"
        spec.selectors = ["disk In ssd,nvme"]
        spec.antiAffinity = ["web:host"]
        spec.spread = ["web:zone:1"]
        spec.groups = ["web"]
        spec.labels = ["tier=gold"]
        spec.maxPrice = "0.45"
        spec.spot = true
        spec.strategy = "spread"
        spec.dryRun = true
        let c = try spec.command(commandID: "c-1")
        #expect(c.commandID == "c-1" && c.vmID == "web-1")
        #expect(c.resources.vcpuMillis == 2000 && c.resources.memoryMib == 4096 && c.resources.diskGib == 20)
        #expect(c.constraints.topology.zone == "us-east-a")
        #expect(c.constraints.selectors.count == 1 && c.constraints.affinity.first?.anti == true)
        #expect(c.constraints.spread.first?.maxSkew == 1)
        #expect(c.constraints.maxPriceMicrosPerHour == 450_000 && c.constraints.spotAllowed && c.constraints.strategy == .spread)
        #expect(c.groups == ["web"] && c.labels == ["tier": "gold"] && c.dryRun)
        #expect(throws: Never.self) { try VMRequest(c) }
    }

    @Test func placeSpecRefusesBadValuesNamingTheOption() {
        func refusal(_ edit: (inout PlaceSpec) -> Void) -> UsageError? {
            var spec = PlaceSpec(vmID: "vm-1", cpu: "1", memory: "1GiB")
            edit(&spec)
            do {
                _ = try spec.command(commandID: "c")
                return nil
            } catch {
                return error
            }
        }
        #expect(refusal { $0.vmID = "" }?.description.contains("VM id is empty") == true)
        #expect(refusal { $0.vmID = "has space" }?.description.contains("contains ' '") == true)
        #expect(refusal { $0.cpu = "-2" }?.option == "--cpu")
        #expect(refusal { $0.gpus = -1 }?.option == "--gpus")
        #expect(refusal { $0.strategy = "random" }?.option == "--strategy")
        #expect(refusal { $0.labels = ["novalue"] }?.option == "--label")
        #expect(refusal { $0.groups = [""] }?.option == "--group")
        #expect(refusal { _ in } == nil)
    }

    @Test func hostSpecValidatesLikeTheService() throws {
        var spec = HostSpec(hostID: "h-1", cpu: "64", memory: "256GiB", cloud: "onprem", region: "eu", zone: "eu-a")
        spec.price = "1.20"
        spec.labels = ["disk=nvme"]
        let h = try spec.registration()
        #expect(h.capacity.vcpuMillis == 64_000 && h.capacity.memoryMib == 262_144 && h.priceMicrosPerHour == 1_200_000)
        #expect(throws: Never.self) { try Host(registered: h) }
        spec.zone = ""
        #expect(throws: UsageError.self) { try spec.registration() }
    }
}

@Suite struct EventFilterTests {
    @Test func matchesByTypeSubjectAndTime() {
        var placed = Novacron_V1_VMPlaced()
        placed.vmID = "web-1"
        placed.hostID = "h-2"
        placed.previousHostID = "h-1"
        var filter = EventFilter()
        #expect(filter.matches(key: "web-1", typeName: "novacron.v1.VMPlaced", timestampMillis: 5, message: placed))
        filter.types = ["vmplaced"]
        #expect(filter.matches(key: "web-1", typeName: "novacron.v1.VMPlaced", timestampMillis: 5, message: placed))
        #expect(!filter.matches(key: "web-1", typeName: "novacron.v1.PlacementFailed", timestampMillis: 5, message: placed))
        filter.hostID = "h-1"
        #expect(filter.matches(key: "web-1", typeName: "novacron.v1.VMPlaced", timestampMillis: 5, message: placed))
        filter.hostID = "h-9"
        #expect(!filter.matches(key: "web-1", typeName: "novacron.v1.VMPlaced", timestampMillis: 5, message: placed))
        filter.hostID = nil
        filter.vmID = "web-2"
        #expect(!filter.matches(key: "web-1", typeName: "novacron.v1.VMPlaced", timestampMillis: 5, message: placed))
        filter.vmID = "web-1"
        filter.sinceMillis = 6
        #expect(!filter.matches(key: "web-1", typeName: "novacron.v1.VMPlaced", timestampMillis: 5, message: placed))
    }

    @Test func deadLettersAreATypeOfTheirOwn() {
        var filter = EventFilter()
        filter.types = ["DeadLetter"]
        #expect(filter.matches(key: "x", typeName: "DeadLetter", timestampMillis: 0, message: nil))
        #expect(!filter.matches(key: "x", typeName: "novacron.v1.VMPlaced", timestampMillis: 0, message: nil))
    }
}

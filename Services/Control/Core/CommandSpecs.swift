import NovaCore
import NovaProto

/// What an operator typed for `vm place`, as text, turned into a validated `PlaceVM`: every
/// value goes through `OptionGrammar`, then the same `VMRequest` validation the placement
/// service applies, so a command the service would refuse is refused before it is published.
public struct PlaceSpec: Sendable {
    public var vmID: String
    public var cpu: String
    public var memory: String
    public var disk: String?
    public var gpus: Int = 0
    public var cloud: String?
    public var region: String?
    public var zone: String?
    public var selectors: [String] = []
    public var affinity: [String] = []
    public var antiAffinity: [String] = []
    public var spread: [String] = []
    public var groups: [String] = []
    public var labels: [String] = []
    public var maxPrice: String?
    public var spot = false
    public var strategy: String?
    public var dryRun = false

    public init(vmID: String, cpu: String, memory: String) {
        self.vmID = vmID
        self.cpu = cpu
        self.memory = memory
    }

    public func command(commandID: String) throws(UsageError) -> Novacron_V1_PlaceVM {
        var c = Novacron_V1_PlaceVM()
        c.commandID = commandID
        c.vmID = try Identifier.check(vmID, what: "VM id")
        c.resources.vcpuMillis = try OptionGrammar.cpu(cpu)
        c.resources.memoryMib = try OptionGrammar.memory(memory)
        if let disk { c.resources.diskGib = try OptionGrammar.disk(disk) }
        guard gpus >= 0, gpus <= 1024 else { throw UsageError("--gpus", "\(gpus) is out of range", expected: "0 to 1024") }
        c.resources.gpus = Int32(gpus)
        c.constraints.topology.cloud = cloud ?? ""
        c.constraints.topology.region = region ?? ""
        c.constraints.topology.zone = zone ?? ""
        for s in selectors { c.constraints.selectors.append(try OptionGrammar.selector(s)) }
        for a in affinity { c.constraints.affinity.append(try OptionGrammar.affinity(a, anti: false)) }
        for a in antiAffinity { c.constraints.affinity.append(try OptionGrammar.affinity(a, anti: true)) }
        for s in spread { c.constraints.spread.append(try OptionGrammar.spread(s)) }
        if let maxPrice { c.constraints.maxPriceMicrosPerHour = try OptionGrammar.price(maxPrice) }
        c.constraints.spotAllowed = spot
        if let strategy { c.constraints.strategy = try OptionGrammar.strategy(strategy) }
        for g in groups { c.groups.append(try Identifier.check(g, what: "group", option: "--group")) }
        for l in labels {
            let (key, value) = try OptionGrammar.label(l)
            c.labels[key] = value
        }
        c.dryRun = dryRun
        do {
            _ = try VMRequest(c)
        } catch {
            throw UsageError(error.field, error.message, expected: "a request the placement service accepts")
        }
        return c
    }
}

/// What an operator typed for `host register`, turned into a validated `HostRegistered`.
public struct HostSpec: Sendable {
    public var hostID: String
    public var cpu: String
    public var memory: String
    public var disk: String = "0"
    public var gpus: Int = 0
    public var cloud: String
    public var region: String
    public var zone: String
    public var labels: [String] = []
    public var price: String?
    public var spot = false
    /// The adapter that runs its VMs (aws, azure, gcp, libvirt, sim); empty: unmanaged.
    public var provider: String = ""

    public init(hostID: String, cpu: String, memory: String, cloud: String, region: String, zone: String) {
        self.hostID = hostID
        self.cpu = cpu
        self.memory = memory
        self.cloud = cloud
        self.region = region
        self.zone = zone
    }

    public func registration() throws(UsageError) -> Novacron_V1_HostRegistered {
        var h = Novacron_V1_HostRegistered()
        h.hostID = try Identifier.check(hostID, what: "host id")
        h.capacity.vcpuMillis = try OptionGrammar.cpu(cpu)
        h.capacity.memoryMib = try OptionGrammar.memory(memory)
        h.capacity.diskGib = try OptionGrammar.disk(disk)
        guard gpus >= 0, gpus <= 1024 else { throw UsageError("--gpus", "\(gpus) is out of range", expected: "0 to 1024") }
        h.capacity.gpus = Int32(gpus)
        h.topology.cloud = cloud
        h.topology.region = region
        h.topology.zone = zone
        for l in labels {
            let (key, value) = try OptionGrammar.label(l)
            h.labels[key] = value
        }
        if let price { h.priceMicrosPerHour = try OptionGrammar.price(price, option: "--price") }
        h.spot = spot
        h.provider = provider
        do {
            _ = try Host(registered: h)
        } catch {
            throw UsageError(error.field, error.message, expected: "a registration the placement service accepts")
        }
        return h
    }
}

/// Ids of VMs, hosts and groups: non-empty, printable, no spaces, at most 200 characters.
public enum Identifier {
    public static func check(_ text: String, what: String, option: String? = nil) throws(UsageError) -> String {
        let expected = "letters, digits and - _ . : / (at most 200)"
        let label = option ?? what
        guard !text.isEmpty else { throw UsageError(label, "\(what) is empty", expected: expected) }
        guard text.count <= 200 else { throw UsageError(label, "\(what) is \(text.count) characters long", expected: expected) }
        let allowed = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.:/")
        if let bad = text.first(where: { !allowed.contains($0) }) {
            throw UsageError(label, "\(what) '\(text)' contains '\(bad)'", expected: expected)
        }
        return text
    }
}

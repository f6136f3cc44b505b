import NovaCore
import NovaProto

/// How the engine ranks hosts when a request does not say.
public struct PlacementPolicy: Sendable, Hashable {
    public var defaultStrategy: PlacementStrategy
    public var strategyWeight: Double
    public var priceWeight: Double
    public var measuredUtilisationWeight: Double
    /// Feasible candidates to collect before scoring, for a fleet of `n` hosts. Nomad samples
    /// about log2(n); a larger sample packs tighter at some cost in speed.
    public var candidates: @Sendable (Int) -> Int

    public init(
        defaultStrategy: PlacementStrategy = .binpack, strategyWeight: Double = 1, priceWeight: Double = 0.1,
        measuredUtilisationWeight: Double = 0.1,
        candidates: @escaping @Sendable (Int) -> Int = { n in max(8, 4 * (Int.bitWidth - n.leadingZeroBitCount)) }
    ) {
        self.defaultStrategy = defaultStrategy
        self.strategyWeight = strategyWeight
        self.priceWeight = priceWeight
        self.measuredUtilisationWeight = measuredUtilisationWeight
        self.candidates = candidates
    }

    public static func == (a: PlacementPolicy, b: PlacementPolicy) -> Bool {
        a.defaultStrategy == b.defaultStrategy && a.strategyWeight == b.strategyWeight && a.priceWeight == b.priceWeight
            && a.measuredUtilisationWeight == b.measuredUtilisationWeight
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(defaultStrategy)
        hasher.combine(strategyWeight)
    }
}

/// Decides where a VM goes: a pure function of (fleet, request, policy, start offset).
///
/// Hosts are visited from `start` (the caller rotates it so load spreads), each through the
/// filter chain; the first filter to refuse a host names its rejection. Visiting stops once the
/// policy's number of feasible candidates is found; those are scored and the best wins. If the
/// visit reaches the end of the fleet first, every host was checked: a failure then carries
/// exact counts, and "no capacity" is never reported while a feasible host exists.
public struct PlacementEngine: Sendable {
    public var policy: PlacementPolicy

    public init(policy: PlacementPolicy = PlacementPolicy()) {
        self.policy = policy
    }

    public func decide(_ request: VMRequest, in fleet: Fleet, start: Int = 0) -> PlacementDecision {
        if let invalid = validate(request, fleet) { return .failed(invalid) }
        let prepared = PreparedRequest(request, fleet: fleet)
        let n = fleet.count
        let wanted = max(1, policy.candidates(n))
        let strategy = request.constraints.strategy ?? policy.defaultStrategy
        let maxPrice = fleet.hosts.lazy.map(\.priceMicrosPerHour).max() ?? 0
        var rejections = [Int](repeating: 0, count: Rejection.allCases.count)
        var best: HostScore?
        var second: HostScore?
        var feasible = 0
        var visited = 0
        let offset = n == 0 ? 0 : ((start % n) + n) % n
        while visited < n && feasible < wanted {
            let index = (offset + visited) % n
            visited += 1
            if let rejection = firstRejection(index, fleet, prepared) {
                rejections[Rejection.allCases.firstIndex(of: rejection)!] += 1
                continue
            }
            feasible += 1
            let score = self.score(index, fleet, request.resources, strategy, maxPrice)
            if best == nil || score.total > best!.total {
                second = best
                best = score
            } else if second == nil || score.total > second!.total {
                second = score
            }
        }
        if let best {
            return .placed(
                PlacementChoice(
                    chosen: best, runnerUp: second, hostsConsidered: visited, hostsFeasible: feasible, strategy: strategy))
        }
        var counts: [Rejection: Int] = [:]
        for (i, count) in rejections.enumerated() where count > 0 { counts[Rejection.allCases[i]] = count }
        var failure = Self.failure(counts, hostsTotal: n)
        if let largest = Self.largestHost(fleet), !request.resources.fits(in: largest) {
            failure.message = "request (\(request.resources)) is larger than any host (\(largest)); " + failure.message
        }
        return .failed(failure)
    }

    /// The filter chain, cheapest first; nil = feasible.
    @inline(__always)
    func firstRejection(_ index: Int, _ fleet: Fleet, _ request: PreparedRequest) -> Rejection? {
        let host = fleet.hosts[index]
        return HostStateFilter.check(host)
            ?? TopologyFilter.check(zone: fleet.zoneOf[index], request)
            ?? SpotFilter.check(host, request)
            ?? PriceFilter.check(host, request)
            ?? CapacityFilter.check(host, request)
            ?? LabelSelectorFilter.check(host, request)
            ?? AffinityFilter.check(index, fleet, request)
            ?? SpreadFilter.check(index, fleet, request)
    }

    func score(_ index: Int, _ fleet: Fleet, _ need: Resources, _ strategy: PlacementStrategy, _ maxPrice: Int64) -> HostScore {
        let host = fleet.hosts[index]
        let raw: Double
        switch strategy {
        case .binpack: raw = BinpackScorer.score(host, need)
        case .spread: raw = SpreadScorer.score(host, need)
        case .balanced: raw = BalancedScorer.score(host, need)
        }
        let components = [
            ScoreComponent(scorer: strategy.rawValue, weight: policy.strategyWeight, raw: raw),
            ScoreComponent(scorer: PriceScorer.name, weight: policy.priceWeight, raw: PriceScorer.score(host, maxPrice: maxPrice)),
            ScoreComponent(
                scorer: MeasuredUtilisationScorer.name, weight: policy.measuredUtilisationWeight,
                raw: MeasuredUtilisationScorer.score(measured: fleet.measured[index])),
        ]
        return HostScore(
            hostIndex: index, hostID: host.id, total: components.reduce(0) { $0 + $1.weighted }, components: components)
    }

    /// The largest capacity per dimension, or nil for an empty fleet.
    static func largestHost(_ fleet: Fleet) -> Resources? {
        guard !fleet.hosts.isEmpty else { return nil }
        var largest = Resources.zero
        for host in fleet.hosts {
            largest = Resources(
                vcpuMillis: max(largest.vcpuMillis, host.capacity.vcpuMillis),
                memoryMiB: max(largest.memoryMiB, host.capacity.memoryMiB), diskGiB: max(largest.diskGiB, host.capacity.diskGiB),
                gpus: max(largest.gpus, host.capacity.gpus))
        }
        return largest
    }

    /// Request-level problems found before looking at hosts: a zone that does not exist.
    func validate(_ request: VMRequest, _ fleet: Fleet) -> PlacementFailure? {
        let requirement = request.constraints.topology
        if !requirement.zone.isEmpty && !fleet.zones.contains(where: { $0.satisfies(requirement) }) {
            return PlacementFailure(
                reason: .invalidRequest, message: "no zone \(requirement) exists in the fleet", hostsTotal: fleet.count,
                rejections: [.topologyMismatch: fleet.count])
        }
        return nil
    }

    /// The overall reason: capacity when most rejections are capacity, else the most common one.
    static func failure(_ counts: [Rejection: Int], hostsTotal: Int) -> PlacementFailure {
        let capacity = counts.filter { $0.key.isCapacity }.values.reduce(0, +)
        let top = counts.max { ($0.value, $1.key.rawValue) < ($1.value, $0.key.rawValue) }
        let reason: Novacron_V1_PlacementReason
        if hostsTotal == 0 {
            reason = .insufficientCapacity
        } else if capacity >= (top?.value ?? 0) {
            reason = .insufficientCapacity
        } else {
            reason = top!.key.proto
        }
        var failure = PlacementFailure(reason: reason, message: "", hostsTotal: hostsTotal, rejections: counts)
        failure.message = hostsTotal == 0 ? "the fleet has no hosts" : failure.explanation
        return failure
    }
}

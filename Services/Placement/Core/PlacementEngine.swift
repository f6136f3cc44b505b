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
        let maxPrice = fleet.maxPrice
        var rejections = [Int](repeating: 0, count: Rejection.allCases.count)
        var best = (index: -1, total: -Double.infinity)
        var second = (index: -1, total: -Double.infinity)
        var feasible = 0
        var visited = 0
        let offset = n == 0 ? 0 : ((start % n) + n) % n
        while visited < n && feasible < wanted {
            let index = offset + visited < n ? offset + visited : offset + visited - n
            visited += 1
            if let rejection = firstRejection(index, fleet, prepared) {
                rejections[rejection.ordinal] += 1
                continue
            }
            feasible += 1
            let total = self.total(index, fleet, prepared.need, strategy, maxPrice)
            if total > best.total {
                second = best
                best = (index, total)
            } else if total > second.total {
                second = (index, total)
            }
        }
        if best.index >= 0 {
            return .placed(
                PlacementChoice(
                    chosen: explain(best.index, fleet, prepared.need, strategy, maxPrice),
                    runnerUp: second.index >= 0 ? explain(second.index, fleet, prepared.need, strategy, maxPrice) : nil,
                    hostsConsidered: visited, hostsFeasible: feasible, strategy: strategy))
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
        if let r = HostStateFilter.check(ready: fleet.readyOf[index]) { return r }
        if let r = TopologyFilter.check(zone: fleet.zoneOf[index], request) { return r }
        if let r = SpotFilter.check(spot: fleet.spotOf[index], request) { return r }
        if let r = PriceFilter.check(price: fleet.priceOf[index], request) { return r }
        if let r = CapacityFilter.check(capacity: fleet.capacityOf[index], allocated: fleet.allocatedOf[index], request) {
            return r
        }
        if request.hasSelectors, let r = LabelSelectorFilter.check(fleet.hosts[index].labels, request) { return r }
        if request.hasGroupRules {
            if let r = AffinityFilter.check(index, fleet, request) { return r }
            if let r = SpreadFilter.check(index, fleet, request) { return r }
        }
        return nil
    }

    /// The strategy's raw score for a host.
    @inline(__always)
    func strategyScore(_ index: Int, _ fleet: Fleet, _ need: Resources, _ strategy: PlacementStrategy) -> Double {
        let capacity = fleet.capacityOf[index]
        let allocated = fleet.allocatedOf[index]
        switch strategy {
        case .binpack: return BinpackScorer.score(capacity, allocated, need)
        case .spread: return SpreadScorer.score(capacity, allocated, need)
        case .balanced: return BalancedScorer.score(capacity, allocated, need)
        }
    }

    /// A candidate's total score: the weighted sum `explain` itemises.
    @inline(__always)
    func total(_ index: Int, _ fleet: Fleet, _ need: Resources, _ strategy: PlacementStrategy, _ maxPrice: Int64) -> Double {
        policy.strategyWeight * strategyScore(index, fleet, need, strategy)
            + policy.priceWeight * PriceScorer.score(price: fleet.priceOf[index], maxPrice: maxPrice)
            + policy.measuredUtilisationWeight * MeasuredUtilisationScorer.score(measured: fleet.measured[index])
    }

    /// The itemised score of a host, for the chosen host and the runner-up only.
    func explain(_ index: Int, _ fleet: Fleet, _ need: Resources, _ strategy: PlacementStrategy, _ maxPrice: Int64) -> HostScore {
        let components = [
            ScoreComponent(scorer: strategy.rawValue, weight: policy.strategyWeight, raw: strategyScore(index, fleet, need, strategy)),
            ScoreComponent(
                scorer: PriceScorer.name, weight: policy.priceWeight,
                raw: PriceScorer.score(price: fleet.priceOf[index], maxPrice: maxPrice)),
            ScoreComponent(
                scorer: MeasuredUtilisationScorer.name, weight: policy.measuredUtilisationWeight,
                raw: MeasuredUtilisationScorer.score(measured: fleet.measured[index])),
        ]
        return HostScore(
            hostIndex: index, hostID: fleet.hosts[index].id, total: components.reduce(0) { $0 + $1.weighted },
            components: components)
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

import NovaCore
import NovaProto

/// One scorer's part of a host's score.
public struct ScoreComponent: Sendable, Hashable {
    public var scorer: String
    public var weight: Double
    public var raw: Double
    public var weighted: Double { weight * raw }
}

/// A candidate host's total score and how it was made.
public struct HostScore: Sendable, Hashable {
    public var hostIndex: Int
    public var hostID: String
    public var total: Double
    public var components: [ScoreComponent]
}

/// A host was chosen.
public struct PlacementChoice: Sendable, Hashable {
    public var chosen: HostScore
    public var runnerUp: HostScore?
    /// Hosts visited before the sample was complete.
    public var hostsConsidered: Int
    /// Feasible hosts among those visited.
    public var hostsFeasible: Int
    public var strategy: PlacementStrategy
}

/// Why no host was chosen, with host counts per rejection (they add up to `hostsTotal`).
public struct PlacementFailure: Sendable, Hashable, Error {
    public var reason: Novacron_V1_PlacementReason
    public var message: String
    public var hostsTotal: Int
    public var rejections: [Rejection: Int]

    /// "0 of 10000 hosts fit: 6200 insufficient memory, 3800 topology mismatch".
    public var explanation: String {
        let parts = rejections.sorted { ($0.value, $1.key.rawValue) > ($1.value, $0.key.rawValue) }
            .map { "\($0.value) \($0.key.rawValue)" }
        return "0 of \(hostsTotal) hosts fit" + (parts.isEmpty ? "" : ": " + parts.joined(separator: ", "))
    }
}

/// The engine's answer.
public enum PlacementDecision: Sendable, Hashable {
    case placed(PlacementChoice)
    case failed(PlacementFailure)
}

/// Heartbeats and utilisation samples from consecutive host events, folded per host so that
/// one statement applies them all. The smoothed measured utilisation takes each sample as
/// `m = (1 - weight) * m + weight * sample`; after a host's samples in order it is
/// `m * factor + addend`, which is what the statement computes.
struct HostReports: Sendable {
    /// The weight of a new sample in the smoothed utilisation.
    static let weight = 0.2

    /// One host's reports: the fold of its samples, and whether it had any.
    struct Folded: Sendable, Equatable {
        var factor = 1.0
        var addend = 0.0
        var sampled = false
    }

    private var folded: [String: Folded] = [:]
    /// Hosts in the order of their first report.
    private(set) var hostIDs: [String] = []

    var isEmpty: Bool { hostIDs.isEmpty }

    subscript(hostID: String) -> Folded { folded[hostID] ?? Folded() }

    /// The host is alive.
    mutating func heartbeat(_ hostID: String) {
        if folded[hostID] == nil {
            folded[hostID] = Folded()
            hostIDs.append(hostID)
        }
    }

    /// The host measured `utilisation` (clamped to 0...1).
    mutating func sample(_ utilisation: Double, of hostID: String) {
        heartbeat(hostID)
        let value = min(1, max(0, utilisation))
        folded[hostID]!.factor *= 1 - Self.weight
        folded[hostID]!.addend = (1 - Self.weight) * folded[hostID]!.addend + Self.weight * value
        folded[hostID]!.sampled = true
    }
}

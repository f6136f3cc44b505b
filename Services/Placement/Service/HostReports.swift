/// Heartbeats and utilisation samples from consecutive host events, folded per host so that
/// one statement applies them all. The smoothed measured utilisation takes each sample as
/// `m = (1 - weight) * m + weight * sample`; after a host's samples in order it is
/// `m * factor + addend`, which is what the statement computes.
struct HostReports: Sendable {
    /// The weight of a new sample in the smoothed utilisation.
    static let weight = 0.2

    /// One host's reports: how many, the fold of its samples, and whether it had any.
    struct Folded: Sendable {
        var hostID: String
        var reports = 0
        var factor = 1.0
        var addend = 0.0
        var sampled = false
    }

    /// Per host, in the order of its first report.
    private(set) var hosts: [Folded] = []
    private var position: [String: Int] = [:]

    var isEmpty: Bool { hosts.isEmpty }

    /// The host is alive.
    mutating func heartbeat(_ hostID: String) {
        hosts[index(of: hostID)].reports += 1
    }

    /// The host measured `utilisation` (clamped to 0...1).
    mutating func sample(_ utilisation: Double, of hostID: String) {
        let i = index(of: hostID)
        hosts[i].reports += 1
        let value = min(1, max(0, utilisation))
        hosts[i].factor *= 1 - Self.weight
        hosts[i].addend = (1 - Self.weight) * hosts[i].addend + Self.weight * value
        hosts[i].sampled = true
    }

    private mutating func index(of hostID: String) -> Int {
        if let i = position[hostID] { return i }
        position[hostID] = hosts.count
        hosts.append(Folded(hostID: hostID))
        return hosts.count - 1
    }
}

import NovaCore
import NovaProto
import PlacementCore

/// Builds the wire events that carry placement decisions and their explanations.
enum PlacementEvents {
    static func placed(
        _ choice: PlacementChoice, command: Novacron_V1_PlaceVM, request: VMRequest, fleet: Fleet, micros: Int64,
        previousHost: String = ""
    ) -> Novacron_V1_VMPlaced {
        var e = Novacron_V1_VMPlaced()
        e.commandID = command.commandID
        e.vmID = request.id
        e.hostID = choice.chosen.hostID
        e.resources = request.resources.proto
        e.topology = fleet.hosts[choice.chosen.hostIndex].topology.proto
        e.chosen = score(choice.chosen)
        if let runnerUp = choice.runnerUp { e.runnerUp = score(runnerUp) }
        e.hostsConsidered = Int32(clamping: choice.hostsConsidered)
        e.hostsFeasible = Int32(clamping: choice.hostsFeasible)
        e.decisionMicros = micros
        e.dryRun = command.dryRun
        e.previousHostID = previousHost
        return e
    }

    static func failed(_ failure: PlacementFailure, commandID: String, vmID: String, dryRun: Bool) -> Novacron_V1_PlacementFailed {
        var e = Novacron_V1_PlacementFailed()
        e.commandID = commandID
        e.vmID = vmID
        e.reason = failure.reason
        e.message = failure.message
        e.hostsTotal = Int32(clamping: failure.hostsTotal)
        e.rejections = failure.rejections.sorted { $0.value > $1.value }.map { rejection, hosts in
            var r = Novacron_V1_ReasonCount()
            r.reason = rejection.proto
            r.hosts = Int32(clamping: hosts)
            r.filter = rejection.filter
            return r
        }
        e.dryRun = dryRun
        return e
    }

    static func invalid(_ message: String, commandID: String, vmID: String, dryRun: Bool, reason: Novacron_V1_PlacementReason = .invalidRequest)
        -> Novacron_V1_PlacementFailed
    {
        var e = Novacron_V1_PlacementFailed()
        e.commandID = commandID
        e.vmID = vmID
        e.reason = reason
        e.message = message
        e.dryRun = dryRun
        return e
    }

    static func score(_ s: HostScore) -> Novacron_V1_HostScore {
        var p = Novacron_V1_HostScore()
        p.hostID = s.hostID
        p.total = s.total
        p.components = s.components.map { c in
            var component = Novacron_V1_ScoreComponent()
            component.scorer = c.scorer
            component.weight = c.weight
            component.raw = c.raw
            component.weighted = c.weighted
            return component
        }
        return p
    }
}

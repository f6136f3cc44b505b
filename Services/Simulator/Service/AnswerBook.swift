import Foundation
import NovaCore
import NovaProto
import SimulatorCore
import SwiftProtobuf

/// What the simulator has asked and heard: when each place command was published, the answers
/// tallied into a `RunSummary`, the fleet as the simulator knows it, and the latest answer to
/// each inventory probe.
actor AnswerBook {
    private var published: [String: ContinuousClock.Instant] = [:]
    private(set) var summary = RunSummary()
    private(set) var ledger = FleetLedger()
    private var probes: [String: Novacron_V1_PlacementFailed] = [:]
    /// VMs placed since the provider side last reported them running.
    private var newlyPlaced: [Novacron_V1_VMPlaced] = []

    func publishing(_ commandIDs: [String], at instant: ContinuousClock.Instant) {
        for id in commandIDs { published[id] = instant }
    }

    /// Applies an event from `novacron.vm.events`: a workload answer, a probe answer, or a
    /// placement someone else asked for (the provider side runs those VMs too).
    func heard(_ message: any SwiftProtobuf.Message, at instant: ContinuousClock.Instant) {
        switch message {
        case let placed as Novacron_V1_VMPlaced where !placed.dryRun:
            ledger.apply(placed)
            newlyPlaced.append(placed)
            answer(placed.commandID, message, at: instant)
        case let failed as Novacron_V1_PlacementFailed where failed.dryRun:
            probes[failed.commandID] = failed
        case let failed as Novacron_V1_PlacementFailed:
            answer(failed.commandID, message, at: instant)
        case is Novacron_V1_VMReleased:
            ledger.apply(message)
        default:
            break
        }
    }

    private func answer(_ commandID: String, _ message: any SwiftProtobuf.Message, at instant: ContinuousClock.Instant) {
        guard let sent = published.removeValue(forKey: commandID) else { return }
        let elapsed = instant - sent
        summary.record(message, roundTripMillis: Double(elapsed.components.seconds) * 1000 + Double(elapsed.components.attoseconds) / 1e15)
    }

    func apply(_ message: any SwiftProtobuf.Message) { ledger.apply(message) }

    func probe(_ commandID: String) -> Novacron_V1_PlacementFailed? { probes[commandID] }

    func takeNewlyPlaced() -> [Novacron_V1_VMPlaced] {
        defer { newlyPlaced.removeAll() }
        return newlyPlaced
    }
}

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
    /// When each VM placed by this run was heard placed, until its provider answers.
    private var placedAt: [String: ContinuousClock.Instant] = [:]

    func publishing(_ commandIDs: [String], at instant: ContinuousClock.Instant) {
        for id in commandIDs { published[id] = instant }
    }

    /// Applies an event from `novacron.vm.events`: a workload answer, a probe answer, a
    /// placement someone else asked for, or the provider's word on a VM placed.
    func heard(_ message: any SwiftProtobuf.Message, at instant: ContinuousClock.Instant) {
        switch message {
        case let placed as Novacron_V1_VMPlaced where !placed.dryRun:
            ledger.apply(placed)
            if published[placed.commandID] != nil { placedAt[placed.vmID] = instant }
            answer(placed.commandID, message, at: instant)
        case let changed as Novacron_V1_VMStateChanged where changed.previous == .placed:
            guard let placed = placedAt.removeValue(forKey: changed.vmID) else { return }
            let elapsed = instant - placed
            summary.recordProvider(changed, afterMillis: Double(elapsed.components.seconds) * 1000 + Double(elapsed.components.attoseconds) / 1e15)
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

    /// VMs of this run placed and not yet answered by their provider.
    var awaitingProvider: Int { placedAt.count }
}

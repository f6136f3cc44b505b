import Foundation
import NovaCore
import NovaProto
import SwiftProtobuf

/// Tallies the answers to a simulation's place commands: placed, failed by reason, decision
/// time inside the engine and the time from publishing a command to reading its answer.
public struct RunSummary: Sendable {
    public private(set) var placed = 0
    public private(set) var failed = 0
    public private(set) var failuresByReason: [String: Int] = [:]
    /// Engine decision time of each placement, µs.
    public private(set) var decisionMicros: [Int64] = []
    /// Publish to answer, ms.
    public private(set) var roundTripMillis: [Double] = []
    /// VMs the provider reported running, and failed to create by reason.
    public private(set) var running = 0
    public private(set) var provisionFailuresByReason: [String: Int] = [:]
    /// Placed to running (or failed) as read, ms.
    public private(set) var provisionMillis: [Double] = []

    public init() {}

    public var answered: Int { placed + failed }

    /// Counts an answer; anything but `VMPlaced` / `PlacementFailed` is ignored.
    public mutating func record(_ message: any SwiftProtobuf.Message, roundTripMillis latency: Double?) {
        switch message {
        case let p as Novacron_V1_VMPlaced:
            placed += 1
            decisionMicros.append(p.decisionMicros)
        case let f as Novacron_V1_PlacementFailed:
            failed += 1
            failuresByReason[EventText.reasonCode(f.reason), default: 0] += 1
        default:
            return
        }
        if let latency { roundTripMillis.append(latency) }
    }

    /// "    328 INSUFFICIENT_CAPACITY" lines, the most frequent first.
    private static func tally(_ counts: [String: Int]) -> [String] {
        counts.sorted(by: { ($0.value, $1.key) > ($1.value, $0.key) }).map { String(format: "    %6ld %@", $0.value, $0.key) }
    }

    /// Counts the provider's word on a placed VM: running, or failed with a reason whose code
    /// (before the first colon) is tallied.
    public mutating func recordProvider(_ changed: Novacron_V1_VMStateChanged, afterMillis latency: Double) {
        switch changed.current {
        case .running: running += 1
        case .failed:
            let code = changed.reason.split(separator: ":").first.map(String.init) ?? "unknown"
            provisionFailuresByReason[code, default: 0] += 1
        default: return
        }
        provisionMillis.append(latency)
    }

    public var provisionFailed: Int { provisionFailuresByReason.values.reduce(0, +) }

    /// The report `make run` prints: outcome counts, failure reasons, latency, then the
    /// fleet table per zone.
    public func render(commands: Int, elapsedSeconds: Double, fleet: FleetLedger) -> String {
        var lines: [String] = []
        let rate = elapsedSeconds > 0 ? Double(answered) / elapsedSeconds : 0
        lines.append(String(format: "%d place commands answered of %d in %.1f s (%.0f/s)", answered, commands, elapsedSeconds, rate))
        lines.append("  placed: \(placed)")
        lines.append("  failed: \(failed)")
        lines += Self.tally(failuresByReason)
        let decisionTimes = Percentiles(decisionMicros)
        if let p50 = decisionTimes.p50, let p99 = decisionTimes.p99 {
            lines.append("  decision time in the engine: p50 \(p50) µs, p99 \(p99) µs")
        }
        let roundTrips = Percentiles(roundTripMillis)
        if let p50 = roundTrips.p50, let p99 = roundTrips.p99 {
            lines.append(String(format: "  command published -> answer read: p50 %.1f ms, p99 %.1f ms", p50, p99))
        }
        lines.append("provider (novacron-provider, sim): \(running + provisionFailed) of \(placed) placed VMs answered")
        lines.append("  running: \(running)")
        lines.append("  failed to create: \(provisionFailed)")
        lines += Self.tally(provisionFailuresByReason)
        let provisioning = Percentiles(provisionMillis)
        if let p50 = provisioning.p50, let p99 = provisioning.p99 {
            lines.append(String(format: "  placed -> running read: p50 %.0f ms, p99 %.0f ms", p50, p99))
        }
        lines.append("")
        lines.append("utilisation per zone (allocated = claimed by placements; used = measured by host telemetry):")
        lines.append(fleet.table())
        return lines.joined(separator: "\n")
    }
}

/// A one-line progress bar, redrawn in place on a terminal.
public enum ProgressBar {
    public static func line(done: Int, total: Int, placed: Int, failed: Int, perSecond: Double, width: Int = 30) -> String {
        let fraction = total > 0 ? min(1, Double(done) / Double(total)) : 1
        let filled = Int((fraction * Double(width)).rounded(.down))
        let bar = String(repeating: "#", count: filled) + String(repeating: "-", count: width - filled)
        return String(format: "[%@] %3.0f%% %d/%d  placed %d  failed %d  %.0f/s", bar, fraction * 100, done, total, placed, failed, perSecond)
    }
}

import Foundation
import NovaProto
import SwiftProtobuf

/// Events in plain words, for operators: one line per event for `events tail`, and the full
/// explanation of a placement decision for `vm place` and `explain`.
public enum EventText {
    /// "INSUFFICIENT_MEMORY" for `.insufficientMemory`: the name operators grep logs for.
    public static func reasonCode(_ reason: Novacron_V1_PlacementReason) -> String {
        switch reason {
        case .unspecified: "UNSPECIFIED"
        case .invalidRequest: "INVALID_REQUEST"
        case .insufficientCapacity: "INSUFFICIENT_CAPACITY"
        case .insufficientCpu: "INSUFFICIENT_CPU"
        case .insufficientMemory: "INSUFFICIENT_MEMORY"
        case .insufficientDisk: "INSUFFICIENT_DISK"
        case .insufficientGpu: "INSUFFICIENT_GPU"
        case .hostNotReady: "HOST_NOT_READY"
        case .topologyMismatch: "TOPOLOGY_MISMATCH"
        case .labelMismatch: "LABEL_MISMATCH"
        case .affinity: "AFFINITY"
        case .antiAffinity: "ANTI_AFFINITY"
        case .spreadSkew: "SPREAD_SKEW"
        case .priceTooHigh: "PRICE_TOO_HIGH"
        case .spotNotAllowed: "SPOT_NOT_ALLOWED"
        case .unknownVm: "UNKNOWN_VM"
        case .policyDenied: "POLICY_DENIED"
        case .UNRECOGNIZED(let value): "REASON_\(value)"
        }
    }

    /// "insufficient memory" for `.insufficientMemory`.
    public static func reasonWords(_ reason: Novacron_V1_PlacementReason) -> String {
        reasonCode(reason).lowercased().replacingOccurrences(of: "_", with: " ")
    }

    public static func stateName(_ state: Novacron_V1_HostState) -> String {
        switch state {
        case .ready: "ready"
        case .cordoned: "cordoned"
        case .draining: "draining"
        case .failed: "failed"
        case .unspecified: "unspecified"
        case .UNRECOGNIZED(let value): "state \(value)"
        }
    }

    public static func vmStateName(_ state: Novacron_V1_VMState) -> String {
        switch state {
        case .pending: "pending"
        case .placed: "placed"
        case .running: "running"
        case .stopped: "stopped"
        case .migrating: "migrating"
        case .failed: "failed"
        case .released: "released"
        case .unspecified: "unspecified"
        case .UNRECOGNIZED(let value): "state \(value)"
        }
    }

    /// "cpu 2 vCPU, memory 4 GiB, disk 20 GiB" (GPUs only when there are some).
    public static func resources(_ r: Novacron_V1_Resources) -> String {
        var parts = ["cpu \(cpu(r.vcpuMillis))", "memory \(memory(r.memoryMib))"]
        if r.diskGib > 0 { parts.append("disk \(r.diskGib) GiB") }
        if r.gpus > 0 { parts.append("\(r.gpus) GPU") }
        return parts.joined(separator: ", ")
    }

    /// "2 vCPU", "1.5 vCPU", "250m".
    public static func cpu(_ millis: Int64) -> String {
        if millis % 1000 == 0 { return "\(millis / 1000) vCPU" }
        if millis < 1000 { return "\(millis)m" }
        return String(format: "%g vCPU", Double(millis) / 1000)
    }

    /// "4 GiB", "512 MiB".
    public static func memory(_ mib: Int64) -> String {
        mib % 1024 == 0 ? "\(mib / 1024) GiB" : "\(mib) MiB"
    }

    /// "$0.45/h".
    public static func price(_ microsPerHour: Int64) -> String {
        String(format: "$%.4g/h", Double(microsPerHour) / 1_000_000)
    }

    public static func topology(_ t: Novacron_V1_Topology) -> String {
        [t.cloud, t.region, t.zone].map { $0.isEmpty ? "*" : $0 }.joined(separator: "/")
    }

    /// A placement decision as an operator reads it: where and why, or why not.
    public static func decision(_ message: any SwiftProtobuf.Message) -> String? {
        switch message {
        case let p as Novacron_V1_VMPlaced: placed(p)
        case let f as Novacron_V1_PlacementFailed: failed(f)
        default: nil
        }
    }

    /// "vm-1 placed on h-17 (aws/us-east/us-east-a) ..." with the score breakdown and runner-up.
    public static func placed(_ p: Novacron_V1_VMPlaced) -> String {
        let verb = p.dryRun ? "would be placed" : (p.previousHostID.isEmpty ? "placed" : "migrated from \(p.previousHostID)")
        var lines = ["\(p.vmID) \(verb) on \(p.hostID) (\(topology(p.topology))): \(resources(p.resources))"]
        lines.append(
            "  decided in \(p.decisionMicros) µs; \(p.hostsFeasible) feasible of \(p.hostsConsidered) hosts considered")
        lines.append("  chosen    \(score(p.chosen))")
        if p.hasRunnerUp && !p.runnerUp.hostID.isEmpty {
            lines.append("  runner-up \(score(p.runnerUp))")
        } else {
            lines.append("  runner-up none (no other feasible host among those considered)")
        }
        if p.dryRun { lines.append("  dry run: nothing was claimed") }
        return lines.joined(separator: "\n")
    }

    /// "h-17 score 0.812 = binpack 0.70×1.00 + price 0.20×0.51 + ..."
    public static func score(_ s: Novacron_V1_HostScore) -> String {
        let parts = s.components.map { c in
            String(format: "%@ %.3f×%.2f", c.scorer, c.raw, c.weight)
        }
        return String(format: "%@ score %.3f", s.hostID, s.total) + (parts.isEmpty ? "" : " = " + parts.joined(separator: " + "))
    }

    /// "vm-1 not placed: INSUFFICIENT_CAPACITY: 0 of 900 hosts fit: 600 insufficient memory, ..."
    public static func failed(_ f: Novacron_V1_PlacementFailed) -> String {
        let subject = f.dryRun ? "\(f.vmID) would not be placed" : "\(f.vmID) not placed"
        var lines = ["\(subject): \(reasonCode(f.reason)): \(f.message)"]
        if !f.rejections.isEmpty {
            lines.append("  of \(f.hostsTotal) hosts:")
            for r in f.rejections {
                lines.append("    \(String(r.hosts).leftPadded(to: 7)) rejected: \(reasonWords(r.reason)) (filter \(r.filter))")
            }
        }
        return lines.joined(separator: "\n")
    }

    /// One line for any message of the catalog; unknown types get their name.
    public static func line(_ message: any SwiftProtobuf.Message) -> String {
        switch message {
        case let m as Novacron_V1_VMPlaced:
            let verb = m.dryRun ? "would place" : (m.previousHostID.isEmpty ? "placed" : "migrated \(m.previousHostID) ->")
            return "\(m.vmID) \(verb) \(m.hostID) (\(topology(m.topology))) score \(String(format: "%.3f", m.chosen.total)) in \(m.decisionMicros) µs"
        case let m as Novacron_V1_PlacementFailed:
            return "\(m.vmID) \(m.dryRun ? "would fail" : "failed"): \(reasonCode(m.reason)): \(m.message)"
        case let m as Novacron_V1_VMReleased:
            return "\(m.vmID) released from \(m.hostID): \(resources(m.resources))"
        case let m as Novacron_V1_VMStateChanged:
            return "\(m.vmID) \(vmStateName(m.previous)) -> \(vmStateName(m.current))" + (m.hostID.isEmpty ? "" : " on \(m.hostID)")
                + (m.reason.isEmpty ? "" : " (\(m.reason))")
        case let m as Novacron_V1_PlaceVM:
            return "place \(m.vmID): \(resources(m.resources))" + (m.dryRun ? " (dry run)" : "")
        case let m as Novacron_V1_ReleaseVM:
            return "release \(m.vmID)"
        case let m as Novacron_V1_MigrateVM:
            return "migrate \(m.vmID)" + (m.targetHostID.isEmpty ? "" : " to \(m.targetHostID)")
        case let m as Novacron_V1_DrainHost:
            return "drain \(m.hostID)"
        case let m as Novacron_V1_HostRegistered:
            return "host \(m.hostID) registered in \(topology(m.topology)): \(resources(m.capacity)), \(price(m.priceMicrosPerHour))"
                + (m.spot ? ", spot" : "")
        case let m as Novacron_V1_HostStateChanged:
            return "host \(m.hostID) \(stateName(m.previous)) -> \(stateName(m.current))" + (m.reason.isEmpty ? "" : " (\(m.reason))")
        case let m as Novacron_V1_HostDrained:
            return "host \(m.hostID) drained: \(m.vmsMoved) VMs moved, \(m.vmsFailed) could not be"
        case let m as Novacron_V1_HostHeartbeat:
            return "host \(m.hostID) heartbeat #\(m.sequence)"
        case let m as Novacron_V1_HostTelemetry:
            let u = m.utilisation
            return String(format: "host %@ cpu %.0f%% memory %.0f%%, %d VMs", m.hostID, u.cpu * 100, u.memory * 100, m.runningVms)
        case let m as Novacron_V1_VMTelemetry:
            return String(format: "vm %@ cpu %.0f%% memory %.0f%% %.0f req/s", m.vmID, m.cpu * 100, m.memory * 100, m.requestsPerSecond)
        case let m as Novacron_V1_VMProvisioned:
            return "\(m.vmID) provisioned by \(m.provider) as \(m.providerRef)"
        case let m as Novacron_V1_ProvisionFailed:
            return "\(m.vmID) \(m.provider) refused \(m.commandID): \(m.reason)" + (m.retryable ? " (retryable)" : "")
        case let m as Novacron_V1_VMTerminated:
            return "\(m.vmID) terminated by \(m.provider)"
        case let m as Novacron_V1_SnapshotCompleted:
            return "\(m.vmID) snapshot \(m.snapshotRef) for backup \(m.backupID): \(m.sizeBytes >> 20) MiB"
        case let m as Novacron_V1_ProvisionVM:
            return "provision \(m.vmID) on \(m.hostID): \(resources(m.resources))"
        case let m as Novacron_V1_TerminateVM:
            return "terminate \(m.vmID)"
        case let m as Novacron_V1_ProviderMigrateVM:
            return "move \(m.vmID) \(m.sourceHostID) -> \(m.targetHostID)"
        default:
            return type(of: message).protoMessageName
        }
    }
}

extension String {
    func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: " ", count: width - count) + self
    }

    func rightPadded(to width: Int) -> String {
        count >= width ? self : self + String(repeating: " ", count: width - count)
    }
}

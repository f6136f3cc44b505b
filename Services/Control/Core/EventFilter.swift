import NovaProto
import SwiftProtobuf

/// Which records `novacronctl events tail` shows: by type, by the VM or host they concern,
/// and by time. Pure, so the rules are unit-tested.
public struct EventFilter: Sendable {
    /// Short type names ("VMPlaced") or full ones ("novacron.v1.VMPlaced"), case-insensitive;
    /// empty = every type. "DeadLetter" selects dead-letter records.
    public var types: [String] = []
    public var vmID: String?
    public var hostID: String?
    /// Milliseconds since 1970; records produced earlier are skipped.
    public var sinceMillis: Int64?

    public init() {}

    /// "VMPlaced" for "novacron.v1.VMPlaced".
    public static func shortName(_ type: String) -> String {
        type.split(separator: ".").last.map(String.init) ?? type
    }

    public func matches(key: String, typeName: String, timestampMillis: Int64, message: (any SwiftProtobuf.Message)?) -> Bool {
        if let sinceMillis, timestampMillis < sinceMillis { return false }
        if !types.isEmpty {
            let short = Self.shortName(typeName).lowercased()
            guard types.contains(where: { $0.lowercased() == short || $0.lowercased() == typeName.lowercased() }) else { return false }
        }
        let subjects = message.map(Self.subjects) ?? (vms: [], hosts: [])
        if let vmID, key != vmID, !subjects.vms.contains(vmID) { return false }
        if let hostID, key != hostID, !subjects.hosts.contains(hostID) { return false }
        return true
    }

    /// The VMs and hosts an event concerns, beyond its key.
    public static func subjects(_ message: any SwiftProtobuf.Message) -> (vms: [String], hosts: [String]) {
        switch message {
        case let m as Novacron_V1_VMPlaced: ([m.vmID], [m.hostID, m.previousHostID].filter { !$0.isEmpty })
        case let m as Novacron_V1_PlacementFailed: ([m.vmID], [])
        case let m as Novacron_V1_VMReleased: ([m.vmID], [m.hostID])
        case let m as Novacron_V1_VMStateChanged: ([m.vmID], [m.hostID].filter { !$0.isEmpty })
        case let m as Novacron_V1_PlaceVM: ([m.vmID], [])
        case let m as Novacron_V1_ReleaseVM: ([m.vmID], [])
        case let m as Novacron_V1_MigrateVM: ([m.vmID], [m.targetHostID].filter { !$0.isEmpty })
        case let m as Novacron_V1_DrainHost: ([], [m.hostID])
        case let m as Novacron_V1_HostRegistered: ([], [m.hostID])
        case let m as Novacron_V1_HostStateChanged: ([], [m.hostID])
        case let m as Novacron_V1_HostDrained: ([], [m.hostID])
        case let m as Novacron_V1_HostHeartbeat: ([], [m.hostID])
        case let m as Novacron_V1_HostTelemetry: ([], [m.hostID])
        case let m as Novacron_V1_VMTelemetry: ([m.vmID], [])
        case let m as Novacron_V1_ProvisionVM: ([m.vmID], [m.hostID])
        case let m as Novacron_V1_VMProvisioned: ([m.vmID], [])
        default: ([], [])
        }
    }
}

import NovaCore
import NovaProto

/// A command to a provider adapter, validated: what `InstanceLifecycle` decides over.
public enum ProviderCommand: Sendable, Hashable {
    case provision(commandID: String, vmID: String, hostID: String, resources: Resources)
    case terminate(commandID: String, vmID: String)
    case migrate(commandID: String, vmID: String, sourceHostID: String, targetHostID: String)
    case snapshot(commandID: String, vmID: String, backupID: String)

    public var commandID: String {
        switch self {
        case .provision(let id, _, _, _), .terminate(let id, _), .migrate(let id, _, _, _), .snapshot(let id, _, _): id
        }
    }

    public var vmID: String {
        switch self {
        case .provision(_, let vm, _, _), .terminate(_, let vm), .migrate(_, let vm, _, _), .snapshot(_, let vm, _): vm
        }
    }

    /// Validates a decoded command message; the error names the field.
    public init(_ message: any Sendable) throws(ValidationError) {
        switch message {
        case let m as Novacron_V1_ProvisionVM:
            try Self.require(m.commandID, "command_id")
            try Self.require(m.vmID, "vm_id")
            try Self.require(m.hostID, "host_id")
            let resources = Resources(m.resources)
            if !resources.isNonNegative || resources.vcpuMillis == 0 || resources.memoryMiB == 0 {
                throw ValidationError(field: "resources", "vcpu and memory must be positive and nothing negative, got \(resources)")
            }
            self = .provision(commandID: m.commandID, vmID: m.vmID, hostID: m.hostID, resources: resources)
        case let m as Novacron_V1_TerminateVM:
            try Self.require(m.commandID, "command_id")
            try Self.require(m.vmID, "vm_id")
            self = .terminate(commandID: m.commandID, vmID: m.vmID)
        case let m as Novacron_V1_ProviderMigrateVM:
            try Self.require(m.commandID, "command_id")
            try Self.require(m.vmID, "vm_id")
            try Self.require(m.sourceHostID, "source_host_id")
            try Self.require(m.targetHostID, "target_host_id")
            if m.sourceHostID == m.targetHostID {
                throw ValidationError(field: "target_host_id", "must differ from source_host_id '\(m.sourceHostID)'")
            }
            self = .migrate(commandID: m.commandID, vmID: m.vmID, sourceHostID: m.sourceHostID, targetHostID: m.targetHostID)
        case let m as Novacron_V1_SnapshotVM:
            try Self.require(m.commandID, "command_id")
            try Self.require(m.vmID, "vm_id")
            try Self.require(m.backupID, "backup_id")
            self = .snapshot(commandID: m.commandID, vmID: m.vmID, backupID: m.backupID)
        default:
            throw ValidationError(field: "type", "\(type(of: message)) is not a provider command")
        }
    }

    private static func require(_ value: String, _ field: String) throws(ValidationError) {
        if value.isEmpty { throw ValidationError(field: field, "must not be empty") }
    }
}

import CloudAdaptersCore
import NovaCore
import NovaProto
import NovaService
import SwiftProtobuf

/// The wire events of an adapter's outcomes: provider facts on `novacron.provider.events`, a
/// VM's state on `novacron.vm.events`, both keyed by VM id.
struct ProviderEvents {
    let provider: ProviderKind

    func emissions(_ outcome: InstanceOutcome) -> [Emission] {
        switch outcome {
        case .provisioned(let r):
            var e = Novacron_V1_VMProvisioned()
            e.commandID = r.commandID
            e.vmID = r.vmID
            e.provider = provider.rawValue
            e.providerRef = r.providerRef
            return [
                providerEvent(r.vmID, e),
                state(r.vmID, .placed, .running, host: r.hostID, "provisioned by \(provider.rawValue) as \(r.providerRef)"),
            ]
        case .provisionFailed(let r, let code, let reason, let retryable):
            return [
                failed(commandID: r.commandID, vmID: r.vmID, code: code, reason: reason, retryable: retryable),
                state(r.vmID, .placed, .failed, host: r.hostID, "\(code): \(reason)"),
            ]
        case .terminated(let r):
            var e = Novacron_V1_VMTerminated()
            e.commandID = r.commandID
            e.vmID = r.vmID
            e.provider = provider.rawValue
            return [providerEvent(r.vmID, e)]
        case .terminationFailed:
            return []
        case .migrationStarted(let r):
            return [state(r.vmID, .running, .migrating, host: r.hostID, "moving to \(r.targetHostID)")]
        case .migrated(let r, let source):
            return [state(r.vmID, .migrating, .running, host: r.hostID, "migrated from \(source)")]
        case .migrationFailed(let r, let code, let reason):
            return [state(r.vmID, .migrating, .running, host: r.hostID, "migration failed, still on \(r.hostID): \(code): \(reason)")]
        case .snapshotCompleted(let r, let commandID, let backupID, let ref, let size):
            var e = Novacron_V1_SnapshotCompleted()
            e.commandID = commandID
            e.vmID = r.vmID
            e.backupID = backupID
            e.snapshotRef = ref
            e.sizeBytes = size
            return [providerEvent(r.vmID, e)]
        case .snapshotFailed(let r, let commandID, _, let code, let reason):
            return [failed(commandID: commandID, vmID: r.vmID, code: code, reason: "snapshot: \(reason)", retryable: true)]
        case .refused(let commandID, let vmID, let code, let reason, let retryable):
            return [failed(commandID: commandID, vmID: vmID, code: code, reason: reason, retryable: retryable)]
        }
    }

    /// `ProvisionFailed` answers every provider command the adapter could not carry out (the
    /// contract has no other failure event yet); its reason starts with the code.
    private func failed(commandID: String, vmID: String, code: String, reason: String, retryable: Bool) -> Emission {
        var e = Novacron_V1_ProvisionFailed()
        e.commandID = commandID
        e.vmID = vmID
        e.provider = provider.rawValue
        e.reason = "\(code): \(reason)"
        e.retryable = retryable
        return providerEvent(vmID, e)
    }

    private func state(_ vmID: String, _ previous: Novacron_V1_VMState, _ current: Novacron_V1_VMState, host: String, _ reason: String)
        -> Emission
    {
        var e = Novacron_V1_VMStateChanged()
        e.vmID = vmID
        e.previous = previous
        e.current = current
        e.hostID = host
        e.reason = reason
        return Emission(topic: TopicCatalog.vmEvents, key: vmID, message: e)
    }

    private func providerEvent(_ vmID: String, _ message: any SwiftProtobuf.Message) -> Emission {
        Emission(topic: TopicCatalog.providerEvents, key: vmID, message: message)
    }
}

import NovaCore

/// A call an adapter makes to its provider for a command.
public enum ProviderOperation: String, Sendable, Hashable, CaseIterable {
    case provision, terminate, migrate, snapshot
}

/// What the provider said about an operation.
public enum ProviderResult: Sendable, Hashable {
    /// `ref` is the provider's id of what it made (instance, snapshot); `sizeBytes` a snapshot's size.
    case success(ref: String, sizeBytes: Int64 = 0)
    case failure(code: String, reason: String, retryable: Bool)
}

/// What the adapter reports: each case becomes the events of `ProviderEvents`.
public enum InstanceOutcome: Sendable, Hashable {
    case provisioned(InstanceRecord)
    case provisionFailed(InstanceRecord, code: String, reason: String, retryable: Bool)
    case terminated(InstanceRecord)
    case terminationFailed(InstanceRecord, code: String, reason: String)
    case migrationStarted(InstanceRecord)
    case migrated(InstanceRecord, from: String)
    case migrationFailed(InstanceRecord, code: String, reason: String)
    case snapshotCompleted(InstanceRecord, commandID: String, backupID: String, ref: String, sizeBytes: Int64)
    case snapshotFailed(InstanceRecord, commandID: String, backupID: String, code: String, reason: String)
    /// A command the adapter will not carry out, with why.
    case refused(commandID: String, vmID: String, code: String, reason: String, retryable: Bool)
}

/// What to do with a command, given the adapter's record of its VM.
public enum CommandDecision: Sendable, Hashable {
    /// Persist `record` and make the call; `report` goes out at once (a migration's start).
    case begin(ProviderOperation, record: InstanceRecord, report: [InstanceOutcome])
    /// Nothing to call: the command repeats one in flight (empty: that one will answer) or
    /// asks for what is already true (the answer again).
    case answer([InstanceOutcome])
}

/// The adapter's decisions, pure: a command against the VM's record, and a provider's answer
/// against the operation in flight. Every command is idempotent here, whatever the provider
/// offers: the record says what was asked and what happened, so a repeated command (same id,
/// or the same request under a new id) makes no second call.
public enum InstanceLifecycle {
    public static func decide(_ command: ProviderCommand, current: InstanceRecord?) -> CommandDecision {
        switch command {
        case .provision(let commandID, let vmID, let hostID, let resources):
            guard let current, current.state != .terminated, current.state != .failed else {
                let record = InstanceRecord(vmID: vmID, hostID: hostID, state: .provisioning, commandID: commandID, resources: resources)
                return .begin(.provision, record: record, report: [])
            }
            if current.hostID == hostID || current.targetHostID == hostID {
                switch current.state {
                case .running: return .answer([.provisioned(current)])
                case .provisioning, .migrating: return .answer([])
                default: break
                }
            }
            if current.state == .terminating {
                return .answer([refused(command, "busy", "VM '\(vmID)' is being terminated; provision it again once it is", retryable: true)])
            }
            return .answer([
                refused(command, "conflict", "VM '\(vmID)' is \(current.state.rawValue) on host '\(current.hostID)'; migrate it instead", retryable: false)
            ])

        case .terminate(let commandID, _):
            guard let current, current.state != .terminated else {
                let record = current ?? InstanceRecord(vmID: command.vmID, hostID: "", state: .terminated, commandID: commandID)
                return .answer([.terminated(record)])
            }
            // A terminate in flight answers for itself; one whose call failed is tried again by
            // the next terminate command.
            if current.state == .terminating && current.commandID == commandID { return .answer([]) }
            if current.state == .failed {
                var record = current
                record.state = .terminated
                record.commandID = commandID
                return .answer([.terminated(record)])
            }
            var record = current
            record.state = .terminating
            record.commandID = commandID
            record.targetHostID = ""
            return .begin(.terminate, record: record, report: [])

        case .migrate(let commandID, let vmID, let source, let target):
            guard let current, current.state != .terminated, current.state != .failed else {
                return .answer([refused(command, "not_found", "VM '\(vmID)' has no instance to migrate", retryable: false)])
            }
            if current.state == .running && current.hostID == target { return .answer([.migrated(current, from: source)]) }
            if current.state == .migrating && current.targetHostID == target { return .answer([]) }
            guard current.state == .running else {
                return .answer([refused(command, "busy", "VM '\(vmID)' is \(current.state.rawValue); migrate it once it runs", retryable: true)])
            }
            guard current.hostID == source else {
                return .answer([
                    refused(command, "conflict", "VM '\(vmID)' runs on '\(current.hostID)', not on source '\(source)'", retryable: false)
                ])
            }
            var record = current
            record.state = .migrating
            record.commandID = commandID
            record.targetHostID = target
            return .begin(.migrate, record: record, report: [.migrationStarted(record)])

        case .snapshot(_, let vmID, _):
            guard let current, current.state == .running || current.state == .migrating else {
                let state = current?.state.rawValue ?? "unknown"
                return .answer([refused(command, "invalid_state", "VM '\(vmID)' is \(state); only a running VM is snapshotted", retryable: false)])
            }
            return .begin(.snapshot, record: current, report: [])
        }
    }

    /// The record after the provider answered `operation` for `record`, and what to report.
    /// A snapshot changes nothing of the record; its command comes from the caller.
    public static func complete(
        _ operation: ProviderOperation, record: InstanceRecord, result: ProviderResult, snapshot: (commandID: String, backupID: String)? = nil
    ) -> (record: InstanceRecord, outcome: InstanceOutcome) {
        var next = record
        switch (operation, result) {
        case (.provision, .success(let ref, _)):
            next.state = .running
            next.providerRef = ref
            return (next, .provisioned(next))
        case (.provision, .failure(let code, let reason, let retryable)):
            next.state = .failed
            return (next, .provisionFailed(next, code: code, reason: reason, retryable: retryable))
        case (.terminate, .success):
            next.state = .terminated
            return (next, .terminated(next))
        case (.terminate, .failure(let code, let reason, _)):
            // The instance may still exist: the record stays `terminating`, nothing is
            // reported as done, and the next terminate command calls again.
            return (next, .terminationFailed(next, code: code, reason: reason))
        case (.migrate, .success(let ref, _)):
            let source = next.hostID
            next.state = .running
            next.hostID = next.targetHostID
            next.targetHostID = ""
            if !ref.isEmpty { next.providerRef = ref }
            return (next, .migrated(next, from: source))
        case (.migrate, .failure(let code, let reason, _)):
            next.state = .running
            next.targetHostID = ""
            return (next, .migrationFailed(next, code: code, reason: reason))
        case (.snapshot, .success(let ref, let size)):
            return (next, .snapshotCompleted(next, commandID: snapshot?.commandID ?? "", backupID: snapshot?.backupID ?? "", ref: ref, sizeBytes: size))
        case (.snapshot, .failure(let code, let reason, _)):
            return (next, .snapshotFailed(next, commandID: snapshot?.commandID ?? "", backupID: snapshot?.backupID ?? "", code: code, reason: reason))
        }
    }

    private static func refused(_ command: ProviderCommand, _ code: String, _ reason: String, retryable: Bool) -> InstanceOutcome {
        .refused(commandID: command.commandID, vmID: command.vmID, code: code, reason: reason, retryable: retryable)
    }
}

import CloudAdaptersCore
import Foundation
import NovaCore
import NovaProto
import NovaService
import NovaStore

/// The simulated provider's handler: a command is decided against the VM's record
/// (`InstanceLifecycle`) and, when it needs the provider, becomes a deadline at the time the
/// simulated call completes (`SimulatedCloud`). The deadline fires on the VM's partition owner,
/// in one transaction with the record, and its events carry ids derived from the deadline, so
/// a crash anywhere neither loses an answer nor sends one twice.
struct ProviderHandler: TimedHandler {
    let provider: ProviderKind
    let cloud: SimulatedCloud
    let clock: any ServiceClock
    let deadlines: Deadlines
    let metrics: ProviderMetrics
    let events: ProviderEvents

    /// Deadline names: one operation on the instance at a time; snapshots beside it.
    static let operationDeadline = "operation"
    static let snapshotDeadline = "snapshot"

    func handle(_ event: DecodedEvent, in tx: StoreTransaction) async throws -> [Emission] {
        let command = try ProviderCommand(event.message)
        let repository = InstanceRepository(tx: tx)
        let current = try await repository.instance(command.vmID)
        switch InstanceLifecycle.decide(command, current: current) {
        case .answer(let outcomes):
            for outcome in outcomes { metrics.answered(outcome) }
            return outcomes.flatMap(events.emissions)
        case .begin(let operation, let record, let report):
            var backupID = ""
            if case .snapshot(let commandID, let vmID, let backup) = command {
                guard try await repository.recordSnapshot(commandID: commandID, vmID: vmID, backupID: backup) else { return [] }
                backupID = backup
            } else {
                try await repository.save(record)
            }
            let latency = cloud.latency(of: operation, commandID: command.commandID)
            let pending = PendingCall(operation: operation, commandID: command.commandID, backupID: backupID, startedMillis: clock.nowMillis())
            if operation == .snapshot {
                try await deadlines.set(
                    Self.snapshotDeadline, key: "\(command.vmID)/\(command.commandID)", partitionKey: command.vmID,
                    at: pending.startedMillis + latency, payload: pending.encoded, in: tx)
            } else {
                // Replaces whatever call was pending for the VM: a terminate overtakes a create.
                try await deadlines.set(
                    Self.operationDeadline, key: command.vmID, at: pending.startedMillis + latency, payload: pending.encoded, in: tx)
            }
            metrics.started(operation)
            return report.flatMap(events.emissions)
        }
    }

    func fire(_ deadline: Deadline, now: Int64, in tx: StoreTransaction) async throws -> [Emission] {
        guard let call = PendingCall(decoding: deadline.payload) else {
            throw HandlerRejection(code: "bad_deadline", "deadline \(deadline.name)/\(deadline.key) has an unreadable payload")
        }
        let vmID = deadline.name == Self.snapshotDeadline ? String(deadline.key.split(separator: "/").first ?? "") : deadline.key
        let repository = InstanceRepository(tx: tx)
        guard let record = try await repository.instance(vmID) else { return [] }
        // A call whose command is no longer the record's was overtaken (a terminate replaced a
        // create): its answer is moot.
        if call.operation != .snapshot && record.commandID != call.commandID { return [] }
        let result = cloud.result(of: call.operation, commandID: call.commandID, record: record)
        let (next, outcome) = InstanceLifecycle.complete(
            call.operation, record: record, result: result, snapshot: (call.commandID, call.backupID))
        if call.operation == .snapshot {
            switch result {
            case .success(let ref, let size): try await repository.finishSnapshot(commandID: call.commandID, state: "completed", ref: ref, sizeBytes: size)
            case .failure(let code, _, _): try await repository.finishSnapshot(commandID: call.commandID, state: "failed: \(code)", ref: "", sizeBytes: 0)
            }
        } else {
            try await repository.save(next)
        }
        metrics.completed(call.operation, result: result, millis: now - call.startedMillis)
        return events.emissions(outcome)
    }

    func rolledBack() async { metrics.discard() }
    func committed() async { metrics.commit() }
}

/// A provider call in flight, as a deadline's payload: `operation command backup started`.
struct PendingCall: Hashable {
    var operation: ProviderOperation
    var commandID: String
    var backupID: String
    var startedMillis: Int64

    var encoded: [UInt8] { Array("\(operation.rawValue)\n\(commandID)\n\(backupID)\n\(startedMillis)".utf8) }

    init(operation: ProviderOperation, commandID: String, backupID: String, startedMillis: Int64) {
        self.operation = operation
        self.commandID = commandID
        self.backupID = backupID
        self.startedMillis = startedMillis
    }

    init?(decoding bytes: [UInt8]) {
        let parts = String(decoding: bytes, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        guard parts.count == 4, let operation = ProviderOperation(rawValue: parts[0]), let started = Int64(parts[3]) else { return nil }
        self.init(operation: operation, commandID: parts[1], backupID: parts[2], startedMillis: started)
    }
}

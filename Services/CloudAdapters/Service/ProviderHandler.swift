import CloudAdaptersCore
import Foundation
import NovaCore
import NovaProto
import NovaService
import NovaStore

/// An adapter's handler: a command is decided against the VM's record (`InstanceLifecycle`)
/// and, when it needs the provider, becomes a deadline: at the time the simulated call
/// completes (`SimulatedCloud`), or at once for a real provider, whose call is made when it
/// fires (`AWSCloud`). The deadline fires on the VM's partition owner,
/// in one transaction with the record, and its events carry ids derived from the deadline, so
/// a crash anywhere neither loses an answer nor sends one twice.
struct ProviderHandler: TimedHandler {
    let cloud: any ProviderBackend
    let clock: any ServiceClock
    let deadlines: Deadlines
    let metrics: ProviderMetrics
    let events: ProviderEvents

    /// Deadline names: one operation on the instance at a time; snapshots beside it.
    static let operationDeadline = "operation"
    static let snapshotDeadline = "snapshot"

    func handle(_ event: DecodedEvent, in tx: StoreTransaction) async throws -> [Emission] {
        try await handle(batch: [event], in: tx)[0]
    }

    /// A batch in a constant number of statements: read the records of its VMs, decide each
    /// command in order over them (a later command of one VM sees what an earlier one did),
    /// write the changed records, the snapshots and the deadlines. An invalid command throws,
    /// and the runtime retries the batch record by record, dead-lettering that one.
    func handle(batch received: [DecodedEvent], in tx: StoreTransaction) async throws -> [[Emission]] {
        let commands = try received.map { try ProviderCommand($0.message) }
        let repository = InstanceRepository(tx: tx)
        var records = try await repository.instances(Array(Set(commands.map(\.vmID))).sorted())
        var changed: [String: InstanceRecord] = [:]
        var calls: [Deadline] = []
        var answers: [[Emission]] = []
        let now = clock.nowMillis()
        for command in commands {
            switch InstanceLifecycle.decide(command, current: records[command.vmID]) {
            case .answer(let outcomes):
                for outcome in outcomes { metrics.answered(outcome) }
                answers.append(outcomes.flatMap(events.emissions))
            case .begin(let operation, let record, let report):
                var backupID = ""
                if case .snapshot(let commandID, let vmID, let backup) = command {
                    guard try await repository.recordSnapshot(commandID: commandID, vmID: vmID, backupID: backup) else {
                        answers.append([])
                        continue
                    }
                    backupID = backup
                } else {
                    records[command.vmID] = record
                    changed[command.vmID] = record
                }
                let call = PendingCall(operation: operation, commandID: command.commandID, backupID: backupID, startedMillis: now)
                let due = now + cloud.latency(of: operation, commandID: command.commandID)
                // One call per VM at a time: a new one replaces the pending one (a terminate
                // overtakes a create). Snapshots run beside it, one deadline each.
                calls.append(
                    operation == .snapshot
                        ? deadlines.entry(
                            Self.snapshotDeadline, key: "\(command.vmID)/\(command.commandID)", partitionKey: command.vmID, at: due,
                            payload: call.encoded)
                        : deadlines.entry(Self.operationDeadline, key: command.vmID, at: due, payload: call.encoded))
                metrics.started(operation)
                answers.append(report.flatMap(events.emissions))
            }
        }
        try await repository.save(changed.values.sorted { $0.vmID < $1.vmID })
        try await deadlines.set(calls, in: tx)
        return answers
    }

    func fire(_ deadline: Deadline, now: Int64, in tx: StoreTransaction) async throws -> [Emission] {
        try await fire(batch: [deadline], now: now, in: tx)[0]
    }

    /// Completed calls, in a constant number of statements (snapshots aside): the provider's
    /// answer to each moves its VM's record and says what to report. A call whose command is no
    /// longer the record's was overtaken (a terminate replaced a create): its answer is moot.
    func fire(batch due: [Deadline], now: Int64, in tx: StoreTransaction) async throws -> [[Emission]] {
        let calls = due.map { d in (deadline: d, call: PendingCall(decoding: d.payload), vmID: Self.vmID(of: d)) }
        let repository = InstanceRepository(tx: tx)
        var records = try await repository.instances(Array(Set(calls.map(\.vmID))).sorted())
        var changed: [String: InstanceRecord] = [:]
        var answers: [[Emission]] = []
        // The calls of a batch are of distinct VMs (one pending call per VM; a snapshot changes
        // no record), so they go to the provider together, at most `Self.callsInFlight` at once.
        var live: [(index: Int, call: PendingCall, record: InstanceRecord)] = []
        for (index, (deadline, call, vmID)) in calls.enumerated() {
            guard let call else {
                FileHandle.standardError.write(Data("novacron-provider: dropped deadline \(deadline.name)/\(deadline.key): unreadable payload\n".utf8))
                continue
            }
            guard let record = records[vmID], call.operation == .snapshot || record.commandID == call.commandID else { continue }
            live.append((index, call, record))
        }
        let results = await perform(live.map { ($0.index, $0.call, $0.record) })
        let byIndex = Dictionary(uniqueKeysWithValues: live.map { ($0.index, $0) })
        for index in calls.indices {
            guard let (_, call, record) = byIndex[index], let result = results[index] else {
                answers.append([])
                continue
            }
            let vmID = record.vmID
            let (next, outcome) = InstanceLifecycle.complete(
                call.operation, record: record, result: result, snapshot: (call.commandID, call.backupID))
            if call.operation == .snapshot {
                switch result {
                case .success(let ref, let size):
                    try await repository.finishSnapshot(commandID: call.commandID, state: "completed", ref: ref, sizeBytes: size)
                case .failure(let code, _, _):
                    try await repository.finishSnapshot(commandID: call.commandID, state: "failed: \(code)", ref: "", sizeBytes: 0)
                }
            } else {
                records[vmID] = next
                changed[vmID] = next
            }
            metrics.completed(call.operation, result: result, millis: now - call.startedMillis)
            answers.append(events.emissions(outcome))
        }
        try await repository.save(changed.values.sorted { $0.vmID < $1.vmID })
        return answers
    }

    static let callsInFlight = 16

    /// Makes the calls concurrently, at most `callsInFlight` at once; results by index.
    private func perform(_ calls: [(Int, PendingCall, InstanceRecord)]) async -> [Int: ProviderResult] {
        let cloud = cloud
        return await withTaskGroup(of: (Int, ProviderResult).self) { group in
            var results: [Int: ProviderResult] = [:]
            var pending = calls[...]
            func launch() {
                guard let (index, call, record) = pending.popFirst() else { return }
                group.addTask { (index, await cloud.perform(call.operation, commandID: call.commandID, record: record)) }
            }
            for _ in 0..<Self.callsInFlight { launch() }
            while let (index, result) = await group.next() {
                results[index] = result
                launch()
            }
            return results
        }
    }

    /// The VM a deadline is about: its key, or the part before the slash of a snapshot's.
    static func vmID(of deadline: Deadline) -> String {
        deadline.name == snapshotDeadline ? String(deadline.key.split(separator: "/").first ?? "") : deadline.key
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

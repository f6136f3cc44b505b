import CloudAdaptersCore
import NovaCore
import NovaProto
import Testing

/// The adapter's decisions: every command is idempotent against the record, whatever the
/// provider offers, and a provider's answer moves the record as documented.
@Suite struct InstanceLifecycleTests {
    let small = Resources(vcpuMillis: 2000, memoryMiB: 4096)

    func provision(_ command: String = "c1", vm: String = "vm-1", host: String = "h-1") -> ProviderCommand {
        .provision(commandID: command, vmID: vm, hostID: host, resources: small)
    }

    /// The call a decision begins, if it begins one.
    func begun(_ d: CommandDecision) -> (operation: ProviderOperation, record: InstanceRecord, report: [InstanceOutcome])? {
        if case .begin(let op, let r, let report) = d { return (op, r, report) }
        return nil
    }

    /// The refusal a decision answers with, if that is all it answers.
    func refusal(_ d: CommandDecision) -> (commandID: String, vmID: String, code: String, reason: String, retryable: Bool)? {
        guard case .answer(let outcomes) = d, outcomes.count == 1, case .refused(let c, let v, let code, let reason, let retryable) = outcomes[0]
        else { return nil }
        return (c, v, code, reason, retryable)
    }

    /// The record a decision answers `terminated` with, if that is all it answers.
    func terminated(_ d: CommandDecision) -> InstanceRecord? {
        guard case .answer(let outcomes) = d, outcomes.count == 1, case .terminated(let r) = outcomes[0] else { return nil }
        return r
    }

    func record(_ state: InstanceState, host: String = "h-1", command: String = "c1", target: String = "") -> InstanceRecord {
        InstanceRecord(vmID: "vm-1", hostID: host, state: state, providerRef: "ref-1", commandID: command, targetHostID: target, resources: small)
    }

    @Test func aNewVMIsCreatedOnceAndARepeatMakesNoSecondCall() throws {
        let first = try #require(begun(InstanceLifecycle.decide(provision(), current: nil)), "a new VM is created")
        let (operation, r, report) = (first.operation, first.record, first.report)
        #expect(operation == .provision)
        #expect(r.state == .provisioning && r.hostID == "h-1" && r.commandID == "c1" && r.resources == small && report.isEmpty)
        // The same command again while the call is in flight: nothing to call, it will answer.
        #expect(InstanceLifecycle.decide(provision(), current: r) == .answer([]))
        // A new command for the same VM on the same host once it runs: the answer again.
        let running = record(.running)
        #expect(InstanceLifecycle.decide(provision("c2"), current: running) == .answer([.provisioned(running)]))
    }

    @Test func aVMRunningElsewhereIsRefusedNotCreatedTwice() throws {
        let refused = try #require(refusal(InstanceLifecycle.decide(provision("c2", host: "h-2"), current: record(.running))))
        #expect(refused.commandID == "c2" && refused.vmID == "vm-1" && refused.code == "conflict" && !refused.retryable)
        #expect(refused.reason.contains("h-1") && refused.reason.contains("migrate"))
        // During a terminate: refused, retryable.
        let busy = refusal(InstanceLifecycle.decide(provision("c3"), current: record(.terminating, command: "t1")))
        #expect(busy?.code == "busy" && busy?.retryable == true)
    }

    @Test func aFailedOrTerminatedVMCanBeCreatedAgain() {
        for state in [InstanceState.failed, .terminated] {
            guard let (operation, r, _) = begun(InstanceLifecycle.decide(provision("c9", host: "h-3"), current: record(state))) else {
                Issue.record("a \(state) VM is created again")
                continue
            }
            #expect(operation == .provision && r.hostID == "h-3" && r.commandID == "c9" && r.state == .provisioning)
        }
    }

    @Test func terminateIsIdempotentAndOvertakesACreate() throws {
        // Unknown VM: nothing to delete, and it says so.
        let gone = try #require(terminated(InstanceLifecycle.decide(.terminate(commandID: "t1", vmID: "vm-9"), current: nil)))
        #expect(gone.vmID == "vm-9" && gone.commandID == "t1")
        // While a create is in flight: a terminate call replaces it.
        let overtaking = try #require(begun(InstanceLifecycle.decide(.terminate(commandID: "t1", vmID: "vm-1"), current: record(.provisioning))))
        let r = overtaking.record
        #expect(overtaking.operation == .terminate && r.state == .terminating && r.commandID == "t1")
        // The same terminate again: in flight, no second call; a new one after a failed call: called again.
        #expect(InstanceLifecycle.decide(.terminate(commandID: "t1", vmID: "vm-1"), current: r) == .answer([]))
        #expect(begun(InstanceLifecycle.decide(.terminate(commandID: "t2", vmID: "vm-1"), current: r))?.operation == .terminate)
        // A failed create has no instance: terminated at once.
        #expect(terminated(InstanceLifecycle.decide(.terminate(commandID: "t3", vmID: "vm-1"), current: record(.failed)))?.state == .terminated)
    }

    @Test func migrationNeedsARunningVMOnTheSource() throws {
        let migrate = ProviderCommand.migrate(commandID: "m1", vmID: "vm-1", sourceHostID: "h-1", targetHostID: "h-2")
        let begins = try #require(begun(InstanceLifecycle.decide(migrate, current: record(.running))), "a running VM migrates")
        let (r, report) = (begins.record, begins.report)
        #expect(begins.operation == .migrate && r.state == .migrating && r.targetHostID == "h-2" && report == [.migrationStarted(r)])
        #expect(InstanceLifecycle.decide(migrate, current: r) == .answer([]))
        let moved = record(.running, host: "h-2", command: "m1")
        #expect(InstanceLifecycle.decide(migrate, current: moved) == .answer([.migrated(moved, from: "h-1")]))
        let notOnSource = refusal(InstanceLifecycle.decide(migrate, current: record(.running, host: "h-7")))
        #expect(notOnSource?.code == "conflict" && notOnSource?.retryable == false)
        let unknown = refusal(InstanceLifecycle.decide(migrate, current: nil))
        #expect(unknown?.code == "not_found" && unknown?.retryable == false)
        let creating = refusal(InstanceLifecycle.decide(migrate, current: record(.provisioning)))
        #expect(creating?.code == "busy" && creating?.retryable == true)
    }

    @Test func completionsMoveTheRecord() {
        let (running, up) = InstanceLifecycle.complete(.provision, record: record(.provisioning), result: .success(ref: "i-123"))
        #expect(running.state == .running && running.providerRef == "i-123" && up == .provisioned(running))
        let (failed, down) = InstanceLifecycle.complete(
            .provision, record: record(.provisioning), result: .failure(code: "insufficient_capacity", reason: "full", retryable: true))
        #expect(failed.state == .failed && down == .provisionFailed(failed, code: "insufficient_capacity", reason: "full", retryable: true))
        let (moved, migrated) = InstanceLifecycle.complete(.migrate, record: record(.migrating, target: "h-2"), result: .success(ref: ""))
        #expect(moved.hostID == "h-2" && moved.targetHostID == "" && moved.state == .running && moved.providerRef == "ref-1")
        #expect(migrated == .migrated(moved, from: "h-1"))
        let (stayed, _) = InstanceLifecycle.complete(
            .migrate, record: record(.migrating, target: "h-2"), result: .failure(code: "x", reason: "y", retryable: false))
        #expect(stayed.hostID == "h-1" && stayed.state == .running)
        let (stillTerminating, notDone) = InstanceLifecycle.complete(
            .terminate, record: record(.terminating), result: .failure(code: "throttled", reason: "slow down", retryable: true))
        #expect(stillTerminating.state == .terminating)
        #expect(notDone == .terminationFailed(stillTerminating, code: "throttled", reason: "slow down"))
    }

    @Test func commandsAreValidatedNamingTheField() throws {
        var p = Novacron_V1_ProvisionVM()
        p.commandID = "c1"
        p.vmID = "vm-1"
        #expect(throws: ValidationError(field: "host_id", "must not be empty")) { try ProviderCommand(p) }
        p.hostID = "h-1"
        #expect((try? ProviderCommand(p)) == nil, "no resources is invalid")
        p.resources.vcpuMillis = 1000
        p.resources.memoryMib = 512
        #expect(try ProviderCommand(p) == .provision(commandID: "c1", vmID: "vm-1", hostID: "h-1", resources: Resources(vcpuMillis: 1000, memoryMiB: 512)))
        var m = Novacron_V1_ProviderMigrateVM()
        m.commandID = "m"
        m.vmID = "v"
        m.sourceHostID = "h"
        m.targetHostID = "h"
        #expect(throws: ValidationError(field: "target_host_id", "must differ from source_host_id 'h'")) { try ProviderCommand(m) }
        #expect(throws: ValidationError.self) { try ProviderCommand(Novacron_V1_PlaceVM()) }
    }
}

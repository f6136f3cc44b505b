import CloudAdaptersCore
import NovaCore
import Testing

@Suite struct SimulatedCloudTests {
    let record = InstanceRecord(vmID: "vm-1", hostID: "h-1", state: .provisioning, commandID: "c")

    @Test func drawsArePerCommandAndReplayable() {
        let cloud = SimulatedCloud(provisionMillis: 100...900, seed: 7)
        let latencies = (0..<500).map { cloud.latency(of: .provision, commandID: "cmd-\($0)") }
        #expect(latencies.allSatisfy { (100...900).contains($0) })
        #expect(Set(latencies).count > 200, "latencies spread over the range")
        #expect(latencies == (0..<500).map { cloud.latency(of: .provision, commandID: "cmd-\($0)") }, "the same command draws the same")
        let other = SimulatedCloud(provisionMillis: 100...900, seed: 8)
        #expect(latencies != (0..<500).map { other.latency(of: .provision, commandID: "cmd-\($0)") }, "the seed changes the draws")
    }

    @Test func failureRateIsHonouredWithBothKindsOfFailure() {
        let cloud = SimulatedCloud(failureRate: 0.2, seed: 3)
        var capacity = 0
        var hostError = 0
        let n = 5000
        for i in 0..<n {
            switch cloud.result(of: .provision, commandID: "c\(i)", record: record) {
            case .failure("insufficient_capacity", _, true): capacity += 1
            case .failure("host_error", _, false): hostError += 1
            case .success(let ref, _): #expect(ref.hasPrefix("sim-"))
            case .failure(let code, _, let retryable): Issue.record("unexpected failure \(code) retryable=\(retryable)")
            }
        }
        let failed = Double(capacity + hostError) / Double(n)
        #expect(abs(failed - 0.2) < 0.03, "failure share \(failed)")
        #expect(capacity > hostError * 2, "most failures are capacity: \(capacity) vs \(hostError)")
        #expect(SimulatedCloud(failureRate: 0).result(of: .provision, commandID: "x", record: record) != .failure(code: "", reason: "", retryable: false))
    }

    @Test func snapshotsHaveSizesInTheRange() {
        let cloud = SimulatedCloud(snapshotMiB: 10...20)
        for i in 0..<100 {
            guard case .success(let ref, let size) = cloud.result(of: .snapshot, commandID: "s\(i)", record: record) else {
                Issue.record("a snapshot succeeds")
                continue
            }
            #expect(ref.hasPrefix("snap-") && (10 << 20...20 << 20).contains(size))
        }
    }

    @Test func environmentIsValidatedNamingTheVariable() throws {
        let cloud = try SimulatedCloud(environment: ["SIM_PROVISION_MS": "5-10", "SIM_FAILURE_RATE": "0.5", "SIM_SEED": "9", "SIM_TERMINATE_MS": "3"])
        #expect(cloud.provisionMillis == 5...10 && cloud.terminateMillis == 3...3 && cloud.failureRate == 0.5 && cloud.seed == 9)
        #expect(try SimulatedCloud(environment: [:]) == SimulatedCloud())
        for (name, value) in [("SIM_PROVISION_MS", "10-5"), ("SIM_PROVISION_MS", "fast"), ("SIM_FAILURE_RATE", "2"), ("SIM_SEED", "-1"),
                              ("SIM_SNAPSHOT_MIB", "1-2-3")] {
            #expect(throws: ValidationError.self, "\(name)=\(value)") { try SimulatedCloud(environment: [name: value]) }
            do {
                _ = try SimulatedCloud(environment: [name: value])
            } catch {
                #expect(error.description.contains(name) && error.description.contains(value))
            }
        }
    }

    @Test func providerNamesAreChecked() throws {
        #expect(try ProviderKind(parsing: "sim") == .sim)
        #expect(ProviderKind.sim.commandTopic == "novacron.provider.sim.commands")
        #expect(ProviderKind.allCases.allSatisfy { TopicCatalog.descriptor(for: $0.commandTopic) != nil })
        do {
            _ = try ProviderKind(parsing: "ibm")
            Issue.record("ibm is not a provider")
        } catch {
            #expect(error.description.contains("aws, azure, gcp, libvirt, sim"))
        }
        #expect(throws: ValidationError.self) { try ProviderKind(parsing: nil) }
    }
}

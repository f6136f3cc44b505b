import CloudAdaptersCore
import NovaCore
import NovaStore
import PostgresNIO

/// The adapter schema's SQL, in the caller's transaction.
struct InstanceRepository {
    let tx: StoreTransaction

    /// The records of `vmIDs` that exist, locked until the transaction ends (the partition's
    /// owner is the only writer; the lock keeps a timer and a command of one VM in order all
    /// the same). One statement.
    func instances(_ vmIDs: [String]) async throws -> [String: InstanceRecord] {
        var records: [String: InstanceRecord] = [:]
        guard !vmIDs.isEmpty else { return records }
        for try await (vm, host, state, ref, command, target, cpu, mem, disk, gpu) in try await tx.query(
            """
            SELECT vm_id, host_id, state, provider_ref, command_id, target_host_id, cpu, mem, disk, gpu
            FROM instances WHERE vm_id = ANY(\(vmIDs)) ORDER BY vm_id FOR UPDATE
            """
        ).decode((String, String, String, String, String, String, Int64, Int64, Int64, Int64).self) {
            records[vm] = InstanceRecord(
                vmID: vm, hostID: host, state: InstanceState(rawValue: state) ?? .failed, providerRef: ref, commandID: command,
                targetHostID: target, resources: Resources(vcpuMillis: cpu, memoryMiB: mem, diskGiB: disk, gpus: gpu))
        }
        return records
    }

    /// Inserts or updates records, in one statement.
    func save(_ records: [InstanceRecord]) async throws {
        guard !records.isEmpty else { return }
        try await tx.query(
            """
            INSERT INTO instances (vm_id, host_id, state, provider_ref, command_id, target_host_id, cpu, mem, disk, gpu)
            SELECT * FROM unnest(\(records.map(\.vmID))::text[], \(records.map(\.hostID))::text[], \(records.map(\.state.rawValue))::text[],
                                 \(records.map(\.providerRef))::text[], \(records.map(\.commandID))::text[],
                                 \(records.map(\.targetHostID))::text[], \(records.map(\.resources.vcpuMillis))::bigint[],
                                 \(records.map(\.resources.memoryMiB))::bigint[], \(records.map(\.resources.diskGiB))::bigint[],
                                 \(records.map(\.resources.gpus))::bigint[])
            ON CONFLICT (vm_id) DO UPDATE SET host_id = EXCLUDED.host_id, state = EXCLUDED.state,
              provider_ref = EXCLUDED.provider_ref, command_id = EXCLUDED.command_id, target_host_id = EXCLUDED.target_host_id,
              cpu = EXCLUDED.cpu, mem = EXCLUDED.mem, disk = EXCLUDED.disk, gpu = EXCLUDED.gpu, updated_at = now()
            """)
    }

    /// Records a snapshot command; false when it was recorded before (a repeat).
    func recordSnapshot(commandID: String, vmID: String, backupID: String) async throws -> Bool {
        var inserted = false
        for try await _ in try await tx.query(
            """
            INSERT INTO snapshots (command_id, vm_id, backup_id) VALUES (\(commandID), \(vmID), \(backupID))
            ON CONFLICT (command_id) DO NOTHING RETURNING 1
            """
        ) { inserted = true }
        return inserted
    }

    func finishSnapshot(commandID: String, state: String, ref: String, sizeBytes: Int64) async throws {
        try await tx.query(
            "UPDATE snapshots SET state = \(state), ref = \(ref), size_bytes = \(sizeBytes) WHERE command_id = \(commandID)")
    }
}

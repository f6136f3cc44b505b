import Foundation
import NovaCore
import NovaStore
import PostgresNIO

/// A host row: the host, its measured utilisation and its claim generation.
struct HostRecord: Sendable {
    var host: NovaCore.Host
    var measured: Double
    var generation: Int64
}

/// A placement row.
struct PlacementRecord: Sendable {
    var vmID: String
    var hostID: String
    var resources: Resources
    var groups: [String]
    var command: [UInt8]
    var placedEvent: [UInt8]
    /// The place (or migrate) command that made this placement; its answer is `placedEvent`.
    var commandID = ""
}

/// What a batch of commands finds already done.
struct PriorWork: Sendable {
    /// Stored answers, by command id.
    var answers: [String: StoredAnswer] = [:]
    var placementsByVM: [String: PlacementRecord] = [:]
    /// Placements by the id of the command that made them.
    var placementsByCommand: [String: PlacementRecord] = [:]
}

/// A command's answer as stored, to send again when the command is repeated.
struct StoredAnswer: Sendable {
    var type: String
    var key: String
    var payload: [UInt8]
}

/// The placement schema's SQL, one method per statement. Every method runs in the caller's
/// transaction.
struct InventoryRepository {
    let tx: StoreTransaction

    static let hostColumns = """
        host_id, cloud, region, zone, labels::text AS labels, cap_cpu, cap_mem, cap_disk, cap_gpu,
        alloc_cpu, alloc_mem, alloc_disk, alloc_gpu, price, spot, state, measured, generation, provider
        """

    /// Inserts or updates hosts' registrations, in one statement; their allocations are kept.
    /// A host registered twice in `hosts` takes the later registration.
    func upsert(_ hosts: [NovaCore.Host]) async throws {
        var latest: [String: Int] = [:]
        for (i, host) in hosts.enumerated() { latest[host.id] = i }
        let unique = hosts.indices.filter { latest[hosts[$0].id] == $0 }.map { hosts[$0] }
        guard !unique.isEmpty else { return }
        let labels = try unique.map { String(decoding: try JSONEncoder().encode($0.labels), as: UTF8.self) }
        try await tx.query(
            """
            INSERT INTO hosts (host_id, cloud, region, zone, labels, cap_cpu, cap_mem, cap_disk, cap_gpu, price, spot, state, provider)
            SELECT id, cloud, region, zone, labels::jsonb, cpu, mem, disk, gpu, price, spot, state, provider
            FROM unnest(\(unique.map(\.id))::text[], \(unique.map(\.topology.cloud))::text[], \(unique.map(\.topology.region))::text[],
                        \(unique.map(\.topology.zone))::text[], \(labels)::text[], \(unique.map(\.capacity.vcpuMillis))::bigint[],
                        \(unique.map(\.capacity.memoryMiB))::bigint[], \(unique.map(\.capacity.diskGiB))::bigint[],
                        \(unique.map(\.capacity.gpus))::bigint[], \(unique.map(\.priceMicrosPerHour))::bigint[],
                        \(unique.map(\.spot))::bool[], \(unique.map(\.state.rawValue))::text[], \(unique.map(\.provider))::text[])
                 AS r(id, cloud, region, zone, labels, cpu, mem, disk, gpu, price, spot, state, provider)
            ON CONFLICT (host_id) DO UPDATE SET cloud = EXCLUDED.cloud, region = EXCLUDED.region, zone = EXCLUDED.zone,
              labels = EXCLUDED.labels, cap_cpu = EXCLUDED.cap_cpu, cap_mem = EXCLUDED.cap_mem, cap_disk = EXCLUDED.cap_disk,
              cap_gpu = EXCLUDED.cap_gpu, price = EXCLUDED.price, spot = EXCLUDED.spot, provider = EXCLUDED.provider,
              generation = hosts.generation + 1, version = \(unescaped: Self.writerVersion)
            """)
    }

    /// Sets a host's state; false when the host is unknown.
    func setState(_ state: HostState, of hostID: String) async throws -> Bool {
        try await exists(
            """
            UPDATE hosts SET state = \(state.rawValue), generation = generation + 1, version = \(unescaped: Self.writerVersion)
            WHERE host_id = \(hostID) RETURNING 1
            """)
    }

    /// Applies hosts' heartbeats and utilisation samples, folded per host (`HostReports`), in
    /// one statement. A sample steps the host's version (the cache reads `measured`); a
    /// heartbeat alone does not. Hosts not registered are left alone, as before: their
    /// telemetry may overtake their registration, which comes on another topic.
    /// Returns how many of the reports were about hosts not registered.
    func record(_ reports: HostReports) async throws -> Int {
        guard !reports.isEmpty else { return 0 }
        let hosts = reports.hosts
        let rows = try await tx.query(
            """
            UPDATE hosts h SET measured = h.measured * r.factor + r.addend, last_heartbeat = now(),
              version = CASE WHEN r.sampled THEN \(unescaped: Self.writerVersion) ELSE h.version END
            FROM unnest(\(hosts.map(\.hostID))::text[], \(hosts.map(\.factor))::float8[], \(hosts.map(\.addend))::float8[],
                        \(hosts.map(\.sampled))::bool[]) AS r(host_id, factor, addend, sampled)
            WHERE h.host_id = r.host_id
            RETURNING h.host_id
            """)
        var known = Set<String>()
        for try await hostID in rows.decode(String.self) { known.insert(hostID) }
        return hosts.reduce(0) { $0 + (known.contains($1.hostID) ? 0 : $1.reports) }
    }

    /// A host row's `version` is the id of the transaction that last wrote it (what
    /// `writerVersion` gives inside that transaction).
    static let writerVersion = "pg_current_xact_id()::text::bigint"

    /// The hosts a reader that has seen everything before `horizon` has not seen, and the
    /// horizon to pass next time: the oldest transaction still running when these rows were
    /// read. Transactions commit in any order, so "rows newer than the newest seen" would miss
    /// a row of a transaction that began earlier and committed later (another replica's claim
    /// or release); every transaction at or after the horizon may still commit, so its rows
    /// are read again next time. Horizon 0 reads every host.
    ///
    /// Rows last written by one of the `skipping` transactions are left out: the reader wrote
    /// them itself and already holds what they say.
    ///
    /// In the same round trip: the current versions of `groups` (a group never written has
    /// none).
    func hosts(
        unseenSince horizon: Int64, skipping: [Int64] = [], readingVersionsOf groups: [String] = []
    ) async throws -> (hosts: [HostRecord], horizon: Int64, groupVersions: [String: Int64]) {
        let rows = try await tx.execute(UnseenHostsStatement(horizon: horizon, skipping: skipping, groups: groups))
        // Every row repeats the horizon and the group versions; the first one gives them.
        var shared: (horizon: Int64, versions: [String: Int64])?
        let records = try await hostRecords(rows) { row in
            guard shared == nil else { return }
            let (names, numbers) = (try row["groups"].decode([String].self), try row["versions"].decode([Int64].self))
            shared = (try row["horizon"].decode(Int64.self), Dictionary(zip(names, numbers), uniquingKeysWith: { a, _ in a }))
        }
        return (records, shared?.horizon ?? horizon, shared?.versions ?? [:])
    }

    func host(_ hostID: String) async throws -> HostRecord? {
        try await hostRecords(try await tx.query("SELECT \(unescaped: Self.hostColumns) FROM hosts WHERE host_id = \(hostID)")).first
    }

    /// Claims resources on each host if its generation is still the expected one and it is
    /// ready and has room, and only if every claim succeeds, records `placements` and steps the
    /// versions of the groups they join: one statement. Returns each claimed host's row as the
    /// claim left it (beyond what the claimer knew, only `measured` can differ: it is the one
    /// column written without stepping the generation), the claiming transaction's id (the
    /// rows' new version, 0 when nothing was claimed) and, when every claim won, the groups'
    /// new versions. A host missing from `claimed` lost a race: nothing was recorded, and the
    /// caller gives back the claims that did succeed (`unclaim`) and decides again.
    func claim(
        _ claims: [HostClaim], recording placements: [PlacementRecord]
    ) async throws -> (claimed: [String: ClaimedHost], writer: Int64, groupVersions: [String: Int64]) {
        let groups = Set(placements.flatMap(\.groups)).sorted()
        let rows = try await tx.execute(ClaimStatement(claims: claims, placements: placements, groups: groups))
        var claimed: [String: ClaimedHost] = [:]
        var writer: Int64 = 0
        var versions: [String: Int64] = [:]
        for try await (isHost, id, number, measured, version) in rows {
            if isHost {
                claimed[id] = ClaimedHost(generation: number, measured: measured)
                writer = version
            } else {
                versions[id] = number
            }
        }
        return (claimed, writer, versions)
    }

    /// Returns `resources` to a host.
    func unclaim(_ resources: Resources, on hostID: String) async throws {
        try await unclaim([HostClaim(hostID: hostID, resources: resources, expectedGeneration: 0)])
    }

    /// Returns each claim's resources to its host, in one statement (generations ignored).
    func unclaim(_ claims: [HostClaim]) async throws {
        guard !claims.isEmpty else { return }
        try await tx.query(
            """
            UPDATE hosts h SET alloc_cpu = h.alloc_cpu - c.cpu, alloc_mem = h.alloc_mem - c.mem,
              alloc_disk = h.alloc_disk - c.disk, alloc_gpu = h.alloc_gpu - c.gpu,
              generation = h.generation + 1, version = \(unescaped: Self.writerVersion)
            FROM unnest(\(claims.map(\.hostID))::text[], \(claims.map(\.resources.vcpuMillis))::bigint[],
                        \(claims.map(\.resources.memoryMiB))::bigint[], \(claims.map(\.resources.diskGiB))::bigint[],
                        \(claims.map(\.resources.gpus))::bigint[])
                 AS c(host_id, cpu, mem, disk, gpu)
            WHERE h.host_id = c.host_id
            """)
    }

    /// The placements of those of `vmIDs` that are placed.
    func placements(of vmIDs: [String]) async throws -> [String: PlacementRecord] {
        try await lookUp(vms: vmIDs, commands: []).placementsByVM
    }

    func placement(of vmID: String) async throws -> PlacementRecord? {
        try await placements(of: [vmID])[vmID]
    }

    /// Stored answers of those of `commandIDs` that were answered before.
    func commandResults(_ commandIDs: [String]) async throws -> [String: StoredAnswer] {
        try await lookUp(vms: [], commands: commandIDs).answers
    }

    /// In one statement: takes the locks of `groups` (as `lock(groups:)` does), and reads the
    /// stored answers of `commands`, the placements of those of `vms` that are placed and the
    /// placements made by any of `commands`.
    ///
    /// Every read is one index probe per id (`OFFSET 0` keeps each probe a nested loop): with
    /// `= ANY` and no statistics yet, as in a table filling fast, the planner guessed a large
    /// share of the table would match and scanned all of it. The reads see the database as of
    /// the statement's start, before the locks were granted; none of them needs more (a VM
    /// placed meanwhile by another replica fails the insert on its primary key).
    /// All rows share the placement's shape: a stored answer fills `vm_id` with its key,
    /// `host_id` with its message type and `placed_event` with its payload.
    func lookUp(vms: [String], commands: [String], lockingGroups groups: [String] = []) async throws -> PriorWork {
        var prior = PriorWork()
        guard !vms.isEmpty || !commands.isEmpty || !groups.isEmpty else { return prior }
        let rows = try await tx.execute(LookUpStatement(lockKeys: Self.lockKeys(groups), commands: commands, vms: vms))
        let wanted = Set(commands)
        for try await (kind, vm, host, cpu, mem, disk, gpu, groups, command, event, commandID) in rows {
            switch kind {
            case "answer":
                prior.answers[commandID] = StoredAnswer(type: host, key: vm, payload: Array(buffer: event))
            case "placement":
                let record = PlacementRecord(
                    vmID: vm, hostID: host, resources: Resources(vcpuMillis: cpu, memoryMiB: mem, diskGiB: disk, gpus: gpu),
                    groups: groups, command: Array(buffer: command), placedEvent: Array(buffer: event), commandID: commandID)
                if prior.placementsByVM[vm] == nil { prior.placementsByVM[vm] = record }
                if wanted.contains(commandID), prior.placementsByCommand[commandID] == nil {
                    prior.placementsByCommand[commandID] = record
                }
            default:
                continue
            }
        }
        return prior
    }

    static let placementColumns = "vm_id, host_id, cpu, mem, disk, gpu, groups, command, placed_event, command_id"

    func placements(onHost hostID: String) async throws -> [PlacementRecord] {
        try await placementRecords(
            try await tx.query(
                """
                SELECT \(unescaped: Self.placementColumns) FROM placements WHERE host_id = \(hostID) ORDER BY vm_id
                """))
    }

    func allPlacements() async throws -> [PlacementRecord] {
        try await placementRecords(
            try await tx.query("SELECT \(unescaped: Self.placementColumns) FROM placements"))
    }

    /// Records placements and returns the new version of every group they join.
    @discardableResult
    func insert(_ records: [PlacementRecord]) async throws -> [String: Int64] {
        guard !records.isEmpty else { return [:] }
        return try await claim([], recording: records).groupVersions
    }

    /// Deletes a placement and steps the versions of the groups it was a member of, in one
    /// statement.
    func deletePlacement(of vmID: String) async throws {
        try await tx.query(
            """
            WITH deleted AS (DELETE FROM placements WHERE vm_id = \(vmID) RETURNING groups),
            bumped AS (
              INSERT INTO group_versions (grp, version)
              SELECT DISTINCT g, 1 FROM deleted, unnest(deleted.groups) AS g ORDER BY g
              ON CONFLICT (grp) DO UPDATE SET version = group_versions.version + 1
              RETURNING grp)
            SELECT count(*) FROM bumped
            """)
    }

    /// Members of each VM group per host, for the groups a request's rules name. `&&` lets the
    /// GIN index on `groups` find the rows, so the cost follows the groups' size, not the table's.
    func members(of groups: [String]) async throws -> [String: [String: Int]] {
        guard !groups.isEmpty else { return [:] }
        var result: [String: [String: Int]] = [:]
        let rows = try await tx.query(
            """
            SELECT g, host_id, count(*)::int FROM placements, unnest(groups) AS g
            WHERE groups && \(groups)::text[] AND g = ANY(\(groups)) GROUP BY g, host_id
            """)
        for try await (group, host, count) in rows.decode((String, String, Int).self) {
            result[group, default: [:]][host] = count
        }
        return result
    }

    /// Serialises decisions that involve the same VM groups, across replicas, until commit.
    func lock(groups: [String]) async throws {
        guard !groups.isEmpty else { return }
        // One statement for all groups, taken in sorted order so replicas never deadlock.
        try await tx.query(
            """
            SELECT count(pg_advisory_xact_lock(hashtextextended(k, 0)))
            FROM (SELECT k FROM unnest(\(Self.lockKeys(groups))::text[]) AS k ORDER BY k) AS ordered
            """)
    }

    private static func lockKeys(_ groups: [String]) -> [String] {
        Set(groups).sorted().map { "placement-group:" + $0 }
    }

    func storeCommandResults(_ answers: [(commandID: String, answer: StoredAnswer)]) async throws {
        guard !answers.isEmpty else { return }
        try await tx.query(
            """
            INSERT INTO command_results (command_id, message_type, key, payload)
            SELECT * FROM unnest(\(answers.map(\.commandID))::text[], \(answers.map(\.answer.type))::text[],
                                 \(answers.map(\.answer.key))::text[], \(answers.map { ByteBuffer(bytes: $0.answer.payload) })::bytea[])
            ON CONFLICT DO NOTHING
            """)
    }

    private func exists(_ query: PostgresQuery) async throws -> Bool {
        for try await _ in try await tx.query(query) { return true }
        return false
    }

    /// Host rows as records; `each` sees every row first, and rows without a host (of an outer
    /// join that matched none) are skipped.
    private func hostRecords<Rows: AsyncSequence>(
        _ rows: Rows, each: (PostgresRandomAccessRow) throws -> Void = { _ in }
    ) async throws -> [HostRecord] where Rows.Element == PostgresRow {
        var records: [HostRecord] = []
        for try await row in rows {
            let r = row.makeRandomAccess()
            try each(r)
            guard let labelsJSON = try r["labels"].decode(String?.self) else { continue }
            let labels = labelsJSON == "{}" ? [:] : (try? JSONDecoder().decode([String: String].self, from: Data(labelsJSON.utf8))) ?? [:]
            let host = NovaCore.Host(
                id: try r["host_id"].decode(String.self),
                capacity: Resources(
                    vcpuMillis: try r["cap_cpu"].decode(Int64.self), memoryMiB: try r["cap_mem"].decode(Int64.self),
                    diskGiB: try r["cap_disk"].decode(Int64.self), gpus: try r["cap_gpu"].decode(Int64.self)),
                allocated: Resources(
                    vcpuMillis: try r["alloc_cpu"].decode(Int64.self), memoryMiB: try r["alloc_mem"].decode(Int64.self),
                    diskGiB: try r["alloc_disk"].decode(Int64.self), gpus: try r["alloc_gpu"].decode(Int64.self)),
                topology: Topology(
                    cloud: try r["cloud"].decode(String.self), region: try r["region"].decode(String.self),
                    zone: try r["zone"].decode(String.self)),
                labels: labels, priceMicrosPerHour: try r["price"].decode(Int64.self), spot: try r["spot"].decode(Bool.self),
                state: HostState(rawValue: try r["state"].decode(String.self)) ?? .failed,
                provider: try r["provider"].decode(String.self))
            records.append(
                HostRecord(
                    host: host, measured: try r["measured"].decode(Double.self), generation: try r["generation"].decode(Int64.self)))
        }
        return records
    }

    private func placementRecords(_ rows: PostgresRowSequence) async throws -> [PlacementRecord] {
        var records: [PlacementRecord] = []
        for try await (vm, host, cpu, mem, disk, gpu, groups, command, event, commandID) in rows.decode(
            (String, String, Int64, Int64, Int64, Int64, [String], ByteBuffer, ByteBuffer, String).self)
        {
            records.append(
                PlacementRecord(
                    vmID: vm, hostID: host, resources: Resources(vcpuMillis: cpu, memoryMiB: mem, diskGiB: disk, gpus: gpu),
                    groups: groups, command: Array(buffer: command), placedEvent: Array(buffer: event), commandID: commandID))
        }
        return records
    }
}

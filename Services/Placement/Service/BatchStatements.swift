import NIOCore
import NovaStore
import PostgresNIO

/// The statements every place batch runs, prepared: each connection parses and plans them
/// once instead of per batch (claim and lookup took 0.35 ms of planning each, per batch,
/// measured). Their parameters are arrays, so the generic plan the server settles on is the
/// custom one: a nested loop of index probes per id.
///
/// Each is the SQL of the `InventoryRepository` method of the same name, which documents
/// what it does: `claim`, `lookUp`, `hosts(unseenSince:skipping:readingVersionsOf:)`.
struct ClaimStatement: PostgresPreparedStatement {
    static let name = "placement_claim_v1"
    static let sql = """
        WITH claimed AS (
          UPDATE hosts h SET alloc_cpu = h.alloc_cpu + c.cpu, alloc_mem = h.alloc_mem + c.mem,
            alloc_disk = h.alloc_disk + c.disk, alloc_gpu = h.alloc_gpu + c.gpu,
            generation = h.generation + 1, version = \(InventoryRepository.writerVersion)
          FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::bigint[], $5::bigint[], $6::bigint[])
               AS c(host_id, cpu, mem, disk, gpu, generation)
          WHERE h.host_id = c.host_id AND h.generation = c.generation AND h.state = 'ready'
            AND h.alloc_cpu + c.cpu <= h.cap_cpu AND h.alloc_mem + c.mem <= h.cap_mem
            AND h.alloc_disk + c.disk <= h.cap_disk AND h.alloc_gpu + c.gpu <= h.cap_gpu
          RETURNING h.host_id, h.generation, h.measured, h.version),
        won AS (SELECT count(*) = cardinality($1::text[]) AS every_claim FROM claimed),
        inserted AS (
          INSERT INTO placements (vm_id, host_id, cpu, mem, disk, gpu, groups, command, placed_event, command_id)
          SELECT vm, host, cpu, mem, disk, gpu, ARRAY(SELECT jsonb_array_elements_text(groups)), command, event, cmd
          FROM unnest($7::text[], $8::text[], $9::bigint[], $10::bigint[], $11::bigint[], $12::bigint[],
                      $13::jsonb[], $14::bytea[], $15::bytea[], $16::text[])
               AS p(vm, host, cpu, mem, disk, gpu, groups, command, event, cmd)
          WHERE (SELECT every_claim FROM won)),
        bumped AS (
          INSERT INTO group_versions (grp, version)
          SELECT g, 1 FROM unnest($17::text[]) AS g WHERE (SELECT every_claim FROM won) ORDER BY g
          ON CONFLICT (grp) DO UPDATE SET version = group_versions.version + 1
          RETURNING grp, version)
        SELECT true, host_id, generation, measured, version FROM claimed
        UNION ALL
        SELECT false, grp, version, 0::float8, 0::bigint FROM bumped
        """
    typealias Row = (Bool, String, Int64, Double, Int64)

    var claims: [HostClaim]
    var placements: [PlacementRecord]
    var groups: [String]

    func makeBindings() throws -> PostgresBindings {
        try PostgresBindings(
            claims.map(\.hostID), claims.map(\.resources.vcpuMillis), claims.map(\.resources.memoryMiB),
            claims.map(\.resources.diskGiB), claims.map(\.resources.gpus), claims.map(\.expectedGeneration),
            placements.map(\.vmID), placements.map(\.hostID), placements.map(\.resources.vcpuMillis),
            placements.map(\.resources.memoryMiB), placements.map(\.resources.diskGiB), placements.map(\.resources.gpus),
            placements.map { JSONText.array($0.groups) }, placements.map { ByteBuffer(bytes: $0.command) },
            placements.map { ByteBuffer(bytes: $0.placedEvent) }, placements.map(\.commandID), groups)
    }

    func decodeRow(_ row: PostgresRow) throws -> Row {
        try row.decode(Row.self)
    }
}

struct LookUpStatement: PostgresPreparedStatement {
    static let name = "placement_look_up_v1"
    static let sql = """
        WITH locked AS (
          SELECT count(pg_advisory_xact_lock(hashtextextended(k, 0))) AS n
          FROM (SELECT k FROM unnest($1::text[]) AS k ORDER BY k) AS ordered)
        SELECT 'lock', '', '', 0::bigint, 0::bigint, 0::bigint, 0::bigint, '{}'::text[], ''::bytea, ''::bytea, ''
        FROM locked
        UNION ALL
        SELECT 'answer', r.* FROM unnest($2::text[]) AS c(id),
          LATERAL (SELECT key, message_type, 0::bigint, 0::bigint, 0::bigint, 0::bigint, '{}'::text[], ''::bytea,
                          payload, command_id
                   FROM command_results WHERE command_id = c.id OFFSET 0) r
        UNION ALL
        SELECT 'placement', p.* FROM unnest($3::text[]) AS v(id),
          LATERAL (SELECT \(InventoryRepository.placementColumns) FROM placements WHERE vm_id = v.id OFFSET 0) p
        UNION ALL
        SELECT 'placement', p.* FROM unnest($2::text[]) AS c(id),
          LATERAL (SELECT \(InventoryRepository.placementColumns) FROM placements
                   WHERE command_id <> '' AND command_id = c.id OFFSET 0) p
        """
    typealias Row = (String, String, String, Int64, Int64, Int64, Int64, [String], ByteBuffer, ByteBuffer, String)

    var lockKeys: [String]
    var commands: [String]
    var vms: [String]

    func makeBindings() throws -> PostgresBindings {
        try PostgresBindings(lockKeys, commands, vms)
    }

    func decodeRow(_ row: PostgresRow) throws -> Row {
        try row.decode(Row.self)
    }
}

struct UnseenHostsStatement: PostgresPreparedStatement {
    static let name = "placement_unseen_hosts_v3"
    static let sql = """
        SELECT s.horizon, g.groups, g.versions, \(InventoryRepository.hostColumns)
        FROM (SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint AS horizon) AS s
          CROSS JOIN (SELECT coalesce(array_agg(grp), '{}') AS groups, coalesce(array_agg(version), '{}') AS versions
                      FROM group_versions WHERE grp = ANY($3::text[])) AS g
          LEFT JOIN hosts ON version >= $1 AND version <> ALL($2::bigint[])
        """
    typealias Row = PostgresRow

    var horizon: Int64
    var skipping: [Int64]
    var groups: [String]

    func makeBindings() throws -> PostgresBindings {
        try PostgresBindings(horizon, skipping, groups)
    }

    func decodeRow(_ row: PostgresRow) throws -> Row {
        row
    }
}

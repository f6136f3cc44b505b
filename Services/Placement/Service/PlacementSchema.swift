import NovaStore

/// The placement schema: hosts with their allocation and a generation for compare-and-set
/// claims, placements (which VM is where, with the command that placed it), and command results
/// for answering a repeated command with its original decision; group versions, so member
/// counts are re-read only when another writer changed them.
enum PlacementSchema {
    static let migrations = [
        Migration(
            version: 1, name: "inventory",
            statements: [
                "CREATE SEQUENCE inventory_version",
                """
                CREATE TABLE hosts (
                  host_id text PRIMARY KEY,
                  cloud text NOT NULL, region text NOT NULL, zone text NOT NULL,
                  labels jsonb NOT NULL DEFAULT '{}',
                  cap_cpu bigint NOT NULL, cap_mem bigint NOT NULL, cap_disk bigint NOT NULL, cap_gpu bigint NOT NULL,
                  alloc_cpu bigint NOT NULL DEFAULT 0, alloc_mem bigint NOT NULL DEFAULT 0,
                  alloc_disk bigint NOT NULL DEFAULT 0, alloc_gpu bigint NOT NULL DEFAULT 0,
                  price bigint NOT NULL DEFAULT 0, spot boolean NOT NULL DEFAULT false,
                  state text NOT NULL DEFAULT 'ready',
                  measured double precision NOT NULL DEFAULT 0,
                  last_heartbeat timestamptz,
                  generation bigint NOT NULL DEFAULT 0,
                  version bigint NOT NULL DEFAULT nextval('inventory_version'),
                  CONSTRAINT never_over_capacity CHECK (
                    alloc_cpu >= 0 AND alloc_mem >= 0 AND alloc_disk >= 0 AND alloc_gpu >= 0 AND
                    alloc_cpu <= cap_cpu AND alloc_mem <= cap_mem AND alloc_disk <= cap_disk AND alloc_gpu <= cap_gpu))
                """,
                "CREATE INDEX hosts_version ON hosts (version)",
                """
                CREATE TABLE placements (
                  vm_id text PRIMARY KEY,
                  host_id text NOT NULL REFERENCES hosts (host_id),
                  cpu bigint NOT NULL, mem bigint NOT NULL, disk bigint NOT NULL, gpu bigint NOT NULL,
                  groups text[] NOT NULL DEFAULT '{}',
                  command bytea NOT NULL,
                  placed_event bytea NOT NULL,
                  placed_at timestamptz NOT NULL DEFAULT now())
                """,
                "CREATE INDEX placements_host ON placements (host_id)",
                "CREATE INDEX placements_groups ON placements USING gin (groups)",
                """
                CREATE TABLE command_results (
                  command_id text PRIMARY KEY,
                  message_type text NOT NULL,
                  key text NOT NULL,
                  payload bytea NOT NULL,
                  created_at timestamptz NOT NULL DEFAULT now())
                """,
            ]),
        // A version per VM group, bumped in the transaction of every placement insert or delete
        // of a member, so a replica re-reads a group's members only when it changed elsewhere.
        Migration(
            version: 2, name: "group versions",
            statements: ["CREATE TABLE group_versions (grp text PRIMARY KEY, version bigint NOT NULL)"]),
        // The foreign key from placements to hosts checked every inserted row against hosts:
        // half the cost of a placement insert. It guarded nothing the claim does not: a
        // placement is inserted only in the transaction whose generation compare-and-set
        // updated its host's row, and hosts are never deleted.
        Migration(
            version: 3, name: "placements without the host foreign key",
            statements: ["ALTER TABLE placements DROP CONSTRAINT placements_host_id_fkey"]),
        // A placement remembers the command that made it: its row already holds that command's
        // answer, so a fresh placement needs no command_results row (one per VM placed). The
        // answer moves to command_results when the placement goes (release, migration).
        Migration(
            version: 4, name: "placements know their command",
            statements: [
                "ALTER TABLE placements ADD COLUMN command_id text NOT NULL DEFAULT ''",
                "CREATE INDEX placements_command ON placements (command_id) WHERE command_id <> ''",
            ]),
        // A host's version was a sequence number, and a replica synced the rows above the
        // newest it had seen; but a transaction that took a lower number and committed later
        // (another replica's claim or release) was never seen, so that replica kept deciding
        // on a wrong allocation. The version is now the writing transaction's id, read from a
        // snapshot's horizon (see InventoryRepository.hosts(unseenSince:)). Existing rows go to
        // 0: every replica loads all hosts at start anyway.
        Migration(
            version: 5, name: "host versions are writer transaction ids",
            statements: [
                "ALTER TABLE hosts ALTER COLUMN version SET DEFAULT pg_current_xact_id()::text::bigint",
                "UPDATE hosts SET version = 0",
                "DROP SEQUENCE inventory_version",
            ]),
        // Placement asks the host's provider adapter to create, terminate and move its VMs.
        Migration(
            version: 6, name: "hosts know their provider",
            sql: "ALTER TABLE hosts ADD COLUMN provider text NOT NULL DEFAULT ''"),
    ]
}

import NovaStore

/// An adapter's schema (`provider_<name>`): one row per VM it was asked to run (the instance
/// record), and one per snapshot command, so a repeated snapshot command is recognised.
enum ProviderSchema {
    static let migrations = [
        Migration(
            version: 1, name: "instances and snapshots",
            statements: [
                """
                CREATE TABLE instances (
                  vm_id text PRIMARY KEY, host_id text NOT NULL, state text NOT NULL,
                  provider_ref text NOT NULL DEFAULT '', command_id text NOT NULL,
                  target_host_id text NOT NULL DEFAULT '',
                  cpu bigint NOT NULL DEFAULT 0, mem bigint NOT NULL DEFAULT 0, disk bigint NOT NULL DEFAULT 0, gpu bigint NOT NULL DEFAULT 0,
                  updated_at timestamptz NOT NULL DEFAULT now())
                """,
                """
                CREATE TABLE snapshots (
                  command_id text PRIMARY KEY, vm_id text NOT NULL, backup_id text NOT NULL,
                  state text NOT NULL DEFAULT 'in_progress', ref text NOT NULL DEFAULT '', size_bytes bigint NOT NULL DEFAULT 0)
                """,
            ]),
    ]
}

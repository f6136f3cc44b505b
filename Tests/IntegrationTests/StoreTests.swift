import Foundation
import NovaTestSupport
import Logging
import NovaService
import NovaStore
import PostgresNIO
import Testing

/// A provisioned schema with a running client, torn down after the test.
private func withStore<T: Sendable>(
    _ env: TestEnvironment, schema name: String, _ body: @escaping @Sendable (Store) async throws -> T
) async throws -> T {
    let schema = try SchemaName(name)
    let logger = Logger(label: "tests")
    try await SchemaProvisioner(admin: env.admin, logger: logger).provision(schema: schema, password: "pw_\(name)")
    let store = Store(settings: env.admin.withCredentials(username: schema.role, password: "pw_\(name)"), schema: schema, logger: logger)
    return try await withThrowingTaskGroup(of: T?.self) { group in
        group.addTask { await store.client.run(); return nil }
        group.addTask { try await body(store) }
        defer { group.cancelAll() }
        while let result = try await group.next() {
            if let result { return result }
        }
        throw TestSetupError("store body did not finish")
    }
}

@Suite(.serialized) struct StoreTests {
    /// Two replicas starting at once: every migration is applied exactly once, by one of them.
    @Test func twoReplicasMigratingTheSameSchemaApplyEachVersionOnce() async throws {
        let env = try TestEnvironment.current()
        let name = TestEnvironment.uniqueName("mig")
        let migrations = [
            Migration(version: 1, name: "counter", sql: "CREATE TABLE counter (n int NOT NULL)"),
            Migration(version: 2, name: "seed", sql: "INSERT INTO counter VALUES (1)"),
            Migration(version: 3, name: "bump", statements: ["UPDATE counter SET n = n + 1", "SELECT pg_sleep(0.2)"]),
        ]
        let results = try await withThrowingTaskGroup(of: [Int].self) { group in
            for _ in 0..<2 {
                group.addTask {
                    try await withStore(env, schema: name) { store in
                        try await Migrator(schema: store.schema, logger: Logger(label: "m")).migrate(
                            migrations, component: "svc", on: store.client)
                    }
                }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(results.sorted { $0.count < $1.count } == [[], [1, 2, 3]])
        #expect(try await env.scalar("SELECT n FROM \(unescaped: name).counter", as: Int32.self) == 2)
        #expect(try await env.scalar("SELECT count(*)::int FROM \(unescaped: name).schema_migrations", as: Int.self) == 3)
    }

    /// A lease is held by one transaction at a time; renewing it keeps its epoch and writes
    /// nothing; a new holder raises the epoch.
    @Test func aLeaseHasOneHolderAndItsEpochGrowsWhenTheHolderChanges() async throws {
        let env = try TestEnvironment.current()
        let name = TestEnvironment.uniqueName("lease")
        try await withStore(env, schema: name) { store in
            try await store.prepare(migrations: [])
            let first = try await store.withTransaction { try await $0.acquireLease("sweep", holder: "a") }
            #expect(first?.epoch == 1)
            let renewed = try await store.withTransaction { tx -> (LeaseGrant?, Int64) in
                let grant = try await tx.acquireLease("sweep", holder: "a")
                var writes: Int64 = -1
                for try await xid in try await tx.query("SELECT coalesce(pg_current_xact_id_if_assigned()::text, '0')::bigint").decode(Int64.self) {
                    writes = xid
                }
                return (grant, writes)
            }
            #expect(renewed.0?.epoch == 1, "the same holder keeps the epoch")
            #expect(renewed.1 == 0, "renewing wrote nothing (no transaction id was assigned)")
            let (blocked, taken) = try await store.withTransaction { tx -> (LeaseGrant?, LeaseGrant?) in
                let mine = try await tx.acquireLease("sweep", holder: "b")
                let other = try await store.withTransaction { try await $0.acquireLease("sweep", holder: "c") }
                return (other, mine)
            }
            #expect(blocked == nil, "held by another open transaction")
            #expect(taken?.epoch == 2, "a new holder raises the epoch")
            #expect(try await store.withTransaction { try await $0.acquireLease("sweep", holder: "a") }?.epoch == 3)
        }
    }

    /// A service's role reaches only its own schema.
    @Test func aServiceRoleCannotReadAnotherSchema() async throws {
        let env = try TestEnvironment.current()
        let mine = TestEnvironment.uniqueName("own")
        let theirs = TestEnvironment.uniqueName("other")
        try await withStore(env, schema: theirs) { store in
            try await store.prepare(migrations: [Migration(version: 1, name: "secret", sql: "CREATE TABLE secret (v text)")])
            try await store.query("INSERT INTO \(unescaped: theirs).secret VALUES ('x')")
        }
        let denied = try await withStore(env, schema: mine) { store in
            await sqlState { try await store.query("SELECT * FROM \(unescaped: theirs).secret") }
        }
        #expect(denied == "42501", "expected insufficient_privilege")
        let publicDenied = try await withStore(env, schema: mine) { store in
            await sqlState { try await store.query("CREATE TABLE public.sneaky (v int)") }
        }
        #expect(publicDenied == "42501", "the public schema is closed to service roles")
    }

    /// A transaction that took a lower seq but commits after a higher one is still relayed.
    @Test func outboxRelaySkipsNothingWhenTransactionsCommitOutOfOrder() async throws {
        let env = try TestEnvironment.current()
        let name = TestEnvironment.uniqueName("outbox")
        try await withStore(env, schema: name) { store in
            try await store.prepare(migrations: [])
            let reader = OutboxReader(store: store)
            let slowInserted = AsyncSignal()
            let release = AsyncSignal()
            let slow = Task {
                try await store.withTransaction { tx in
                    try await tx.appendOutbox([record("slow")])
                    await slowInserted.fire()
                    await release.wait()
                }
            }
            await slowInserted.wait()
            _ = try await store.withTransaction { tx in try await tx.appendOutbox([record("fast")]) }

            let published = PublishedLog()
            _ = try await reader.relayRound(limit: 100) { claimed in
                await published.add(claimed.map(\.record.eventID))
                return claimed.map(\.seq)
            }
            #expect(await published.ids == ["fast"])
            await release.fire()
            try await slow.value
            _ = try await reader.relayRound(limit: 100) { claimed in
                await published.add(claimed.map(\.record.eventID))
                return claimed.map(\.seq)
            }
            #expect(await published.ids == ["fast", "slow"])
            #expect(try await reader.backlog() == 0)
        }
    }

    /// Only one replica relays at a time.
    @Test func onlyOneRelayHoldsTheLock() async throws {
        let env = try TestEnvironment.current()
        let name = TestEnvironment.uniqueName("leader")
        try await withStore(env, schema: name) { store in
            try await store.prepare(migrations: [])
            _ = try await store.withTransaction { tx in try await tx.appendOutbox([record("a")]) }
            let reader = OutboxReader(store: store)
            let inside = AsyncSignal()
            let release = AsyncSignal()
            let leader = Task {
                try await reader.relayRound(limit: 10) { claimed in
                    await inside.fire()
                    await release.wait()
                    return claimed.map(\.seq)
                }
            }
            await inside.wait()
            let second = try await reader.relayRound(limit: 10) { _ in
                Issue.record("a second relay published while the first held the lock")
                return []
            }
            #expect(second == .notLeader)
            await release.fire()
            #expect(try await leader.value == .published(1))
        }
    }

    /// Retention deletes only inbox entries old enough; the relay deletes what it published.
    @Test func retentionPrunesOnlyWhatIsPastIt() async throws {
        let env = try TestEnvironment.current()
        let name = TestEnvironment.uniqueName("retention")
        try await withStore(env, schema: name) { store in
            try await store.prepare(migrations: [])
            try await store.withTransaction { tx in
                try await tx.appendOutbox([record("old"), record("recent"), record("pending")])
                _ = try await tx.claimInbox(eventID: "old-in", type: "t", topic: "x", partition: 0, offset: 1)
                _ = try await tx.claimInbox(eventID: "new-in", type: "t", topic: "x", partition: 0, offset: 2)
            }
            try await store.query("UPDATE \(unescaped: name).inbox SET received_at = now() - interval '8 days' WHERE event_id = 'old-in'")
            let reader = OutboxReader(store: store)
            #expect(try await reader.pruneInbox(olderThanSeconds: 7 * 24 * 3600) == 1)
            #expect(try await reader.backlog() == 3)
            let published = try await reader.relayRound(limit: 2) { claimed in claimed.map(\.seq) }
            #expect(published == .published(2))
            #expect(try await reader.backlog() == 1, "only the unpublished record is left")
        }
    }

    /// The table path leaves alone what the handoff holds and what is younger than its grace;
    /// records the handoff sent are deleted by seq.
    @Test func tableRoundSkipsHeldAndYoungRecords() async throws {
        let env = try TestEnvironment.current()
        let name = TestEnvironment.uniqueName("handoff")
        try await withStore(env, schema: name) { store in
            try await store.prepare(migrations: [])
            let appended = try await store.withTransaction { tx in
                try await tx.appendOutbox([record("held"), record("old"), record("young")])
            }
            #expect(appended.map(\.record.eventID) == ["held", "old", "young"])
            #expect(appended.map(\.seq) == appended.map(\.seq).sorted(), "seqs follow the append order")
            try await store.query(
                "UPDATE \(unescaped: name).outbox SET created_at = now() - interval '10 seconds' WHERE event_id IN ('held', 'old')")
            let reader = OutboxReader(store: store)
            var taken: [String] = []
            let round = try await reader.relayRound(limit: 10, olderThanSeconds: 2, excluding: [appended[0].seq]) { claimed in
                taken = claimed.map(\.record.eventID)
                return claimed.map(\.seq)
            }
            #expect(round == .published(1))
            #expect(taken == ["old"])
            try await reader.deletePublished([appended[0].seq])
            #expect(try await reader.backlog() == 1, "only the young record is left")
        }
    }

    /// The handoff gives records back in commit order and holds them until their send is over.
    @Test func handoffHoldsRecordsUntilTheirSendIsOver() {
        let handoff = OutboxHandoff()
        handoff.push([OutboxReader.Claimed(seq: 1, record: record("a")), OutboxReader.Claimed(seq: 2, record: record("b"))])
        handoff.push([OutboxReader.Claimed(seq: 3, record: record("c"))])
        #expect(Set(handoff.held) == [1, 2, 3])
        let taken = handoff.take()
        #expect(taken.map(\.seq) == [1, 2, 3])
        #expect(handoff.take().isEmpty)
        #expect(Set(handoff.held) == [1, 2, 3], "still held while being sent")
        handoff.finished([1, 2])
        #expect(handoff.held == [3])
        handoff.finished([3])
        #expect(handoff.held.isEmpty)
    }

    /// Postgres reads back exactly the strings `JSONText` wrote, whatever they contain.
    @Test func jsonTextRoundTripsThroughPostgres() async throws {
        let env = try TestEnvironment.current()
        try await withStore(env, schema: TestEnvironment.uniqueName("json")) { store in
            let lists: [[String]] = [[], ["web"], ["a\"b", "back\\slash", "tab\tnew\nline\u{1}", "ünïcødé 🚀", ""]]
            for list in lists {
                var read: [String]?
                for try await value in try await store.query(
                    "SELECT ARRAY(SELECT jsonb_array_elements_text(\(JSONText.array(list))::jsonb))::text[]"
                ).decode([String].self) { read = value }
                #expect(read == list)
            }
        }
    }

    /// Every connection of a store's pool starts in its schema with the planner settings
    /// `Store` documents, and the relay's delete of a handed-over send removes exactly its seqs.
    @Test func connectionsStartWithTheStoreSettingsAndPublishedRecordsAreDeleted() async throws {
        let env = try TestEnvironment.current()
        let name = TestEnvironment.uniqueName("conn")
        try await withStore(env, schema: name) { store in
            try await store.prepare(migrations: [])
            var settings: [String] = []
            for try await row in try await store.query(
                "SELECT current_setting('search_path'), current_setting('jit'), current_setting('random_page_cost')"
            ).decode((String, String, String).self) { settings = [row.0, row.1, row.2] }
            #expect(settings == [name, "off", "1.1"])

            let appended = try await store.withTransaction { tx in try await tx.appendOutbox([record("a"), record("b"), record("c")]) }
            try await OutboxReader(store: store).deletePublished([appended[0].seq, appended[2].seq])
            var left: [String] = []
            for try await id in try await store.query("SELECT event_id FROM outbox ORDER BY seq").decode(String.self) { left.append(id) }
            #expect(left == ["b"])
        }
    }

    /// The inbox tells a redelivery from a new event.
    @Test func inboxClaimsEachEventOnce() async throws {
        let env = try TestEnvironment.current()
        try await withStore(env, schema: TestEnvironment.uniqueName("inbox")) { store in
            try await store.prepare(migrations: [])
            let first = try await store.withTransaction { tx in
                try await tx.claimInbox(eventID: "e1", type: "t", topic: "x", partition: 0, offset: 1)
            }
            let again = try await store.withTransaction { tx in
                try await tx.claimInbox(eventID: "e1", type: "t", topic: "x", partition: 0, offset: 1)
            }
            #expect(first && !again)
        }
    }
}

/// The SQLSTATE `body` failed with, or nil when it succeeded.
private func sqlState(_ body: () async throws -> Void) async -> String? {
    do {
        try await body()
        return nil
    } catch {
        return StoreError(error).sqlState
    }
}

private func record(_ id: String) -> OutboxRecord {
    OutboxRecord(eventID: id, topic: "t", key: "k", eventType: "novacron.v1.HostHeartbeat", envelope: [1, 2, 3])
}

/// A one-shot signal between tasks.
actor AsyncSignal {
    private var fired = false
    private var waiters: [CheckedContinuation<Void, Never>] = []

    func fire() {
        fired = true
        for waiter in waiters { waiter.resume() }
        waiters = []
    }

    func wait() async {
        if fired { return }
        await withCheckedContinuation { waiters.append($0) }
    }
}

actor PublishedLog {
    private(set) var ids: [String] = []
    func add(_ more: [String]) { ids += more }
}

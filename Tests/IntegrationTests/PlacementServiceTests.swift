import Foundation
import NovaTestSupport
import Logging
import NovaBus
import NovaCore
import NovaProto
import PostgresNIO
import SwiftProtobuf
import Testing

/// A placement deployment with its own schema and consumer group on the catalog topics; its
/// VMs and hosts carry a run prefix so earlier records on the shared topics are ignored.
struct PlacementDeployment {
    let env: TestEnvironment
    let deployment: ServiceDeployment
    let run: String

    init(env: TestEnvironment, name: String) {
        self.env = env
        // Start at the end of the shared topics: earlier runs' commands are not ours.
        deployment = ServiceDeployment(
            env: env, binary: "novacron-placement", name: name, environment: ["KAFKA_AUTO_OFFSET_RESET": "latest"])
        run = deployment.schema
    }

    var schema: String { deployment.schema }
    var group: String { deployment.group }

    func start(_ name: String, environment extra: [String: String] = [:]) throws -> ChildProcess {
        try deployment.replica(name, environment: extra)
    }

    /// Starts one replica per name and returns them once each is ready and the group consumes
    /// every partition; if that fails, the replicas are stopped before the error is thrown.
    func startConsuming(_ names: String..., environment: [String: String] = [:]) async throws -> [ChildProcess] {
        var replicas: [ChildProcess] = []
        do {
            for name in names { replicas.append(try start(name, environment: environment)) }
            for replica in replicas { try await StatusProbe.find(in: replica).waitUntilReady() }
            try await waitUntilConsuming()
            return replicas
        } catch {
            for replica in replicas { await replica.stop() }
            throw error
        }
    }

    /// Registers hosts 0..<n, host i in `zone(i)`; true once placement holds all of them.
    func register(_ n: Int, zone: (Int) -> String) async throws -> Bool {
        try await publish((0..<n).map { i in
            let h = host(i, zone: zone(i))
            return (TopicCatalog.hostEvents, h.hostID, h)
        })
        return await waitForHosts(n)
    }

    /// Returns once the group consumes every partition of novacron.vm.commands: dry-run
    /// probes (the harness's barrier), keyed outside this run's VM prefix, until a round is
    /// answered on novacron.vm.events.
    func waitUntilConsuming() async throws {
        let partitions = TopicCatalog.all.first { $0.name == TopicCatalog.vmCommands }?.partitions ?? 12
        try await env.waitUntilConsuming(partitions: partitions, answers: [TopicCatalog.vmEvents], probe: { key in
            var probe = Novacron_V1_PlaceVM()
            probe.vmID = key
            probe.commandID = key
            probe.resources = Resources(vcpuMillis: 1, memoryMiB: 1).proto
            probe.dryRun = true
            return try Records.envelope(probe, key: key, topic: TopicCatalog.vmCommands)
        }, answerKey: { $0.keyString })
    }

    func host(_ i: Int, zone: String = "z1", cpu: Int64 = 4000, memory: Int64 = 8192) -> Novacron_V1_HostRegistered {
        var h = Novacron_V1_HostRegistered()
        h.hostID = "\(run)-h\(i)"
        h.capacity = Resources(vcpuMillis: cpu, memoryMiB: memory, diskGiB: 100).proto
        h.topology = Topology(cloud: "sim", region: "r1", zone: zone).proto
        h.priceMicrosPerHour = 1_000_000
        return h
    }

    func place(_ i: Int, cpu: Int64 = 1000, memory: Int64 = 2048, commandID: String? = nil, dryRun: Bool = false,
               constraints: PlacementConstraints = PlacementConstraints()) -> Novacron_V1_PlaceVM {
        var c = VMRequest(id: "\(run)-vm\(i)", resources: Resources(vcpuMillis: cpu, memoryMiB: memory), constraints: constraints).placeCommand
        c.commandID = commandID ?? "\(run)-cmd\(i)"
        c.dryRun = dryRun
        return c
    }

    func publish(_ messages: [(String, String, any SwiftProtobuf.Message)]) async throws {
        let producer = try KafkaProducer(configuration: env.kafka)
        try await producer.sendAll(messages.map { topic, key, message in try Records.envelope(message, key: key, topic: topic) })
        await producer.close()
    }

    /// Decoded answers on novacron.vm.events for this run's VMs.
    func answers(_ count: Int, timeout: Duration = .seconds(60)) async throws -> [DecodedEvent] {
        let run = run
        return try await collect(env, topics: [TopicCatalog.vmEvents], count: count, timeout: timeout) {
            $0.keyString.hasPrefix(run)
        }.map { try EnvelopeCodec.decode($0.value) }
    }

    /// CPU allocated on this run's hosts (the shared topic may hold other runs' hosts too).
    func allocatedCPU() async throws -> Int64? {
        try await env.scalar(
            "SELECT coalesce(sum(alloc_cpu), 0)::bigint FROM \(unescaped: schema).hosts WHERE host_id LIKE \(run + "-%")", as: Int64.self)
    }

    func waitForHosts(_ n: Int) async -> Bool {
        await eventually(timeout: .seconds(60)) {
            (try? await env.scalar("SELECT count(*)::int FROM \(unescaped: schema).hosts WHERE host_id LIKE \(run + "-%")", as: Int.self)) == n
        }
    }
    /// Another writer's transaction: runs `update`, publishes `command`, waits
    /// until the replica is blocked on the rows it holds, then commits. True if it was blocked.
    func whileHoldingRows(_ update: PostgresQuery, publish command: Novacron_V1_PlaceVM) async throws -> Bool {
        try await env.withAdminConnection { writer in
            let log = Logger(label: "tests")
            try await writer.query("BEGIN", logger: log)
            try await writer.query(update, logger: log)
            try await publish([(TopicCatalog.vmCommands, command.vmID, command)])
            let blocked = await eventually(timeout: .seconds(30)) {
                (try? await env.scalar(
                    "SELECT count(*)::int FROM pg_stat_activity WHERE usename = \("novacron_" + schema) AND wait_event_type = 'Lock'",
                    as: Int.self)) == 1
            }
            try await writer.query("COMMIT", logger: log)
            return blocked
        }
    }
}

@Suite(.serialized) struct PlacementServiceTests {
    /// Two replicas, room for exactly N VMs, N+500 place commands at once: exactly N placed,
    /// 500 refused for capacity, no host over capacity, every command answered once.
    @Test func twoReplicasNeverOvercommitUnderARace() async throws {
        let env = try TestEnvironment.current()
        let deployment = PlacementDeployment(env: env, name: "race")
        let hosts = 25
        let room = hosts * 4
        let replicas = try await deployment.startConsuming("placement-a", "placement-b")
        let (a, b) = (replicas[0], replicas[1])
        defer { Task { await a.stop(); await b.stop() } }

        #expect(try await deployment.register(hosts) { "z\($0 % 3)" }, "hosts registered")
        let total = room + 500
        try await deployment.publish((0..<total).map { i in
            let c = deployment.place(i)
            return (TopicCatalog.vmCommands, c.vmID, c)
        })
        let answers = try await deployment.answers(total, timeout: .seconds(120))
        let placed = answers.compactMap { $0.message as? Novacron_V1_VMPlaced }
        let failed = answers.compactMap { $0.message as? Novacron_V1_PlacementFailed }
        #expect(answers.count == total, "every command answered")
        #expect(Set(answers.map(\.envelope.key)).count == total, "each command answered once")
        #expect(placed.count == room)
        #expect(failed.count == 500)
        #expect(failed.allSatisfy { $0.reason == .insufficientCapacity })
        #expect(failed.first.map { $0.rejections.reduce(0) { $0 + Int($1.hosts) } } == hosts, "reasons add up to the fleet")
        let over = try await env.scalar(
            "SELECT count(*)::int FROM \(unescaped: deployment.schema).hosts WHERE alloc_cpu > cap_cpu OR alloc_mem > cap_mem",
            as: Int.self)
        #expect(over == 0)
        #expect(try await deployment.allocatedCPU() == Int64(room) * 1000)
        let decisionsA = try await StatusProbe.find(in: a).metric("orchestration_decisions_total")
        let decisionsB = try await StatusProbe.find(in: b).metric("orchestration_decisions_total")
        #expect(decisionsA > 0 && decisionsB > 0, "both replicas decided")
    }

    /// A lost compare-and-set, made certain: another writer holds both hosts' rows while the
    /// replica decides on its stale view, fills one host and commits. The replica's claim
    /// then matches no generation, counts one conflict, re-syncs and places the VM on the
    /// host that still has room, with no capacity taken twice. (Whether two replicas collide
    /// in the race test depends on timing; this does not.)
    @Test func aClaimThatLosesTheCompareAndSetIsRetriedOnFreshInventory() async throws {
        let env = try TestEnvironment.current()
        let deployment = PlacementDeployment(env: env, name: "cas")
        let replica = try await deployment.startConsuming("placement")[0]
        defer { Task { await replica.stop() } }
        #expect(try await deployment.register(2) { _ in "z1" }, "hosts registered")
        let (schema, run) = (deployment.schema, deployment.run)
        let (full, free) = ("\(run)-h0", "\(run)-h1")
        let waited = try await deployment.whileHoldingRows(
            """
            UPDATE \(unescaped: schema).hosts SET generation = generation + 1,
              alloc_cpu = CASE WHEN host_id = \(full) THEN cap_cpu ELSE alloc_cpu END,
              version = pg_current_xact_id()::text::bigint
            WHERE host_id IN (\(full), \(free))
            """, publish: deployment.place(0))
        #expect(waited, "the replica's claim waited for the other writer's rows")
        let answers = try await deployment.answers(1)
        let placed = answers.first?.message as? Novacron_V1_VMPlaced
        #expect(placed?.hostID == free, "placed where room was left, not on the host filled meanwhile")
        #expect(try await StatusProbe.find(in: replica).metric("orchestration_claim_conflicts_total") == 1)
        let allocated = try await env.scalar(
            "SELECT alloc_cpu FROM \(unescaped: schema).hosts WHERE host_id = \(free)", as: Int64.self)
        #expect(allocated == 1000, "the VM's CPU is claimed once")
        let overcommitted = try await env.scalar(
            "SELECT count(*)::int FROM \(unescaped: schema).hosts WHERE alloc_cpu > cap_cpu", as: Int.self)
        #expect(overcommitted == 0)
    }

    /// Another replica's change that commits after a later one still reaches this replica's
    /// cache: a writer fills host 0 and keeps its transaction open, a second writer cordons
    /// host 1 and commits, the replica syncs (a dry run), then the first writer commits. A
    /// VM that only host 0 could have taken must now be refused for capacity, not be put on
    /// host 0 from a stale view (whose claims would lose compare-and-sets until the batch
    /// gave up and the cache was reloaded).
    @Test func aChangeCommittedOutOfOrderStillReachesTheCache() async throws {
        let env = try TestEnvironment.current()
        let deployment = PlacementDeployment(env: env, name: "order")
        let replica = try await deployment.startConsuming("placement")[0]
        defer { Task { await replica.stop() } }
        #expect(try await deployment.register(2) { _ in "z1" }, "hosts registered")
        let (schema, run) = (deployment.schema, deployment.run)
        let log = Logger(label: "tests")
        try await env.withAdminConnection { first in
            try await first.query("BEGIN", logger: log)
            try await first.query(
                """
                UPDATE \(unescaped: schema).hosts SET alloc_cpu = cap_cpu, generation = generation + 1,
                  version = pg_current_xact_id()::text::bigint
                WHERE host_id = \(run + "-h0")
                """, logger: log)
            _ = try await env.withAdminConnection { second in
                try await second.query(
                    """
                    UPDATE \(unescaped: schema).hosts SET state = 'cordoned', generation = generation + 1,
                      version = pg_current_xact_id()::text::bigint
                    WHERE host_id = \(run + "-h1")
                    """, logger: log)
            }
            try await deployment.publish([(TopicCatalog.vmCommands, "\(run)-vm0", deployment.place(0, dryRun: true))])
            let dryRun = try await deployment.answers(1).first?.message
            #expect((dryRun as? Novacron_V1_VMPlaced)?.hostID == "\(run)-h0", "the dry run saw host 0 still empty")
            try await first.query("COMMIT", logger: log)
        }
        try await deployment.publish([(TopicCatalog.vmCommands, "\(run)-vm1", deployment.place(1))])
        let answer = try await collect(env, topics: [TopicCatalog.vmEvents], count: 1, timeout: .seconds(30)) {
            $0.keyString == "\(run)-vm1"
        }.map { try EnvelopeCodec.decode($0.value).message }.first
        let failed = answer as? Novacron_V1_PlacementFailed
        #expect(failed != nil, "refused, not placed: \(String(describing: answer))")
        let rejected = Dictionary(uniqueKeysWithValues: (failed?.rejections ?? []).map { ($0.reason, $0.hosts) })
        #expect(rejected == [.insufficientCpu: 1, .hostNotReady: 1], "host 0 full, host 1 cordoned")
        #expect(try await StatusProbe.find(in: replica).metric("orchestration_claim_conflicts_total") == 0, "no claim on a stale view")
    }

    /// A replica does not read back the hosts its own claims wrote, yet loses nothing another
    /// writer put there meanwhile: another replica's utilisation sample (which steps no
    /// generation) is written to host 0 and committed while the replica's claim waits for the
    /// row. The claim still wins, and the next decision scores host 0 by that sample.
    @Test func aUtilisationSampleWrittenWhileAClaimWaitsReachesTheCache() async throws {
        let env = try TestEnvironment.current()
        let deployment = PlacementDeployment(env: env, name: "sample")
        let replica = try await deployment.startConsuming("placement")[0]
        defer { Task { await replica.stop() } }
        #expect(try await deployment.register(1) { _ in "z1" }, "host registered")
        let (schema, run) = (deployment.schema, deployment.run)
        let waited = try await deployment.whileHoldingRows(
            """
            UPDATE \(unescaped: schema).hosts SET measured = 0.9, last_heartbeat = now(),
              version = pg_current_xact_id()::text::bigint
            WHERE host_id = \(run + "-h0")
            """, publish: deployment.place(0))
        #expect(waited, "the replica's claim waited for the sample's row")
        let placed = try await deployment.answers(1).first?.message as? Novacron_V1_VMPlaced
        #expect(placed?.hostID == "\(run)-h0")
        try await deployment.publish([(TopicCatalog.vmCommands, "\(run)-vm1", deployment.place(1, dryRun: true))])
        let answer = try await collect(env, topics: [TopicCatalog.vmEvents], count: 1, timeout: .seconds(30)) {
            $0.keyString == "\(run)-vm1"
        }.map { try EnvelopeCodec.decode($0.value).message }.first
        let scored = (answer as? Novacron_V1_VMPlaced)?.chosen.components.first { $0.scorer == "measured-utilisation" }
        let raw = try #require(scored?.raw, "a dry run placed on host 0 with a measured-utilisation score: \(String(describing: answer))")
        #expect(abs(raw - 0.1) < 1e-9, "scored by the 0.9 sample (raw 1 - 0.9), not by what the cache held before the claim")
    }

    /// A record redelivered (same event id) in one batch with a new command: the inbox skips
    /// the redelivery, which gets no second answer, and the new command is placed once.
    @Test func aRedeliveryInABatchIsSkippedAndTheRestIsPlacedOnce() async throws {
        let env = try TestEnvironment.current()
        let deployment = PlacementDeployment(env: env, name: "redeliver")
        let replica = try await deployment.startConsuming("placement")[0]
        defer { Task { await replica.stop() } }
        #expect(try await deployment.register(2) { _ in "z1" }, "hosts registered")
        let run = deployment.run
        // Both records on one key, so one partition and one batch.
        let first = try Records.envelope(deployment.place(0), key: "\(run)-vm0", topic: TopicCatalog.vmCommands)
        let second = try Records.envelope(deployment.place(1), key: "\(run)-vm0", topic: TopicCatalog.vmCommands)
        let producer = try KafkaProducer(configuration: env.kafka)
        try await producer.sendAll([first])
        #expect(try await deployment.answers(1).count == 1)
        try await producer.sendAll([first, second])
        await producer.close()
        let status = try await StatusProbe.find(in: replica)
        #expect(await eventually { ((try? await status.metric("novacron_events_duplicate_total")) ?? 0) == 1 }, "the redelivery was skipped")
        let answers = try await deployment.answers(3, timeout: .seconds(10))
        #expect(answers.map(\.envelope.key).sorted() == ["\(run)-vm0", "\(run)-vm1"], "one answer per command, none for the redelivery")
        #expect(try await deployment.allocatedCPU() == 2000, "two VMs claimed, once each")
    }

    /// A batch that rolls back (a drain of an unknown host among place commands, all on one
    /// key, so one batch) is retried record by record: each decision counts once in the
    /// metrics, as it is answered once, although the batch decided the first two before the
    /// drain failed it.
    @Test func aRolledBackBatchCountsItsDecisionsOnce() async throws {
        let env = try TestEnvironment.current()
        let deployment = PlacementDeployment(env: env, name: "recount")
        let replica = try await deployment.startConsuming("placement", environment: ["LOG_LEVEL": "debug"])[0]
        defer { Task { await replica.stop() } }
        #expect(try await deployment.register(2) { _ in "z1" }, "hosts registered")
        let status = try await StatusProbe.find(in: replica)
        let before = try await status.metric("orchestration_decisions_total")
        let failuresBefore = try await status.metric("orchestration_placement_failures_total")
        let run = deployment.run
        var drain = Novacron_V1_DrainHost()
        drain.commandID = "\(run)-drain"
        drain.hostID = "\(run)-ghost"
        let messages: [any SwiftProtobuf.Message] = [deployment.place(0), deployment.place(1), drain, deployment.place(2)]
        try await deployment.publish(messages.map { (TopicCatalog.vmCommands, "\(run)-vm0", $0) })
        let answers = try await deployment.answers(3)
        #expect(Set(answers.map(\.envelope.key)) == ["\(run)-vm0", "\(run)-vm1", "\(run)-vm2"])
        #expect(await eventually { ((try? await status.metric("novacron_events_deadlettered_total")) ?? 0) == 1 }, "the drain was dead-lettered")
        #expect(replica.output.contains("batch transaction failed; retrying its records one at a time"), "the batch rolled back: \(replica.output.suffix(2000))")
        let after = try await status.metric("orchestration_decisions_total")
        #expect(after - before == 3, "decisions counted: \(after - before)")
        #expect(try await status.metric("orchestration_placement_failures_total") == failuresBefore)
    }

    /// A host's telemetry samples and heartbeats, sent together, fold into its smoothed
    /// measured utilisation in order (0.8 old + 0.2 new per sample, clamped to 0...1), however
    /// the consumer batches them; a host that is not registered is left alone.
    @Test func telemetrySamplesFoldInOrder() async throws {
        let env = try TestEnvironment.current()
        let deployment = PlacementDeployment(env: env, name: "samples")
        let replica = try await deployment.startConsuming("placement")[0]
        defer { Task { await replica.stop() } }
        #expect(try await deployment.register(1) { _ in "z1" }, "host registered")
        let (schema, run) = (deployment.schema, deployment.run)
        let host = "\(run)-h0"
        func sample(cpu: Double, memory: Double, of hostID: String = host) -> (String, String, any SwiftProtobuf.Message) {
            var t = Novacron_V1_HostTelemetry()
            t.hostID = hostID
            t.utilisation.cpu = cpu
            t.utilisation.memory = memory
            return (TopicCatalog.hostTelemetry, hostID, t)
        }
        var beat = Novacron_V1_HostHeartbeat()
        beat.hostID = host
        try await deployment.publish([
            sample(cpu: 0.4, memory: 0.6), (TopicCatalog.hostEvents, host, beat), sample(cpu: 1, memory: 1),
            sample(cpu: 0.25, memory: 0.25), sample(cpu: 2, memory: 1), sample(cpu: 0.9, memory: 0.9, of: "\(run)-ghost"),
        ])
        // 0.5, 1, 0.25, then 1.5 clamped to 1.
        let expected = [0.5, 1, 0.25, 1].reduce(0.0) { 0.8 * $0 + 0.2 * $1 }
        let folded = await eventually {
            let measured = try? await env.scalar(
                "SELECT measured FROM \(unescaped: schema).hosts WHERE host_id = \(host) AND last_heartbeat IS NOT NULL", as: Double.self)
            return measured.map { abs($0 - expected) < 1e-9 } ?? false
        }
        #expect(folded, "measured utilisation \(expected) after the four samples in order")
        let hosts = try await env.scalar("SELECT count(*)::int FROM \(unescaped: schema).hosts", as: Int.self)
        #expect(hosts == 1, "no row for the unregistered host")
        let status = try await StatusProbe.find(in: replica)
        let ignored = await eventually { (try? await status.metric("orchestration_unregistered_host_reports_total")) == 1 }
        #expect(ignored, "the ghost's sample is counted as ignored, the registered host's reports are not")
    }

    /// Group rules hold across replicas: two replicas, 10 hosts, 40 VMs of one anti-affinity
    /// group (one member per host) published at once: exactly 10 placed, on 10 different
    /// hosts, and 30 refused for anti-affinity, whichever replica decided each.
    @Test func twoReplicasKeepAntiAffinityAcrossEachOther() async throws {
        let env = try TestEnvironment.current()
        let deployment = PlacementDeployment(env: env, name: "anti")
        let replicas = try await deployment.startConsuming("placement-a", "placement-b")
        let (a, b) = (replicas[0], replicas[1])
        defer { Task { await a.stop(); await b.stop() } }
        let hosts = 10
        #expect(try await deployment.register(hosts) { "z\($0 % 3)" })
        let group = "\(deployment.run)-db"
        let total = 40
        try await deployment.publish((0..<total).map { i in
            var c = deployment.place(i, constraints: PlacementConstraints(affinity: [AffinityRule(group: group, scope: .host, anti: true)]))
            c.groups = [group]
            return (TopicCatalog.vmCommands, c.vmID, c)
        })
        let answers = try await deployment.answers(total, timeout: .seconds(120))
        let placed = answers.compactMap { $0.message as? Novacron_V1_VMPlaced }
        let failed = answers.compactMap { $0.message as? Novacron_V1_PlacementFailed }
        #expect(answers.count == total)
        #expect(placed.count == hosts)
        #expect(Set(placed.map(\.hostID)).count == hosts, "one member per host")
        #expect(failed.count == total - hosts && failed.allSatisfy { $0.reason == .antiAffinity })
        let crowded = try await env.scalar(
            "SELECT count(*)::int FROM (SELECT host_id FROM \(unescaped: deployment.schema).placements WHERE \(group) = ANY(groups) GROUP BY host_id HAVING count(*) > 1) AS c",
            as: Int.self)
        #expect(crowded == 0)
        let decisionsA = try await StatusProbe.find(in: a).metric("orchestration_decisions_total")
        let decisionsB = try await StatusProbe.find(in: b).metric("orchestration_decisions_total")
        #expect(decisionsA > 0 && decisionsB > 0, "both replicas decided")
    }

    /// A migration keeps group counts true: a and b share a host (b follows a by affinity), a moves away,
    /// then c (anti-affinity to the group) must avoid both b's and a's hosts. Counting a's
    /// departure twice would make b's host look empty, and binpack would choose it.
    @Test func migrationKeepsGroupMembersTrue() async throws {
        let env = try TestEnvironment.current()
        let d = PlacementDeployment(env: env, name: "moves")
        let service = try await d.startConsuming("placement")[0]
        defer { Task { await service.stop() } }
        #expect(try await d.register(3) { _ in "z1" })
        let answers = try AnswerBook(env: env, run: d.run)
        defer { answers.stop() }
        let group = "\(d.run)-g"
        func place(_ i: Int, anti: Bool?) async throws -> Novacron_V1_VMPlaced {
            let rules = anti.map { [AffinityRule(group: group, scope: .host, anti: $0)] } ?? []
            var c = d.place(i, constraints: PlacementConstraints(affinity: rules))
            c.groups = [group]
            try await d.publish([(TopicCatalog.vmCommands, c.vmID, c)])
            let answer = try await answers.answer(to: c.commandID)
            return try #require(answer.message as? Novacron_V1_VMPlaced, "\(answer.message)")
        }
        let a = try await place(1, anti: nil)
        let b = try await place(2, anti: false)
        #expect(a.hostID == b.hostID, "affinity keeps the group together")
        let target = try #require(["\(d.run)-h0", "\(d.run)-h1", "\(d.run)-h2"].first { $0 != a.hostID })
        var migrate = Novacron_V1_MigrateVM()
        migrate.commandID = "\(d.run)-move"
        migrate.vmID = a.vmID
        migrate.targetHostID = target
        try await d.publish([(TopicCatalog.vmCommands, a.vmID, migrate)])
        let moved = try #require(try await answers.answer(to: migrate.commandID).message as? Novacron_V1_VMPlaced)
        #expect(moved.hostID == target && moved.previousHostID == a.hostID)
        let c = try await place(3, anti: true)
        #expect(c.hostID != b.hostID, "b still runs on \(b.hostID)")
        #expect(c.hostID != target, "a now runs on \(target)")
    }

    /// Dry runs claim nothing; a repeated command gets its first answer; release returns
    /// capacity; invalid requests and unknown VMs are answered, not dropped; a migration never
    /// lands on the current host; a drain moves every VM off.
    @Test func commandsBehaveAsDocumented() async throws {
        let env = try TestEnvironment.current()
        let d = PlacementDeployment(env: env, name: "cmds")
        let service = try await d.startConsuming("placement")[0]
        defer { Task { await service.stop() } }
        #expect(try await d.register(3) { "z\($0)" })

        let answers = try AnswerBook(env: env, run: d.run)
        defer { answers.stop() }
        func send(_ command: any SwiftProtobuf.Message, key: String, answerFor commandID: String? = nil) async throws -> DecodedEvent {
            try await d.publish([(TopicCatalog.vmCommands, key, command)])
            let ownID = try Novacron_V1_ReleaseVM(serializedBytes: try command.serializedBytes() as [UInt8], extensions: nil, partial: true).commandID
            let id = commandID ?? ownID
            return try await answers.answer(to: id)
        }

        let dry = try await send(d.place(1, commandID: "\(d.run)-dry", dryRun: true), key: "\(d.run)-vm1")
        #expect((dry.message as? Novacron_V1_VMPlaced)?.dryRun == true)
        #expect(try await env.scalar("SELECT count(*)::int FROM \(unescaped: d.schema).placements WHERE vm_id LIKE \(d.run + "-%")", as: Int.self) == 0)

        let first = try #require(try await send(d.place(1), key: "\(d.run)-vm1").message as? Novacron_V1_VMPlaced)
        #expect(first.chosen.components.count == 3)
        let again = try #require(try await send(d.place(1), key: "\(d.run)-vm1").message as? Novacron_V1_VMPlaced)
        #expect(again.hostID == first.hostID)
        let sameVMNewCommand = try #require(try await send(d.place(1, commandID: "\(d.run)-other"), key: "\(d.run)-vm1").message as? Novacron_V1_VMPlaced)
        #expect(sameVMNewCommand.hostID == first.hostID)
        #expect(try await d.allocatedCPU() == 1000, "allocated once")

        var zero = d.place(2, cpu: 0)
        zero.commandID = "\(d.run)-zero"
        let invalid = try #require(try await send(zero, key: "\(d.run)-vm2").message as? Novacron_V1_PlacementFailed)
        #expect(invalid.reason == .invalidRequest)
        let nowhere = d.place(3, constraints: PlacementConstraints(topology: Topology(zone: "atlantis")))
        #expect((try await send(nowhere, key: "\(d.run)-vm3").message as? Novacron_V1_PlacementFailed)?.reason == .invalidRequest)
        let huge = d.place(4, cpu: 999_000)
        let tooBig = try #require(try await send(huge, key: "\(d.run)-vm4").message as? Novacron_V1_PlacementFailed)
        #expect(tooBig.reason == .insufficientCapacity && tooBig.message.contains("larger than any host"))

        var migrate = Novacron_V1_MigrateVM()
        migrate.commandID = "\(d.run)-mig"
        migrate.vmID = "\(d.run)-vm1"
        let moved = try #require(try await send(migrate, key: migrate.vmID).message as? Novacron_V1_VMPlaced)
        #expect(moved.hostID != first.hostID)
        #expect(moved.previousHostID == first.hostID)

        var drain = Novacron_V1_DrainHost()
        drain.commandID = "\(d.run)-drain"
        drain.hostID = moved.hostID
        let drained = try #require(
            try await send(drain, key: drain.hostID, answerFor: "\(drain.commandID)/\(d.run)-vm1").message as? Novacron_V1_VMPlaced)
        #expect(drained.hostID != moved.hostID)

        var release = Novacron_V1_ReleaseVM()
        release.commandID = "\(d.run)-rel"
        release.vmID = "\(d.run)-vm1"
        #expect(try await send(release, key: release.vmID).message is Novacron_V1_VMReleased)
        #expect(try await d.allocatedCPU() == 0)
        release.commandID = "\(d.run)-rel2"
        let unknown = try #require(try await send(release, key: release.vmID).message as? Novacron_V1_PlacementFailed)
        #expect(unknown.reason == .unknownVm)

        // A command repeated after its placement is gone still gets its original answer and
        // allocates nothing: through a migration (vm1's first command) and a release (vm6's).
        try await d.publish([(TopicCatalog.vmCommands, "\(d.run)-vm1", d.place(1))])
        let afterMove = try #require(try await answers.answer(to: "\(d.run)-cmd1", nth: 3).message as? Novacron_V1_VMPlaced)
        #expect(afterMove.hostID == first.hostID)
        let six = try #require(try await send(d.place(6), key: "\(d.run)-vm6").message as? Novacron_V1_VMPlaced)
        release.commandID = "\(d.run)-rel6"
        release.vmID = "\(d.run)-vm6"
        #expect(try await send(release, key: release.vmID).message is Novacron_V1_VMReleased)
        try await d.publish([(TopicCatalog.vmCommands, "\(d.run)-vm6", d.place(6))])
        let afterRelease = try #require(try await answers.answer(to: "\(d.run)-cmd6", nth: 2).message as? Novacron_V1_VMPlaced)
        #expect(afterRelease.hostID == six.hostID)
        // The same command id for another VM: the original answer, about the original VM.
        try await d.publish([(TopicCatalog.vmCommands, "\(d.run)-vm7", d.place(7, commandID: "\(d.run)-cmd6"))])
        let reused = try #require(try await answers.answer(to: "\(d.run)-cmd6", nth: 3).message as? Novacron_V1_VMPlaced)
        #expect(reused.vmID == "\(d.run)-vm6")
        #expect(try await d.allocatedCPU() == 0, "nothing allocated by a repeated command")
        #expect(service.isRunning)
    }
}

/// Collects this run's answers on novacron.vm.events, by command id (field 1 of every answer).
final class AnswerBook: Sendable {
    private let consumer: KafkaConsumer
    private let book = AnswerStore()
    private let reader: Task<Void, Error>

    init(env: TestEnvironment, run: String) throws {
        let consumer = try KafkaConsumer(configuration: env.kafka, groupID: TestEnvironment.uniqueName("answers"), topics: [TopicCatalog.vmEvents])
        self.consumer = consumer
        let book = book
        reader = Task {
            for try await record in consumer where record.keyString.hasPrefix(run) {
                let event = try EnvelopeCodec.decode(record.value)
                let id = try Novacron_V1_ReleaseVM(serializedBytes: try event.message.serializedBytes() as [UInt8], extensions: nil, partial: true).commandID
                await book.add(id, event)
            }
        }
    }

    /// The `nth` answer (1 = the first) to a command id.
    func answer(to commandID: String, nth: Int = 1, timeout: Duration = .seconds(30)) async throws -> DecodedEvent {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if let events = await book.all[commandID], events.count >= nth { return events[nth - 1] }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw TestSetupError("no answer to command \(commandID) within \(timeout)")
    }

    func stop() {
        consumer.stopFetching()
        reader.cancel()
    }
}

actor AnswerStore {
    /// Every answer per command id, in arrival order.
    private(set) var all: [String: [DecodedEvent]] = [:]
    var answers: [String: DecodedEvent] { all.compactMapValues(\.first) }
    func add(_ id: String, _ event: DecodedEvent) { all[id, default: []].append(event) }
}

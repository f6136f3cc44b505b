import Foundation
import NovaTestSupport
import NovaBus
import NovaCore
import NovaProto
import NovaService
import Testing

@Suite(.serialized) struct ServiceRuntimeTests {
    /// A record that is not an envelope, an unknown type and an invalid value each land in
    /// novacron.deadletter with the reason and their origin; the next valid record is processed.
    @Test func badRecordsAreDeadLetteredAndConsumptionContinues() async throws {
        let env = try TestEnvironment.current()
        let fixture = try FixtureDeployment(env: env, name: "dlq", partitions: 1)
        let (child, status) = try await fixture.startReady()
        defer { Task { await child.stop() } }

        var unknown = try EnvelopeCodec.envelope(
            Novacron_V1_HostHeartbeat(), key: "k", eventID: UUID().uuidString, occurredAt: Date(), producer: "tests")
        unknown.type = "novacron.v1.Bogus"
        try await fixture.send([
            OutgoingMessage(topic: fixture.input, key: "garbage", value: [0xFF, 0x00, 0x13, 0x37]),
            OutgoingMessage(topic: fixture.input, key: "unknown", value: Array(try unknown.serializedData())),
            try Records.heartbeat(host: "", sequence: 1, topic: fixture.input),
            try Records.heartbeat(host: "host-ok", sequence: 2, topic: fixture.input),
        ])

        let dead = try await collect(env, topics: [TopicCatalog.deadLetter], count: 3) {
            $0.header(DeadLetterPublisher.Header.sourceTopic) == fixture.input
        }
        #expect(dead.count == 3)
        let reasons = dead.compactMap { $0.header(DeadLetterPublisher.Header.code) }
        #expect(reasons.sorted() == ["invalid", "malformed_envelope", "unknown_type"])
        for record in dead {
            #expect(record.header(DeadLetterPublisher.Header.sourcePartition) == "0")
            #expect(Int(record.header(DeadLetterPublisher.Header.sourceOffset) ?? "") != nil)
            #expect(!(record.header(DeadLetterPublisher.Header.reason) ?? "").isEmpty)
        }
        #expect(dead.first { $0.keyString == "garbage" }?.value == [0xFF, 0x00, 0x13, 0x37], "original bytes kept")
        #expect(await eventually { (try? await fixture.processedCount()) == 1 })
        let out = try await collect(env, topics: [fixture.output], count: 1)
        #expect(out.count == 1)
        #expect(out.first?.header(OutboxRelayService.headerType) == "novacron.v1.HostTelemetry")
        #expect(try await status.metric("novacron_events_deadlettered_total") == 3)
        #expect(child.isRunning, "the service keeps running after bad input")
    }

    /// A retryable handler error (contention, not bad input) is retried past the five
    /// attempts after which another error dead-letters the record: here it fails six times,
    /// then the record is processed, and nothing is dead-lettered.
    @Test func aRetryableErrorIsRetriedUntilItSucceeds() async throws {
        let env = try TestEnvironment.current()
        let fixture = try FixtureDeployment(env: env, name: "retryable", partitions: 1)
        let (child, status) = try await fixture.startReady()
        defer { Task { await child.stop() } }
        try await fixture.send([try Records.heartbeat(host: "contended-6", sequence: 1, topic: fixture.input)])
        #expect(await eventually(timeout: .seconds(30)) { (try? await fixture.processedCount()) == 1 }, "\(child.output.suffix(2000))")
        #expect(child.output.components(separatedBy: "handler transaction failed; retrying").count - 1 == 6, "\(child.output.suffix(2000))")
        #expect(try await status.metric("novacron_events_deadlettered_total") == 0)
    }

    /// /readyz follows Postgres: 503 naming it while the server is down, with the service
    /// still running, and 200 again once the server is back, when records are processed
    /// again. On a Postgres of the test's own (scripts/devstack.sh pg-stop / pg-start on a
    /// run directory of its own).
    @Test func readinessFollowsPostgresDownAndBack() async throws {
        let env = try TestEnvironment.current()
        let postgres = try OwnPostgres(env: env, name: "pgdown")
        let fixture = try FixtureDeployment(env: env, name: "pgdown", partitions: 1)
        try await postgres.start()
        var child: ChildProcess?
        do {
            let (started, status) = try await fixture.startReady(extra: postgres.urls(role: fixture.role))
            child = started
            try await postgres.stop()
            let down = await eventually(timeout: .seconds(60)) {
                guard let readyz = try? await status.get("/readyz") else { return false }
                return readyz.status == 503 && readyz.body.contains("postgres:")
            }
            let readyz = try? await status.get("/readyz")
            #expect(down, "readyz while Postgres is down: \(String(describing: readyz))")
            #expect(started.isRunning, "the service outlives its database's outage")
            try await postgres.start()
            #expect(await eventually(timeout: .seconds(60)) { (try? await status.get("/readyz"))?.status == 200 }, "ready again")
            try await fixture.feed(0..<3, hosts: 3)
            #expect(await eventually(timeout: .seconds(60)) { (try? await status.metric("novacron_events_produced_total")) == 3 }, "processing again")
        } catch {
            Issue.record(error)
        }
        await child?.stop()
        try await postgres.remove()
        #expect(processesMentioning(postgres.runDirectory).isEmpty, "still running: \(processesMentioning(postgres.runDirectory))")
    }

    /// SIGTERM while Postgres is down and a consumed record waits for it: the service ends
    /// before the group's 15 s bound (each step stuck on Postgres is cancelled after its 2 s
    /// grace, a retry's sleep ends at once), exits 0 without committing the record, and a
    /// restart once Postgres is back processes it.
    @Test func sigtermDuringAPostgresOutageEndsWithinTheBound() async throws {
        let env = try TestEnvironment.current()
        let postgres = try OwnPostgres(env: env, name: "pgterm")
        let fixture = try FixtureDeployment(env: env, name: "pgterm", partitions: 1)
        try await postgres.start()
        let urls = postgres.urls(role: fixture.role)
        do {
            let (child, status) = try await fixture.startReady(extra: urls)
            try await postgres.stop()
            try await fixture.feed(0..<1, hosts: 1)
            #expect(await eventually { (try? await status.metric("novacron_events_consumed_total")) == 1 }, "the record is in hand")
            let asked = ContinuousClock.now
            child.terminate()
            let code = await child.wait(timeout: .seconds(40))
            let took = ContinuousClock.now - asked
            #expect(code == 0, "exit \(String(describing: code)) after SIGTERM:\n\(child.logLines.suffix(40).joined(separator: "\n"))")
            #expect(took < .seconds(15), "ended before the group's 15 s bound, took \(took):\n\(child.logLines.suffix(40).joined(separator: "\n"))")
            try await postgres.start()
            let (restarted, _) = try await fixture.startReady(extra: urls)
            #expect(await eventually(timeout: .seconds(60)) {
                (try? await ToolRun.run(
                    "/usr/bin/env", ["psql", "postgres://novacron:novacron@\(postgres.address)", "-tAc", "SELECT count(*) FROM \(fixture.schema).processed"]
                ))?.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "1"
            }, "the record was not committed before the stop, and is processed after it")
            await restarted.stop()
        } catch {
            Issue.record(error)
        }
        try await postgres.remove()
    }

    /// /healthz, /readyz and /metrics answer as documented.
    @Test func statusEndpointReportsHealthReadinessAndMetrics() async throws {
        let env = try TestEnvironment.current()
        let fixture = try FixtureDeployment(env: env, name: "status", partitions: 2)
        let child = try fixture.start()
        defer { Task { await child.stop() } }
        let status = try await StatusProbe.find(in: child)
        #expect(try await status.get("/healthz").status == 200)
        try await status.waitUntilReady()
        try await fixture.send((0..<5).map { try Records.heartbeat(host: "h\($0)", sequence: 1, topic: fixture.input) })
        #expect(await eventually { (try? await status.metric("novacron_events_produced_total")) == 5 })
        let (code, body) = try await status.get("/metrics")
        #expect(code == 200)
        for name in [
            "novacron_events_consumed_total", "novacron_events_produced_total", "novacron_handler_duration_seconds_bucket",
            "novacron_outbox_backlog",
        ] {
            #expect(body.contains(name), "metrics lack \(name)")
        }
        #expect(await eventually { ((try? await status.get("/metrics"))?.body ?? "").contains("novacron_consumer_lag{") })
        #expect(try await status.get("/nope").status == 404)
    }

    /// Killed after its Postgres commit but before storing the offset: on restart the record is
    /// redelivered, the inbox skips it, and every effect exists exactly once.
    @Test func crashBetweenCommitAndOffsetStoreLeavesEffectsExactlyOnce() async throws {
        let env = try TestEnvironment.current()
        let fixture = try FixtureDeployment(env: env, name: "crashcommit", partitions: 3)
        let total = 200
        try await fixture.feed(0..<total, hosts: 10)

        let crashing = try fixture.start("crashing", extra: ["FIXTURE_CRASH_AFTER_COMMIT": "60"])
        let exit = await crashing.wait(timeout: .seconds(60))
        #expect(exit == SIGKILL, "expected the crash point to SIGKILL the service; output:\n\(crashing.output)")
        #expect(crashing.process.terminationReason == .uncaughtSignal)
        let before = try await fixture.processedCount()
        #expect(before >= 60)

        let restarted = try fixture.start("restarted")
        defer { Task { await restarted.stop() } }
        let status = try await StatusProbe.find(in: restarted)
        #expect(await eventually(timeout: .seconds(60)) { (try? await fixture.processedCount()) == total })
        #expect(await eventually { (try? await fixture.outboxBacklog()) == 0 })
        #expect(try await fixture.processedCount() == total)
        // One batch may have committed every record before the kill, so "all processed" can hold
        // before the restarted replica read anything: wait for the redelivery itself.
        #expect(
            await eventually(timeout: .seconds(60)) { ((try? await status.metric("novacron_events_duplicate_total")) ?? 0) >= 1 },
            "the committed record was redelivered")
        // The kill may also have hit between a relay delivery and its delete, so the wire may hold
        // duplicates: read everything and compare by event id.
        let out = try await collect(env, topics: [fixture.output], count: total + 1000, timeout: .seconds(10))
        #expect(Set(out.compactMap { $0.header(OutboxRelayService.headerEventID) }).count == total)
    }

    /// Killed after Kafka acknowledged a relay batch but before it was deleted from the outbox: on
    /// restart the batch is published again (same event ids), so every event exists once by id.
    @Test func crashBetweenDeliveryAndDeleteRepublishesWithSameEventIDs() async throws {
        let env = try TestEnvironment.current()
        let fixture = try FixtureDeployment(env: env, name: "crashrelay", partitions: 3)
        let total = 200
        // The first relay round that delivers anything: with batching, one round may carry all.
        let crashing = try fixture.start("crashing", extra: ["FIXTURE_CRASH_AFTER_DELIVERY": "1"])
        try await fixture.feed(0..<total, hosts: 10)
        let exit = await crashing.wait(timeout: .seconds(60))
        #expect(exit == SIGKILL, "expected the crash point to SIGKILL the service; output:\n\(crashing.output)")

        let restarted = try fixture.start("restarted")
        defer { Task { await restarted.stop() } }
        #expect(await eventually(timeout: .seconds(60)) {
            let processed = try? await fixture.processedCount()
            let unpublished = try? await fixture.outboxBacklog()
            return processed == total && unpublished == 0
        })
        let out = try await collect(env, topics: [fixture.output], count: total + 1000, timeout: .seconds(10))
        let ids = out.compactMap { $0.header(OutboxRelayService.headerEventID) }
        #expect(Set(ids).count == total, "every event published, by id exactly the set committed")
        #expect(ids.count > total, "the undeleted batch went out twice (at-least-once on the wire)")
    }

    /// Kafka refuses the relay's handoff sends: the records stay in the outbox, the table path
    /// publishes them, and every event comes out, none lost and none missing by id.
    @Test func refusedHandoffSendsFallBackToTheTablePath() async throws {
        let env = try TestEnvironment.current()
        let fixture = try FixtureDeployment(env: env, name: "refused", partitions: 3)
        let total = 300
        let child = try fixture.start("refused", extra: ["FIXTURE_HANDLER_DELAY_MS": "10"])
        defer { Task { await child.stop() } }
        try await StatusProbe.find(in: child).waitUntilReady()
        try await fixture.feed(0..<total, hosts: 10)
        // Processing takes ~3 s, so the next produce requests are the relay's; Kafka refuses
        // three of them (TOPIC_AUTHORIZATION_FAILED).
        try env.control.send("errors 0 3 29")
        #expect(await eventually(timeout: .seconds(60)) { (try? await fixture.processedCount()) == total })
        #expect(await eventually(timeout: .seconds(30)) { (try? await fixture.outboxBacklog()) == 0 })
        let out = try await collect(env, topics: [fixture.output], count: total + 100, timeout: .seconds(10))
        #expect(Set(out.compactMap { $0.header(OutboxRelayService.headerEventID) }).count == total)
        #expect(child.output.contains("the table path will retry") || child.output.contains("not delivered"), "a send was refused:\n\(child.output)")
        #expect(child.isRunning)
    }

    /// One key's records go out in one relay send, one produce request each; Kafka refuses the
    /// first request. However librdkafka treats the requests behind it, the key's records reach
    /// the topic with their first occurrences in commit order: none overtakes the refused one.
    @Test func theRelayKeepsPerKeyOrderWhenOneRecordFailsAndALaterOneSucceeds() async throws {
        let env = try TestEnvironment.current()
        let fixture = try FixtureDeployment(
            env: env, name: "keyorder", partitions: 1, environment: ["KAFKA_BATCH_NUM_MESSAGES": "1", "KAFKA_LINGER_MS": "0"])
        let (child, _) = try await fixture.startReady()
        defer { Task { await child.stop() } }
        let total = 30
        let records = try (0..<total).map { try Records.heartbeat(host: "h0", sequence: UInt64($0), topic: fixture.input) }
        // The feed's produce requests are answered before the fault is armed; the next produce
        // request on the cluster is the relay's first.
        try await fixture.send(records)
        try env.control.send("errors 0 1 29")
        #expect(await eventually(timeout: .seconds(60)) {
            let processed = try? await fixture.processedCount()
            let backlog = try? await fixture.outboxBacklog()
            return processed == total && backlog == 0
        })
        let out = try await collect(env, topics: [fixture.output], count: total + 100, timeout: .seconds(10))
        var firsts: [Int32] = []
        var seen = Set<String>()
        for record in out {
            guard let id = record.header(OutboxRelayService.headerEventID), seen.insert(id).inserted else { continue }
            if let telemetry = try EnvelopeCodec.decode(record.value).message as? Novacron_V1_HostTelemetry { firsts.append(telemetry.runningVms) }
        }
        #expect(firsts == Array(0..<Int32(total)), "first occurrences out of commit order: \(firsts)")
        #expect(child.output.contains("not delivered") || child.output.contains("table path will retry"), "a send was refused")
    }

    /// Two replicas split the partitions; after one is SIGKILLed, the survivor takes its
    /// partitions and re-reads nothing that was committed.
    @Test func survivorOfAKilledReplicaReprocessesOnlyUncommittedRecords() async throws {
        let env = try TestEnvironment.current()
        let fixture = try FixtureDeployment(env: env, name: "group", partitions: 6)
        let a = try fixture.start("replica-a")
        let b = try fixture.start("replica-b")
        defer { Task { await a.stop(); await b.stop() } }
        let statusB = try await StatusProbe.find(in: b)
        try await StatusProbe.find(in: a).waitUntilReady()
        try await statusB.waitUntilReady()

        try await fixture.feed(0..<300, hosts: 30)
        #expect(await eventually(timeout: .seconds(60)) { (try? await fixture.processedCount()) == 300 })
        let pids = try await env.scalar("SELECT count(DISTINCT pid)::int FROM \(unescaped: fixture.schema).processed", as: Int.self)
        #expect(pids == 2, "both replicas took partitions")
        try await Task.sleep(for: .seconds(2))  // past auto.commit.interval.ms: phase one is committed
        let duplicatesBefore = try await statusB.metric("novacron_events_duplicate_total")

        a.kill()
        _ = await a.wait(timeout: .seconds(5))
        try await fixture.feed(300..<600, hosts: 30)
        #expect(await eventually(timeout: .seconds(60)) { (try? await fixture.processedCount()) == 600 })
        let byB = try await env.scalar(
            "SELECT count(*)::int FROM \(unescaped: fixture.schema).processed WHERE pid = \(Int(b.pid)) AND sequence >= 300", as: Int.self)
        #expect(byB == 300, "the survivor processed everything after the kill")
        #expect(
            try await statusB.metric("novacron_events_duplicate_total") == duplicatesBefore,
            "nothing committed before the kill was re-read by the survivor")
    }

    /// SIGTERM under load: the service finishes its in-flight record, commits offsets, drains
    /// the outbox and exits 0; after a restart, count in == count out, with no duplicates at all.
    @Test func gracefulShutdownUnderLoadLosesNothing() async throws {
        let env = try TestEnvironment.current()
        let fixture = try FixtureDeployment(env: env, name: "graceful", partitions: 3)
        // Several batches' worth (a batch holds up to 500), so that the stop lands under load
        // however the records happen to be batched.
        let total = 3000
        let first = try fixture.start("first", extra: ["FIXTURE_HANDLER_DELAY_MS": "2"])
        try await fixture.feed(0..<total, hosts: 50)
        #expect(await eventually(timeout: .seconds(60)) { ((try? await fixture.processedCount()) ?? 0) >= 200 })
        first.terminate()
        let code = await first.wait(timeout: .seconds(30))
        #expect(code == 0, "graceful stop exits 0; output:\n\(first.output)")
        #expect(first.output.contains("stopped cleanly"))
        let processedAtStop = try await fixture.processedCount()
        #expect(processedAtStop < total, "the stop happened under load")
        #expect(try await fixture.outboxBacklog() == 0, "the relay drained before exit")

        let second = try fixture.start("second")
        defer { Task { await second.stop() } }
        let status = try await StatusProbe.find(in: second)
        #expect(await eventually(timeout: .seconds(60)) { (try? await fixture.processedCount()) == total })
        #expect(await eventually { (try? await fixture.outboxBacklog()) == 0 })
        #expect(try await status.metric("novacron_events_duplicate_total") == 0, "no record processed twice")
        let out = try await collect(env, topics: [fixture.output], count: total + 100, timeout: .seconds(10))
        #expect(out.count == total, "count in == count out")
        #expect(Set(out.compactMap { $0.header(OutboxRelayService.headerEventID) }).count == total)
    }
}

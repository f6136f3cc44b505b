import Foundation
import NovaBus
import NovaCore
import NovaProto
import NovaService
import NovaTestSupport
import Testing

/// Deadlines, ticks and key ownership on the fixture service, under SIGKILL and SIGSTOP. Time is
/// a clock file the test moves (NOVACRON_CLOCK_FILE): no test sleeps for a deadline.
@Suite(.serialized) struct TimeAndOwnershipTests {
    static let start: Int64 = 1_800_000_000_000

    /// A clock file at `start`, and the variables that point a fixture at it.
    static func clock(deadline: Int64 = 1000, extra: [String: String] = [:]) throws -> (path: String, env: [String: String]) {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("novacron-clock-\(UUID().uuidString.prefix(8))").path
        try FileClock.write(start, to: path)
        return (path, ["NOVACRON_CLOCK_FILE": path, "FIXTURE_DEADLINE_MS": "\(deadline)"].merging(extra) { $1 })
    }

    /// The fixture's timer effects on its output topic: HostSuspected records.
    static func suspicions(_ env: TestEnvironment, _ fixture: FixtureDeployment, atLeast count: Int) async throws -> [KafkaMessage] {
        try await collect(env, topics: [fixture.output], count: count + 1000, timeout: .seconds(10)) {
            $0.header(OutboxRelayService.headerType) == "novacron.v1.HostSuspected"
        }
    }

    /// Two replicas of a fixture with key ownership over 6 partitions, started and consuming.
    static func twoOwners(
        _ env: TestEnvironment, name: String, extra: [String: String] = [:]
    ) async throws -> (clock: String, fixture: FixtureDeployment, replicas: ReplicaSet) {
        let (clockPath, clockEnv) = try clock(extra: ["FIXTURE_PARTITIONS": "6"].merging(extra) { $1 })
        let fixture = try FixtureDeployment(env: env, name: name, partitions: 6, environment: clockEnv)
        let replicas = try await fixture.deployment.startReady(["a", "b"])
        do {
            try await env.waitUntilConsuming(
                partitions: 6, answers: [fixture.output],
                probe: { try Records.heartbeat(host: $0, sequence: 0, topic: fixture.input) }, answerKey: { $0.keyString })
        } catch {
            await replicas.stopAll()
            throw error
        }
        return (clockPath, fixture, replicas)
    }

    /// SIGKILL at each step of a timer's effect: inside its transaction before the commit, after
    /// the commit before the relay has it, after Kafka acknowledged it before the outbox delete.
    /// After a restart every host's deadline has fired exactly once: one `fired` row and one
    /// event id per host, with the slot it was set for, though it fired after the restart.
    @Test(arguments: ["FIXTURE_CRASH_BEFORE_TIMER_COMMIT", "FIXTURE_CRASH_AFTER_TIMER_COMMIT", "FIXTURE_CRASH_AFTER_DELIVERY"])
    func aTimerEffectHappensOncePerSlotWhateverStepIsKilled(crashPoint: String) async throws {
        let env = try TestEnvironment.current()
        let (clockPath, clockEnv) = try Self.clock()
        defer { unlink(clockPath) }
        let fixture = try FixtureDeployment(env: env, name: "timerkill", partitions: 3, environment: clockEnv)
        let hosts = 20
        let (first, _) = try await fixture.startReady()
        try await fixture.feed(0..<hosts, hosts: hosts)
        #expect(await eventually {
            let processed = try? await fixture.processedCount()
            let backlog = try? await fixture.outboxBacklog()
            return processed == hosts && backlog == 0
        })
        first.terminate()
        #expect(await first.wait(timeout: .seconds(30)) == 0, "\(first.output.suffix(2000))")

        let crashing = try fixture.start("crashing", extra: [crashPoint: "1"])
        try await StatusProbe.find(in: crashing).waitUntilReady()
        try FileClock.write(Self.start + 5000, to: clockPath)
        #expect(await crashing.wait(timeout: .seconds(60)) == SIGKILL, "the crash point killed it: \(crashing.output.suffix(3000))")

        try FileClock.write(Self.start + 9000, to: clockPath)
        let restarted = try fixture.start("restarted")
        defer { Task { await restarted.stop() } }
        let fired = { try await fixture.deployment.scalar("SELECT count(*)::int FROM fired", as: Int.self) ?? 0 }
        #expect(await eventually(timeout: .seconds(60)) {
            let count = try? await fired()
            let backlog = try? await fixture.outboxBacklog()
            return count == hosts && backlog == 0
        })
        #expect(try await fired() == hosts, "one fired row per host")
        let slots = try await fixture.deployment.column("SELECT DISTINCT slot FROM fired", as: Int64.self)
        #expect(slots.allSatisfy { $0 > Self.start && $0 <= Self.start + 1000 }, "fired with the slot set, not the restart time: \(slots)")
        let out = try await Self.suspicions(env, fixture, atLeast: hosts)
        let ids = Set(out.compactMap { $0.header(OutboxRelayService.headerEventID) })
        #expect(ids.count == hosts, "one event id per slot (\(out.count) records on the wire)")
        #expect(Set(out.map(\.keyString)).count == hosts)
        #expect(try await fixture.deployment.scalar("SELECT count(*)::int FROM deadlines", as: Int.self) == 0)
    }

    /// A tick missed for ten periods while no replica ran fires once at start, with the slot it
    /// was due at; the next one is a period after the restart's time.
    @Test func aTickMissedWhileDownFiresOnceWithItsSlot() async throws {
        let env = try TestEnvironment.current()
        let (clockPath, clockEnv) = try Self.clock(extra: ["FIXTURE_TICK_MS": "1000"])
        defer { unlink(clockPath) }
        let fixture = try FixtureDeployment(env: env, name: "tick", partitions: 1, environment: clockEnv)
        let sweeps = { try await fixture.deployment.column("SELECT slot FROM sweeps ORDER BY slot", as: Int64.self) }
        let (first, _) = try await fixture.startReady()
        try FileClock.write(Self.start + 1000, to: clockPath)
        #expect(await eventually { (try? await sweeps()) == [Self.start + 1000] }, "the first tick")
        first.terminate()
        _ = await first.wait(timeout: .seconds(30))

        try FileClock.write(Self.start + 11_500, to: clockPath)
        let (second, _) = try await fixture.startReady()
        defer { Task { await second.stop() } }
        #expect(await eventually { (try? await sweeps())?.count == 2 })
        #expect(try await sweeps() == [Self.start + 1000, Self.start + 2000], "one firing for the missed stretch, at its slot")
        try FileClock.write(Self.start + 12_000, to: clockPath)
        #expect(await eventually { (try? await sweeps())?.count == 3 })
        #expect(try await sweeps().last == Self.start + 12_000)
    }

    /// Two replicas own 100 hosts' deadlines between them. One is SIGKILLed; the survivor gains
    /// its partitions, loads their hosts' state from the schema, and fires every deadline once:
    /// none twice, none lost, each with the heartbeat count the dead replica had recorded.
    @Test func theSurvivorOfAKilledReplicaFiresItsKeysFromPersistedState() async throws {
        let env = try TestEnvironment.current()
        let (clockPath, fixture, replicas) = try await Self.twoOwners(env, name: "owners")
        defer { unlink(clockPath) }
        defer { Task { await replicas.stopAll() } }

        let hosts = 100
        try await fixture.feed(0..<hosts, hosts: hosts)
        let processed = { try await fixture.deployment.scalar("SELECT count(*)::int FROM processed WHERE host_id LIKE 'h%'", as: Int.self) }
        #expect(await eventually { (try? await processed()) == hosts })
        let pids = try await fixture.deployment.column("SELECT DISTINCT pid FROM processed WHERE host_id LIKE 'h%'", as: Int.self)
        #expect(pids.count == 2, "both replicas own hosts")
        let a = try #require(replicas["a"]), b = try #require(replicas["b"])
        let ofA = try await fixture.deployment.scalar(
            "SELECT count(*)::int FROM processed WHERE host_id LIKE 'h%' AND pid = \(Int(a.pid))", as: Int.self) ?? 0

        await replicas.kill("a")
        try FileClock.write(Self.start + 5000, to: clockPath)
        let fired = { try await fixture.deployment.scalar("SELECT count(*)::int FROM fired WHERE host_id LIKE 'h%'", as: Int.self) }
        #expect(await eventually(timeout: .seconds(60)) { (try? await fired()) == hosts }, "\(b.output.suffix(3000))")
        #expect(try await fired() == hosts, "no deadline fired twice")
        #expect(
            try await fixture.deployment.scalar("SELECT count(DISTINCT host_id)::int FROM fired WHERE host_id LIKE 'h%'", as: Int.self) == hosts)
        #expect(
            try await fixture.deployment.scalar("SELECT count(*)::int FROM fired WHERE host_id LIKE 'h%' AND pid = \(Int(b.pid))", as: Int.self)
                == hosts, "the survivor fired all, \(ofA) of them the dead replica's")
        #expect(
            try await fixture.deployment.scalar("SELECT count(*)::int FROM fired WHERE host_id LIKE 'h%' AND beats = 1", as: Int.self) == hosts,
            "each firing saw the host's state, loaded from the schema for the gained keys")
        let status = try await replicas.status("b")
        #expect(try await status.metric("novacron_owned_partitions") == 6)
    }

    /// Input keyed by host, decided per zone: each heartbeat is re-keyed by its zone through the
    /// fixture's own topic, and with two replicas every zone is counted by one replica only, each
    /// heartbeat exactly once.
    @Test func inputKeyedByOneIdIsDecidedPerAnotherThroughARepartitionTopic() async throws {
        let env = try TestEnvironment.current()
        let rekey = "test.\(TestEnvironment.uniqueName("rekey")).repartition.zone"
        try env.createTopic(rekey, partitions: 6)
        let (clockPath, fixture, replicas) = try await Self.twoOwners(env, name: "rekey", extra: ["FIXTURE_REKEY_TOPIC": rekey])
        defer { unlink(clockPath) }
        defer { Task { await replicas.stopAll() } }
        let beats = 90
        try await fixture.feed(1..<(beats + 1), hosts: 30)
        let counted = { try await fixture.deployment.scalar("SELECT sum(beats)::int FROM zone_beats", as: Int.self) }
        // The barrier's probes carry sequence 0, so zone-0 holds them too: count what the feed added.
        #expect(await eventually(timeout: .seconds(60)) { (try? await counted()) ?? 0 >= beats })
        let probes = try await fixture.deployment.scalar("SELECT count(*)::int FROM processed WHERE host_id NOT LIKE 'h%'", as: Int.self) ?? 0
        try await Task.sleep(for: .seconds(1))
        #expect(try await counted() == beats + probes, "each heartbeat counted once")
        let zones = try await fixture.deployment.column("SELECT zone FROM zone_beats ORDER BY zone", as: String.self)
        #expect(zones == ["zone-0", "zone-1", "zone-2"])
        let counters = try await fixture.deployment.column("SELECT cardinality(pids)::int FROM zone_beats", as: Int.self)
        #expect(counters == [1, 1, 1], "every zone decided on one replica")
    }

    /// A replica frozen (SIGSTOP) in the middle of a batch past its session timeout: the other
    /// replica claims its partitions. Resumed, the frozen one finishes its transaction, whose
    /// epochs are stale: refused, rolled back. Every heartbeat is processed exactly once.
    @Test func aReplicaPausedPastItsSessionTimeoutIsRefused() async throws {
        let env = try TestEnvironment.current()
        let (clockPath, fixture, replicas) = try await Self.twoOwners(env, name: "paused", extra: ["FIXTURE_HANDLER_DELAY_MS": "700"])
        defer { unlink(clockPath) }
        defer { Task { await replicas.stopAll() } }

        let records = 24
        try await fixture.feed(0..<records, hosts: records)
        // Into the batch: each record's handler takes 0.7 s, so both replicas are mid-batch.
        try await Task.sleep(for: .seconds(1))
        replicas.pause("a")
        try await Task.sleep(for: .seconds(12))  // past session.timeout.ms (6 s): the group moves a's partitions
        replicas.resume("a")

        let processed = { try await fixture.deployment.scalar("SELECT count(*)::int FROM processed WHERE host_id LIKE 'h%'", as: Int.self) }
        #expect(await eventually(timeout: .seconds(90)) { (try? await processed()) == records })
        try await Task.sleep(for: .seconds(2))
        #expect(try await processed() == records, "no heartbeat processed twice")
        let status = try await replicas.status("a")
        #expect(try await status.metric("novacron_stale_owner_refused_total") >= 1, "\(replicas["a"]?.output.suffix(3000) ?? "")")
        let out = try await collect(env, topics: [fixture.output], count: records + 1000, timeout: .seconds(10)) {
            $0.keyString.hasPrefix("h")
        }
        #expect(Set(out.compactMap { $0.header(OutboxRelayService.headerEventID) }).count == records, "one effect per heartbeat")
    }
}

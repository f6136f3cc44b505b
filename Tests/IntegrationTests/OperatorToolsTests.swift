import Foundation
import NovaTestSupport
import NovaCore
import Testing

@Suite(.serialized) struct NovacronctlTests {
    static let unreachable = ["KAFKA_BROKERS": "127.0.0.1:1"]

    /// Bad input is refused with exit code 2 and a message saying what is wrong, before any
    /// connection: the broker given is unreachable, so trying it would exit 1 instead.
    @Test(arguments: [
        (["vm", "place", "vm-1", "--cpu", "two", "--memory", "4GiB"], "--cpu: 'two' is not a number; expected vCPUs"),
        (["vm", "place", "vm-1", "--cpu", "1", "--memory", "4 parsecs"], "unknown unit 'parsecs'"),
        (["vm", "place", "vm-1", "--memory", "4GiB"], "Missing expected argument '--cpu <cpu>'"),
        (["vm", "place", "vm 1", "--cpu", "1", "--memory", "1GiB"], "VM id 'vm 1' contains ' '"),
        (["vm", "place", "vm-1", "--cpu", "0", "--memory", "1GiB"], "--cpu: '0' must be positive"),
        (["vm", "place", "vm-1", "--cpu", "1", "--memory", "1GiB", "--selector", "tier Like gold"], "unknown operator 'Like'"),
        (["vm", "place", "vm-1", "--cpu", "1", "--memory", "1GiB", "--selector", "tier In"], "In needs at least one value"),
        (["vm", "place", "vm-1", "--cpu", "1", "--memory", "1GiB", "--spread", "web:zone:0"], "max skew '0' must be"),
        (["vm", "place", "vm-1", "--cpu", "1", "--memory", "1GiB", "--anti-affinity", "db:rack"], "unknown scope 'rack'"),
        (["vm", "place", "vm-1", "--cpu", "1", "--memory", "1GiB", "--strategy", "random"], "unknown strategy 'random'"),
        (["vm", "place", "vm-1", "--cpu", "1", "--memory", "1GiB", "--max-price", "free"], "--max-price: 'free' is not a price"),
        (["vm", "place", "vm-1", "--cpu", "1", "--memory", "1GiB", "--gpus", "-1"], "--gpus"),
        (["vm", "place", "vm-1", "--cpu", "1", "--memory", "1GiB", "--label", "novalue"], "--label: 'novalue' is not KEY=VALUE"),
        (["vm", "place", "vm-1", "--cpu", "1", "--memory", "1GiB", "--timeout", "soon"], "--timeout: 'soon' is not a duration"),
        (["vm", "place", "vm-1", "--cpu", "1", "--memory", "1GiB", "--bogus"], "Unknown option '--bogus'"),
        (["vm", "migrate", "vm-1", "--to", ""], "host id is empty"),
        (["vm", "frobnicate"], "Unexpected argument 'frobnicate'"),
        (["host", "register", "h-1", "--cpu", "8", "--memory", "16GiB", "--cloud", "c", "--region", "r", "--zone", ""], "topology.zone: must not be empty"),
        (["host", "register", "h-1", "--cpu", "8", "--memory", "16GiB", "--cloud", "c", "--region", "r", "--zone", "z", "--price", "-1"], "--price"),
        (["host", "register", "h-1", "--cpu", "8", "--memory", "16GiB", "--cloud", "c", "--region", "r", "--zone", "z", "--provider", "ibm"],
         "provider: must be one of aws, azure, gcp, libvirt, sim"),
        (["events", "tail", "--topic", "novacron.nope"], "'novacron.nope' is not a catalog topic"),
        (["events", "tail", "--since", "yesterday"], "--since: 'yesterday' is neither a duration nor a time"),
        (["events", "tail", "--limit", "0"], "--limit: 0 must be at least 1"),
        (["explain", "bad id"], "VM id 'bad id' contains ' '"),
    ])
    func badInputExitsWithCode2AndSaysWhy(_ arguments: [String], _ message: String) async throws {
        let env = try TestEnvironment.current()
        let result = try await ToolRun.run("\(env.binaries)/novacronctl", arguments, environment: Self.unreachable)
        #expect(result.status == 2, "exit code for \(arguments): \(result.stderr)")
        #expect(result.stderr.contains(message), "stderr: \(result.stderr)")
        #expect(result.stdout.isEmpty)
    }

    @Test func unreachableBrokerIsAClearErrorWithinSeconds() async throws {
        let env = try TestEnvironment.current()
        let result = try await ToolRun.run(
            "\(env.binaries)/novacronctl", ["vm", "place", "vm-1", "--cpu", "1", "--memory", "1GiB", "--connect-timeout", "2s"],
            environment: Self.unreachable)
        #expect(result.status == 1)
        #expect(result.stderr.contains("no Kafka broker reachable at 127.0.0.1:1"))
        #expect(result.seconds < 10, "took \(result.seconds) s")
    }

    @Test func noBrokerAtAllIsAUsageError() async throws {
        let env = try TestEnvironment.current()
        let empty = FileManager.default.temporaryDirectory.path
        let result = try await ToolRun.run(
            "\(env.binaries)/novacronctl", ["status"], environment: ["KAFKA_BROKERS": ""], directory: empty)
        #expect(result.status == 2)
        #expect(result.stderr.contains("no Kafka brokers given"))
    }

    /// The operator's commands against a running placement service: register hosts, place
    /// (and dry-run, and fail), explain, status, tail, cordon, drain, release.
    @Test func drivesPlacementEndToEnd() async throws {
        let env = try TestEnvironment.current()
        let deployment = PlacementDeployment(env: env, name: "ctl")
        let service = try await deployment.startConsuming("placement-ctl")[0]
        defer { Task { await service.stop() } }
        let run = deployment.run
        func ctl(_ arguments: String...) async throws -> ToolRun {
            try await ToolRun.run("\(env.binaries)/novacronctl", arguments + ["--brokers", env.brokers], timeout: .seconds(90))
        }

        for (i, zone) in ["z1", "z2", "z3"].enumerated() {
            let r = try await ctl(
                "host", "register", "\(run)-h\(i)", "--cpu", "8", "--memory", "16GiB", "--disk", "100", "--cloud", run, "--region", "r1",
                "--zone", zone, "--label", "disk=ssd", "--price", "0.50")
            #expect(r.status == 0, "\(r.stderr)")
            #expect(r.stdout.contains("host \(run)-h\(i) registered"))
        }
        #expect(await deployment.waitForHosts(3))

        let placed = try await ctl("vm", "place", "\(run)-vm1", "--cpu", "2", "--memory", "4GiB", "--zone", "z2", "--selector", "disk=ssd")
        #expect(placed.status == 0, "\(placed.stderr)")
        #expect(placed.stdout.contains("\(run)-vm1 placed on \(run)-h1 (\(run)/r1/z2)"), "\(placed.stdout)")
        #expect(placed.stdout.contains("chosen    \(run)-h1 score"))
        #expect(placed.stdout.contains("runner-up"))

        let dry = try await ctl("vm", "place", "\(run)-vm2", "--cpu", "1", "--memory", "1GiB", "--dry-run")
        #expect(dry.status == 0, "\(dry.stderr)")
        #expect(dry.stdout.contains("\(run)-vm2 would be placed on") && dry.stdout.contains("dry run: nothing was claimed"))

        let tooBig = try await ctl("vm", "place", "\(run)-big", "--cpu", "64", "--memory", "4GiB")
        #expect(tooBig.status == 3)
        #expect(tooBig.stdout.contains("\(run)-big not placed: INSUFFICIENT_CAPACITY"), "\(tooBig.stdout)")
        #expect(tooBig.stdout.contains("rejected: insufficient cpu"))

        let unknownRelease = try await ctl("vm", "release", "\(run)-never")
        #expect(unknownRelease.status == 3)
        #expect(unknownRelease.stdout.contains("UNKNOWN_VM"))

        let explained = try await ctl("explain", "\(run)-vm1")
        #expect(explained.status == 0, "\(explained.stderr)")
        #expect(explained.stdout.contains("[novacronctl] place \(run)-vm1: cpu 2 vCPU, memory 4 GiB"), "\(explained.stdout)")
        #expect(explained.stdout.contains("[novacron-placement] \(run)-vm1 placed on \(run)-h1"))
        #expect(try await ctl("explain", "\(run)-nothing").status == 3)

        let status = try await ctl("status")
        #expect(status.status == 0, "\(status.stderr)")
        let row = status.stdout.split(separator: "\n").first { $0.hasPrefix(run) && $0.contains(" z2 ") }
        let cells = row.map { $0.split(separator: " ", omittingEmptySubsequences: true).map(String.init) } ?? []
        #expect(cells.count >= 6 && cells[3] == "1" && cells[5] == "1", "z2: 1 host, 1 VM; got \(row.map(String.init) ?? status.stdout)")

        let tail = try await ctl("events", "tail", "--vm", "\(run)-vm1", "--since", "beginning", "--no-follow")
        #expect(tail.status == 0, "\(tail.stderr)")
        #expect(tail.stdout.contains("PlaceVM") && tail.stdout.contains("VMPlaced"), "\(tail.stdout)")
        let json = try await ctl("events", "tail", "--vm", "\(run)-vm1", "--type", "VMPlaced", "--since", "10m", "--no-follow", "--json")
        let object = try JSONSerialization.jsonObject(with: Data((json.stdout.split(separator: "\n").first ?? "").utf8)) as? [String: Any]
        #expect(object?["type"] as? String == "novacron.v1.VMPlaced")
        #expect((object?["payload"] as? [String: Any])?["hostId"] as? String == "\(run)-h1")

        // Spread puts vm2 on an empty host; draining that host moves it to another one.
        let second = try await ctl("vm", "place", "\(run)-vm2", "--cpu", "1", "--memory", "1GiB", "--strategy", "spread")
        #expect(second.status == 0, "\(second.stderr)")
        let after = try #require(second.stdout.range(of: "vm2 placed on "), "\(second.stdout)").upperBound
        let firstHost = String(second.stdout[after...].prefix { $0 != " " })
        #expect(firstHost != "\(run)-h1")
        let moving = try await ctl("host", "drain", firstHost)
        #expect(moving.status == 0, "\(moving.stdout) \(moving.stderr)")
        #expect(moving.stdout.contains("moved    \(run)-vm2 migrated \(firstHost) ->"), "\(moving.stdout)")
        #expect(moving.stdout.contains("host \(firstHost) drained: 1 VMs moved, 0 could not be"))

        #expect(try await ctl("host", "cordon", "\(run)-ghost").status == 2)
        let cordon = try await ctl("host", "cordon", "\(run)-h1")
        #expect(cordon.status == 0 && cordon.stdout.contains("ready -> cordoned"), "\(cordon.stdout) \(cordon.stderr)")
        #expect(await eventually { (try? await env.scalar("SELECT state FROM \(unescaped: deployment.schema).hosts WHERE host_id = \(run + "-h1")", as: String.self)) == "cordoned" })
        let refused = try await ctl("vm", "place", "\(run)-vm3", "--cpu", "1", "--memory", "1GiB", "--zone", "z2")
        #expect(refused.status == 3 && refused.stdout.contains("host not ready"), "\(refused.stdout)")

        // vm1 is pinned to z2, whose only host is h1: draining h1 leaves it there, and says so.
        let stuck = try await ctl("host", "drain", "\(run)-h1")
        #expect(stuck.status == 3, "\(stuck.stdout) \(stuck.stderr)")
        #expect(stuck.stdout.contains("stays    \(run)-vm1 failed:"), "\(stuck.stdout)")
        #expect(stuck.stdout.contains("host \(run)-h1 drained: 0 VMs moved, 1 could not be"))

        let released = try await ctl("vm", "release", "\(run)-vm1")
        #expect(released.status == 0 && released.stdout.contains("\(run)-vm1 released from \(run)-h1"), "\(released.stdout)")
        #expect(try await ctl("vm", "release", "\(run)-vm2").status == 0)
        #expect(try await deployment.allocatedCPU() == 0)
    }
}

@Suite struct MakeRunTests {
    /// `make run ARGS=--once` as devstack runs it, on an isolated stack of its own (own
    /// Postgres, own dev broker): the scenario plays, the summary prints, nothing is left.
    @Test func runOncePrintsTheSummaryAndLeavesNoProcess() async throws {
        let env = try TestEnvironment.current()
        let root = TestEnvironment.repositoryRoot
        let runDir = FileManager.default.temporaryDirectory.appendingPathComponent("novacron-makerun-\(UUID().uuidString.prefix(8))").path
        defer { try? FileManager.default.removeItem(atPath: runDir) }
        let result = try await ToolRun.run(
            "\(root)/scripts/devstack.sh", ["with", "\(root)/scripts/run-stack.sh", "--once", "--placements", "400"],
            environment: [
                "NOVACRON_RUN_DIR": runDir, "NOVACRON_BIN": env.absoluteBinaries, "NOVACRON_PLACEMENT_PORT": String(try freeTCPPort()),
                "NOVACRON_PROVIDER_PORT": String(try freeTCPPort()), "NOVACRON_PG_PORT": String(try freeTCPPort()),
            ],
            directory: root, timeout: .seconds(240))
        #expect(result.status == 0, "stdout: \(result.stdout)\nstderr: \(result.stderr)")
        #expect(result.stdout.contains("NovaCron embedded stack is up"))
        #expect(result.stdout.contains("400 place commands answered of 400"), "\(result.stdout)")
        #expect(result.stdout.contains("placed: ") && result.stdout.contains("decision time in the engine: p50"))
        #expect(result.stdout.contains("utilisation per zone"))
        // The simulated provider answered every VM placed, running or failed to create.
        let placed = result.stdout.firstMatch(of: /placed: (\d+)/).map { String($0.1) } ?? "?"
        #expect(result.stdout.contains("provider (novacron-provider, sim): \(placed) of \(placed) placed VMs answered"), "\(result.stdout)")
        #expect(result.stdout.contains("placed -> running read: p50"))
        #expect(result.stdout.contains("us-east-a") && result.stdout.contains("total"))
        #expect(result.stdout.contains("--once: scenario played"))
        #expect(result.stderr.contains("novacron-placement knows 900 hosts"))
        #expect(result.stderr.contains("100%"), "progress reaches the end: \(result.stderr)")
        let leftovers = processesMentioning(runDir)
        #expect(leftovers.isEmpty, "still running: \(leftovers)")
    }
}

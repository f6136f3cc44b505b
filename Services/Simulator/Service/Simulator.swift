import ArgumentParser
import Foundation
import Logging
import NovaBus
import NovaCore
import SimulatorCore
import Synchronization

/// `novacron-sim`: a simulated fleet and its workload, driving a running control plane.
@main
struct Simulator: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "novacron-sim",
        abstract: "Simulate a fleet: register hosts, send heartbeats and telemetry, place a workload, inject incidents.",
        discussion: """
            Talks only to Kafka (KAFKA_BROKERS or --brokers; other KAFKA_* variables pass through to \
            librdkafka). Plays the scenario, prints a summary on standard output, then keeps the \
            fleet heartbeating until SIGINT or SIGTERM (or exits at once with --once).

            Exit codes: 0 done; 1 Kafka unreachable or placement did not answer every command; \
            2 invalid options or scenario.
            """)

    @Option(help: "Scenario file (JSON).") var scenario: String = "Services/Simulator/scenarios/default.json"
    @Option(help: "Override the scenario's number of placements.") var placements: Int?
    @Option(help: "Override the scenario's place commands per second.") var rate: Int?
    @Option(help: "Override the scenario's hosts per zone.") var hostsPerZone: Int?
    @Option(help: "Kafka bootstrap servers (default: KAFKA_BROKERS).") var brokers: String?
    @Option(help: "Give up when no answer arrived for this many seconds after the last command.") var answerTimeout: Int = 60
    @Option(help: "Progress display: auto (a bar on a terminal, lines otherwise), bar, lines.") var progress: String = "auto"
    @Flag(help: "Exit after the summary instead of keeping the fleet running.") var once = false

    func run() async throws {
        let plan: Scenario
        do {
            var loaded = try Scenario.load(scenario)
            if let placements { loaded.workload.placements = placements }
            if let rate { loaded.workload.rate = rate }
            if let hostsPerZone { loaded.fleet.hostsPerZone = hostsPerZone }
            try loaded.validate()
            plan = loaded
        } catch {
            throw Self.usage("\(error)")
        }
        guard ["auto", "bar", "lines"].contains(progress) else { throw Self.usage("--progress must be auto, bar or lines, got '\(progress)'") }
        guard answerTimeout > 0 else { throw Self.usage("--answer-timeout must be positive") }
        var environment = ProcessInfo.processInfo.environment
        if let brokers { environment["KAFKA_BROKERS"] = brokers }
        let kafka: KafkaConfiguration
        do {
            kafka = try KafkaConfiguration.fromEnvironment(environment, clientID: "novacron-sim")
        } catch {
            throw Self.usage("\(error) (set KAFKA_BROKERS or pass --brokers)")
        }
        var logger = Logger(label: "novacron-sim")
        logger.logLevel = environment["LOG_LEVEL"].flatMap(Logger.Level.init(rawValue:)) ?? .error

        let run = "sim\(UInt64(Date().timeIntervalSince1970 * 1000) % 100_000_000)"
        let commands = try WorkloadGenerator.commands(plan, run: run)
        let output = ProgressOutput(interactive: progress == "bar" || (progress == "auto" && isatty(2) == 1))
        let driver: FleetDriver
        do {
            driver = try await FleetDriver(scenario: plan, run: run, commands: commands, kafka: kafka, progress: output, logger: logger)
        } catch {
            printError("novacron-sim: \(error)")
            throw ExitCode(1)
        }
        output.note("scenario '\(plan.name)', run \(run)")
        let stop = ShutdownSignal()
        let listening = Task { try await driver.listen() }
        let reporting = Task { try await driver.report() }
        var succeeded = false
        do {
            try await driver.registerFleet(timeout: .seconds(120))
            let (elapsed, complete) = try await driver.placeWorkload(commands, timeout: .seconds(answerTimeout))
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
            let unanswered = try await driver.awaitProvisioning(timeout: .seconds(answerTimeout))
            if unanswered > 0 {
                printError("novacron-sim: \(unanswered) placed VMs got no word from their provider within \(answerTimeout) s; is novacron-provider (sim) running?")
            }
            let report = await driver.book.summary.render(commands: commands.count, elapsedSeconds: seconds, fleet: await driver.book.ledger)
            // Unbuffered: the process keeps running afterwards, and a pipe would hold it back.
            FileHandle.standardOutput.write(Data((report + "\n").utf8))
            if !complete {
                printError("novacron-sim: \(commands.count - (await driver.book.summary.answered)) place commands got no answer within \(answerTimeout) s of the last one")
            }
            succeeded = complete
        } catch {
            printError("novacron-sim: \(error)")
        }
        if succeeded && !once {
            output.note("fleet keeps running (heartbeats every \(plan.telemetry.heartbeatSeconds) s); SIGINT or SIGTERM stops it")
            await stop.wait()
        }
        reporting.cancel()
        await driver.close()
        listening.cancel()
        if !succeeded { throw ExitCode(1) }
    }

    static func usage(_ message: String) -> ExitCode {
        printError("novacron-sim: error: \(message)")
        return ExitCode(2)
    }
}

/// SIGINT and SIGTERM: while `wait()` is pending they end the wait (a clean shutdown);
/// before that, during the scenario, they end the process at once.
final class ShutdownSignal {
    private let sources: [any DispatchSourceSignal]
    private let waiter = WaiterSlot()

    init() {
        sources = [SIGINT, SIGTERM].map { signalNumber in
            signal(signalNumber, SIG_IGN)
            return DispatchSource.makeSignalSource(signal: signalNumber, queue: .global())
        }
        for (source, number) in zip(sources, [SIGINT, SIGTERM]) {
            source.setEventHandler { [waiter] in
                guard let continuation = waiter.take() else {
                    printError("novacron-sim: interrupted")
                    exit(128 + number)
                }
                continuation.resume()
            }
            source.resume()
        }
    }

    func wait() async {
        await withCheckedContinuation { continuation in waiter.put(continuation) }
    }
}

/// The one continuation a signal handler may resume.
final class WaiterSlot: Sendable {
    private let slot = Mutex<CheckedContinuation<Void, Never>?>(nil)
    func put(_ continuation: CheckedContinuation<Void, Never>) { slot.withLock { $0 = continuation } }
    func take() -> CheckedContinuation<Void, Never>? {
        slot.withLock { value in
            defer { value = nil }
            return value
        }
    }
}

func printError(_ text: String) {
    FileHandle.standardError.write(Data((text + "\n").utf8))
}

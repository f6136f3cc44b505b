import ArgumentParser
import ControlCore
import Foundation
import NovaCore

/// The operator's command line. It talks only to Kafka: commands are published on the
/// catalog's command topics and answers are read from its event topics.
struct Novacronctl: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "novacronctl",
        abstract: "Drive a NovaCron control plane through its Kafka topics.",
        discussion: """
            Brokers come from --brokers, else KAFKA_BROKERS, else .run/kafka.bootstrap of a local \
            stack (make run, make stack-start). Other KAFKA_* variables pass through to librdkafka \
            (KAFKA_SECURITY_PROTOCOL=SASL_SSL sets security.protocol, ...).

            Exit codes: 0 done; 1 Kafka unreachable or no answer in time; 2 invalid input (nothing \
            was published); 3 the command was answered with a refusal (placement failed, unknown VM, \
            rejected to the dead-letter topic) or what was asked for does not exist.
            """,
        subcommands: [VM.self, HostCommand.self, Events.self, Explain.self, Status.self])
}

/// Options every command that reaches Kafka takes.
struct ConnectionOptions: ParsableArguments {
    @Option(name: .long, help: "Kafka bootstrap servers, HOST:PORT[,HOST:PORT...].")
    var brokers: String?

    @Option(name: .long, help: "How long to wait for a broker to answer (e.g. 5s).")
    var connectTimeout: String = "5s"

    func session() throws -> BusSession {
        try BusSession(brokers: brokers, connectTimeout: try OptionGrammar.duration(connectTimeout, option: "--connect-timeout"))
    }
}

/// Options of commands that wait for their answer.
struct WaitOptions: ParsableArguments {
    @Flag(name: .long, help: "Publish and return at once, without waiting for the answer.")
    var noWait = false

    @Option(name: .long, help: "How long to wait for the answer (e.g. 30s).")
    var timeout: String = "30s"

    @Flag(name: .long, help: "Print the answering event as JSON.")
    var json = false

    func timeoutDuration() throws -> Duration { try OptionGrammar.duration(timeout, option: "--timeout") }
}

/// Prints to standard error.
func printError(_ text: String) {
    FileHandle.standardError.write(Data((text + "\n").utf8))
}

func newCommandID() -> String { "ctl-" + UUID().uuidString.lowercased() }

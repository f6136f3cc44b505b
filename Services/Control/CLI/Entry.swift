import ArgumentParser
import ControlCore
import Foundation
import NovaBus

// Exit codes are part of the interface (scripts branch on them): 0 done, 1 Kafka trouble or
// no answer in time, 2 invalid input and nothing published, 3 answered with a refusal or
// nothing found.
@main
enum NovacronctlEntry {
    static func main() async {
        do {
            var command = try Novacronctl.parseAsRoot()
            if var asyncCommand = command as? AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
            exit(0)
        } catch let error as UsageError {
            printError("novacronctl: error: \(error)")
            exit(2)
        } catch is CommandFailed {
            exit(3)
        } catch let error as CommandRejected {
            printError("novacronctl: \(error)")
            exit(3)
        } catch let error as NoAnswer {
            printError("novacronctl: \(error)")
            exit(1)
        } catch let error as KafkaError {
            printError("novacronctl: \(error)")
            exit(1)
        } catch {
            // Argument parsing: help and version exit 0; every malformed invocation exits 2.
            let code = Novacronctl.exitCode(for: error)
            if code == .success {
                print(Novacronctl.fullMessage(for: error))
                exit(0)
            }
            let message = Novacronctl.fullMessage(for: error)
            if code == .validationFailure {
                printError(message.hasPrefix("Error:") ? message : "Error: \(message)")
                exit(2)
            }
            printError("novacronctl: \(message.isEmpty ? "\(error)" : message)")
            exit(code.rawValue == 0 ? 1 : code.rawValue)
        }
    }
}

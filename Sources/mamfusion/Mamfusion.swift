import ArgumentParser
import CommandOptions
import Foundation
import Logging
import MPIKit

/// The `mamfusion` command-line tool: every user-facing job is a subcommand.
@main
struct Mamfusion: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mamfusion",
        abstract: "Distributed (MPI) training and evaluation of MamFusion for partially relevant video retrieval.",
        subcommands: [Doctor.self, Train.self, Evaluate.self, BuildIndex.self, Plot.self, Synth.self, Convert.self, Inspect.self,
                      ModelInfo.self, Initialize.self, Import.self, Export.self, Bench.self]
    )

    /// Runs the command. An error on one rank of a multi-rank job ends the whole job at once
    /// (MPI_Abort with the rank and the message): the other ranks may be waiting in a collective
    /// and would otherwise hang. Agreed stops (every rank throws the same `ExitCode`) exit normally.
    static func main() {
        // Diagnostics go to standard error, one line each, tagged with the rank; progress lines
        // and results go to standard output.
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = ProcessInfo.processInfo.environment["MAMFUSION_LOG_LEVEL"].flatMap(Logger.Level.init(rawValue:)) ?? .info
            return handler
        }
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch {
            if let world = Communicator.initializedWorld, world.size > 1, !(error is ExitCode) {
                world.abort(fullMessage(for: error))
            }
            exit(withError: error)
        }
    }
}

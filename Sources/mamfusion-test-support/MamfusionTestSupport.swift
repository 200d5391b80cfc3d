import ArgumentParser
import CommandOptions
import Foundation
import MPIKit
import TestSupport

/// `mamfusion-test-support`: commands that exist for the test suite only (run under `mpirun` by
/// the tests, never shipped to users in the `mamfusion` tool) — and `train`, the tool's own
/// training command, with the test-only models (`TestModels`) registered.
@main
struct MamfusionTestSupport: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mamfusion-test-support",
        abstract: "Test-only commands of mamfusion-mpi (launched by the test suite).",
        subcommands: [Train.self, HeadCheck.self, SelfTest.self, ParallelIOSelfTest.self, EvaluationSelfTest.self, DataSelfTest.self, TokenDataSelfTest.self, InfoNCEHeadCheck.self]
    )

    static func main() {
        TestModels.register()
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch {
            if let world = Communicator.initializedWorld, world.size > 1, !(error is ExitCode) {
                world.abort("\(error)")
            }
            exit(withError: error)
        }
    }
}

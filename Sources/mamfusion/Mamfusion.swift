import ArgumentParser

/// The `mamfusion` command-line tool: every user-facing job is a subcommand.
@main
struct Mamfusion: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mamfusion",
        abstract: "Distributed (MPI) training and evaluation of MamFusion for partially relevant video retrieval.",
        subcommands: [Doctor.self, ModelInfo.self, Bench.self, SelfTest.self, ParallelIOSelfTest.self, Convert.self, Synth.self, Inspect.self, DataSelfTest.self]
    )
}

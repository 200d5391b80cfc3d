import ArgumentParser

/// The `mamfusion` command-line tool: every user-facing job is a subcommand.
@main
struct Mamfusion: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mamfusion",
        abstract: "Distributed (MPI) training and evaluation of MamFusion for partially relevant video retrieval.",
        subcommands: [Doctor.self, Train.self, Evaluate.self, BuildIndex.self, Plot.self, Synth.self, Convert.self, Inspect.self,
                      ModelInfo.self, Initialize.self, Bench.self,
                      SelfTest.self, ParallelIOSelfTest.self, EvaluationSelfTest.self, DataSelfTest.self]
    )
}

#if canImport(Glibc)
import Glibc
#endif

extension Communicator {
    /// Prints every rank's `lines` on rank 0, rank after rank (one all-gather of their bytes), after
    /// an optional `header`: output of many ranks that never interleaves. Collective.
    public func printInRankOrder(header: String? = nil, lines: [String]) throws {
        let text = lines.map { $0 + "\n" }.joined()
        let (all, counts) = try allgatherv(Array(text.utf8))
        guard rank == 0 else { return }
        if let header { print(header) }
        var offset = 0
        for c in counts {
            print(String(decoding: all[offset..<offset + c], as: UTF8.self), terminator: "")
            offset += c
        }
        fflush(nil)
    }
}

/// Per query, the K largest lower bounds of exact scores seen so far (exact-bf16 scoring with
/// top-K): a min-heap of K floats whose root is the K-th largest, −∞ until K were offered.
///
/// If a video's upper bound is below a query's root, K other videos have exact scores at least
/// the root, all strictly above that video's: it cannot enter the top-K, and its bf16 score
/// suffices. Memory: 4·Q·K bytes in the workspace.
struct LowerBoundHeaps {
    let k: Int
    let values: UnsafeMutablePointer<Float>  // [Q, K]

    init(queries: Int, k: Int, workspace: Workspace) {
        self.k = k
        values = workspace.floats(queries * k, repeating: -.infinity).baseAddress!
    }

    /// The K-th largest lower bound offered for query `q` (−∞ before K were).
    @inline(__always)
    func floor(_ q: Int) -> Float { values[q * k] }

    /// Keeps `x` among query `q`'s K largest.
    @inline(__always)
    func offer(_ q: Int, _ x: Float) {
        let heap = values + q * k
        guard x > heap[0] else { return }
        var p = 0
        while true {
            let left = 2 * p + 1
            if left >= k { break }
            var child = left
            if left + 1 < k && heap[left + 1] < heap[left] { child = left + 1 }
            guard heap[child] < x else { break }
            heap[p] = heap[child]
            p = child
        }
        heap[p] = x
    }
}

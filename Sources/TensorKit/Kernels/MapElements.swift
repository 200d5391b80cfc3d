/// y[i] = transform(x[i], i) for i < count, where y may be x itself (in place).
///
/// With two pointers LLVM vectorises behind a runtime overlap check, and an exactly aliased
/// (in-place) call fails that check and runs the scalar fallback loop (about 2× slower). When y
/// is x, this runs the loop over the single pointer y instead, which needs no check.
@inline(__always)
func mapElements(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, count: Int,
                 _ transform: (Float, Int) -> Float) {
    if UnsafePointer(y) == x {
        for i in 0..<count { y[i] = transform(y[i], i) }
    } else {
        for i in 0..<count { y[i] = transform(x[i], i) }
    }
}

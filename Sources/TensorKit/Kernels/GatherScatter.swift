// Row gathers and scatters on [rows × cols] matrices with Int32 row indices.

/// output[i] = source[indices[i]] for i < count (rows of `cols` floats). Indices may repeat.
public enum Gather {
    public static func forward(source: UnsafePointer<Float>, indices: UnsafePointer<Int32>,
                               output: UnsafeMutablePointer<Float>, count: Int, cols: Int) {
        for i in 0..<count {
            (output + i * cols).update(from: source + Int(indices[i]) * cols, count: cols)
        }
    }

    /// Scatter-add, **accumulating**: dSource[indices[i]] += dOutput[i]; repeated indices sum.
    public static func backward(dOutput: UnsafePointer<Float>, indices: UnsafePointer<Int32>,
                                dSource: UnsafeMutablePointer<Float>, count: Int, cols: Int) {
        for i in 0..<count {
            let d = dSource + Int(indices[i]) * cols, g = dOutput + i * cols
            for j in 0..<cols { d[j] += g[j] }
        }
    }
}

/// output[indices[i]] = source[i] for i < count: rows placed at positions; other rows of output
/// are left as they are. Indices must be distinct (with repeats the last write would win and the
/// backward would not be its derivative).
public enum Scatter {
    public static func forward(source: UnsafePointer<Float>, indices: UnsafePointer<Int32>,
                               output: UnsafeMutablePointer<Float>, count: Int, cols: Int) {
        for i in 0..<count {
            (output + Int(indices[i]) * cols).update(from: source + i * cols, count: cols)
        }
    }

    /// **Accumulates** dSource[i] += dOutput[indices[i]] (a gather-add).
    public static func backward(dOutput: UnsafePointer<Float>, indices: UnsafePointer<Int32>,
                                dSource: UnsafeMutablePointer<Float>, count: Int, cols: Int) {
        for i in 0..<count {
            let d = dSource + i * cols, g = dOutput + Int(indices[i]) * cols
            for j in 0..<cols { d[j] += g[j] }
        }
    }
}

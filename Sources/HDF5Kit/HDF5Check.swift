import CHDF5
import CMPI
import MPIKit

/// The one place an HDF5 return value is inspected.
///
/// Every HDF5 function reports failure with a negative value (`herr_t`, `hid_t`, `htri_t`,
/// `ssize_t` alike). On failure this reads HDF5's error stack for the calling thread (the
/// innermost, most specific messages first), clears it, and throws an `HDF5Error` naming the
/// call, the object (`file:/path` or a file path) and the MPI rank.
///
/// `object` is an autoclosure so that building the description costs nothing on success.
@discardableResult
@inline(__always)
func check<T: BinaryInteger>(_ result: T, _ call: @autoclosure () -> String,
                             _ object: @autoclosure () -> String) throws -> T {
    if result < 0 {
        throw HDF5Error(call: call(), object: object(), rank: currentRank(), message: takeErrorStack())
    }
    return result
}

/// `check` for `htri_t` results: true / false, or a thrown error.
@inline(__always)
func checkBool(_ result: htri_t, _ call: @autoclosure () -> String,
               _ object: @autoclosure () -> String) throws -> Bool {
    try check(result, call(), object()) > 0
}

/// An `HDF5Error` for a failure found by HDF5Kit itself (bad shape, wrong buffer size, …)
/// rather than by the library; it still names the operation, the object and the rank.
func usageError(_ call: String, _ object: String, _ message: String) -> HDF5Error {
    HDF5Error(call: call, object: object, rank: currentRank(), message: message)
}

/// This process's rank in MPI_COMM_WORLD if MPI is running, else 0. Never initialises MPI just
/// to label an error.
func currentRank() -> Int {
    var initialised: Int32 = 0, finalised: Int32 = 0
    MPI_Initialized(&initialised)
    MPI_Finalized(&finalised)
    guard initialised != 0, finalised == 0, let world = try? Communicator.world() else { return 0 }
    return world.rank
}

/// How many of the innermost error-stack entries an `HDF5Error` carries. The outer entries only
/// repeat "unable to open file" / "can't read data" up the call chain.
private let innermostEntries = 2

/// Reads and clears the calling thread's HDF5 error stack; returns its innermost messages,
/// most specific first ("truncated file: eof = 1024, …; unable to read superblock").
private func takeErrorStack() -> String {
    final class Collected { var messages: [String] = [] }
    let collected = Collected()
    let stack = hid_t(H5E_DEFAULT)
    withExtendedLifetime(collected) {
        // H5E_WALK_UPWARD starts at the innermost (most specific) entry.
        _ = H5Ewalk2(stack, H5E_WALK_UPWARD, { _, entry, context in
            guard let entry, let context else { return 0 }
            let box = Unmanaged<Collected>.fromOpaque(context).takeUnretainedValue()
            var text = entry.pointee.desc.map { String(cString: $0) } ?? ""
            if let function = entry.pointee.func_name.map({ String(cString: $0) }), !function.isEmpty {
                text += " (\(function))"
            }
            if !text.isEmpty { box.messages.append(text) }
            return 0
        }, Unmanaged.passUnretained(collected).toOpaque())
    }
    _ = H5Eclear2(stack)
    return collected.messages.prefix(innermostEntries).joined(separator: "; ")
}

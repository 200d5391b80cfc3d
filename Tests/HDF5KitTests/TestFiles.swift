import Foundation
@_exported import TestSupport
import CHDF5
@testable import HDF5Kit



/// Writes a 1-D fixed-length string dataset straight through the C API (the way h5py writes
/// NumPy `S<width>` arrays), so the reader is checked against an independent writer.
/// `padding`: H5T_STR_NULLPAD, H5T_STR_NULLTERM or H5T_STR_SPACEPAD.
func writeFixedLengthStrings(file path: String, dataset name: String, _ strings: [String],
                             width: Int, padding: H5T_str_t, asAttribute: Bool = false) {
    // The library is not thread-safe and other tests run concurrently: hold HDF5Kit's lock.
    HDF5Lock.sync {
        writeFixedLengthStringsLocked(file: path, dataset: name, strings, width: width, padding: padding, asAttribute: asAttribute)
    }
}

private func writeFixedLengthStringsLocked(file path: String, dataset name: String, _ strings: [String],
                                           width: Int, padding: H5T_str_t, asAttribute: Bool) {
    let file = H5Fopen(path, mf_h5f_acc_rdwr(), hid_t(H5P_DEFAULT))
    precondition(file >= 0, "test setup: cannot open \(path)")
    let type = H5Tcopy(mf_h5t_c_s1())
    H5Tset_size(type, width)
    H5Tset_strpad(type, padding)
    var dims = [hsize_t(strings.count)]
    let space = asAttribute ? H5Screate(H5S_SCALAR) : H5Screate_simple(1, &dims, nil)
    var bytes = [UInt8](repeating: padding == H5T_STR_SPACEPAD ? 0x20 : 0, count: strings.count * width)
    for (i, s) in strings.enumerated() {
        for (j, b) in s.utf8.prefix(width).enumerated() { bytes[i * width + j] = b }
    }
    if asAttribute {
        let attribute = H5Acreate2(file, name, type, space, hid_t(H5P_DEFAULT), hid_t(H5P_DEFAULT))
        precondition(H5Awrite(attribute, type, bytes) >= 0)
        H5Aclose(attribute)
    } else {
        let dataset = H5Dcreate2(file, name, type, space, hid_t(H5P_DEFAULT), hid_t(H5P_DEFAULT), hid_t(H5P_DEFAULT))
        precondition(H5Dwrite(dataset, type, hid_t(H5S_ALL), hid_t(H5S_ALL), hid_t(H5P_DEFAULT), bytes) >= 0)
        H5Dclose(dataset)
    }
    H5Sclose(space)
    H5Tclose(type)
    H5Fclose(file)
}

/// `withTemporaryDirectory` for async bodies.
func withTemporaryDirectoryAsync<R>(_ body: @Sendable (String) async throws -> R) async throws -> R {
    let url = FileManager.default.temporaryDirectory
        .appendingPathComponent("hdf5kit-tests-\(UUID().uuidString)", isDirectory: true)
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: url) }
    return try await body(url.path)
}

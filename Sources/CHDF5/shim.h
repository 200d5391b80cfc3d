#ifndef MAMFUSION_CHDF5_SHIM_H
#define MAMFUSION_CHDF5_SHIM_H
#include <hdf5.h>

/* HDF5's type and property handles are macros (several call H5open() first), which Swift
 * cannot import; these getters expose them (NATIVE-NOTES.md). */
static inline hid_t mf_h5t_native_float(void) { return H5T_NATIVE_FLOAT; }
static inline hid_t mf_h5t_native_double(void) { return H5T_NATIVE_DOUBLE; }
static inline hid_t mf_h5t_native_int32(void) { return H5T_NATIVE_INT32; }
static inline hid_t mf_h5t_native_int64(void) { return H5T_NATIVE_INT64; }
static inline hid_t mf_h5t_native_uint8(void) { return H5T_NATIVE_UINT8; }
static inline hid_t mf_h5t_ieee_f32le(void) { return H5T_IEEE_F32LE; }
static inline hid_t mf_h5t_std_i64le(void) { return H5T_STD_I64LE; }
static inline hid_t mf_h5t_c_s1(void) { return H5T_C_S1; }
static inline hid_t mf_h5t_ieee_f64le(void) { return H5T_IEEE_F64LE; }
static inline hid_t mf_h5t_std_i32le(void) { return H5T_STD_I32LE; }
static inline hid_t mf_h5p_file_create(void) { return H5P_FILE_CREATE; }
static inline hid_t mf_h5p_attribute_create(void) { return H5P_ATTRIBUTE_CREATE; }
static inline hid_t mf_h5i_invalid_hid(void) { return H5I_INVALID_HID; }
static inline hid_t mf_h5p_default(void) { return H5P_DEFAULT; }
static inline hid_t mf_h5p_file_access(void) { return H5P_FILE_ACCESS; }
static inline hid_t mf_h5p_dataset_create(void) { return H5P_DATASET_CREATE; }
static inline hid_t mf_h5p_dataset_xfer(void) { return H5P_DATASET_XFER; }
static inline hid_t mf_h5p_link_create(void) { return H5P_LINK_CREATE; }
static inline hid_t mf_h5p_group_create(void) { return H5P_GROUP_CREATE; }
static inline hid_t mf_h5s_all(void) { return H5S_ALL; }
static inline hid_t mf_h5e_default(void) { return H5E_DEFAULT; }
static inline unsigned mf_h5f_acc_trunc(void) { return H5F_ACC_TRUNC; }
static inline unsigned mf_h5f_acc_excl(void) { return H5F_ACC_EXCL; }
static inline unsigned mf_h5f_acc_rdonly(void) { return H5F_ACC_RDONLY; }
static inline unsigned mf_h5f_acc_rdwr(void) { return H5F_ACC_RDWR; }
static inline unsigned mf_h5f_obj_all(void) { return H5F_OBJ_ALL; }
static inline hsize_t mf_h5s_unlimited(void) { return H5S_UNLIMITED; }
static inline size_t mf_h5t_variable(void) { return H5T_VARIABLE; }
static inline int mf_h5_have_parallel(void) {
#ifdef H5_HAVE_PARALLEL
    return 1;
#else
    return 0;
#endif
}
#ifdef H5_HAVE_PARALLEL
/* For H5Pset_fapl_mpio: the communicator comes from MPIKit (Communicator.rawHandle); the info
 * object is always MPI_INFO_NULL, a macro over an incomplete global like MPI_COMM_WORLD. */
static inline MPI_Info _Nonnull mf_mpi_info_null(void) { return MPI_INFO_NULL; }
#endif
#endif

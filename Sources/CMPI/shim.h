#ifndef MAMFUSION_CMPI_SHIM_H
#define MAMFUSION_CMPI_SHIM_H
#include <mpi.h>

/* Open MPI's predefined handles are macros taking the address of globals of incomplete struct
 * type; Swift imports neither. These getters expose them under their C spelling
 * (NATIVE-NOTES.md, "Importing the C libraries"). */
#define MF_GETTER(T, NAME) \
    static inline T _Nonnull mf_##NAME(void) __attribute__((swift_name("getter:" #NAME "()"))); \
    static inline T _Nonnull mf_##NAME(void) { return NAME; }

MF_GETTER(MPI_Comm, MPI_COMM_WORLD)
MF_GETTER(MPI_Comm, MPI_COMM_SELF)
MF_GETTER(MPI_Datatype, MPI_FLOAT)
MF_GETTER(MPI_Datatype, MPI_DOUBLE)
MF_GETTER(MPI_Datatype, MPI_INT32_T)
MF_GETTER(MPI_Datatype, MPI_INT64_T)
MF_GETTER(MPI_Datatype, MPI_UINT8_T)
MF_GETTER(MPI_Datatype, MPI_UINT32_T)
MF_GETTER(MPI_Datatype, MPI_UINT64_T)
MF_GETTER(MPI_Datatype, MPI_BYTE)
MF_GETTER(MPI_Datatype, MPI_FLOAT_INT)
MF_GETTER(MPI_Datatype, MPI_DOUBLE_INT)
MF_GETTER(MPI_Datatype, MPI_2INT)
MF_GETTER(MPI_Op, MPI_SUM)
MF_GETTER(MPI_Op, MPI_MAX)
MF_GETTER(MPI_Op, MPI_MIN)
MF_GETTER(MPI_Op, MPI_MAXLOC)
MF_GETTER(MPI_Op, MPI_MINLOC)
MF_GETTER(MPI_Op, MPI_BXOR)
MF_GETTER(MPI_Errhandler, MPI_ERRORS_RETURN)
#undef MF_GETTER

static inline void * _Nonnull mf_in_place(void) __attribute__((swift_name("getter:MPI_IN_PLACE()")));
static inline void * _Nonnull mf_in_place(void) { return MPI_IN_PLACE; }

static inline MPI_Request _Nonnull mf_request_null(void) __attribute__((swift_name("getter:MPI_REQUEST_NULL()")));
static inline MPI_Request _Nonnull mf_request_null(void) { return MPI_REQUEST_NULL; }


static inline int mf_any_source(void) __attribute__((swift_name("getter:MPI_ANY_SOURCE_VALUE()")));
static inline int mf_any_source(void) { return MPI_ANY_SOURCE; }

static inline int mf_thread_funneled(void) { return MPI_THREAD_FUNNELED; }
static inline int mf_thread_serialized(void) { return MPI_THREAD_SERIALIZED; }
static inline int mf_thread_multiple(void) { return MPI_THREAD_MULTIPLE; }
static inline int mf_max_processor_name(void) { return MPI_MAX_PROCESSOR_NAME; }
static inline int mf_max_error_string(void) { return MPI_MAX_ERROR_STRING; }
static inline int mf_max_library_version_string(void) { return MPI_MAX_LIBRARY_VERSION_STRING; }
#endif

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

/* A scored item for top-k merges across ranks: layout of MPI_FLOAT_INT (struct { float; int; }),
 * so a list of one record can also be reduced with MPI_MAXLOC. */
typedef struct { float score; int index; } mf_ranked_score;

/* Total order of records: higher score first, then lower index (MPI_MAXLOC's tie rule). */
static inline int mf_ranked_before(mf_ranked_score a, mf_ranked_score b) {
    return a.score > b.score || (a.score == b.score && a.index < b.index);
}

/* User reduction "merge top k": each element of the datatype is a list of k records sorted by
 * mf_ranked_before (padded at the end with {-inf, INT_MAX}); the result is the k first records
 * of the union of the two lists. Commutative and associative exactly: with distinct indices,
 * the result is the unique top k of the union, whatever the order of merges. k comes from the
 * datatype's size. */
static void mf_merge_top_k(void *invec, void *inoutvec, int *len, MPI_Datatype *datatype) {
    int bytes = 0;
    MPI_Type_size(*datatype, &bytes);
    int k = bytes / (int)sizeof(mf_ranked_score);
    mf_ranked_score *in = (mf_ranked_score *)invec, *inout = (mf_ranked_score *)inoutvec;
    mf_ranked_score merged[k > 0 ? k : 1];
    for (int e = 0; e < *len; e++) {
        mf_ranked_score *a = in + (long)e * k, *b = inout + (long)e * k;
        int i = 0, j = 0;
        for (int n = 0; n < k; n++) merged[n] = mf_ranked_before(a[i], b[j]) ? a[i++] : b[j++];
        for (int n = 0; n < k; n++) b[n] = merged[n];
    }
}

static inline int mf_op_create_merge_top_k(MPI_Op _Nullable * _Nonnull op) { return MPI_Op_create(mf_merge_top_k, 1, op); }

static inline int mf_thread_funneled(void) { return MPI_THREAD_FUNNELED; }
static inline int mf_thread_serialized(void) { return MPI_THREAD_SERIALIZED; }
static inline int mf_thread_multiple(void) { return MPI_THREAD_MULTIPLE; }
static inline int mf_max_processor_name(void) { return MPI_MAX_PROCESSOR_NAME; }
static inline int mf_max_error_string(void) { return MPI_MAX_ERROR_STRING; }
static inline int mf_max_library_version_string(void) { return MPI_MAX_LIBRARY_VERSION_STRING; }
#endif

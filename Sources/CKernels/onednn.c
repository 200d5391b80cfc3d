/* oneDNN 2.x matmul primitives, loaded at run time: see CKernelsMatmul.h.
 *
 * Why dlopen: the matrix engine is a run-time choice (`matmul_engine: auto | onednn | openblas`).
 * Linking libdnnl would make every binary fail to start where the library is missing; loading it
 * here lets `auto` fall back to OpenBLAS and `onednn` fail with a message that names the package.
 * Types and constants come from oneDNN's headers (Debian libdnnl-dev, through the CDNNL system
 * library target); without them this file compiles to a loader that always reports why. */
#include <dlfcn.h>
#include <stdio.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include "CKernelsMatmul.h"

#if __has_include(<oneapi/dnnl/dnnl.h>)
#include <oneapi/dnnl/dnnl.h>

/* The entry points used, resolved from the library once. */
static struct {
    dnnl_status_t (*engine_create)(dnnl_engine_t *, dnnl_engine_kind_t, size_t);
    dnnl_status_t (*stream_create)(dnnl_stream_t *, dnnl_engine_t, unsigned);
    dnnl_status_t (*memory_desc_init_by_strides)(dnnl_memory_desc_t *, int, const dnnl_dims_t, dnnl_data_type_t, const dnnl_dims_t);
    dnnl_status_t (*matmul_desc_init)(dnnl_matmul_desc_t *, const dnnl_memory_desc_t *, const dnnl_memory_desc_t *,
                                      const dnnl_memory_desc_t *, const dnnl_memory_desc_t *);
    dnnl_status_t (*primitive_attr_create)(dnnl_primitive_attr_t *);
    dnnl_status_t (*primitive_attr_destroy)(dnnl_primitive_attr_t);
    dnnl_status_t (*primitive_attr_set_scratchpad_mode)(dnnl_primitive_attr_t, dnnl_scratchpad_mode_t);
    dnnl_status_t (*primitive_attr_set_output_scales)(dnnl_primitive_attr_t, dnnl_dim_t, int, const float *);
    dnnl_status_t (*primitive_attr_set_post_ops)(dnnl_primitive_attr_t, const_dnnl_post_ops_t);
    dnnl_status_t (*post_ops_create)(dnnl_post_ops_t *);
    dnnl_status_t (*post_ops_destroy)(dnnl_post_ops_t);
    dnnl_status_t (*post_ops_append_sum)(dnnl_post_ops_t, float);
    dnnl_status_t (*primitive_desc_create)(dnnl_primitive_desc_t *, const_dnnl_op_desc_t, const_dnnl_primitive_attr_t,
                                           dnnl_engine_t, const_dnnl_primitive_desc_t);
    dnnl_status_t (*primitive_desc_query)(const_dnnl_primitive_desc_t, dnnl_query_t, int, void *);
    const dnnl_memory_desc_t *(*primitive_desc_query_md)(const_dnnl_primitive_desc_t, dnnl_query_t, int);
    dnnl_status_t (*primitive_desc_destroy)(dnnl_primitive_desc_t);
    size_t (*memory_desc_get_size)(const dnnl_memory_desc_t *);
    dnnl_status_t (*primitive_create)(dnnl_primitive_t *, const_dnnl_primitive_desc_t);
    dnnl_status_t (*primitive_destroy)(dnnl_primitive_t);
    dnnl_status_t (*primitive_execute)(const_dnnl_primitive_t, dnnl_stream_t, int, const dnnl_exec_arg_t *);
    dnnl_status_t (*memory_create)(dnnl_memory_t *, const dnnl_memory_desc_t *, dnnl_engine_t, void *);
    dnnl_status_t (*memory_set_data_handle)(dnnl_memory_t, void *);
    dnnl_status_t (*memory_destroy)(dnnl_memory_t);
    dnnl_status_t (*stream_wait)(dnnl_stream_t);
    dnnl_cpu_isa_t (*get_effective_cpu_isa)(void);
    const dnnl_version_t *(*version)(void);
    const char *(*status2str)(dnnl_status_t);
} api;

static pthread_once_t load_once = PTHREAD_ONCE_INIT;
static const char *load_error = "oneDNN was not loaded";
static int loaded = 0;
static dnnl_engine_t engine;
static char version_text[32] = "";
static void (*omp_set_threads)(int) = NULL;
static int (*omp_max_threads)(void) = NULL;

static void load(void) {
    /* MAMFUSION_ONEDNN_LIBRARY names another file (a build of one's own; tests name a missing one). */
    const char *name = getenv("MAMFUSION_ONEDNN_LIBRARY");
    void *lib = dlopen(name && *name ? name : "libdnnl.so.2", RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
        static char message[512];
        const char *why = dlerror();
        snprintf(message, sizeof message,
                 "oneDNN 2.x cannot be loaded (%s): install it (`apt-get install libdnnl2`; Launch/setup does) "
                 "or set matmul_engine: openblas", why ? why : (name && *name ? name : "libdnnl.so.2"));
        load_error = message;
        return;
    }
#define RESOLVE(field, symbol) \
    if (!(*(void **)&api.field = dlsym(lib, symbol))) { load_error = "libdnnl.so.2 lacks " symbol " (not oneDNN 2.x?)"; return; }
    RESOLVE(engine_create, "dnnl_engine_create")
    RESOLVE(stream_create, "dnnl_stream_create")
    RESOLVE(memory_desc_init_by_strides, "dnnl_memory_desc_init_by_strides")
    RESOLVE(matmul_desc_init, "dnnl_matmul_desc_init")
    RESOLVE(primitive_attr_create, "dnnl_primitive_attr_create")
    RESOLVE(primitive_attr_destroy, "dnnl_primitive_attr_destroy")
    RESOLVE(primitive_attr_set_scratchpad_mode, "dnnl_primitive_attr_set_scratchpad_mode")
    RESOLVE(primitive_attr_set_output_scales, "dnnl_primitive_attr_set_output_scales")
    RESOLVE(primitive_attr_set_post_ops, "dnnl_primitive_attr_set_post_ops")
    RESOLVE(post_ops_create, "dnnl_post_ops_create")
    RESOLVE(post_ops_destroy, "dnnl_post_ops_destroy")
    RESOLVE(post_ops_append_sum, "dnnl_post_ops_append_sum")
    RESOLVE(primitive_desc_create, "dnnl_primitive_desc_create")
    RESOLVE(primitive_desc_query, "dnnl_primitive_desc_query")
    RESOLVE(primitive_desc_query_md, "dnnl_primitive_desc_query_md")
    RESOLVE(primitive_desc_destroy, "dnnl_primitive_desc_destroy")
    RESOLVE(memory_desc_get_size, "dnnl_memory_desc_get_size")
    RESOLVE(primitive_create, "dnnl_primitive_create")
    RESOLVE(primitive_destroy, "dnnl_primitive_destroy")
    RESOLVE(primitive_execute, "dnnl_primitive_execute")
    RESOLVE(memory_create, "dnnl_memory_create")
    RESOLVE(memory_set_data_handle, "dnnl_memory_set_data_handle")
    RESOLVE(memory_destroy, "dnnl_memory_destroy")
    RESOLVE(stream_wait, "dnnl_stream_wait")
    RESOLVE(get_effective_cpu_isa, "dnnl_get_effective_cpu_isa")
    RESOLVE(version, "dnnl_version")
    RESOLVE(status2str, "dnnl_status2str")
#undef RESOLVE
    const dnnl_version_t *v = api.version();
    if (v->major != 2) { load_error = "libdnnl.so.2 reports a version other than 2.x"; return; }
    if (api.engine_create(&engine, dnnl_cpu, 0) != dnnl_success) { load_error = "oneDNN could not create a CPU engine"; return; }
    snprintf(version_text, sizeof version_text, "%d.%d.%d", v->major, v->minor, v->patch);
    /* OpenMP comes with oneDNN (libgomp, a dependency of the library loaded RTLD_LOCAL): look it up
     * through the library's handle, which searches its dependencies. */
    *(void **)&omp_set_threads = dlsym(lib, "omp_set_num_threads");
    *(void **)&omp_max_threads = dlsym(lib, "omp_get_max_threads");
    loaded = 1;
}

int mf_dnnl_load(const char **error) {
    pthread_once(&load_once, load);
    if (!loaded && error) *error = load_error;
    return loaded;
}

const char *mf_dnnl_version(void) { return version_text; }

const char *mf_dnnl_isa(void) {
    if (!mf_dnnl_load(NULL)) return "";
    switch (api.get_effective_cpu_isa()) {
    case dnnl_cpu_isa_avx512_core_amx: return "avx512_core_amx";
    case dnnl_cpu_isa_avx512_core_bf16: return "avx512_core_bf16";
    case dnnl_cpu_isa_avx512_core_vnni: return "avx512_core_vnni";
    case dnnl_cpu_isa_avx512_core: return "avx512_core";
    case dnnl_cpu_isa_avx2_vnni: return "avx2_vnni";
    case dnnl_cpu_isa_avx2: return "avx2";
    case dnnl_cpu_isa_avx: return "avx";
    case dnnl_cpu_isa_sse41: return "sse41";
    default: return "other";
    }
}

int mf_dnnl_set_threads(int threads) {
    if (!mf_dnnl_load(NULL) || !omp_set_threads) return 0;
    omp_set_threads(threads);
    return 1;
}

int mf_dnnl_threads(void) {
    if (!mf_dnnl_load(NULL) || !omp_max_threads) return 0;
    return omp_max_threads();
}

struct mf_dnnl_matmul {
    dnnl_primitive_t primitive;
    dnnl_memory_t a, b, c, scratch;
    size_t scratch_bytes;
    char impl[64];
};

/* One stream per thread: streams are not shared between threads, primitives may be. */
static __thread dnnl_stream_t thread_stream = NULL;

static const char *status_text(dnnl_status_t s) { return api.status2str ? api.status2str(s) : "oneDNN error"; }

mf_dnnl_matmul *mf_dnnl_matmul_create(const mf_dnnl_matmul_shape *s, const char **error) {
    if (!mf_dnnl_load(error)) return NULL;
    dnnl_data_type_t operand = s->bf16 ? dnnl_bf16 : dnnl_f32;
    dnnl_memory_desc_t a_md, b_md, c_md;
    /* op(A) is m×k: stored m×k (strides lda, 1) or k×m (strides 1, lda); likewise B. */
    dnnl_dims_t a_dims = {s->m, s->k}, b_dims = {s->k, s->n}, c_dims = {s->m, s->n};
    dnnl_dims_t a_strides = {s->trans_a ? 1 : s->lda, s->trans_a ? s->lda : 1};
    dnnl_dims_t b_strides = {s->trans_b ? 1 : s->ldb, s->trans_b ? s->ldb : 1};
    dnnl_dims_t c_strides = {s->ldc, 1};
    dnnl_status_t st;
    if ((st = api.memory_desc_init_by_strides(&a_md, 2, a_dims, operand, a_strides)) != dnnl_success ||
        (st = api.memory_desc_init_by_strides(&b_md, 2, b_dims, operand, b_strides)) != dnnl_success ||
        (st = api.memory_desc_init_by_strides(&c_md, 2, c_dims, dnnl_f32, c_strides)) != dnnl_success) {
        *error = status_text(st);
        return NULL;
    }
    dnnl_matmul_desc_t desc;
    if ((st = api.matmul_desc_init(&desc, &a_md, &b_md, NULL, &c_md)) != dnnl_success) { *error = status_text(st); return NULL; }
    dnnl_primitive_attr_t attr;
    if ((st = api.primitive_attr_create(&attr)) != dnnl_success) { *error = status_text(st); return NULL; }
    api.primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user);
    if (s->alpha != 1.0f) api.primitive_attr_set_output_scales(attr, 1, 0, &s->alpha);
    if (s->accumulate) {
        dnnl_post_ops_t ops;
        api.post_ops_create(&ops);
        api.post_ops_append_sum(ops, 1.0f);
        api.primitive_attr_set_post_ops(attr, ops);
        api.post_ops_destroy(ops);
    }
    dnnl_primitive_desc_t pd;
    st = api.primitive_desc_create(&pd, &desc, attr, engine, NULL);
    api.primitive_attr_destroy(attr);
    if (st != dnnl_success) { *error = status_text(st); return NULL; }
    mf_dnnl_matmul *p = calloc(1, sizeof *p);
    if (!p) { api.primitive_desc_destroy(pd); *error = "out of memory"; return NULL; }
    const char *impl = "";
    api.primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl);
    strncpy(p->impl, impl ? impl : "", sizeof p->impl - 1);
    const dnnl_memory_desc_t *scratch_md = api.primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
    p->scratch_bytes = scratch_md ? api.memory_desc_get_size(scratch_md) : 0;
    st = api.primitive_create(&p->primitive, pd);
    if (st == dnnl_success) st = api.memory_create(&p->a, &a_md, engine, DNNL_MEMORY_NONE);
    if (st == dnnl_success) st = api.memory_create(&p->b, &b_md, engine, DNNL_MEMORY_NONE);
    if (st == dnnl_success) st = api.memory_create(&p->c, &c_md, engine, DNNL_MEMORY_NONE);
    if (st == dnnl_success && p->scratch_bytes > 0) st = api.memory_create(&p->scratch, scratch_md, engine, DNNL_MEMORY_NONE);
    api.primitive_desc_destroy(pd);
    if (st != dnnl_success) { *error = status_text(st); mf_dnnl_matmul_destroy(p); return NULL; }
    return p;
}

const char *mf_dnnl_matmul_impl(const mf_dnnl_matmul *p) { return p->impl; }
size_t mf_dnnl_matmul_scratchpad_bytes(const mf_dnnl_matmul *p) { return p->scratch_bytes; }

int mf_dnnl_matmul_execute(mf_dnnl_matmul *p, const void *a, const void *b, float *c, void *scratchpad) {
    if (!thread_stream && api.stream_create(&thread_stream, engine, dnnl_stream_default_flags) != dnnl_success) return -1;
    api.memory_set_data_handle(p->a, (void *)a);
    api.memory_set_data_handle(p->b, (void *)b);
    api.memory_set_data_handle(p->c, c);
    dnnl_exec_arg_t args[4] = {{DNNL_ARG_SRC, p->a}, {DNNL_ARG_WEIGHTS, p->b}, {DNNL_ARG_DST, p->c}, {DNNL_ARG_SCRATCHPAD, p->scratch}};
    int count = 3;
    if (p->scratch) { api.memory_set_data_handle(p->scratch, scratchpad); count = 4; }
    if (api.primitive_execute(p->primitive, thread_stream, count, args) != dnnl_success) return -1;
    return api.stream_wait(thread_stream) == dnnl_success ? 0 : -1;
}

void mf_dnnl_matmul_destroy(mf_dnnl_matmul *p) {
    if (!p) return;
    if (p->primitive) api.primitive_destroy(p->primitive);
    if (p->a) api.memory_destroy(p->a);
    if (p->b) api.memory_destroy(p->b);
    if (p->c) api.memory_destroy(p->c);
    if (p->scratch) api.memory_destroy(p->scratch);
    free(p);
}

#else /* built without oneDNN's headers */

int mf_dnnl_load(const char **error) {
    if (error) *error = "this build of mamfusion was compiled without oneDNN's headers (libdnnl-dev): "
                        "run Launch/setup and rebuild, or set matmul_engine: openblas";
    return 0;
}
const char *mf_dnnl_version(void) { return ""; }
const char *mf_dnnl_isa(void) { return ""; }
int mf_dnnl_set_threads(int threads) { (void)threads; return 0; }
int mf_dnnl_threads(void) { return 0; }
mf_dnnl_matmul *mf_dnnl_matmul_create(const mf_dnnl_matmul_shape *shape, const char **error) {
    (void)shape;
    mf_dnnl_load(error);
    return NULL;
}
const char *mf_dnnl_matmul_impl(const mf_dnnl_matmul *p) { (void)p; return ""; }
size_t mf_dnnl_matmul_scratchpad_bytes(const mf_dnnl_matmul *p) { (void)p; return 0; }
int mf_dnnl_matmul_execute(mf_dnnl_matmul *p, const void *a, const void *b, float *c, void *s) {
    (void)p; (void)a; (void)b; (void)c; (void)s;
    return -1;
}
void mf_dnnl_matmul_destroy(mf_dnnl_matmul *p) { (void)p; }
#endif

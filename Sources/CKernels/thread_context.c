/* One pointer of engine state per thread, released when the thread ends (CKernelsMatmul.h). */
#include <pthread.h>
#include "CKernelsMatmul.h"

static pthread_key_t context_key;
static pthread_once_t context_once = PTHREAD_ONCE_INIT;
static void (*context_release)(void *) = 0;

static void release_context(void *context) {
    if (context && context_release) context_release(context);
}

static void make_key(void) { pthread_key_create(&context_key, release_context); }

void *mf_thread_context_get(void) {
    pthread_once(&context_once, make_key);
    return pthread_getspecific(context_key);
}

void mf_thread_context_set(void *context, void (*release)(void *)) {
    pthread_once(&context_once, make_key);
    context_release = release;
    pthread_setspecific(context_key, context);
}

#ifndef MAMFUSION_CZLIB_SHIM_H
#define MAMFUSION_CZLIB_SHIM_H
#include <zlib.h>

/* inflateInit2 is a macro (it passes the library version and the stream size), which Swift
 * cannot import; this wrapper exposes it. windowBits −15: a raw deflate stream, as in zip. */
static inline int mf_inflate_init_raw(z_stream *stream) { return inflateInit2(stream, -15); }
#endif

#ifndef MAMFUSION_CDNNL_SHIM_H
#define MAMFUSION_CDNNL_SHIM_H
/* oneDNN's C API (Debian libdnnl-dev): types and constants for CKernels/onednn.c. Nothing is
 * linked: the library is loaded at run time (dlopen), so binaries run where it is absent. */
#include <oneapi/dnnl/dnnl.h>
#endif

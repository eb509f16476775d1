// oneDNN's C API (Debian's libdnnl-dev ships no pkg-config file, hence the explicit link in the module map).
#include <oneapi/dnnl/dnnl.h>

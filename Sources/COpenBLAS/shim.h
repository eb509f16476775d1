// OpenBLAS's CBLAS interface and its thread-count controls.
#include <cblas.h>

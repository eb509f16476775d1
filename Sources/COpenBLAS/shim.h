// OpenBLAS's CBLAS interface.
#include <cblas.h>

// FFTW (single precision) for the FFT module only.
#ifndef CFFTW_SHIM_H
#define CFFTW_SHIM_H
#include <fftw3.h>
#endif

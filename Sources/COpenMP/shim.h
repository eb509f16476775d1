// GNU OpenMP's entry points, the thread pool oneDNN runs on (Debian's oneDNN is built with libgomp).
// Declared here because omp.h is not on clang's include path; these are libgomp's stable ABI.
void GOMP_parallel(void (*fn)(void *), void *data, unsigned num_threads, unsigned int flags);
int omp_get_thread_num(void);
int omp_get_num_threads(void);
void omp_set_num_threads(int num_threads);
int omp_get_max_threads(void);

#ifndef CATOMICS_H
#define CATOMICS_H
#include <stdint.h>

// Atomic operations on 64-bit words anywhere in memory, such as a segment that several processes map:
// Swift's own atomics live in stored properties, not at an address.
static inline int64_t catomic_load(const int64_t *word) { return __atomic_load_n(word, __ATOMIC_ACQUIRE); }
static inline void catomic_store(int64_t *word, int64_t value) { __atomic_store_n(word, value, __ATOMIC_RELEASE); }
static inline int64_t catomic_add(int64_t *word, int64_t value) { return __atomic_fetch_add(word, value, __ATOMIC_ACQ_REL); }
static inline int catomic_compare_exchange(int64_t *word, int64_t expected, int64_t desired) {
    return __atomic_compare_exchange_n(word, &expected, desired, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE);
}

#endif

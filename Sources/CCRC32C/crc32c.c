#include "aegis_crc32c.h"
#include <string.h>

#if defined(__x86_64__)
#include <cpuid.h>

int aegis_crc32c_hardware_available(void) {
    unsigned int eax, ebx, ecx, edx;
    if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx)) return 0;
    return (ecx & bit_SSE4_2) != 0;
}

__attribute__((target("sse4.2")))
uint32_t aegis_crc32c_hardware(uint32_t crc, const void *data, size_t length) {
    const unsigned char *bytes = (const unsigned char *)data;
    uint64_t wide = crc;
    while (length >= 8) {
        uint64_t word;
        memcpy(&word, bytes, 8);
        wide = __builtin_ia32_crc32di(wide, word);
        bytes += 8;
        length -= 8;
    }
    uint32_t narrow = (uint32_t)wide;
    while (length > 0) {
        narrow = __builtin_ia32_crc32qi(narrow, *bytes);
        bytes += 1;
        length -= 1;
    }
    return narrow;
}
#else
int aegis_crc32c_hardware_available(void) { return 0; }
uint32_t aegis_crc32c_hardware(uint32_t crc, const void *data, size_t length) {
    (void)data; (void)length;
    return crc;
}
#endif

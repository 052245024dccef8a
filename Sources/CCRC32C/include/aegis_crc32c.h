// CRC-32C with the SSE4.2 crc32 instruction, for Aegis's Common/CRC32C.swift.
// Pure functions: the same bytes give the same checksum on every machine, and the
// Swift side falls back to its own tables where the instruction is missing.
#ifndef AEGIS_CRC32C_H
#define AEGIS_CRC32C_H
#include <stddef.h>
#include <stdint.h>

/// 1 when this CPU has the SSE4.2 crc32 instruction.
int aegis_crc32c_hardware_available(void);

/// Continues `crc` (the raw register, already inverted by the caller) over `length`
/// bytes with the crc32 instruction. Call only when available.
uint32_t aegis_crc32c_hardware(uint32_t crc, const void *data, size_t length);

#endif

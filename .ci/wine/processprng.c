/*
 * bcryptprimitives.dll for Wine prefixes that lack it (Wine 8.0).
 *
 * Rust's standard library (1.78 and later) takes its randomness from ProcessPrng in
 * bcryptprimitives.dll on Windows. Wine 8.0 has no such DLL, so every Rust program
 * fails to start under it (exit code 53). This DLL exports ProcessPrng and forwards it
 * to SystemFunction036 (RtlGenRandom) in advapi32, which Wine implements. It is built
 * with mingw and placed in the test prefix's system32 by .ci/windows; it is never part
 * of a release.
 */
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len)
{
    while (len > 0) {
        ULONG chunk = len > 0x10000000 ? 0x10000000 : (ULONG)len;
        if (!SystemFunction036(data, chunk))
            return FALSE;
        data += chunk;
        len -= chunk;
    }
    return TRUE;
}

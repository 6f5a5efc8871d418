/**
 * @file size.h
 * @brief Sizes as admins and clients write them: "4096", "512m", "4g", "1.5g".
 *
 * One parser for every size the project reads: egress-api's options
 * (--map-size, --max-memory, --default-memory), the API's JSON members
 * (memoryLimit) and the c-icap module's directives (egress.MapSize).
 * A size is decimal digits, optionally a fraction, and an optional unit
 * k, m, g or t (either case; powers of 1024). A fraction needs a unit
 * (a byte count is whole); the result is rounded down to a byte.
 *
 * Durations (flush and log intervals, retention) have their one parser
 * here too: decimal digits and an optional unit ms, s, m, h or d.
 *
 * CPU counts (egress-api's --max-cpus and --default-cpus, the API's
 * cpuCores) have theirs: decimal digits with an optional fraction, read in
 * nano-CPUs (the engine's NanoCpus). The one rounding rule: to the nearest
 * nano-CPU, a half rounding up ("0.0000000005" is 1, "0.00000000049" is 0).
 * A caller holding a double (a JSON number) writes it with "%.15g" first:
 * 15 significant digits give back the decimal that was written, so 0.3
 * is exactly 300000000, not the 299999999.99... the double holds.
 */
#ifndef EP_SIZE_H
#define EP_SIZE_H

#include <stddef.h>
#include <stdint.h>

/** Room for any size ep_size_format() writes. */
#define EP_SIZE_BUFSZ 24

/**
 * Parse @p text as a size into *@p out.
 * @param why if not NULL, receives a sentence naming what is wrong with
 *            @p text (at most @p whysz bytes)
 * @return 0, or EP_E_INVAL (empty, not a number, a sign, an unknown unit,
 *         text after the unit, a fraction without a unit, above 2^64 - 1).
 */
int ep_size_parse(const char *text, uint64_t *out, char *why, size_t whysz);

/**
 * Write @p bytes in the largest unit that divides it exactly ("16g",
 * "512m", "4097") into @p out (EP_SIZE_BUFSZ bytes), so that
 * ep_size_parse() reads it back unchanged.
 */
void ep_size_format(uint64_t bytes, char *out);

/**
 * Parse @p text as a duration into *@p ms (milliseconds).
 * @param bare_ms what a number without a unit counts (1000: seconds)
 * @param why as for ep_size_parse()
 * @return 0, or EP_E_INVAL (empty, not a number, a sign, a fraction, an
 *         unknown unit, text after the unit, above 2^64 - 1 ms).
 */
int ep_duration_parse(const char *text, uint64_t bare_ms, uint64_t *ms, char *why, size_t whysz);

/** Nano-CPUs in one CPU. */
#define EP_NANO_PER_CPU 1000000000ULL

/**
 * Parse @p text as a CPU count ("2", "1.5", "0.25") into *@p nano_cpus,
 * rounded to the nearest nano-CPU (a half rounds up). The caller checks
 * the range.
 * @param why as for ep_size_parse()
 * @return 0, or EP_E_INVAL (empty, not a number, a sign, an exponent or a
 *         unit, no digit after the decimal point, above 2^64 - 1 nano-CPUs).
 */
int ep_cpus_parse(const char *text, uint64_t *nano_cpus, char *why, size_t whysz);

#endif

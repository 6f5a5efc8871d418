/*
 * Logging of egress-api: one line per event on stderr, prefixed with the
 * UTC time. Never pass a password, hash or token to it.
 */
#ifndef API_LOG_H
#define API_LOG_H

void log_line(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif

/*
 * httpd.h — a tiny blocking HTTP/1.1 server on 127.0.0.1 (ephemeral port) for the C
 * conformance suite: one thread accepts, one thread per connection answers, every thread is
 * joined by httpd_stop(). Each connection carries one request (Connection: close).
 *
 * Routes are exact paths. A route answers either a status without a useful body, or `size`
 * bytes of the deterministic stream `seed` (check_byte() of check.h), honouring
 * `Range: bytes=N-` with 206 and a strong ETag. A route can stall: its next `times` answers
 * stop after `at` body bytes until httpd_release() (or the client closes, counted as
 * "aborted"). Requests to unknown paths get 404.
 */
#ifndef QMGR_TESTS_HTTPD_H
#define QMGR_TESTS_HTTPD_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct httpd httpd;

/* Starts the server; NULL (with a message on stderr) when the socket cannot be set up. */
httpd *httpd_start(void);

/* Stops accepting, closes every connection (stalled ones too), joins every thread, frees. */
void httpd_stop(httpd *server);

unsigned httpd_port(const httpd *server);

/* "http://127.0.0.1:PORT<path>" into out. */
void httpd_url(const httpd *server, const char *path, char *out, size_t size);

/* Adds or replaces a route: `status` 200 serves `size` bytes of stream `seed`; any other
   status answers that status with a short text body. */
void httpd_route(httpd *server, const char *path, int status, uint64_t size, unsigned seed);

/* The next `times` answers of `path` stop after `at` body bytes until httpd_release(). */
void httpd_stall(httpd *server, const char *path, uint64_t at, int times);

/* Lets stalled answers of `path` (current and future ones) continue. */
void httpd_release(httpd *server, const char *path);

/* Counters of a route: "requests" (received), "stalled" (answers stalled right now),
   "aborted" (answers the client closed early), "completed" (answers fully sent). */
int httpd_count(httpd *server, const char *path, const char *counter);

/* The start of the Range header of the last request of `path`, or -1 without one. */
int64_t httpd_last_range(httpd *server, const char *path);

/* Request log: number of requests so far, and the path of request i (copied into out). */
int httpd_log_size(httpd *server);
void httpd_log_at(httpd *server, int i, char *out, size_t size);

#ifdef __cplusplus
}
#endif

#endif /* QMGR_TESTS_HTTPD_H */

/*
 * fuzz: what the libFuzzer targets in tests/fuzz/ share.
 *
 * - fuzz_cstr/fuzz_lines: turn raw bytes into C strings and lines.
 * - fuzz_parse_reply: the text form of one HTTP answer used by every
 *   target that plays a server (see README.md in this folder):
 *       STATUS-OR-WORD\n Name: value\n ... \n\n BODY
 * - fuzz_net_*: a stand-in for src/http.c. Targets that link fuzz_net.c
 *   define http_perform & co. themselves, so libawsfs.a's http.o (libcurl)
 *   is never pulled in: aws_call, paginate and the backends run unchanged,
 *   and each request gets the next answer of the input, in order.
 * - fuzz_client_new: an aws_client with fixed keys, a fixed clock and a
 *   retry environment that never sleeps; fuzz_env_*: that plus a cache
 *   and an fs_config, what a backend needs.
 * - fuzz_walk (fuzz_walk.c): readdir, getattr, xattrs, read and a write
 *   through a backend, as ls -lR, cat and a redirect would.
 * Test code only; every target is single-threaded.
 */
#ifndef AWSFS_FUZZ_H
#define AWSFS_FUZZ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "aws.h"
#include "backend.h"
#include "cache.h"
#include "fs.h"
#include "http.h"

/* Abort (a crash libFuzzer reports) when a property the code promises
 * does not hold. */
#define FUZZ_CHECK(cond) \
	do { \
		if (!(cond)) \
			fuzz_fail(__FILE__, __LINE__, #cond); \
	} while (0)
void fuzz_fail(const char *file, int line, const char *what) __attribute__((noreturn));
/* One line of context for the report of a failure that follows. */
void fuzz_note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Quiet logging (errors only) and a UTC zone; call from LLVMFuzzerInitialize. */
void fuzz_init(void);

/* NUL-terminated copy of n bytes (embedded NULs end the string early).
 * Aborts on OOM: the harness is not under test. */
char *fuzz_cstr(const uint8_t *p, size_t n);

/* Split s in place at every sep; fills up to max pointers; returns the count. */
size_t fuzz_split(char *s, char sep, char **out, size_t max);

/* One canned answer. */
enum fuzz_reply_kind {
	FUZZ_REPLY_HTTP = 0, /* a whole answer with status, headers and body */
	FUZZ_REPLY_REFUSED,  /* "refused": nothing arrived (HTTP_ERR_CONNECT) */
	FUZZ_REPLY_RESET,    /* "reset": connection reset (HTTP_ERR_RESET) */
	FUZZ_REPLY_TIMEOUT,  /* "timeout" (HTTP_ERR_TIMEOUT) */
	FUZZ_REPLY_CUT,      /* "cut STATUS": headers, then the body ends early */
};

#define FUZZ_MAX_REPLY_HEADERS 128 /* as src/http.c */

struct fuzz_reply {
	enum fuzz_reply_kind kind;
	long status;
	size_t nheaders;
	const char *names[FUZZ_MAX_REPLY_HEADERS];  /* point into the text */
	size_t name_len[FUZZ_MAX_REPLY_HEADERS];
	const char *values[FUZZ_MAX_REPLY_HEADERS];
	size_t value_len[FUZZ_MAX_REPLY_HEADERS];
	const char *body;
	size_t body_len;
	bool headers_too_big; /* past src/http.c's caps: HTTP_ERR_TOOBIG */
};

/* Parse one answer from p[0..n) (no copy: r points into p). */
void fuzz_parse_reply(const char *p, size_t n, struct fuzz_reply *r);

/* Build an http_response as src/http.c would leave it (names lower case,
 * body capped at max bytes: HTTP_ERR_TOOBIG past it). Returns what
 * http_perform would. Release with http_response_free. */
int fuzz_fill_response(const struct fuzz_reply *r, size_t max, http_sink_fn sink,
		       void *sink_arg, struct http_response *resp);

/* Separator between answers in an input: a line holding "@@". */
#define FUZZ_REPLY_SEP "\n@@\n"

/* Serve the answers in data[0..n) (split at FUZZ_REPLY_SEP) to the next
 * requests, in order; past the last, every request is "refused". The
 * bytes must stay valid until fuzz_net_reset. */
void fuzz_net_load(const uint8_t *data, size_t n);
void fuzz_net_reset(void);
/* Requests made since the last load. */
unsigned fuzz_net_requests(void);

/* A client for every service (default AWS endpoints, never contacted),
 * region us-east-1, signing at a fixed time, retries that do not sleep
 * (max_attempts attempts). Caller frees with fuzz_client_free. */
struct aws_client *fuzz_client_new(unsigned max_attempts);
void fuzz_client_free(struct aws_client *c);

/* What a backend is made with: client and a config holding a cache. */
struct fuzz_env {
	struct aws_client *client;
	struct fs_config cfg;
};
void fuzz_env_init(struct fuzz_env *env, unsigned max_attempts);
void fuzz_env_free(struct fuzz_env *env);

struct fuzz_walk_opts {
	const char *root;   /* folder to start from ("" : the service folder) */
	const char *xattr;  /* one attribute to getxattr on each file, or NULL */
	const char *data;   /* written over the first file found; NULL: no write */
	size_t data_len;
	const char *write_path; /* write there instead (created when absent) */
};
/*
 * List root and the folders below it (bounded), getattr every entry,
 * listxattr/getxattr and read every file, then write data over the first
 * file. Every readdir entry must be a name the kernel accepts (not empty,
 * "." or "..", no '/', at most FUSE_NAME_MAX bytes); every return is 0 or
 * a negative errno (or a byte count within the buffer).
 */
void fuzz_walk(const struct backend *be, const struct fuzz_walk_opts *o);

#endif

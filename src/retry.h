/*
 * retry: the AWS SDKs' retry behaviour, standard and adaptive modes.
 *
 * Pure policy, no I/O: aws_call asks retry_classify what an outcome was,
 * retry_quota_* whether a retry may be spent, retry_delay_ms how long to
 * wait, and (adaptive mode) retry_rate_* when it may send. Clock and random
 * source are injectable (struct retry_env) so tests pin every number.
 * Thread-safe: a struct retry_state is shared by every thread of a client.
 */
#ifndef AWSFS_RETRY_H
#define AWSFS_RETRY_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "http.h"

/* Numbers of the SDKs' standard mode (see retry.c for sources). */
#define RETRY_QUOTA_MAX 500        /* token bucket of the retry quota */
#define RETRY_COST 5               /* a retry after an error */
#define RETRY_TIMEOUT_COST 10      /* a retry after a timeout */
#define RETRY_SUCCESS_REFUND 1     /* a success that needed no retry */
#define RETRY_BASE_MS 50           /* backoff base for transient errors */
#define RETRY_THROTTLE_BASE_MS 500 /* backoff base for throttles */
#define RETRY_CAP_MS 20000         /* backoff cap */
#define RETRY_SKEW_LIMIT_S 240     /* a Date this far off means clock skew */

enum retry_class {
	RETRY_SUCCESS = 0,
	RETRY_TRANSIENT, /* 500/502/503/504, RequestTimeout, resets, timeouts, cut bodies */
	RETRY_THROTTLE,  /* SlowDown, 429, ThrottlingException, ... */
	RETRY_SKEW,      /* clock skew: correct the offset, re-sign, retry */
	RETRY_FATAL,     /* anything else: the caller gets the error now */
};

/* What happened to one attempt. */
struct retry_outcome {
	long status;             /* HTTP status, 0 when none arrived */
	enum http_error transport; /* HTTP_OK when a response arrived */
	const char *code;        /* AWS error code or "" */
	long long server_date;   /* the response's Date as Unix time, 0: none */
	long long local_date;    /* our corrected clock when it was sent */
};

enum retry_class retry_classify(const struct retry_outcome *o);
/* True for the error codes SPEC.md and the SDKs call throttles. */
bool retry_is_throttle_code(const char *code);

struct retry_env {
	uint64_t (*now_ms)(void *arg);    /* monotonic milliseconds */
	double (*random)(void *arg);      /* uniform in [0, 1) */
	void (*sleep_ms)(void *arg, uint64_t ms);
	void *arg;
};

enum retry_mode { RETRY_MODE_STANDARD = 0, RETRY_MODE_ADAPTIVE };

struct retry_state {
	pthread_mutex_t lock;
	struct retry_env env;
	enum retry_mode mode;
	int quota;                 /* protected by lock */
	/* adaptive: the SDKs' client-side rate limiter (protected by lock) */
	bool rate_enabled;
	double fill_rate;          /* tokens per second */
	double max_capacity;
	double current_capacity;
	uint64_t last_refill_ms;
	double measured_rate;
	uint64_t last_tx_bucket;
	unsigned request_count;
	double last_max_rate;
	uint64_t last_throttle_ms;
	double time_window_s;
};

/* env NULL: the real monotonic clock and a thread-safe PRNG. */
void retry_state_init(struct retry_state *s, enum retry_mode mode, const struct retry_env *env);
void retry_state_destroy(struct retry_state *s);

/*
 * Take the cost of a retry after class c (timeout says whether the failure
 * was a timeout) from the quota. Returns the cost taken, or 0 when the
 * quota cannot pay it (then the error goes to the caller).
 */
int retry_quota_acquire(struct retry_state *s, bool timeout);
/* After a success: refund what the last retry cost (0: +1). */
void retry_quota_release(struct retry_state *s, int cost_paid);
int retry_quota_available(struct retry_state *s);

/*
 * Full-jitter backoff before retry number `retry` (1 for the first retry):
 * random(0, 1) * min(cap, base * 2^(retry-1)), base by class. A server hint
 * (Retry-After, x-amz-retry-after) raises the delay to the hint, up to the
 * cap. hint_ms 0: none.
 */
uint64_t retry_delay_ms(struct retry_state *s, enum retry_class c, unsigned retry,
			uint64_t hint_ms);

/* Adaptive mode: milliseconds to wait before sending (0: send now). */
uint64_t retry_rate_acquire(struct retry_state *s);
/* Adaptive mode: feed the outcome of a request (throttled or not). */
void retry_rate_update(struct retry_state *s, bool throttled);

#endif

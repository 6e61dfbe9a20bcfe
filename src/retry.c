/*
 * retry: classification, full-jitter backoff, the retry quota and the
 * adaptive rate limiter, as the AWS SDKs' "standard" and "adaptive" retry
 * modes specify them (the SDKs' retry behavior reference: quota 500, cost 5,
 * timeout cost 10, success +1; backoff base 50 ms, cap 20 s; the adaptive
 * limiter's CUBIC constants beta 0.7 and C 0.4, rates measured in half-second
 * buckets smoothed by 0.8). See retry.h.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "retry.h"
#include "util.h"

#define CUBIC_BETA 0.7
#define CUBIC_SCALE 0.4
#define RATE_SMOOTHING 0.8
#define RATE_MIN_FILL 0.5
#define RATE_MIN_CAPACITY 1.0

static const char *const throttle_codes[] = {
	"Throttling", "ThrottlingException", "ThrottledException",
	"RequestThrottledException", "TooManyRequestsException",
	"ProvisionedThroughputExceededException", "RequestLimitExceeded",
	"BandwidthLimitExceeded", "LimitExceededException", "RequestThrottled", "SlowDown",
	"TransactionInProgressException", "PriorRequestNotComplete",
	"EC2ThrottledException", "AWS.SimpleQueueService.RequestThrottled", "TooManyRequests",
};

static const char *const transient_codes[] = {
	"RequestTimeout", "RequestTimeoutException", "InternalError", "InternalFailure",
	"InternalServerError", "ServiceUnavailable", "IDPCommunicationError",
};

/* Signature failures that a skewed clock causes. */
static const char *const skew_codes[] = {
	"InvalidSignatureException", "SignatureDoesNotMatch", "AuthFailure", "RequestExpired",
	"RequestInTheFuture",
};

static bool in_codes(const char *code, const char *const *list, size_t n)
{
	if (!code || !*code)
		return false;
	for (size_t i = 0; i < n; i++)
		if (strcmp(code, list[i]) == 0)
			return true;
	return false;
}

#define IN_CODES(code, list) in_codes(code, list, sizeof(list) / sizeof(list[0]))

bool retry_is_throttle_code(const char *code)
{
	return IN_CODES(code, throttle_codes);
}

enum retry_class retry_classify(const struct retry_outcome *o)
{
	long long off;

	switch (o->transport) {
	case HTTP_OK:
		break;
	case HTTP_ERR_CONNECT:
	case HTTP_ERR_TIMEOUT:
	case HTTP_ERR_RESET:
	case HTTP_ERR_TRUNCATED:
	case HTTP_ERR_OTHER:
		return RETRY_TRANSIENT;
	case HTTP_ERR_TLS:      /* a certificate will not fix itself */
	case HTTP_ERR_TOOBIG:   /* nor will an oversized answer */
	case HTTP_ERR_ABORTED:  /* the caller stopped it */
		return RETRY_FATAL;
	}
	if (o->status >= 200 && o->status < 400)
		return RETRY_SUCCESS;
	if (o->status == 429 || retry_is_throttle_code(o->code))
		return RETRY_THROTTLE;
	if (o->code && strcmp(o->code, "RequestTimeTooSkewed") == 0)
		return RETRY_SKEW;
	if (IN_CODES(o->code, skew_codes) && o->server_date > 0) {
		off = o->server_date - o->local_date;
		if (off > RETRY_SKEW_LIMIT_S || off < -RETRY_SKEW_LIMIT_S)
			return RETRY_SKEW;
	}
	if (o->status == 500 || o->status == 502 || o->status == 503 || o->status == 504 ||
	    IN_CODES(o->code, transient_codes))
		return RETRY_TRANSIENT;
	return RETRY_FATAL;
}

/* Default environment: CLOCK_MONOTONIC and a xorshift generator. */
static uint64_t real_now_ms(void *arg)
{
	(void)arg;
	return util_mono_ms();
}

static __thread uint64_t rng_state;

static double real_random(void *arg)
{
	(void)arg;
	if (!rng_state) {
		struct timespec ts;

		clock_gettime(CLOCK_MONOTONIC, &ts);
		rng_state = ((uint64_t)ts.tv_nsec << 20) ^ (uint64_t)ts.tv_sec ^
			    ((uint64_t)getpid() << 40) ^ (uint64_t)(uintptr_t)&ts;
		if (!rng_state)
			rng_state = 0x9e3779b97f4a7c15ull;
	}
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (double)(rng_state >> 11) / 9007199254740992.0; /* 2^53 */
}

static void real_sleep_ms(void *arg, uint64_t ms)
{
	struct timespec ts = { (time_t)(ms / 1000), (long)(ms % 1000) * 1000000L };

	(void)arg;
	while (nanosleep(&ts, &ts) == -1)
		;
}

void retry_state_init(struct retry_state *s, enum retry_mode mode, const struct retry_env *env)
{
	memset(s, 0, sizeof(*s));
	pthread_mutex_init(&s->lock, NULL);
	if (env)
		s->env = *env;
	else
		s->env = (struct retry_env){ real_now_ms, real_random, real_sleep_ms, NULL };
	s->mode = mode;
	s->quota = RETRY_QUOTA_MAX;
	s->fill_rate = RATE_MIN_FILL;
	s->max_capacity = RATE_MIN_CAPACITY;
	s->last_refill_ms = s->env.now_ms(s->env.arg);
	s->last_throttle_ms = s->last_refill_ms;
}

void retry_state_destroy(struct retry_state *s)
{
	pthread_mutex_destroy(&s->lock);
}

int retry_quota_acquire(struct retry_state *s, bool timeout)
{
	int cost = timeout ? RETRY_TIMEOUT_COST : RETRY_COST;

	pthread_mutex_lock(&s->lock);
	if (s->quota < cost)
		cost = 0;
	else
		s->quota -= cost;
	pthread_mutex_unlock(&s->lock);
	return cost;
}

void retry_quota_release(struct retry_state *s, int cost_paid)
{
	pthread_mutex_lock(&s->lock);
	s->quota += cost_paid > 0 ? cost_paid : RETRY_SUCCESS_REFUND;
	if (s->quota > RETRY_QUOTA_MAX)
		s->quota = RETRY_QUOTA_MAX;
	pthread_mutex_unlock(&s->lock);
}

int retry_quota_available(struct retry_state *s)
{
	int q;

	pthread_mutex_lock(&s->lock);
	q = s->quota;
	pthread_mutex_unlock(&s->lock);
	return q;
}

uint64_t retry_delay_ms(struct retry_state *s, enum retry_class c, unsigned retry,
			uint64_t hint_ms)
{
	uint64_t base = c == RETRY_THROTTLE ? RETRY_THROTTLE_BASE_MS : RETRY_BASE_MS;
	uint64_t ceiling = RETRY_CAP_MS, delay;
	double r;

	if (c == RETRY_SKEW)
		return 0; /* nothing to wait for: the clock is fixed now */
	if (retry == 0)
		retry = 1;
	/* base * 2^(retry-1) without overflow. */
	if (retry - 1 < 20 && (base << (retry - 1)) < ceiling)
		ceiling = base << (retry - 1);
	pthread_mutex_lock(&s->lock);
	r = s->env.random(s->env.arg);
	pthread_mutex_unlock(&s->lock);
	delay = (uint64_t)(r * (double)ceiling);
	if (hint_ms > delay)
		delay = hint_ms < RETRY_CAP_MS ? hint_ms : RETRY_CAP_MS;
	return delay;
}

/* Adaptive mode, all under s->lock. */
static void refill(struct retry_state *s, uint64_t now)
{
	double add = (double)(now - s->last_refill_ms) / 1000.0 * s->fill_rate;

	s->current_capacity += add;
	if (s->current_capacity > s->max_capacity)
		s->current_capacity = s->max_capacity;
	s->last_refill_ms = now;
}

uint64_t retry_rate_acquire(struct retry_state *s)
{
	uint64_t now, wait = 0;

	if (s->mode != RETRY_MODE_ADAPTIVE)
		return 0;
	pthread_mutex_lock(&s->lock);
	if (s->rate_enabled) {
		now = s->env.now_ms(s->env.arg);
		refill(s, now);
		s->current_capacity -= 1.0;
		/* A negative balance is a debt paid off by waiting. */
		if (s->current_capacity < 0)
			wait = (uint64_t)ceil(-s->current_capacity / s->fill_rate * 1000.0);
	}
	pthread_mutex_unlock(&s->lock);
	return wait;
}

static void measure(struct retry_state *s, uint64_t now)
{
	uint64_t bucket = now / 500 * 500; /* half-second buckets */

	s->request_count++;
	if (bucket > s->last_tx_bucket) {
		double rate = s->request_count / ((double)(bucket - s->last_tx_bucket) / 1000.0);

		s->measured_rate = rate * RATE_SMOOTHING + s->measured_rate * (1 - RATE_SMOOTHING);
		s->request_count = 0;
		s->last_tx_bucket = bucket;
	}
}

void retry_rate_update(struct retry_state *s, bool throttled)
{
	uint64_t now;
	double rate, t;

	if (s->mode != RETRY_MODE_ADAPTIVE)
		return;
	pthread_mutex_lock(&s->lock);
	now = s->env.now_ms(s->env.arg);
	measure(s, now);
	if (throttled) {
		double use = s->rate_enabled && s->fill_rate < s->measured_rate ? s->fill_rate
										: s->measured_rate;

		s->last_max_rate = use;
		s->time_window_s = cbrt(use * (1 - CUBIC_BETA) / CUBIC_SCALE);
		s->last_throttle_ms = now;
		rate = use * CUBIC_BETA;
		s->rate_enabled = true;
	} else {
		s->time_window_s = cbrt(s->last_max_rate * (1 - CUBIC_BETA) / CUBIC_SCALE);
		t = (double)(now - s->last_throttle_ms) / 1000.0 - s->time_window_s;
		rate = CUBIC_SCALE * t * t * t + s->last_max_rate;
	}
	if (rate > 2 * s->measured_rate)
		rate = 2 * s->measured_rate;
	refill(s, now);
	s->fill_rate = rate > RATE_MIN_FILL ? rate : RATE_MIN_FILL;
	s->max_capacity = rate > RATE_MIN_CAPACITY ? rate : RATE_MIN_CAPACITY;
	if (s->current_capacity > s->max_capacity)
		s->current_capacity = s->max_capacity;
	pthread_mutex_unlock(&s->lock);
}

/*
 * log: syslog or stderr, with a level. See log.h.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

#include "log.h"

static int log_stderr = 1;
static volatile enum log_level log_level = LOG_LVL_NOTICE;

static const char *const level_names[] = { "error", "warn", "notice", "info", "debug" };

void log_init(int to_stderr, enum log_level level)
{
	log_stderr = to_stderr;
	log_level = level;
	if (!to_stderr)
		openlog("awsfs", LOG_PID, LOG_DAEMON);
}

void log_set_level(enum log_level level)
{
	log_level = level;
}

enum log_level log_get_level(void)
{
	return log_level;
}

const char *log_level_name(enum log_level level)
{
	if ((unsigned)level > LOG_LVL_DEBUG)
		return "?";
	return level_names[level];
}

int log_parse_level(const char *s, enum log_level *out)
{
	for (unsigned i = 0; i <= LOG_LVL_DEBUG; i++) {
		if (strcmp(s, level_names[i]) == 0) {
			*out = (enum log_level)i;
			return 0;
		}
	}
	if (strcmp(s, "warning") == 0) {
		*out = LOG_LVL_WARN;
		return 0;
	}
	return -EINVAL;
}

static __thread struct log_capture *capture;

void log_capture_begin(struct log_capture *c)
{
	c->line[0] = '\0';
	c->level = LOG_LVL_DEBUG;
	c->n = 0;
	c->prev = capture;
	capture = c;
}

void log_capture_end(struct log_capture *c)
{
	capture = c->prev;
}

static void write_line(enum log_level level, const char *line);

void log_capture_emit(const struct log_capture *c)
{
	if (c->n && c->level <= log_level)
		write_line(c->level, c->line);
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	char line[LOG_LINE_MAX];
	va_list ap;

	if (level > log_level)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (capture && level <= LOG_LVL_WARN) {
		if (!capture->n || level < capture->level) {
			memcpy(capture->line, line, sizeof(line));
			capture->level = level;
		}
		capture->n++;
		return;
	}
	write_line(level, line);
}

static void write_line(enum log_level level, const char *text)
{
	static const int prio[] = { LOG_ERR, LOG_WARNING, LOG_NOTICE, LOG_INFO, LOG_DEBUG };
	char line[LOG_LINE_MAX];

	snprintf(line, sizeof(line), "%s", text);
	/* Names and messages come from servers and users: a line break or an
	 * escape sequence in one must not forge a line or drive a terminal. */
	for (char *p = line; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	if (log_stderr) {
		struct timespec ts;
		struct tm tm;
		char stamp[32];

		clock_gettime(CLOCK_REALTIME, &ts);
		gmtime_r(&ts.tv_sec, &tm);
		strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
		fprintf(stderr, "%s.%03ldZ awsfs %s: %s\n", stamp,
			ts.tv_nsec / 1000000, level_names[level], line);
	} else {
		syslog(prio[level], "%s: %s", level_names[level], line);
	}
}

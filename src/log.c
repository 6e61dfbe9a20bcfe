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

void log_msg(enum log_level level, const char *fmt, ...)
{
	static const int prio[] = { LOG_ERR, LOG_WARNING, LOG_NOTICE, LOG_INFO, LOG_DEBUG };
	char line[2048];
	va_list ap;

	if (level > log_level)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
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

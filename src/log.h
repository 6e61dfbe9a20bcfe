/*
 * log: one place where awsfs speaks to the user about what went wrong.
 *
 * Lines go to syslog (daemon) or stderr (-f). Callers must never pass a
 * secret (key, token, signature, SecureString value) in a message; the
 * request core logs only names, codes and request ids.
 * Thread-safe: each line is written with one call.
 */
#ifndef AWSFS_LOG_H
#define AWSFS_LOG_H

/* notice: mount and unmount lines, shown by default; info: more detail. */
enum log_level { LOG_LVL_ERROR = 0, LOG_LVL_WARN, LOG_LVL_NOTICE, LOG_LVL_INFO, LOG_LVL_DEBUG };

/* to_stderr: 1 writes to stderr, 0 to syslog (ident "awsfs"). */
void log_init(int to_stderr, enum log_level level);
void log_set_level(enum log_level level);
enum log_level log_get_level(void);
/* Parse "error", "warn", "notice", "info", "debug". Returns 0 or -EINVAL. */
int log_parse_level(const char *s, enum log_level *out);
const char *log_level_name(enum log_level level);
void log_msg(enum log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/*
 * Capture: while a capture is on in a thread, that thread's error and warn
 * lines are held (the most severe first one kept, the rest counted) instead
 * of written; log_capture_emit writes the kept line. For work split over
 * threads (a parallel scan) that fails the same way in each: one line.
 */
#define LOG_LINE_MAX 2048
struct log_capture {
	char line[LOG_LINE_MAX];
	enum log_level level;
	size_t n; /* lines held */
	struct log_capture *prev; /* the capture it stands in for (nesting) */
};
void log_capture_begin(struct log_capture *c);
void log_capture_end(struct log_capture *c);
void log_capture_emit(const struct log_capture *c);

#define log_error(...) log_msg(LOG_LVL_ERROR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_LVL_WARN, __VA_ARGS__)
#define log_notice(...) log_msg(LOG_LVL_NOTICE, __VA_ARGS__)
#define log_info(...) log_msg(LOG_LVL_INFO, __VA_ARGS__)
#define log_debug(...) \
	do { \
		if (log_get_level() >= LOG_LVL_DEBUG) \
			log_msg(LOG_LVL_DEBUG, __VA_ARGS__); \
	} while (0)

#endif

/*
 * creds: the AWS CLI's credential chain, cached and refreshed. See creds.h.
 *
 * Each source answers 0 (credentials), -ENOKEY (nothing configured here:
 * ask the next one) or another error (configured but broken: the chain
 * stops there, as the CLI's does). The provider remembers which source
 * answered and asks only that one again when temporary credentials come
 * within CREDS_REFRESH_MARGIN_S of their expiration. Fetches run outside
 * the lock: other threads keep the old credentials meanwhile, or wait for
 * the fetch when there are none. Every secret is wiped before it is freed.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* pipe2, environ */
#endif
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>

#include "buf.h"
#include "creds.h"
#include "http.h"
#include "log.h"
#include "util.h"
#include "xml.h"

/* Refresh this long before expiry (the brief's 5 minutes; botocore uses
 * 15/10 minutes advisory/mandatory for its own refreshes). */
#define CREDS_REFRESH_MARGIN_S (5 * 60)
/* After a failed refresh, while the old credentials still hold, wait this
 * long before asking the source again. */
#define CREDS_RETRY_MS 10000
/* Caps on what we read. Config files are hand-written and small; a session
 * token is around 1-2 KiB (STS) and never near 16 KiB. */
#define CREDS_MAX_INI (1u << 20)
#define CREDS_MAX_PASSWD (64u << 10)
#define CREDS_MAX_TOKEN_FILE (64u << 10)
#define CREDS_MAX_HTTP (64u << 10)
#define CREDS_MAX_KEY 256
#define CREDS_MAX_SESSION_TOKEN (16u << 10)
#define CREDS_MAX_DESC 512
/* credential_process: output cap and timeout. */
#define CREDS_PROCESS_MAX_OUT (64u << 10)
#define CREDS_PROCESS_MAX_ERR (8u << 10)
#define CREDS_PROCESS_TIMEOUT_MS 60000
/* STS AssumeRoleWithWebIdentity (API version 2011-06-15). */
#define CREDS_STS_VERSION "2011-06-15"
#define CREDS_STS_TIMEOUT_MS 30000
#define CREDS_STS_MAX_NODES 256
/* Container credentials (ECS task role, EKS pod identity). */
#define CREDS_ECS_BASE "http://169.254.170.2"
#define CREDS_CONTAINER_TIMEOUT_MS 5000
/* IMDSv2: a token of at most 6 hours (21600 s); short timeouts so that a
 * machine without IMDS does not stall startup. http.h has no per-request
 * connect timeout, so the whole-request timeout bounds the connect too. */
#define CREDS_IMDS_BASE "http://169.254.169.254"
#define CREDS_IMDS_BASE_V6 "http://[fd00:ec2::254]"
#define CREDS_IMDS_TOKEN_TTL "21600"
#define CREDS_IMDS_TIMEOUT_MS 2000
#define CREDS_IMDS_MAX_TOKEN 1024
#define CREDS_IMDS_CREDS_PATH "/latest/meta-data/iam/security-credentials/"

enum creds_src {
	SRC_NONE = 0,
	SRC_ENV,
	SRC_PASSWD,
	SRC_PROFILE,
	SRC_WEBID,
	SRC_CONTAINER,
	SRC_IMDS,
};

/* A description handed out by creds_source: kept until the provider goes. */
struct src_name {
	struct src_name *next;
	char text[];
};

struct creds_provider {
	/* Immutable after creds_provider_new. */
	char *profile;      /* explicit, or NULL */
	char *passwd_file;
	char *sts_endpoint;
	char *region;
	bool no_imds;

	pthread_mutex_t lock;
	pthread_cond_t done;     /* a fetch finished; protected by lock */
	struct creds cur;        /* protected by lock */
	bool have;               /* protected by lock */
	bool busy;               /* a fetch is running; protected by lock */
	enum creds_src kind;     /* who answered; protected by lock */
	unsigned gen;            /* fetches finished; protected by lock */
	int last_rc;             /* of the last fetch; protected by lock */
	uint64_t next_try_ms;    /* monotonic; protected by lock */
	const char *source;      /* protected by lock */
	struct src_name *names;  /* protected by lock */
};

/* One run through (part of) the chain. */
struct fetch {
	struct creds_provider *p;
	char *profile;           /* resolved name */
	bool explicit_profile;   /* named by the user, not "default" */
	bool loaded;
	char *cred_path, *cred_text;  /* shared credentials file */
	char *conf_path, *conf_text;  /* config file */
	bool stop;               /* a -ENOKEY that must end the chain */
	char desc[CREDS_MAX_DESC];
};

/* ------------------------------------------------------------------ */
/* Small helpers */

static const char *env_nonempty(const char *name)
{
	const char *v = getenv(name);

	return v && *v ? v : NULL;
}

static void free_secret(char *s)
{
	if (s) {
		util_wipe(s, strlen(s));
		free(s);
	}
}

void creds_clear(struct creds *c)
{
	if (!c)
		return;
	free_secret(c->access_key);
	free_secret(c->secret_key);
	free_secret(c->session_token);
	c->access_key = NULL;
	c->secret_key = NULL;
	c->session_token = NULL;
	c->expiration = 0;
}

static void buf_wipe_free(struct buf *b)
{
	if (b->data)
		util_wipe(b->data, b->alloc);
	buf_free(b);
}

static void response_wipe_free(struct http_response *resp)
{
	buf_wipe_free(&resp->body);
	http_response_free(resp);
}

/* A key or token goes into HTTP headers: printable ASCII, no blanks. */
static bool valid_secret(const char *s, size_t max)
{
	size_t n = 0;

	if (!s || !*s)
		return false;
	for (; s[n]; n++)
		if ((unsigned char)s[n] <= 0x20 || (unsigned char)s[n] >= 0x7f || n >= max)
			return false;
	return true;
}

/*
 * Fill c from strings owned by someone else. what names the source for the
 * log. 0, -EIO when a value is unusable, -ENOMEM.
 */
static int creds_set(struct creds *c, const char *ak, const char *sk, const char *token,
		     time_t expiration, const char *what)
{
	if (!valid_secret(ak, CREDS_MAX_KEY) || !valid_secret(sk, CREDS_MAX_KEY) ||
	    (token && !valid_secret(token, CREDS_MAX_SESSION_TOKEN))) {
		log_error("credentials from %s are malformed (empty, too long or with "
			  "blanks or control characters)", what);
		return -EIO;
	}
	memset(c, 0, sizeof(*c));
	c->access_key = strdup(ak);
	c->secret_key = strdup(sk);
	c->session_token = token ? strdup(token) : NULL;
	c->expiration = expiration;
	if (!c->access_key || !c->secret_key || (token && !c->session_token)) {
		creds_clear(c);
		return -ENOMEM;
	}
	return 0;
}

static int creds_copy(struct creds *dst, const struct creds *src)
{
	memset(dst, 0, sizeof(*dst));
	dst->access_key = util_strdup0(src->access_key);
	dst->secret_key = util_strdup0(src->secret_key);
	dst->session_token = util_strdup0(src->session_token);
	dst->expiration = src->expiration;
	if ((src->access_key && !dst->access_key) || (src->secret_key && !dst->secret_key) ||
	    (src->session_token && !dst->session_token)) {
		creds_clear(dst);
		return -ENOMEM;
	}
	return 0;
}

/* Trim blanks at both ends, in place. */
static char *trim(char *s)
{
	char *e;

	while (*s && isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

/* The next line of a NUL-terminated text, cut in place; NULL at the end. */
static char *next_line(char **cursor)
{
	char *s = *cursor, *nl;

	if (!s || !*s)
		return NULL;
	nl = strchr(s, '\n');
	if (nl) {
		*nl = '\0';
		*cursor = nl + 1;
	} else {
		*cursor = s + strlen(s);
	}
	return s;
}

static int home_dir(char **out)
{
	const char *h = env_nonempty("HOME");
	struct passwd pw, *res = NULL;
	char tmp[4096];

	*out = NULL;
	if (!h && getpwuid_r(getuid(), &pw, tmp, sizeof(tmp), &res) == 0 && res &&
	    res->pw_dir && *res->pw_dir)
		h = res->pw_dir;
	if (!h)
		return 0;
	*out = strdup(h);
	return *out ? 0 : -ENOMEM;
}

/*
 * The path in environment variable envname ("~" expanded, as botocore
 * does), else ~/.aws/<name>. *out is NULL when there is no home. 0 or
 * -ENOMEM.
 */
static int aws_file_path(const char *envname, const char *name, char **out)
{
	const char *v = env_nonempty(envname);
	char *home = NULL;
	struct buf b;
	int rc;

	*out = NULL;
	if (v && !(v[0] == '~' && (v[1] == '/' || v[1] == '\0'))) {
		*out = strdup(v);
		return *out ? 0 : -ENOMEM;
	}
	rc = home_dir(&home);
	if (rc || !home)
		return rc;
	buf_init(&b, 8192);
	if (v)
		rc = buf_printf(&b, "%s%s", home, v + 1);
	else
		rc = buf_printf(&b, "%s/.aws/%s", home, name);
	free(home);
	if (rc) {
		buf_free(&b);
		return rc == -EFBIG ? 0 : rc;
	}
	*out = buf_detach(&b);
	return *out ? 0 : -ENOMEM;
}

/* Read an AWS config file; a missing or unreadable one reads as absent. */
static int load_ini(const char *path, char **text)
{
	size_t len;
	int rc;

	*text = NULL;
	if (!path)
		return 0;
	rc = util_read_file(path, CREDS_MAX_INI, text, &len);
	if (rc == -ENOENT || rc == -ENOTDIR)
		return 0;
	if (rc == -ENOMEM)
		return rc;
	if (rc) {
		log_warn("cannot read %s: %s; ignoring it", path,
			 rc == -EFBIG ? "too large" : strerror(-rc));
		*text = NULL;
		return 0;
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* INI files, read the way botocore reads them */

enum ini_kind { INI_CREDENTIALS, INI_CONFIG };

/* Does the section header (text between the brackets) name the profile?
 * Credentials files use "[name]", config files "[profile name]" or
 * "[default]". Names are case-sensitive. */
static bool section_matches(const char *name, size_t len, enum ini_kind kind,
			    const char *profile)
{
	size_t plen = strlen(profile);

	if (kind == INI_CREDENTIALS)
		return len == plen && memcmp(name, profile, plen) == 0;
	if (len == 7 && memcmp(name, "default", 7) == 0)
		return strcmp(profile, "default") == 0;
	if (len > 8 && memcmp(name, "profile", 7) == 0 && (name[7] == ' ' || name[7] == '\t')) {
		name += 8;
		len -= 8;
		while (len > 0 && (*name == ' ' || *name == '\t')) {
			name++;
			len--;
		}
		return len == plen && memcmp(name, profile, plen) == 0;
	}
	return false;
}

/*
 * The value of key (case-insensitive, as configparser folds option names)
 * in the profile's section of an INI text; the last one wins. Lines
 * indented under a key are the nested values of that key ("s3 =\n
 *   addressing_style = path") and are skipped. '#' and ';' start comment
 * lines. *value (caller frees) is NULL when the key is absent or empty;
 * key NULL only looks for the section. *seen (may be NULL) tells whether
 * the section exists. 0 or -ENOMEM.
 */
static int ini_lookup(const char *text, enum ini_kind kind, const char *profile,
		      const char *key, char **value, bool *seen)
{
	const char *line = text, *found = NULL;
	size_t foundlen = 0, key_indent = 0;
	bool in = false, have_key = false;

	if (value)
		*value = NULL;
	if (seen)
		*seen = false;
	if (!text)
		return 0;
	while (*line) {
		const char *eol = strchr(line, '\n');
		const char *end = eol ? eol : line + strlen(line);
		const char *s = line, *e = end, *d;
		size_t indent = 0;

		while (s < end && (*s == ' ' || *s == '\t')) {
			s++;
			indent++;
		}
		while (e > s && isspace((unsigned char)e[-1]))
			e--;
		if (s == e || *s == '#' || *s == ';')
			goto next;
		if (have_key && indent > key_indent)
			goto next;
		if (*s == '[') {
			const char *r = e;

			while (r > s + 1 && r[-1] != ']')
				r--;
			if (r > s + 1) {
				const char *ns = s + 1, *ne = r - 1;

				while (ns < ne && isspace((unsigned char)*ns))
					ns++;
				while (ne > ns && isspace((unsigned char)ne[-1]))
					ne--;
				in = section_matches(ns, (size_t)(ne - ns), kind, profile);
				if (in && seen)
					*seen = true;
				have_key = false;
			}
			goto next;
		}
		for (d = s; d < e && *d != '=' && *d != ':'; d++)
			;
		if (d == e)
			goto next;
		have_key = true;
		key_indent = indent;
		if (in && key) {
			const char *ke = d, *vs = d + 1;

			while (ke > s && isspace((unsigned char)ke[-1]))
				ke--;
			while (vs < e && isspace((unsigned char)*vs))
				vs++;
			if ((size_t)(ke - s) == strlen(key) && strncasecmp(s, key, strlen(key)) == 0) {
				found = vs;
				foundlen = (size_t)(e - vs);
			}
		}
next:
		line = eol ? eol + 1 : end;
	}
	if (found && foundlen > 0 && value) {
		*value = strndup(found, foundlen);
		if (!*value)
			return -ENOMEM;
	}
	return 0;
}

static const char *profile_name(const char *explicit_profile, bool *is_explicit)
{
	const char *env = env_nonempty("AWS_PROFILE");

	if (is_explicit)
		*is_explicit = explicit_profile || env;
	if (explicit_profile)
		return explicit_profile;
	return env ? env : "default";
}

char *creds_profile_value(const char *profile, const char *key)
{
	char *path = NULL, *text = NULL, *value = NULL;
	const char *name = profile_name(profile, NULL);

	if (aws_file_path("AWS_CONFIG_FILE", "config", &path) == 0 &&
	    load_ini(path, &text) == 0)
		ini_lookup(text, INI_CONFIG, name, key, &value, NULL);
	free(path);
	free_secret(text);
	return value;
}

char *creds_region(const char *profile)
{
	const char *v = env_nonempty("AWS_REGION");

	if (!v)
		v = env_nonempty("AWS_DEFAULT_REGION");
	if (v)
		return strdup(v);
	return creds_profile_value(profile, "region");
}

/* Load both files once per fetch. */
static int fetch_load(struct fetch *f)
{
	int rc;

	if (f->loaded)
		return 0;
	rc = aws_file_path("AWS_SHARED_CREDENTIALS_FILE", "credentials", &f->cred_path);
	if (!rc)
		rc = aws_file_path("AWS_CONFIG_FILE", "config", &f->conf_path);
	if (!rc)
		rc = load_ini(f->cred_path, &f->cred_text);
	if (!rc)
		rc = load_ini(f->conf_path, &f->conf_text);
	if (!rc)
		f->loaded = true;
	return rc;
}

/* A key of the profile, credentials file first (botocore merges the two
 * files that way). *from (may be NULL) gets the file it came from. */
static int profile_get(struct fetch *f, const char *key, char **value, const char **from)
{
	int rc = fetch_load(f);

	*value = NULL;
	if (rc)
		return rc;
	rc = ini_lookup(f->cred_text, INI_CREDENTIALS, f->profile, key, value, NULL);
	if (rc || *value) {
		if (from)
			*from = f->cred_path;
		return rc;
	}
	rc = ini_lookup(f->conf_text, INI_CONFIG, f->profile, key, value, NULL);
	if (from)
		*from = f->conf_path;
	return rc;
}

/* ------------------------------------------------------------------ */
/* JSON answers: credential_process, container and IMDS */

/*
 * Credentials from a JSON object: AccessKeyId, SecretAccessKey, the token
 * under token_key, Expiration (optional: absent means long-term keys).
 * With need_version the object must say "Version": 1 (credential_process).
 * 0, -EIO on garbage, -ENOMEM.
 */
static int parse_json_creds(const char *data, size_t len, const char *token_key,
			    bool need_version, const char *what, struct creds *out)
{
	json_error_t jerr;
	json_t *root = json_loadb(data, len, 0, &jerr);
	const char *ak, *sk, *token, *exp, *code;
	time_t expiration = 0;
	int rc = -EIO;

	if (!root || !json_is_object(root)) {
		log_error("credentials from %s: not a JSON object", what);
		goto done;
	}
	if (need_version) {
		json_t *v = json_object_get(root, "Version");

		if (!json_is_integer(v) || json_integer_value(v) != 1) {
			log_error("credentials from %s: \"Version\" must be 1", what);
			goto done;
		}
	}
	code = json_string_value(json_object_get(root, "Code"));
	if (code && strcmp(code, "Success") != 0) {
		log_error("credentials from %s: Code %.64s", what, code);
		goto done;
	}
	ak = json_string_value(json_object_get(root, "AccessKeyId"));
	sk = json_string_value(json_object_get(root, "SecretAccessKey"));
	token = json_string_value(json_object_get(root, token_key));
	exp = json_string_value(json_object_get(root, "Expiration"));
	if (!ak || !sk) {
		log_error("credentials from %s: AccessKeyId or SecretAccessKey missing", what);
		goto done;
	}
	if (token && !*token)
		token = NULL;
	if (exp && *exp && util_parse_iso8601(exp, &expiration) != 0) {
		log_error("credentials from %s: bad Expiration \"%.64s\"", what, exp);
		goto done;
	}
	rc = creds_set(out, ak, sk, token, expiration, what);
done:
	/* jansson keeps its own copies of the strings; they cannot be wiped
	 * without replacing its allocator process-wide. */
	json_decref(root);
	return rc;
}

/* ------------------------------------------------------------------ */
/* Source: environment */

static int src_env(struct fetch *f, struct creds *out)
{
	const char *ak = env_nonempty("AWS_ACCESS_KEY_ID");
	const char *sk = env_nonempty("AWS_SECRET_ACCESS_KEY");

	if (!ak && !sk)
		return -ENOKEY;
	if (!ak || !sk) {
		log_error("AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY must be set together");
		f->stop = true;
		return -ENOKEY;
	}
	snprintf(f->desc, sizeof(f->desc), "environment");
	return creds_set(out, ak, sk, env_nonempty("AWS_SESSION_TOKEN"), 0, "the environment");
}

/* ------------------------------------------------------------------ */
/* Source: s3fs-style passwd_file */

static int read_fd(int fd, size_t max, struct buf *b)
{
	char chunk[4096];
	int rc = 0;

	buf_init(b, max);
	for (;;) {
		ssize_t n = read(fd, chunk, sizeof(chunk));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = -errno;
			break;
		}
		if (n == 0)
			break;
		rc = buf_append(b, chunk, (size_t)n);
		if (rc)
			break;
	}
	util_wipe(chunk, sizeof(chunk));
	return rc;
}

static int src_passwd(struct fetch *f, struct creds *out)
{
	const char *path = f->p->passwd_file;
	char *line, *cursor, *ak = NULL, *sk = NULL, *bucket = NULL;
	char *bak = NULL, *bsk = NULL;
	struct buf b;
	struct stat st;
	unsigned lineno = 0;
	int fd, rc;

	if (!path)
		return -ENOKEY;
	buf_init(&b, CREDS_MAX_PASSWD);
	f->stop = true; /* the user named this file: no falling through */
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		rc = errno == EACCES ? -EACCES : -ENOKEY;
		log_error("passwd_file %s: %s", path, strerror(errno));
		goto done;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		log_error("passwd_file %s: not a regular file", path);
		rc = -EACCES;
		goto done;
	}
	/* s3fs refuses a credentials file that group or others may touch. */
	if (st.st_mode & (S_IRWXG | S_IRWXO)) {
		log_error("passwd_file %s: mode %03o lets group or others in; "
			  "chmod 600 it", path, (unsigned)(st.st_mode & 0777));
		rc = -EACCES;
		goto done;
	}
	rc = read_fd(fd, CREDS_MAX_PASSWD, &b);
	if (rc) {
		log_error("passwd_file %s: %s", path, rc == -EFBIG ? "too large" : strerror(-rc));
		rc = rc == -ENOMEM ? rc : -EIO;
		goto done;
	}
	cursor = b.data;
	while ((line = next_line(&cursor))) {
		char *l = trim(line), *c1, *c2;

		lineno++;
		if (!*l || *l == '#')
			continue;
		c1 = strchr(l, ':');
		c2 = c1 ? strchr(c1 + 1, ':') : NULL;
		if (!c1 || (c2 && strchr(c2 + 1, ':'))) {
			log_warn("passwd_file %s line %u: not AKID:SECRET or BUCKET:AKID:SECRET",
				 path, lineno);
			continue;
		}
		*c1 = '\0';
		if (!c2) {
			if (!ak) {
				ak = l;
				sk = c1 + 1;
			}
		} else if (!bak) {
			*c2 = '\0';
			bucket = l;
			bak = c1 + 1;
			bsk = c2 + 1;
		}
	}
	if (!ak && bak) {
		/* The provider does not know the bucket: a bucket's line stands
		 * in when there is no default one. */
		log_info("passwd_file %s: no default line, using the one for bucket %s",
			 path, bucket);
		ak = bak;
		sk = bsk;
	}
	if (!ak) {
		log_error("passwd_file %s: no AKID:SECRET line", path);
		rc = -ENOKEY;
		goto done;
	}
	snprintf(f->desc, sizeof(f->desc), "passwd_file %s", path);
	rc = creds_set(out, ak, sk, NULL, 0, "passwd_file");
done:
	if (fd >= 0)
		close(fd);
	buf_wipe_free(&b);
	return rc;
}

/* ------------------------------------------------------------------ */
/* credential_process */

static void log_stderr_lines(struct buf *err, bool failed)
{
	char *cursor = err->data, *l;

	while ((l = next_line(&cursor))) {
		l = trim(l);
		if (!*l)
			continue;
		if (failed)
			log_warn("credential_process: %s", l);
		else
			log_info("credential_process: %s", l);
	}
}

/*
 * Run cmd with /bin/sh -c, stdin from /dev/null, stdout collected into out
 * (capped), stderr to the log. The child gets its own process group so a
 * timeout kills whatever it started too. 0, -EIO (failed, killed, timed
 * out, too much output) or -ENOMEM. out is the caller's to wipe.
 */
static int run_process(const char *cmd, struct buf *out)
{
	static char sh_name[] = "sh", sh_opt[] = "-c";
	char *argv[] = { sh_name, sh_opt, (char *)cmd, NULL };
	int op[2] = { -1, -1 }, ep[2] = { -1, -1 };
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	bool fa_ok = false, attr_ok = false, out_open = true, err_open = true;
	bool timed_out = false, too_big = false, reaped = false;
	sigset_t none, dfl;
	struct buf err;
	char chunk[4096];
	uint64_t deadline = util_mono_ms() + CREDS_PROCESS_TIMEOUT_MS;
	pid_t pid = -1;
	int status = 0, rc;

	buf_init(out, CREDS_PROCESS_MAX_OUT);
	buf_init(&err, CREDS_PROCESS_MAX_ERR);
	if (pipe2(op, O_CLOEXEC) < 0 || pipe2(ep, O_CLOEXEC) < 0) {
		rc = errno == ENOMEM ? -ENOMEM : -EIO;
		log_error("credential_process: pipe: %s", strerror(errno));
		goto done;
	}
	rc = posix_spawn_file_actions_init(&fa);
	fa_ok = rc == 0;
	if (!rc)
		rc = posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	if (!rc)
		rc = posix_spawn_file_actions_adddup2(&fa, op[1], 1);
	if (!rc)
		rc = posix_spawn_file_actions_adddup2(&fa, ep[1], 2);
	if (!rc) {
		rc = posix_spawnattr_init(&attr);
		attr_ok = rc == 0;
	}
	sigemptyset(&none);
	sigemptyset(&dfl);
	sigaddset(&dfl, SIGPIPE);
	if (!rc)
		rc = posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK |
						     POSIX_SPAWN_SETSIGDEF);
	if (!rc)
		rc = posix_spawnattr_setpgroup(&attr, 0);
	if (!rc)
		rc = posix_spawnattr_setsigmask(&attr, &none);
	if (!rc)
		rc = posix_spawnattr_setsigdefault(&attr, &dfl);
	if (!rc)
		rc = posix_spawn(&pid, "/bin/sh", &fa, &attr, argv, environ);
	if (rc) {
		log_error("credential_process: cannot start /bin/sh: %s", strerror(rc));
		pid = -1;
		rc = rc == ENOMEM ? -ENOMEM : -EIO;
		goto done;
	}
	close(op[1]);
	close(ep[1]);
	op[1] = ep[1] = -1;

	while (out_open || err_open) {
		struct pollfd pf[2];
		int fds[2];
		nfds_t n = 0;
		uint64_t now = util_mono_ms();

		if (now >= deadline) {
			timed_out = true;
			break;
		}
		if (out_open) {
			pf[n].fd = op[0];
			pf[n].events = POLLIN;
			fds[n++] = 1;
		}
		if (err_open) {
			pf[n].fd = ep[0];
			pf[n].events = POLLIN;
			fds[n++] = 2;
		}
		if (poll(pf, n, (int)(deadline - now)) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		for (nfds_t i = 0; i < n; i++) {
			ssize_t r;

			if (!pf[i].revents)
				continue;
			r = read(pf[i].fd, chunk, sizeof(chunk));
			if (r < 0 && (errno == EINTR || errno == EAGAIN))
				continue;
			if (r <= 0) {
				if (fds[i] == 1)
					out_open = false;
				else
					err_open = false;
				continue;
			}
			if (fds[i] == 2) {
				buf_append(&err, chunk, (size_t)r); /* past the cap: dropped */
				continue;
			}
			rc = buf_append(out, chunk, (size_t)r);
			if (rc == -ENOMEM)
				goto done;
			if (rc) {
				too_big = true;
				rc = 0;
				out_open = err_open = false;
			}
		}
	}
	/* Both pipes closed: the process is (nearly always) finishing. */
	while (!timed_out && !too_big && !reaped) {
		pid_t w = waitpid(pid, &status, WNOHANG);

		if (w == pid) {
			reaped = true;
		} else if (w < 0 && errno != EINTR) {
			/* ECHILD: SIGCHLD is ignored, the status is lost. */
			reaped = true;
			status = 0;
		} else if (util_mono_ms() >= deadline) {
			timed_out = true;
		} else if (w == 0) {
			poll(NULL, 0, 10);
		}
	}
	if (!reaped) {
		kill(-pid, SIGKILL);
		kill(pid, SIGKILL);
		while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
			;
	}
	if (timed_out) {
		log_error("credential_process: no answer within %d s; killed",
			  CREDS_PROCESS_TIMEOUT_MS / 1000);
		rc = -EIO;
	} else if (too_big) {
		log_error("credential_process: more than %u bytes of output; killed",
			  CREDS_PROCESS_MAX_OUT);
		rc = -EIO;
	} else if (WIFSIGNALED(status)) {
		log_error("credential_process: killed by signal %d", WTERMSIG(status));
		rc = -EIO;
	} else if (WIFEXITED(status) && WEXITSTATUS(status) != 0) {
		log_error("credential_process: exit status %d", WEXITSTATUS(status));
		rc = -EIO;
	}
	log_stderr_lines(&err, rc != 0);
done:
	util_wipe(chunk, sizeof(chunk));
	if (fa_ok)
		posix_spawn_file_actions_destroy(&fa);
	if (attr_ok)
		posix_spawnattr_destroy(&attr);
	for (int i = 0; i < 2; i++) {
		if (op[i] >= 0)
			close(op[i]);
		if (ep[i] >= 0)
			close(ep[i]);
	}
	if (pid > 0 && rc == -ENOMEM) {
		kill(-pid, SIGKILL);
		while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
			;
	}
	buf_free(&err);
	return rc;
}

/* ------------------------------------------------------------------ */
/* Source: the profile (static keys, credential_process) */

static int static_keys(struct fetch *f, const char *text, enum ini_kind kind,
		       const char *path, struct creds *out)
{
	char *ak = NULL, *sk = NULL, *token = NULL;
	int rc;

	rc = ini_lookup(text, kind, f->profile, "aws_access_key_id", &ak, NULL);
	if (!rc)
		rc = ini_lookup(text, kind, f->profile, "aws_secret_access_key", &sk, NULL);
	if (!rc)
		rc = ini_lookup(text, kind, f->profile, "aws_session_token", &token, NULL);
	if (rc)
		goto done;
	if (!ak && !sk) {
		rc = -ENOKEY;
		goto done;
	}
	if (!ak || !sk) {
		log_error("profile %s in %s: aws_access_key_id and aws_secret_access_key "
			  "must be set together", f->profile, path);
		f->stop = true;
		rc = -ENOKEY;
		goto done;
	}
	snprintf(f->desc, sizeof(f->desc), "profile %s in %s", f->profile, path);
	rc = creds_set(out, ak, sk, token, 0, f->desc);
done:
	free_secret(ak);
	free_secret(sk);
	free_secret(token);
	return rc;
}

static int src_profile(struct fetch *f, struct creds *out)
{
	bool in_cred = false, in_conf = false;
	char *cmd = NULL, *role = NULL, *web = NULL;
	const char *from = NULL;
	struct buf o;
	int rc;

	buf_init(&o, CREDS_PROCESS_MAX_OUT);
	rc = fetch_load(f);
	if (rc)
		return rc;
	ini_lookup(f->cred_text, INI_CREDENTIALS, f->profile, NULL, NULL, &in_cred);
	ini_lookup(f->conf_text, INI_CONFIG, f->profile, NULL, NULL, &in_conf);
	if (!in_cred && !in_conf) {
		if (f->explicit_profile) {
			log_error("profile %s not found in %s or %s", f->profile,
				  f->cred_path ? f->cred_path : "(no credentials file)",
				  f->conf_path ? f->conf_path : "(no config file)");
			f->stop = true;
		}
		return -ENOKEY;
	}
	rc = static_keys(f, f->cred_text, INI_CREDENTIALS, f->cred_path, out);
	if (rc != -ENOKEY || f->stop)
		return rc;

	rc = profile_get(f, "credential_process", &cmd, &from);
	if (rc)
		goto done;
	if (cmd) {
		snprintf(f->desc, sizeof(f->desc), "profile %s credential_process in %s",
			 f->profile, from);
		f->stop = true;
		rc = run_process(cmd, &o);
		if (!rc)
			rc = parse_json_creds(o.data ? o.data : "", o.len, "SessionToken", true,
					      f->desc, out);
		goto done;
	}

	rc = static_keys(f, f->conf_text, INI_CONFIG, f->conf_path, out);
	if (rc != -ENOKEY || f->stop)
		goto done;

	/* role_arn without a web identity token means assume-role through
	 * source_profile or credential_source, which awsfs does not do. */
	rc = profile_get(f, "role_arn", &role, NULL);
	if (!rc)
		rc = profile_get(f, "web_identity_token_file", &web, NULL);
	if (!rc && role && !web && !env_nonempty("AWS_WEB_IDENTITY_TOKEN_FILE"))
		log_warn("profile %s: role_arn with source_profile/credential_source is not "
			 "supported; ignoring it", f->profile);
	if (!rc)
		rc = -ENOKEY;
done:
	free_secret(cmd);
	free(role);
	free(web);
	buf_wipe_free(&o);
	return rc;
}

/* ------------------------------------------------------------------ */
/* HTTP sources */

static int http_do(const char *method, const char *url, const char *const *headers,
		   size_t nheaders, const void *body, size_t body_len, long timeout_ms,
		   struct http_response *resp)
{
	struct http_request req;

	memset(&req, 0, sizeof(req));
	req.method = method;
	req.url = url;
	req.headers = headers;
	req.nheaders = nheaders;
	req.body = body;
	req.body_len = body_len;
	req.max_response = CREDS_MAX_HTTP;
	req.timeout_ms = timeout_ms;
	memset(resp, 0, sizeof(*resp));
	return http_perform(&req, resp);
}

/* Read a token file (web identity, container authorization): trailing
 * blanks dropped. Caller wipes and frees. 0, -EACCES, -EIO or -ENOMEM. */
static int read_token_file(const char *path, const char *what, char **out)
{
	size_t len;
	int rc = util_read_file(path, CREDS_MAX_TOKEN_FILE, out, &len);

	if (rc == -ENOMEM)
		return rc;
	if (rc) {
		log_error("%s %s: %s", what, path, rc == -EFBIG ? "too large" : strerror(-rc));
		return rc == -EACCES ? -EACCES : -EIO;
	}
	while (len > 0 && isspace((unsigned char)(*out)[len - 1]))
		(*out)[--len] = '\0';
	if (len == 0) {
		log_error("%s %s is empty", what, path);
		free(*out);
		*out = NULL;
		return -EIO;
	}
	return 0;
}

/* A region only ever holds these; anything else would bend the host name. */
static bool valid_region(const char *r)
{
	if (!*r || strlen(r) > 64)
		return false;
	for (; *r; r++)
		if (!((*r >= 'a' && *r <= 'z') || (*r >= '0' && *r <= '9') || *r == '-'))
			return false;
	return true;
}

/* The STS URL ("<endpoint>/"). */
static int sts_url(struct fetch *f, struct buf *url)
{
	const char *ep = f->p->sts_endpoint;
	char *region = NULL;
	size_t n;
	int rc;

	if (!ep)
		ep = env_nonempty("AWS_ENDPOINT_URL_STS");
	if (!ep)
		ep = env_nonempty("AWS_ENDPOINT_URL");
	if (ep) {
		n = strlen(ep);
		while (n > 0 && ep[n - 1] == '/')
			n--;
		rc = buf_append(url, ep, n);
		return rc ? rc : buf_putc(url, '/');
	}
	if (f->p->region) {
		region = strdup(f->p->region);
	} else {
		region = creds_region(f->profile);
		if (!region)
			region = strdup("us-east-1");
	}
	if (!region)
		return -ENOMEM;
	if (!valid_region(region)) {
		log_error("region \"%.64s\" is not a region name", region);
		free(region);
		return -EINVAL;
	}
	rc = buf_printf(url, "https://sts.%s.%s/", region,
			strncmp(region, "cn-", 3) == 0 ? "amazonaws.com.cn" : "amazonaws.com");
	free(region);
	return rc;
}

static int form_field(struct buf *b, const char *name, const char *value)
{
	int rc = buf_printf(b, "%s%s=", b->len ? "&" : "", name);

	return rc ? rc : util_uri_encode(b, value, strlen(value), false);
}

/* Credentials out of an AssumeRoleWithWebIdentity answer. */
static int sts_parse(const struct http_response *resp, const char *what, struct creds *out)
{
	struct xml_doc *doc = NULL;
	const struct xml_node *root, *c;
	const char *exp;
	time_t expiration = 0;
	int rc;

	rc = xml_parse(resp->body.data ? resp->body.data : "", resp->body.len,
		       CREDS_STS_MAX_NODES, &doc);
	if (rc == -ENOMEM)
		return rc;
	root = rc == 0 ? xml_root(doc) : NULL;
	if (resp->status != 200) {
		const struct xml_node *code = root ? xml_path(root, "Error/Code") : NULL;
		const struct xml_node *msg = root ? xml_path(root, "Error/Message") : NULL;

		log_error("%s: STS answered HTTP %ld %.64s: %.200s", what, resp->status,
			  code ? xml_text(code) : "", msg ? xml_text(msg) : "");
		rc = resp->status >= 400 && resp->status < 500 ? -EACCES : -EIO;
		goto done;
	}
	if (rc) {
		log_error("%s: unreadable STS answer", what);
		rc = -EIO;
		goto done;
	}
	c = root && strcmp(xml_name(root), "AssumeRoleWithWebIdentityResponse") == 0
		? xml_path(root, "AssumeRoleWithWebIdentityResult/Credentials") : NULL;
	if (!c) {
		log_error("%s: STS answer without Credentials", what);
		rc = -EIO;
		goto done;
	}
	exp = xml_child_text(c, "Expiration");
	if (exp && *exp && util_parse_iso8601(exp, &expiration) != 0) {
		log_error("%s: bad Expiration \"%.64s\"", what, exp);
		rc = -EIO;
		goto done;
	}
	rc = creds_set(out, xml_child_text(c, "AccessKeyId"), xml_child_text(c, "SecretAccessKey"),
		       xml_child_text(c, "SessionToken"), expiration, what);
done:
	xml_free(doc);
	return rc;
}

/* Source: web identity (EKS IRSA and the like). STS answers this call
 * without a signature: the token is the proof. */
static int src_webid(struct fetch *f, struct creds *out)
{
	static const char *const headers[] = {
		"Content-Type: application/x-www-form-urlencoded; charset=utf-8",
	};
	char *pfile = NULL, *prole = NULL, *psess = NULL, *token = NULL;
	const char *tfile, *role, *sess;
	char defsess[64];
	struct buf url, form;
	struct http_response resp;
	int rc;

	memset(&resp, 0, sizeof(resp));
	buf_init(&url, 8192);
	/* Every byte of the token may become %XX. */
	buf_init(&form, 3 * CREDS_MAX_TOKEN_FILE + 4096);
	tfile = env_nonempty("AWS_WEB_IDENTITY_TOKEN_FILE");
	role = env_nonempty("AWS_ROLE_ARN");
	sess = env_nonempty("AWS_ROLE_SESSION_NAME");
	if (!tfile) {
		rc = profile_get(f, "web_identity_token_file", &pfile, NULL);
		if (rc)
			goto done;
		tfile = pfile;
	}
	if (!tfile) {
		rc = -ENOKEY;
		goto done;
	}
	f->stop = true;
	if (!role) {
		rc = profile_get(f, "role_arn", &prole, NULL);
		if (rc)
			goto done;
		role = prole;
	}
	if (!role) {
		log_error("web identity token file %s but no role ARN (AWS_ROLE_ARN or "
			  "role_arn)", tfile);
		rc = -ENOKEY;
		goto done;
	}
	if (!sess) {
		rc = profile_get(f, "role_session_name", &psess, NULL);
		if (rc)
			goto done;
		sess = psess;
	}
	if (!sess) {
		snprintf(defsess, sizeof(defsess), "awsfs-%ld", (long)getpid());
		sess = defsess;
	}
	rc = read_token_file(tfile, "web identity token file", &token);
	if (rc)
		goto done;
	rc = sts_url(f, &url);
	if (rc == -EINVAL || rc == -EFBIG) {
		rc = -EIO;
		goto done;
	}
	if (!rc)
		rc = form_field(&form, "Action", "AssumeRoleWithWebIdentity");
	if (!rc)
		rc = form_field(&form, "Version", CREDS_STS_VERSION);
	if (!rc)
		rc = form_field(&form, "RoleArn", role);
	if (!rc)
		rc = form_field(&form, "RoleSessionName", sess);
	if (!rc)
		rc = form_field(&form, "WebIdentityToken", token);
	if (rc)
		goto done;
	snprintf(f->desc, sizeof(f->desc), "web identity (role %s via %s)", role, url.data);
	rc = http_do("POST", url.data, headers, 1, form.data, form.len, CREDS_STS_TIMEOUT_MS,
		     &resp);
	if (rc == -ENOMEM)
		goto done;
	if (rc) {
		log_error("%s: %s", f->desc, resp.errmsg);
		rc = -EIO;
		goto done;
	}
	rc = sts_parse(&resp, f->desc, out);
done:
	free(pfile);
	free(prole);
	free(psess);
	free_secret(token);
	buf_free(&url);
	buf_wipe_free(&form);
	response_wipe_free(&resp);
	return rc;
}

/* Plain http to anything but loopback or the ECS/EKS agents would send
 * the authorization token in clear over the network (botocore's rule). */
static bool container_url_allowed(const char *url)
{
	static const char *const hosts[] = {
		"localhost", "169.254.170.2", "169.254.170.23", "[::1]", "[fd00:ec2::23]",
	};
	const char *h, *e;
	size_t n;

	if (strncasecmp(url, "https://", 8) == 0)
		return true;
	if (strncasecmp(url, "http://", 7) != 0)
		return false;
	h = url + 7;
	if (*h == '[') {
		e = strchr(h, ']');
		if (!e)
			return false;
		e++;
	} else {
		e = h + strcspn(h, ":/?#");
	}
	if (memchr(h, '@', (size_t)(e - h)))
		return false;
	n = (size_t)(e - h);
	for (size_t i = 0; i < sizeof(hosts) / sizeof(hosts[0]); i++)
		if (strlen(hosts[i]) == n && strncasecmp(h, hosts[i], n) == 0)
			return true;
	if (n > 4 && strncmp(h, "127.", 4) == 0) {
		for (const char *q = h + 4; q < e; q++)
			if (!(*q == '.' || (*q >= '0' && *q <= '9')))
				return false;
		return true;
	}
	return false;
}

/* Length of "scheme://authority" at the start of url. */
static size_t url_origin_len(const char *url)
{
	const char *p = strstr(url, "://");

	if (!p)
		return 0;
	p += 3;
	return (size_t)(p - url) + strcspn(p, "/?#");
}

static bool has_ctl(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s == 0x7f)
			return true;
	return false;
}

/* Source: container credentials (ECS task role, EKS pod identity). */
static int src_container(struct fetch *f, struct creds *out)
{
	const char *rel = env_nonempty("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI");
	const char *full = env_nonempty("AWS_CONTAINER_CREDENTIALS_FULL_URI");
	const char *tfile = env_nonempty("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE");
	const char *tenv = env_nonempty("AWS_CONTAINER_AUTHORIZATION_TOKEN");
	const char *hdr[1];
	char *token = NULL;
	struct buf url, auth;
	struct http_response resp;
	int rc;

	memset(&resp, 0, sizeof(resp));
	buf_init(&url, 8192);
	buf_init(&auth, CREDS_MAX_TOKEN_FILE + 32);
	if (!rel && !full)
		return -ENOKEY;
	f->stop = true;
	rc = rel ? buf_printf(&url, "%s%s%s", CREDS_ECS_BASE, rel[0] == '/' ? "" : "/", rel)
		 : buf_puts(&url, full);
	if (rc == -EFBIG || has_ctl(url.data)) {
		log_error("container credentials URI is too long or malformed");
		rc = -EIO;
		goto done;
	}
	if (rc)
		goto done;
	if (!rel && !container_url_allowed(url.data)) {
		log_error("AWS_CONTAINER_CREDENTIALS_FULL_URI must be https or a loopback/"
			  "container agent address");
		rc = -EACCES;
		goto done;
	}
	/* Scheme and authority only: the path of a relative URI is a capability. */
	snprintf(f->desc, sizeof(f->desc), "container credentials endpoint %.*s",
		 (int)url_origin_len(url.data), url.data);
	if (tfile) {
		rc = read_token_file(tfile, "container authorization token file", &token);
		if (rc)
			goto done;
	} else if (tenv) {
		token = strdup(tenv);
		if (!token) {
			rc = -ENOMEM;
			goto done;
		}
	}
	if (token) {
		if (has_ctl(token)) {
			log_error("container authorization token holds control characters");
			rc = -EIO;
			goto done;
		}
		rc = buf_printf(&auth, "Authorization: %s", token);
		if (rc)
			goto done;
		hdr[0] = auth.data;
	}
	rc = http_do("GET", url.data, token ? hdr : NULL, token ? 1 : 0, NULL, 0,
		     CREDS_CONTAINER_TIMEOUT_MS,
		     &resp);
	if (rc == -ENOMEM)
		goto done;
	if (rc) {
		log_error("%s: %s", f->desc, resp.errmsg);
		rc = -EIO;
		goto done;
	}
	if (resp.status != 200) {
		log_error("%s: HTTP %ld", f->desc, resp.status);
		rc = resp.status >= 400 && resp.status < 500 ? -EACCES : -EIO;
		goto done;
	}
	rc = parse_json_creds(resp.body.data ? resp.body.data : "", resp.body.len, "Token", false,
			      f->desc, out);
done:
	free_secret(token);
	buf_free(&url);
	buf_wipe_free(&auth);
	response_wipe_free(&resp);
	return rc;
}

static bool valid_role_name(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 128)
		return false;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && !strchr("+=,.@_-", *s))
			return false;
	return true;
}

static bool imds_disabled(const struct creds_provider *p)
{
	const char *v = env_nonempty("AWS_EC2_METADATA_DISABLED");

	return p->no_imds || (v && strcasecmp(v, "true") == 0);
}

/* Source: the EC2 instance role through IMDSv2. */
static int src_imds(struct fetch *f, struct creds *out)
{
	static const char *const put_hdr[] = {
		"X-aws-ec2-metadata-token-ttl-seconds: " CREDS_IMDS_TOKEN_TTL,
	};
	const char *ep = env_nonempty("AWS_EC2_METADATA_SERVICE_ENDPOINT");
	const char *mode = env_nonempty("AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE");
	const char *hdr[1];
	char role[160];
	const char *rn;
	struct buf base, url, tokhdr;
	struct http_response resp;
	size_t n;
	int rc;

	if (imds_disabled(f->p))
		return -ENOKEY;
	memset(&resp, 0, sizeof(resp));
	buf_init(&base, 4096);
	buf_init(&url, 4096);
	buf_init(&tokhdr, CREDS_IMDS_MAX_TOKEN + 64);
	if (!ep)
		ep = mode && strcasecmp(mode, "IPv6") == 0 ? CREDS_IMDS_BASE_V6 : CREDS_IMDS_BASE;
	n = strlen(ep);
	while (n > 0 && ep[n - 1] == '/')
		n--;
	rc = buf_append(&base, ep, n);
	if (!rc)
		rc = buf_printf(&url, "%s/latest/api/token", base.data);
	if (rc)
		goto done;
	if (has_ctl(base.data)) {
		rc = -EIO;
		goto done;
	}
	rc = http_do("PUT", url.data, put_hdr, 1, NULL, 0, CREDS_IMDS_TIMEOUT_MS, &resp);
	if (rc == -ENOMEM)
		goto done;
	if (rc || resp.status != 200) {
		/* No IMDS here (or IMDSv2 refused): not an error, just no source. */
		if (rc)
			log_debug("instance metadata at %s: %s", base.data, resp.errmsg);
		else
			log_info("instance metadata at %s: IMDSv2 token refused (HTTP %ld)",
				 base.data, resp.status);
		rc = -ENOKEY;
		goto done;
	}
	while (resp.body.len > 0 && isspace((unsigned char)resp.body.data[resp.body.len - 1]))
		resp.body.data[--resp.body.len] = '\0';
	if (resp.body.len > CREDS_IMDS_MAX_TOKEN || !valid_secret(resp.body.data, CREDS_IMDS_MAX_TOKEN)) {
		log_error("instance metadata at %s: malformed session token", base.data);
		rc = -EIO;
		goto done;
	}
	rc = buf_printf(&tokhdr, "X-aws-ec2-metadata-token: %s", resp.body.data);
	response_wipe_free(&resp);
	if (rc)
		goto done;
	hdr[0] = tokhdr.data;
	/* From here on IMDS is there: failures are errors, not "no source". */
	f->stop = true;
	buf_reset(&url);
	rc = buf_printf(&url, "%s%s", base.data, CREDS_IMDS_CREDS_PATH);
	if (rc)
		goto done;
	rc = http_do("GET", url.data, hdr, 1, NULL, 0, CREDS_IMDS_TIMEOUT_MS, &resp);
	if (rc == -ENOMEM)
		goto done;
	if (rc) {
		log_error("instance metadata at %s: %s", base.data, resp.errmsg);
		rc = -EIO;
		goto done;
	}
	if (resp.status == 404) {
		log_info("instance metadata at %s: no IAM role attached", base.data);
		f->stop = false;
		rc = -ENOKEY;
		goto done;
	}
	if (resp.status != 200) {
		log_error("instance metadata at %s: role list got HTTP %ld", base.data, resp.status);
		rc = -EIO;
		goto done;
	}
	n = strcspn(resp.body.data ? resp.body.data : "", "\r\n");
	if (n >= sizeof(role)) {
		rc = -EIO;
		goto done;
	}
	memcpy(role, resp.body.data ? resp.body.data : "", n);
	role[n] = '\0';
	response_wipe_free(&resp);
	rn = trim(role);
	if (!valid_role_name(rn)) {
		log_error("instance metadata at %s: malformed role name", base.data);
		rc = -EIO;
		goto done;
	}
	snprintf(f->desc, sizeof(f->desc), "instance metadata (role %s)", rn);
	buf_reset(&url);
	rc = buf_printf(&url, "%s%s%s", base.data, CREDS_IMDS_CREDS_PATH, rn);
	if (rc)
		goto done;
	rc = http_do("GET", url.data, hdr, 1, NULL, 0, CREDS_IMDS_TIMEOUT_MS, &resp);
	if (rc == -ENOMEM)
		goto done;
	if (rc || resp.status != 200) {
		if (rc)
			log_error("%s: %s", f->desc, resp.errmsg);
		else
			log_error("%s: HTTP %ld", f->desc, resp.status);
		rc = -EIO;
		goto done;
	}
	rc = parse_json_creds(resp.body.data ? resp.body.data : "", resp.body.len, "Token", false,
			      f->desc, out);
done:
	buf_free(&base);
	buf_free(&url);
	buf_wipe_free(&tokhdr);
	response_wipe_free(&resp);
	return rc;
}

/* ------------------------------------------------------------------ */
/* The chain */

static const struct {
	enum creds_src kind;
	int (*fn)(struct fetch *f, struct creds *out);
} chain[] = {
	{ SRC_ENV, src_env },
	{ SRC_PASSWD, src_passwd },
	{ SRC_PROFILE, src_profile },
	{ SRC_WEBID, src_webid },
	{ SRC_CONTAINER, src_container },
	{ SRC_IMDS, src_imds },
};

/*
 * Ask the chain (or only the source `only`) for credentials. On success
 * *kind says who answered and desc what to tell the user. Runs without the
 * provider's lock.
 */
static int fetch_creds(struct creds_provider *p, enum creds_src only, struct creds *out,
		       enum creds_src *kind, char *desc, size_t desclen)
{
	struct fetch f;
	bool is_explicit = false;
	int rc = -ENOKEY;

	memset(&f, 0, sizeof(f));
	memset(out, 0, sizeof(*out));
	f.p = p;
	f.profile = strdup(profile_name(p->profile, &is_explicit));
	if (!f.profile)
		return -ENOMEM;
	f.explicit_profile = is_explicit;
	for (size_t i = 0; i < sizeof(chain) / sizeof(chain[0]); i++) {
		if (only != SRC_NONE && chain[i].kind != only)
			continue;
		f.desc[0] = '\0';
		rc = chain[i].fn(&f, out);
		if (rc == 0) {
			*kind = chain[i].kind;
			break;
		}
		if (rc != -ENOKEY || f.stop)
			break;
	}
	if (rc == 0 && out->expiration != 0 && out->expiration <= time(NULL)) {
		log_error("credentials from %s have already expired", f.desc);
		creds_clear(out);
		rc = -EIO;
	}
	if (rc == 0)
		snprintf(desc, desclen, "%s", f.desc);
	else if (rc == -ENOKEY && !f.stop && only == SRC_NONE)
		log_info("no AWS credentials found (tried the environment, profile %s, web "
			  "identity, container credentials and instance metadata%s)", f.profile,
			  imds_disabled(p) ? " (disabled)" : "");
	free(f.profile);
	free(f.cred_path);
	free(f.conf_path);
	free_secret(f.cred_text);
	free_secret(f.conf_text);
	return rc;
}

/* The description kept for creds_source. Called with the lock held. */
static const char *intern_source(struct creds_provider *p, const char *desc)
{
	struct src_name *n;
	size_t len = strlen(desc);

	for (n = p->names; n; n = n->next)
		if (strcmp(n->text, desc) == 0)
			return n->text;
	n = malloc(sizeof(*n) + len + 1);
	if (!n)
		return "unknown (out of memory)";
	memcpy(n->text, desc, len + 1);
	n->next = p->names;
	p->names = n;
	return n->text;
}

static bool fresh_enough(const struct creds *c, time_t now)
{
	return c->expiration == 0 || c->expiration - now > CREDS_REFRESH_MARGIN_S;
}

int creds_get(struct creds_provider *p, struct creds *out)
{
	struct creds fresh;
	char desc[CREDS_MAX_DESC];
	enum creds_src kind = SRC_NONE, only;
	unsigned gen;
	time_t now;
	int rc;

	memset(out, 0, sizeof(*out));
	memset(&fresh, 0, sizeof(fresh));
	pthread_mutex_lock(&p->lock);
	gen = p->gen;
	for (;;) {
		now = time(NULL);
		if (p->have && fresh_enough(&p->cur, now)) {
			rc = creds_copy(out, &p->cur);
			goto unlock;
		}
		/* A fetch we waited for is over: share its outcome. */
		if (!p->busy && p->gen != gen) {
			rc = p->last_rc == 0 && p->have ? creds_copy(out, &p->cur) : p->last_rc;
			goto unlock;
		}
		/* Still valid while someone refreshes or we back off: use them. */
		if (p->have && p->cur.expiration > now &&
		    (p->busy || util_mono_ms() < p->next_try_ms)) {
			rc = creds_copy(out, &p->cur);
			goto unlock;
		}
		if (!p->busy)
			break;
		pthread_cond_wait(&p->done, &p->lock);
	}
	p->busy = true;
	only = p->have ? p->kind : SRC_NONE;
	pthread_mutex_unlock(&p->lock);

	rc = fetch_creds(p, only, &fresh, &kind, desc, sizeof(desc));

	pthread_mutex_lock(&p->lock);
	p->busy = false;
	p->gen++;
	p->last_rc = rc;
	now = time(NULL);
	if (rc == 0) {
		creds_clear(&p->cur);
		p->cur = fresh;
		p->have = true;
		p->kind = kind;
		p->next_try_ms = 0;
		p->source = intern_source(p, desc);
		if (p->cur.expiration)
			log_info("credentials from %s, valid for %lld s", p->source,
				 (long long)(p->cur.expiration - now));
		else
			log_info("credentials from %s", p->source);
		rc = creds_copy(out, &p->cur);
	} else if (p->have && p->cur.expiration > now) {
		log_warn("could not refresh the credentials from %s; keeping the current ones "
			 "(%lld s left)", p->source, (long long)(p->cur.expiration - now));
		p->next_try_ms = util_mono_ms() + CREDS_RETRY_MS;
		p->last_rc = 0;
		rc = creds_copy(out, &p->cur);
	} else if (p->have) {
		log_error("the credentials from %s expired and could not be refreshed",
			  p->source);
		creds_clear(&p->cur);
		p->have = false;
	}
	pthread_cond_broadcast(&p->done);
unlock:
	pthread_mutex_unlock(&p->lock);
	return rc;
}

const char *creds_source(struct creds_provider *p)
{
	const char *s;

	pthread_mutex_lock(&p->lock);
	s = p->source;
	pthread_mutex_unlock(&p->lock);
	return s;
}

int creds_provider_new(const struct creds_options *opts, struct creds_provider **out)
{
	struct creds_provider *p = calloc(1, sizeof(*p));

	*out = NULL;
	if (!p)
		return -ENOMEM;
	if (opts) {
		p->profile = util_strdup0(opts->profile);
		p->passwd_file = util_strdup0(opts->passwd_file);
		p->sts_endpoint = util_strdup0(opts->sts_endpoint);
		p->region = util_strdup0(opts->region);
		p->no_imds = opts->no_imds;
		if ((opts->profile && !p->profile) || (opts->passwd_file && !p->passwd_file) ||
		    (opts->sts_endpoint && !p->sts_endpoint) || (opts->region && !p->region))
			goto fail;
	}
	if (pthread_mutex_init(&p->lock, NULL) != 0)
		goto fail;
	if (pthread_cond_init(&p->done, NULL) != 0) {
		pthread_mutex_destroy(&p->lock);
		goto fail;
	}
	p->source = "none";
	*out = p;
	return 0;

fail:
	free(p->profile);
	free(p->passwd_file);
	free(p->sts_endpoint);
	free(p->region);
	free(p);
	return -ENOMEM;
}

void creds_provider_free(struct creds_provider *p)
{
	struct src_name *n;

	if (!p)
		return;
	creds_clear(&p->cur);
	while ((n = p->names)) {
		p->names = n->next;
		free(n);
	}
	pthread_cond_destroy(&p->done);
	pthread_mutex_destroy(&p->lock);
	free(p->profile);
	free(p->passwd_file);
	free(p->sts_endpoint);
	free(p->region);
	free(p);
}

/*
 * test_creds: the credential chain. Every source is exercised against files
 * in a fresh temp dir and, for STS, container and IMDS, against fakehttp on
 * 127.0.0.1. Each test starts from an environment with every AWS variable
 * unset, HOME at its temp dir and IMDS disabled, and puts it all back.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* nftw */
#endif
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "creds.h"
#include "fakehttp.h"
#include "http.h"
#include "log.h"
#include "util.h"

static const char *const env_names[] = {
	"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
	"AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SHARED_CREDENTIALS_FILE", "AWS_CONFIG_FILE",
	"AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN", "AWS_ROLE_SESSION_NAME",
	"AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_STS", "AWS_REGION", "AWS_DEFAULT_REGION",
	"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI",
	"AWS_CONTAINER_AUTHORIZATION_TOKEN", "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
	"AWS_EC2_METADATA_DISABLED", "AWS_EC2_METADATA_SERVICE_ENDPOINT",
	"AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE", "HOME",
};
#define NENV (sizeof(env_names) / sizeof(env_names[0]))

struct fixture {
	char dir[64];
	char *saved[NENV];
};

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	return remove(path);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	for (size_t i = 0; i < NENV; i++) {
		const char *v = getenv(env_names[i]);

		f->saved[i] = v ? strdup(v) : NULL;
		unsetenv(env_names[i]);
	}
	snprintf(f->dir, sizeof(f->dir), "/tmp/test_creds.XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	setenv("HOME", f->dir, 1);
	/* Never reach for a real instance metadata service. */
	setenv("AWS_EC2_METADATA_DISABLED", "true", 1);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	nftw(f->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	for (size_t i = 0; i < NENV; i++) {
		if (f->saved[i])
			setenv(env_names[i], f->saved[i], 1);
		else
			unsetenv(env_names[i]);
		free(f->saved[i]);
	}
	free(f);
	return 0;
}

/* Write name under the fixture's dir (creating subdirs named in it) with
 * mode; the full path goes to path. */
static void write_file(struct fixture *f, const char *name, mode_t mode, char *path,
		       size_t pathlen, const char *fmt, ...)
{
	char *slash;
	FILE *fp;
	va_list ap;

	snprintf(path, pathlen, "%s/%s", f->dir, name);
	for (slash = strchr(path + strlen(f->dir) + 1, '/'); slash; slash = strchr(slash + 1, '/')) {
		*slash = '\0';
		mkdir(path, 0700);
		*slash = '/';
	}
	fp = fopen(path, "w");
	assert_non_null(fp);
	va_start(ap, fmt);
	vfprintf(fp, fmt, ap);
	va_end(ap);
	assert_int_equal(fclose(fp), 0);
	assert_int_equal(chmod(path, mode), 0);
}

/* ISO 8601 of now + offset seconds. */
static void iso_in(long offset, char *out, size_t outlen)
{
	time_t t = time(NULL) + offset;
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(out, outlen, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static int get(const struct creds_options *o, struct creds *c)
{
	struct creds_provider *p = NULL;
	int rc;

	assert_int_equal(creds_provider_new(o, &p), 0);
	rc = creds_get(p, c);
	creds_provider_free(p);
	return rc;
}

/* A port on 127.0.0.1 where nothing listens. */
static int closed_port(void)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	port = ntohs(sa.sin_port);
	close(fd);
	return port;
}

/* ------------------------------------------------------------------ */
/* environment */

static void test_env(void **state)
{
	struct creds_provider *p = NULL;
	struct creds c;

	setenv("AWS_ACCESS_KEY_ID", "AKIDENV", 1);
	setenv("AWS_SECRET_ACCESS_KEY", "envsecret", 1);
	setenv("AWS_SESSION_TOKEN", "envtoken", 1);
	assert_int_equal(creds_provider_new(NULL, &p), 0);
	assert_string_equal(creds_source(p), "none");
	assert_int_equal(creds_get(p, &c), 0);
	assert_string_equal(c.access_key, "AKIDENV");
	assert_string_equal(c.secret_key, "envsecret");
	assert_string_equal(c.session_token, "envtoken");
	assert_int_equal(c.expiration, 0);
	assert_string_equal(creds_source(p), "environment");
	creds_clear(&c);
	assert_null(c.access_key);
	creds_provider_free(p);

	/* Without a token: long-term keys. */
	unsetenv("AWS_SESSION_TOKEN");
	assert_int_equal(get(NULL, &c), 0);
	assert_null(c.session_token);
	creds_clear(&c);

	/* Half a key pair is a mistake, not a reason to look elsewhere. */
	unsetenv("AWS_SECRET_ACCESS_KEY");
	assert_int_equal(get(NULL, &c), -ENOKEY);
	assert_null(c.access_key);
}

/* ------------------------------------------------------------------ */
/* passwd_file */

static void test_passwd_file(void **state)
{
	struct fixture *f = *state;
	struct creds_options o = { .no_imds = true };
	struct creds_provider *p = NULL;
	char path[256];
	struct creds c;

	write_file(f, "passwd-s3fs", 0600, path, sizeof(path),
		   "# s3fs credentials\n\n  AKIDPW:pw/secret+1  \r\n");
	o.passwd_file = path;
	assert_int_equal(creds_provider_new(&o, &p), 0);
	assert_int_equal(creds_get(p, &c), 0);
	assert_string_equal(c.access_key, "AKIDPW");
	assert_string_equal(c.secret_key, "pw/secret+1");
	assert_null(c.session_token);
	assert_non_null(strstr(creds_source(p), "passwd_file"));
	assert_null(strstr(creds_source(p), "pw/secret"));
	creds_clear(&c);
	creds_provider_free(p);

	/* Environment still comes first. */
	setenv("AWS_ACCESS_KEY_ID", "AKIDENV", 1);
	setenv("AWS_SECRET_ACCESS_KEY", "envsecret", 1);
	assert_int_equal(get(&o, &c), 0);
	assert_string_equal(c.access_key, "AKIDENV");
	creds_clear(&c);
}

static void test_passwd_file_bucket(void **state)
{
	struct fixture *f = *state;
	struct creds_options o = { .no_imds = true };
	char path[256];
	struct creds c;

	write_file(f, "pw1", 0600, path, sizeof(path), "mybucket:AKIDBKT:bucketsecret\n");
	o.passwd_file = path;
	assert_int_equal(get(&o, &c), 0);
	assert_string_equal(c.access_key, "AKIDBKT");
	assert_string_equal(c.secret_key, "bucketsecret");
	creds_clear(&c);

	/* A default line wins over a bucket's, wherever it is. */
	write_file(f, "pw2", 0400, path, sizeof(path),
		   "mybucket:AKIDBKT:bucketsecret\nnot a valid line\nAKIDDEF:defsecret\n");
	assert_int_equal(get(&o, &c), 0);
	assert_string_equal(c.access_key, "AKIDDEF");
	assert_string_equal(c.secret_key, "defsecret");
	creds_clear(&c);

	/* Only comments: no key, and no falling through to other sources. */
	write_file(f, "pw3", 0600, path, sizeof(path), "# nothing\n");
	write_file(f, ".aws/credentials", 0600, path + 128, 128,
		   "[default]\naws_access_key_id=AKIDPROF\naws_secret_access_key=x\n");
	assert_int_equal(get(&o, &c), -ENOKEY);

	/* A missing file. */
	snprintf(path, 128, "%s/nonexistent", f->dir);
	assert_int_equal(get(&o, &c), -ENOKEY);
}

static void test_passwd_file_bad_mode(void **state)
{
	struct fixture *f = *state;
	struct creds_options o = { .no_imds = true };
	char path[256];
	struct creds c;

	write_file(f, "passwd-s3fs", 0644, path, sizeof(path), "AKIDPW:secret\n");
	o.passwd_file = path;
	assert_int_equal(get(&o, &c), -EACCES);
	assert_null(c.access_key);
	assert_int_equal(chmod(path, 0640), 0);
	assert_int_equal(get(&o, &c), -EACCES);
	assert_int_equal(chmod(path, 0600), 0);
	assert_int_equal(get(&o, &c), 0);
	creds_clear(&c);
}

/* ------------------------------------------------------------------ */
/* profiles */

static void test_profile_credentials_file(void **state)
{
	struct fixture *f = *state;
	struct creds_options o = { .no_imds = true };
	struct creds_provider *p = NULL;
	char path[256];
	struct creds c;

	write_file(f, ".aws/credentials", 0600, path, sizeof(path),
		   "# comment\n"
		   "; another comment\n"
		   "[default]\n"
		   "aws_access_key_id = AKIDDEFAULT\n"
		   "aws_secret_access_key=defsecret   \n"
		   "\n"
		   "[dev]\n"
		   "  aws_access_key_id   =   AKIDDEV\n"
		   "aws_secret_access_key = devsecret\n"
		   "aws_session_token = devtoken\n"
		   "[Dev]\n"
		   "aws_access_key_id = AKIDCAPITAL\n"
		   "aws_secret_access_key = capsecret\n");
	assert_int_equal(creds_provider_new(&o, &p), 0);
	assert_int_equal(creds_get(p, &c), 0);
	assert_string_equal(c.access_key, "AKIDDEFAULT");
	assert_string_equal(c.secret_key, "defsecret");
	assert_null(c.session_token);
	assert_non_null(strstr(creds_source(p), "profile default in "));
	assert_non_null(strstr(creds_source(p), ".aws/credentials"));
	creds_clear(&c);
	creds_provider_free(p);

	/* Section names are case-sensitive, as in the CLI. */
	o.profile = "dev";
	assert_int_equal(get(&o, &c), 0);
	assert_string_equal(c.access_key, "AKIDDEV");
	assert_string_equal(c.secret_key, "devsecret");
	assert_string_equal(c.session_token, "devtoken");
	creds_clear(&c);
	o.profile = "Dev";
	assert_int_equal(get(&o, &c), 0);
	assert_string_equal(c.access_key, "AKIDCAPITAL");
	creds_clear(&c);

	/* A profile named explicitly must exist. */
	o.profile = "nope";
	assert_int_equal(get(&o, &c), -ENOKEY);

	/* AWS_SHARED_CREDENTIALS_FILE moves the file. */
	write_file(f, "elsewhere/creds", 0600, path, sizeof(path),
		   "[default]\naws_access_key_id=AKIDELSE\naws_secret_access_key=s\n");
	setenv("AWS_SHARED_CREDENTIALS_FILE", path, 1);
	o.profile = NULL;
	assert_int_equal(get(&o, &c), 0);
	assert_string_equal(c.access_key, "AKIDELSE");
	creds_clear(&c);
}

static void test_profile_config_file(void **state)
{
	struct fixture *f = *state;
	struct creds_options o = { .no_imds = true, .profile = "cfg" };
	char path[256];
	struct creds c;

	/* "[cfg]" in the config file is not profile cfg; nested values
	 * ("s3 =" and its indented lines) are not keys of the profile. */
	write_file(f, ".aws/config", 0600, path, sizeof(path),
		   "[cfg]\n"
		   "aws_access_key_id = AKIDWRONG\n"
		   "aws_secret_access_key = wrong\n"
		   "[profile cfg]\n"
		   "region = eu-west-3\n"
		   "s3 =\n"
		   "    aws_access_key_id = AKIDNESTED\n"
		   "AWS_ACCESS_KEY_ID = AKIDCFG\n"
		   "aws_secret_access_key: cfgsecret\n"
		   "[default]\n"
		   "aws_access_key_id = AKIDCFGDEF\n"
		   "aws_secret_access_key = cfgdefsecret\n");
	assert_int_equal(get(&o, &c), 0);
	assert_string_equal(c.access_key, "AKIDCFG");
	assert_string_equal(c.secret_key, "cfgsecret");
	creds_clear(&c);

	o.profile = NULL;
	assert_int_equal(get(&o, &c), 0);
	assert_string_equal(c.access_key, "AKIDCFGDEF");
	creds_clear(&c);

	/* The credentials file beats the config file for the same profile. */
	write_file(f, ".aws/credentials", 0600, path, sizeof(path),
		   "[default]\naws_access_key_id=AKIDCREDS\naws_secret_access_key=s\n");
	assert_int_equal(get(&o, &c), 0);
	assert_string_equal(c.access_key, "AKIDCREDS");
	creds_clear(&c);

	/* AWS_CONFIG_FILE, with "~" expanded. */
	write_file(f, "other/config", 0600, path, sizeof(path),
		   "[profile x]\naws_access_key_id=AKIDOTHER\naws_secret_access_key=s\n");
	setenv("AWS_CONFIG_FILE", "~/other/config", 1);
	o.profile = "x";
	assert_int_equal(get(&o, &c), 0);
	assert_string_equal(c.access_key, "AKIDOTHER");
	creds_clear(&c);
}

static void test_profile_precedence(void **state)
{
	struct fixture *f = *state;
	struct creds_options o = { .no_imds = true };
	char path[256];
	struct creds c;

	write_file(f, ".aws/credentials", 0600, path, sizeof(path),
		   "[default]\naws_access_key_id=AKIDDEFAULT\naws_secret_access_key=s\n"
		   "[fromenv]\naws_access_key_id=AKIDFROMENV\naws_secret_access_key=s\n"
		   "[fromopt]\naws_access_key_id=AKIDFROMOPT\naws_secret_access_key=s\n");
	assert_int_equal(get(&o, &c), 0);
	assert_string_equal(c.access_key, "AKIDDEFAULT");
	creds_clear(&c);

	setenv("AWS_PROFILE", "fromenv", 1);
	assert_int_equal(get(&o, &c), 0);
	assert_string_equal(c.access_key, "AKIDFROMENV");
	creds_clear(&c);

	o.profile = "fromopt";
	assert_int_equal(get(&o, &c), 0);
	assert_string_equal(c.access_key, "AKIDFROMOPT");
	creds_clear(&c);
}

/* ------------------------------------------------------------------ */
/* credential_process */

static void write_process_config(struct fixture *f, const char *script_body)
{
	char script[256], cfg[256];

	write_file(f, "proc.sh", 0700, script, sizeof(script), "#!/bin/sh\n%s", script_body);
	write_file(f, ".aws/config", 0600, cfg, sizeof(cfg),
		   "[default]\ncredential_process = %s --flag 'quoted arg'\n", script);
}

static void test_process(void **state)
{
	struct fixture *f = *state;
	struct creds_options o = { .no_imds = true };
	struct creds_provider *p = NULL;
	char exp[32], body[1024];
	struct creds c;
	time_t want;

	iso_in(3600, exp, sizeof(exp));
	assert_int_equal(util_parse_iso8601(exp, &want), 0);
	snprintf(body, sizeof(body),
		 "echo \"helper says hi ($2)\" >&2\n"
		 "cat <<EOF\n"
		 "{\"Version\": 1, \"AccessKeyId\": \"AKIDPROC\",\n"
		 " \"SecretAccessKey\": \"procsecret\", \"SessionToken\": \"proctoken\",\n"
		 " \"Expiration\": \"%s\"}\n"
		 "EOF\n", exp);
	write_process_config(f, body);
	assert_int_equal(creds_provider_new(&o, &p), 0);
	assert_int_equal(creds_get(p, &c), 0);
	assert_string_equal(c.access_key, "AKIDPROC");
	assert_string_equal(c.secret_key, "procsecret");
	assert_string_equal(c.session_token, "proctoken");
	assert_int_equal(c.expiration, want);
	assert_non_null(strstr(creds_source(p), "credential_process"));
	creds_clear(&c);
	creds_provider_free(p);

	/* Long-term keys from a process: no token, no expiration. */
	write_process_config(f, "echo '{\"Version\":1,\"AccessKeyId\":\"AKIDP2\","
				"\"SecretAccessKey\":\"s2\"}'\n");
	assert_int_equal(get(&o, &c), 0);
	assert_string_equal(c.access_key, "AKIDP2");
	assert_null(c.session_token);
	assert_int_equal(c.expiration, 0);
	creds_clear(&c);
}

static void test_process_failures(void **state)
{
	struct fixture *f = *state;
	struct creds_options o = { .no_imds = true };
	char exp[32], body[512];
	struct creds c;

	/* Non-zero exit, even with good-looking output. */
	write_process_config(f, "echo '{\"Version\":1,\"AccessKeyId\":\"A\","
				"\"SecretAccessKey\":\"s\"}'\necho failing >&2\nexit 3\n");
	assert_int_equal(get(&o, &c), -EIO);
	assert_null(c.access_key);

	/* Garbage. */
	write_process_config(f, "echo 'this is not json'\n");
	assert_int_equal(get(&o, &c), -EIO);
	write_process_config(f, "echo '{\"Version\":1,\"AccessKeyId\":\"A\"}'\n");
	assert_int_equal(get(&o, &c), -EIO);
	write_process_config(f, "echo '{\"Version\":1,\"AccessKeyId\":\"A\","
				"\"SecretAccessKey\":\"s\"} trailing'\n");
	assert_int_equal(get(&o, &c), -EIO);

	/* Unknown version. */
	write_process_config(f, "echo '{\"Version\":2,\"AccessKeyId\":\"A\","
				"\"SecretAccessKey\":\"s\"}'\n");
	assert_int_equal(get(&o, &c), -EIO);

	/* Too much output is cut off, not buffered. */
	write_process_config(f, "head -c 200000 /dev/zero | tr '\\0' 'x'\n");
	assert_int_equal(get(&o, &c), -EIO);

	/* Already expired: refused. */
	iso_in(-60, exp, sizeof(exp));
	snprintf(body, sizeof(body),
		 "echo '{\"Version\":1,\"AccessKeyId\":\"A\",\"SecretAccessKey\":\"s\","
		 "\"SessionToken\":\"t\",\"Expiration\":\"%s\"}'\n", exp);
	write_process_config(f, body);
	assert_int_equal(get(&o, &c), -EIO);
	assert_null(c.access_key);
}

static unsigned count_lines(const char *path)
{
	char *text = NULL;
	size_t len = 0;
	unsigned n = 0;

	if (util_read_file(path, 1 << 20, &text, &len) != 0)
		return 0;
	for (size_t i = 0; i < len; i++)
		n += text[i] == '\n';
	free(text);
	return n;
}

/* A process whose credentials are near expiry is run again on the next
 * creds_get; one whose credentials have an hour left is not. */
static void test_process_refresh(void **state)
{
	struct fixture *f = *state;
	struct creds_options o = { .no_imds = true };
	struct creds_provider *p = NULL;
	char exp[32], body[1024], count[256];
	struct creds c;

	snprintf(count, sizeof(count), "%s/count", f->dir);
	iso_in(120, exp, sizeof(exp));
	snprintf(body, sizeof(body),
		 "echo run >> %s\n"
		 "echo '{\"Version\":1,\"AccessKeyId\":\"AKIDSHORT\",\"SecretAccessKey\":\"s\","
		 "\"SessionToken\":\"t\",\"Expiration\":\"%s\"}'\n", count, exp);
	write_process_config(f, body);
	assert_int_equal(creds_provider_new(&o, &p), 0);
	assert_int_equal(creds_get(p, &c), 0);
	creds_clear(&c);
	assert_int_equal(count_lines(count), 1);
	assert_int_equal(creds_get(p, &c), 0);
	creds_clear(&c);
	assert_int_equal(count_lines(count), 2);
	creds_provider_free(p);

	unlink(count);
	iso_in(3600, exp, sizeof(exp));
	snprintf(body, sizeof(body),
		 "echo run >> %s\n"
		 "echo '{\"Version\":1,\"AccessKeyId\":\"AKIDLONG\",\"SecretAccessKey\":\"s\","
		 "\"SessionToken\":\"t\",\"Expiration\":\"%s\"}'\n", count, exp);
	write_process_config(f, body);
	assert_int_equal(creds_provider_new(&o, &p), 0);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(creds_get(p, &c), 0);
		assert_string_equal(c.access_key, "AKIDLONG");
		creds_clear(&c);
	}
	assert_int_equal(count_lines(count), 1);
	creds_provider_free(p);
}

/* ------------------------------------------------------------------ */
/* web identity against a fake STS */

struct sts_fake {
	unsigned calls;
	int status;
	char method[16];
	char target[256];
	char body[8192];
	char ctype[128];
	bool authorization, amz_date, amz_token;
	char exp[32];
	char reply[2048];
};

static void sts_handler(void *arg, const struct fakehttp_request *req,
			struct fakehttp_reply *reply)
{
	struct sts_fake *s = arg;
	char v[256];
	int n;

	s->calls++;
	snprintf(s->method, sizeof(s->method), "%s", req->method);
	snprintf(s->target, sizeof(s->target), "%.255s", req->target);
	snprintf(s->body, sizeof(s->body), "%.*s", (int)req->body_len, req->body);
	if (fakehttp_header(req, "content-type", s->ctype, sizeof(s->ctype)) != 0)
		s->ctype[0] = '\0';
	s->authorization = fakehttp_header(req, "authorization", v, sizeof(v)) == 0;
	s->amz_date = fakehttp_header(req, "x-amz-date", v, sizeof(v)) == 0;
	s->amz_token = fakehttp_header(req, "x-amz-security-token", v, sizeof(v)) == 0;
	if (s->status && s->status != 200) {
		n = snprintf(s->reply, sizeof(s->reply),
			     "<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">"
			     "<Error><Type>Sender</Type><Code>AccessDenied</Code>"
			     "<Message>Not authorized to perform sts:AssumeRoleWithWebIdentity"
			     "</Message></Error><RequestId>r-1</RequestId></ErrorResponse>");
		reply->status = s->status;
	} else {
		n = snprintf(s->reply, sizeof(s->reply),
			     "<AssumeRoleWithWebIdentityResponse "
			     "xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">\n"
			     "  <AssumeRoleWithWebIdentityResult>\n"
			     "    <SubjectFromWebIdentityToken>system:sa</SubjectFromWebIdentityToken>\n"
			     "    <Credentials>\n"
			     "      <AccessKeyId>ASIAWEBID</AccessKeyId>\n"
			     "      <SecretAccessKey>websecret/+</SecretAccessKey>\n"
			     "      <SessionToken>webtoken==</SessionToken>\n"
			     "      <Expiration>%s</Expiration>\n"
			     "    </Credentials>\n"
			     "  </AssumeRoleWithWebIdentityResult>\n"
			     "  <ResponseMetadata><RequestId>r-2</RequestId></ResponseMetadata>\n"
			     "</AssumeRoleWithWebIdentityResponse>\n", s->exp);
		reply->status = 200;
	}
	reply->headers = "Content-Type: text/xml\r\n";
	reply->body = s->reply;
	reply->body_len = (size_t)n;
}

/* Value of a form field, %XX-decoded. */
static bool form_value(const char *body, const char *name, char *out, size_t outlen)
{
	size_t nlen = strlen(name);
	const char *p = body;

	while (p && *p) {
		const char *amp = strchr(p, '&');
		const char *end = amp ? amp : p + strlen(p);

		if ((size_t)(end - p) > nlen && strncmp(p, name, nlen) == 0 && p[nlen] == '=') {
			size_t o = 0;

			for (const char *q = p + nlen + 1; q < end && o + 1 < outlen; q++) {
				if (*q == '%' && end - q >= 3) {
					char hex[3] = { q[1], q[2], 0 };

					out[o++] = (char)strtol(hex, NULL, 16);
					q += 2;
				} else {
					out[o++] = *q == '+' ? ' ' : *q;
				}
			}
			out[o] = '\0';
			return true;
		}
		p = amp ? amp + 1 : NULL;
	}
	return false;
}

static void test_web_identity(void **state)
{
	struct fixture *f = *state;
	struct sts_fake s = { 0 };
	struct creds_options o = { .no_imds = true };
	struct creds_provider *p = NULL;
	struct fakehttp *srv = NULL;
	char url[64], tok[256], v[1024], want[64];
	struct creds c;
	time_t wexp;

	iso_in(3600, s.exp, sizeof(s.exp));
	assert_int_equal(util_parse_iso8601(s.exp, &wexp), 0);
	assert_int_equal(fakehttp_start(sts_handler, &s, &srv), 0);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d", fakehttp_port(srv));
	o.sts_endpoint = url;
	write_file(f, "token", 0600, tok, sizeof(tok), "eyJhbGciOi.JSUzI1NiJ9+/=&x\n");
	setenv("AWS_WEB_IDENTITY_TOKEN_FILE", tok, 1);
	setenv("AWS_ROLE_ARN", "arn:aws:iam::123456789012:role/my-role", 1);

	assert_int_equal(creds_provider_new(&o, &p), 0);
	assert_int_equal(creds_get(p, &c), 0);
	assert_string_equal(c.access_key, "ASIAWEBID");
	assert_string_equal(c.secret_key, "websecret/+");
	assert_string_equal(c.session_token, "webtoken==");
	assert_int_equal(c.expiration, wexp);
	creds_clear(&c);
	assert_non_null(strstr(creds_source(p), "web identity"));
	assert_non_null(strstr(creds_source(p), "my-role"));
	assert_null(strstr(creds_source(p), "eyJ"));
	creds_provider_free(p);

	/* What STS got: an unsigned form POST. */
	assert_int_equal(s.calls, 1);
	assert_string_equal(s.method, "POST");
	assert_string_equal(s.target, "/");
	assert_non_null(strstr(s.ctype, "application/x-www-form-urlencoded"));
	assert_false(s.authorization);
	assert_false(s.amz_date);
	assert_false(s.amz_token);
	assert_true(form_value(s.body, "Action", v, sizeof(v)));
	assert_string_equal(v, "AssumeRoleWithWebIdentity");
	assert_true(form_value(s.body, "Version", v, sizeof(v)));
	assert_string_equal(v, "2011-06-15");
	assert_true(form_value(s.body, "RoleArn", v, sizeof(v)));
	assert_string_equal(v, "arn:aws:iam::123456789012:role/my-role");
	assert_true(form_value(s.body, "RoleSessionName", v, sizeof(v)));
	snprintf(want, sizeof(want), "awsfs-%ld", (long)getpid());
	assert_string_equal(v, want);
	assert_true(form_value(s.body, "WebIdentityToken", v, sizeof(v)));
	assert_string_equal(v, "eyJhbGciOi.JSUzI1NiJ9+/=&x");
	/* Encoded, so the '&' and '=' of the token did not split fields. */
	assert_null(strstr(s.body, "=&x"));

	/* AWS_ENDPOINT_URL_STS, a session name from the environment. */
	o.sts_endpoint = NULL;
	setenv("AWS_ENDPOINT_URL_STS", url, 1);
	setenv("AWS_ROLE_SESSION_NAME", "my session", 1);
	assert_int_equal(get(&o, &c), 0);
	creds_clear(&c);
	assert_int_equal(s.calls, 2);
	assert_true(form_value(s.body, "RoleSessionName", v, sizeof(v)));
	assert_string_equal(v, "my session");

	/* From the profile instead (AWS_ENDPOINT_URL this time). */
	unsetenv("AWS_ENDPOINT_URL_STS");
	unsetenv("AWS_ROLE_SESSION_NAME");
	unsetenv("AWS_WEB_IDENTITY_TOKEN_FILE");
	unsetenv("AWS_ROLE_ARN");
	setenv("AWS_ENDPOINT_URL", url, 1);
	write_file(f, ".aws/config", 0600, v, sizeof(v),
		   "[profile irsa]\nweb_identity_token_file = %s\n"
		   "role_arn = arn:aws:iam::123456789012:role/profile-role\n"
		   "role_session_name = from-profile\n", tok);
	o.profile = "irsa";
	assert_int_equal(get(&o, &c), 0);
	assert_string_equal(c.access_key, "ASIAWEBID");
	creds_clear(&c);
	assert_int_equal(s.calls, 3);
	assert_true(form_value(s.body, "RoleArn", v, sizeof(v)));
	assert_string_equal(v, "arn:aws:iam::123456789012:role/profile-role");
	assert_true(form_value(s.body, "RoleSessionName", v, sizeof(v)));
	assert_string_equal(v, "from-profile");

	/* Refused by STS. */
	s.status = 403;
	assert_int_equal(get(&o, &c), -EACCES);
	assert_null(c.access_key);

	/* A token file that is not there. */
	s.status = 200;
	setenv("AWS_WEB_IDENTITY_TOKEN_FILE", "/nonexistent/token", 1);
	setenv("AWS_ROLE_ARN", "arn:aws:iam::123456789012:role/my-role", 1);
	assert_int_equal(get(&o, &c), -EIO);
	fakehttp_stop(srv);
}

/* ------------------------------------------------------------------ */
/* container credentials */

struct json_fake {
	unsigned calls;
	char want_auth[128];   /* required Authorization, "" for none */
	char got_auth[128];
	char target[256];
	long exp_offset;
	int status;            /* 0: 200 */
	char reply[1024];
};

static void container_handler(void *arg, const struct fakehttp_request *req,
			      struct fakehttp_reply *reply)
{
	struct json_fake *s = arg;
	char exp[32];
	int n;

	s->calls++;
	snprintf(s->target, sizeof(s->target), "%.255s", req->target);
	if (fakehttp_header(req, "authorization", s->got_auth, sizeof(s->got_auth)) != 0)
		s->got_auth[0] = '\0';
	if (strcmp(s->got_auth, s->want_auth) != 0) {
		reply->status = 401;
		reply->body = "{\"message\":\"unauthorized\"}";
		reply->body_len = strlen(reply->body);
		return;
	}
	iso_in(s->exp_offset, exp, sizeof(exp));
	n = snprintf(s->reply, sizeof(s->reply),
		     "{\"AccessKeyId\":\"ASIACONT\",\"SecretAccessKey\":\"contsecret\","
		     "\"Token\":\"conttoken\",\"Expiration\":\"%s\","
		     "\"RoleArn\":\"arn:aws:iam::1:role/task\"}", exp);
	reply->status = s->status ? s->status : 200;
	reply->body = s->reply;
	reply->body_len = (size_t)n;
}

static void test_container(void **state)
{
	struct fixture *f = *state;
	struct json_fake s = { .exp_offset = 3600 };
	struct creds_options o = { .no_imds = true };
	struct creds_provider *p = NULL;
	struct fakehttp *srv = NULL;
	char url[96], tokfile[256];
	struct creds c;

	assert_int_equal(fakehttp_start(container_handler, &s, &srv), 0);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/creds", fakehttp_port(srv));
	setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", url, 1);
	setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN", "Basic c2VjcmV0", 1);
	snprintf(s.want_auth, sizeof(s.want_auth), "Basic c2VjcmV0");

	assert_int_equal(creds_provider_new(&o, &p), 0);
	assert_int_equal(creds_get(p, &c), 0);
	assert_string_equal(c.access_key, "ASIACONT");
	assert_string_equal(c.secret_key, "contsecret");
	assert_string_equal(c.session_token, "conttoken");
	assert_true(c.expiration > time(NULL) + 3500);
	creds_clear(&c);
	assert_int_equal(s.calls, 1);
	assert_string_equal(s.target, "/creds");
	assert_string_equal(s.got_auth, "Basic c2VjcmV0");
	assert_non_null(strstr(creds_source(p), "container"));
	assert_null(strstr(creds_source(p), "c2VjcmV0"));
	creds_provider_free(p);

	/* The token from a file (EKS pod identity), trailing newline dropped. */
	unsetenv("AWS_CONTAINER_AUTHORIZATION_TOKEN");
	write_file(f, "eks-token", 0600, tokfile, sizeof(tokfile), "eks-pod-token\n");
	setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", tokfile, 1);
	snprintf(s.want_auth, sizeof(s.want_auth), "eks-pod-token");
	assert_int_equal(get(&o, &c), 0);
	creds_clear(&c);
	assert_string_equal(s.got_auth, "eks-pod-token");

	/* A wrong token: the agent refuses. */
	snprintf(s.want_auth, sizeof(s.want_auth), "something else");
	assert_int_equal(get(&o, &c), -EACCES);

	/* Plain http to a host that is not loopback or an agent: refused
	 * before any request. */
	setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://198.51.100.7/creds", 1);
	assert_int_equal(get(&o, &c), -EACCES);
	setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://127.0.0.1@198.51.100.7/creds", 1);
	assert_int_equal(get(&o, &c), -EACCES);
	assert_int_equal(s.calls, 3);
	fakehttp_stop(srv);
}

/* ------------------------------------------------------------------ */
/* IMDSv2 */

#define IMDS_TOKEN "AQAEAIMDS-token=="

struct imds_fake {
	unsigned calls;
	unsigned puts;
	unsigned unauthorized;  /* GETs without the token */
	bool put_first;         /* the very first request was the token PUT */
	bool bad_ttl;
	long exp_offset;
	int creds_status;       /* 0: 200 */
	bool no_role;
	char akid[32];
	char reply[1024];
};

static void imds_handler(void *arg, const struct fakehttp_request *req,
			 struct fakehttp_reply *reply)
{
	struct imds_fake *s = arg;
	char v[256], exp[32];
	int n;

	if (s->calls++ == 0)
		s->put_first = strcmp(req->method, "PUT") == 0;
	if (strcmp(req->method, "PUT") == 0 && strcmp(req->target, "/latest/api/token") == 0) {
		s->puts++;
		if (fakehttp_header(req, "x-aws-ec2-metadata-token-ttl-seconds", v, sizeof(v)) ||
		    strcmp(v, "21600") != 0) {
			s->bad_ttl = true;
			reply->status = 400;
			return;
		}
		reply->body = IMDS_TOKEN;
		reply->body_len = strlen(IMDS_TOKEN);
		return;
	}
	if (fakehttp_header(req, "x-aws-ec2-metadata-token", v, sizeof(v)) ||
	    strcmp(v, IMDS_TOKEN) != 0) {
		s->unauthorized++;
		reply->status = 401;
		return;
	}
	if (strcmp(req->target, "/latest/meta-data/iam/security-credentials/") == 0) {
		if (s->no_role) {
			reply->status = 404;
			return;
		}
		reply->body = "test-role\n";
		reply->body_len = strlen(reply->body);
		return;
	}
	if (strcmp(req->target, "/latest/meta-data/iam/security-credentials/test-role") == 0) {
		iso_in(s->exp_offset, exp, sizeof(exp));
		n = snprintf(s->reply, sizeof(s->reply),
			     "{\n  \"Code\" : \"Success\",\n  \"LastUpdated\" : \"2024-01-01T00:00:00Z\",\n"
			     "  \"Type\" : \"AWS-HMAC\",\n  \"AccessKeyId\" : \"%s\",\n"
			     "  \"SecretAccessKey\" : \"imdssecret\",\n  \"Token\" : \"imdstoken\",\n"
			     "  \"Expiration\" : \"%s\"\n}", s->akid[0] ? s->akid : "ASIAIMDS", exp);
		reply->status = s->creds_status ? s->creds_status : 200;
		reply->body = s->reply;
		reply->body_len = (size_t)n;
		return;
	}
	reply->status = 404;
}

static struct fakehttp *start_imds(struct imds_fake *s)
{
	struct fakehttp *srv = NULL;
	char url[64];

	assert_int_equal(fakehttp_start(imds_handler, s, &srv), 0);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/", fakehttp_port(srv));
	setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", url, 1);
	unsetenv("AWS_EC2_METADATA_DISABLED");
	return srv;
}

static void test_imds(void **state)
{
	struct imds_fake s = { .exp_offset = 6 * 3600 };
	struct creds_provider *p = NULL;
	struct fakehttp *srv = start_imds(&s);
	struct creds_options o = { 0 };
	struct creds c;

	assert_int_equal(creds_provider_new(&o, &p), 0);
	assert_int_equal(creds_get(p, &c), 0);
	assert_string_equal(c.access_key, "ASIAIMDS");
	assert_string_equal(c.secret_key, "imdssecret");
	assert_string_equal(c.session_token, "imdstoken");
	assert_true(c.expiration > time(NULL) + 5 * 3600);
	creds_clear(&c);
	assert_string_equal(creds_source(p), "instance metadata (role test-role)");
	creds_provider_free(p);
	assert_true(s.put_first);
	assert_false(s.bad_ttl);
	assert_int_equal(s.puts, 1);
	assert_int_equal(s.unauthorized, 0);
	assert_int_equal(fakehttp_requests(srv), 3);

	/* The fake does refuse a GET without the token. */
	{
		struct http_request r = { .method = "GET" };
		struct http_response resp;
		char url[128];

		snprintf(url, sizeof(url), "http://127.0.0.1:%d/latest/meta-data/iam/"
			 "security-credentials/", fakehttp_port(srv));
		r.url = url;
		assert_int_equal(http_perform(&r, &resp), 0);
		assert_int_equal(resp.status, 401);
		http_response_free(&resp);
		assert_int_equal(s.unauthorized, 1);
	}

	/* opts->no_imds and AWS_EC2_METADATA_DISABLED turn it off. */
	o.no_imds = true;
	assert_int_equal(get(&o, &c), -ENOKEY);
	o.no_imds = false;
	setenv("AWS_EC2_METADATA_DISABLED", "true", 1);
	assert_int_equal(get(&o, &c), -ENOKEY);
	assert_int_equal(fakehttp_requests(srv), 4);
	unsetenv("AWS_EC2_METADATA_DISABLED");

	/* No role attached to the instance: no credentials, no error. */
	s.no_role = true;
	assert_int_equal(get(&o, &c), -ENOKEY);
	s.no_role = false;

	/* A broken credentials document is an error. */
	s.creds_status = 500;
	assert_int_equal(get(&o, &c), -EIO);
	fakehttp_stop(srv);
}

static void test_refresh(void **state)
{
	struct imds_fake s = { .exp_offset = 120 };
	struct creds_provider *p = NULL;
	struct fakehttp *srv = start_imds(&s);
	struct creds c;
	unsigned n;

	/* Two minutes left: each creds_get fetches again. */
	assert_int_equal(creds_provider_new(NULL, &p), 0);
	assert_int_equal(creds_get(p, &c), 0);
	creds_clear(&c);
	n = fakehttp_requests(srv);
	assert_int_equal(n, 3);
	snprintf(s.akid, sizeof(s.akid), "ASIANEWER");
	assert_int_equal(creds_get(p, &c), 0);
	assert_string_equal(c.access_key, "ASIANEWER");
	creds_clear(&c);
	assert_int_equal(fakehttp_requests(srv), 2 * n);

	/* A failed refresh while the old ones still hold keeps them. */
	s.creds_status = 500;
	assert_int_equal(creds_get(p, &c), 0);
	assert_string_equal(c.access_key, "ASIANEWER");
	creds_clear(&c);
	assert_int_equal(fakehttp_requests(srv), 3 * n);
	/* ... and does not hammer the source right away. */
	assert_int_equal(creds_get(p, &c), 0);
	creds_clear(&c);
	assert_int_equal(fakehttp_requests(srv), 3 * n);
	creds_provider_free(p);

	/* An hour left: no fetch until much later. */
	s.creds_status = 0;
	s.exp_offset = 3600;
	assert_int_equal(creds_provider_new(NULL, &p), 0);
	for (int i = 0; i < 5; i++) {
		assert_int_equal(creds_get(p, &c), 0);
		creds_clear(&c);
	}
	assert_int_equal(fakehttp_requests(srv), 4 * n);
	creds_provider_free(p);
	fakehttp_stop(srv);
}

struct getter {
	struct creds_provider *p;
	int rc;
};

static void *getter_thread(void *arg)
{
	struct getter *g = arg;
	struct creds c;

	g->rc = creds_get(g->p, &c);
	if (g->rc == 0 && strcmp(c.access_key, "ASIAIMDS") != 0)
		g->rc = -EINVAL;
	creds_clear(&c);
	http_thread_cleanup();
	return NULL;
}

/* Threads asking at once share one fetch. */
static void test_threads(void **state)
{
	struct imds_fake s = { .exp_offset = 3600 };
	struct fakehttp *srv = start_imds(&s);
	struct creds_provider *p = NULL;
	struct getter g[8];
	pthread_t t[8];

	assert_int_equal(creds_provider_new(NULL, &p), 0);
	for (int i = 0; i < 8; i++) {
		g[i].p = p;
		assert_int_equal(pthread_create(&t[i], NULL, getter_thread, &g[i]), 0);
	}
	for (int i = 0; i < 8; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(g[i].rc, 0);
	}
	assert_int_equal(fakehttp_requests(srv), 3);
	creds_provider_free(p);
	fakehttp_stop(srv);
}

/* ------------------------------------------------------------------ */
/* the chain as a whole */

static void test_precedence(void **state)
{
	struct fixture *f = *state;
	struct imds_fake s = { .exp_offset = 3600 };
	struct fakehttp *srv = start_imds(&s);
	char path[256];
	struct creds c;

	setenv("AWS_ACCESS_KEY_ID", "AKIDENV", 1);
	setenv("AWS_SECRET_ACCESS_KEY", "envsecret", 1);
	write_file(f, ".aws/credentials", 0600, path, sizeof(path),
		   "[default]\naws_access_key_id=AKIDPROFILE\naws_secret_access_key=s\n");

	assert_int_equal(get(NULL, &c), 0);
	assert_string_equal(c.access_key, "AKIDENV");
	creds_clear(&c);
	assert_int_equal(fakehttp_requests(srv), 0);

	unsetenv("AWS_ACCESS_KEY_ID");
	unsetenv("AWS_SECRET_ACCESS_KEY");
	assert_int_equal(get(NULL, &c), 0);
	assert_string_equal(c.access_key, "AKIDPROFILE");
	creds_clear(&c);
	assert_int_equal(fakehttp_requests(srv), 0);

	unlink(path);
	assert_int_equal(get(NULL, &c), 0);
	assert_string_equal(c.access_key, "ASIAIMDS");
	creds_clear(&c);
	assert_int_equal(fakehttp_requests(srv), 3);
	fakehttp_stop(srv);
}

static void test_no_credentials(void **state)
{
	struct creds_provider *p = NULL;
	char url[64];
	struct creds c;

	snprintf(url, sizeof(url), "http://127.0.0.1:%d", closed_port());
	setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", url, 1);
	unsetenv("AWS_EC2_METADATA_DISABLED");
	assert_int_equal(creds_provider_new(NULL, &p), 0);
	assert_int_equal(creds_get(p, &c), -ENOKEY);
	assert_null(c.access_key);
	assert_string_equal(creds_source(p), "none");
	creds_provider_free(p);
}

static void test_region(void **state)
{
	struct fixture *f = *state;
	char path[256], *r;

	assert_null(creds_region(NULL));
	write_file(f, ".aws/config", 0600, path, sizeof(path),
		   "[default]\nregion = eu-central-1\nendpoint_url = http://localhost:4566\n"
		   "[profile west]\nregion=us-west-2\n");
	r = creds_region(NULL);
	assert_string_equal(r, "eu-central-1");
	free(r);
	r = creds_region("west");
	assert_string_equal(r, "us-west-2");
	free(r);
	setenv("AWS_PROFILE", "west", 1);
	r = creds_region(NULL);
	assert_string_equal(r, "us-west-2");
	free(r);
	assert_null(creds_region("nosuch"));

	setenv("AWS_DEFAULT_REGION", "ap-south-1", 1);
	r = creds_region("west");
	assert_string_equal(r, "ap-south-1");
	free(r);
	setenv("AWS_REGION", "sa-east-1", 1);
	r = creds_region("west");
	assert_string_equal(r, "sa-east-1");
	free(r);

	r = creds_profile_value(NULL, "endpoint_url");
	assert_null(r); /* AWS_PROFILE=west has none */
	unsetenv("AWS_PROFILE");
	r = creds_profile_value(NULL, "endpoint_url");
	assert_string_equal(r, "http://localhost:4566");
	free(r);
	assert_null(creds_profile_value(NULL, "nothing"));
}

/* Secrets never reach the log, even at debug level. */
static void test_no_secrets_in_log(void **state)
{
	struct fixture *f = *state;
	struct imds_fake s = { .exp_offset = 3600 };
	struct fakehttp *srv = start_imds(&s);
	char logpath[256], path[256], *text = NULL;
	struct creds c;
	size_t len;
	enum log_level level = log_get_level();
	int saved, fd;

	snprintf(logpath, sizeof(logpath), "%s/log", f->dir);
	fflush(stderr);
	saved = dup(2);
	fd = open(logpath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(saved >= 0 && fd >= 0);
	dup2(fd, 2);
	close(fd);
	log_set_level(LOG_LVL_DEBUG);

	assert_int_equal(get(NULL, &c), 0); /* IMDS */
	creds_clear(&c);
	write_process_config(f, "echo '{\"Version\":1,\"AccessKeyId\":\"AKIDPROC\","
				"\"SecretAccessKey\":\"procsecret\"}'\n");
	assert_int_equal(get(NULL, &c), 0);
	creds_clear(&c);
	write_file(f, "passwd", 0644, path, sizeof(path), "AKIDPW:pwsecret\n");
	{
		struct creds_options o = { .passwd_file = path };

		assert_int_equal(get(&o, &c), -EACCES);
	}

	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	log_set_level(level);
	fakehttp_stop(srv);

	assert_int_equal(util_read_file(logpath, 1 << 20, &text, &len), 0);
	assert_non_null(strstr(text, "instance metadata (role test-role)"));
	assert_non_null(strstr(text, "credential_process"));
	assert_non_null(strstr(text, "passwd_file"));
	assert_null(strstr(text, "imdssecret"));
	assert_null(strstr(text, "imdstoken"));
	assert_null(strstr(text, IMDS_TOKEN));
	assert_null(strstr(text, "procsecret"));
	assert_null(strstr(text, "pwsecret"));
	free(text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_env, setup, teardown),
		cmocka_unit_test_setup_teardown(test_passwd_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_passwd_file_bucket, setup, teardown),
		cmocka_unit_test_setup_teardown(test_passwd_file_bad_mode, setup, teardown),
		cmocka_unit_test_setup_teardown(test_profile_credentials_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_profile_config_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_profile_precedence, setup, teardown),
		cmocka_unit_test_setup_teardown(test_process, setup, teardown),
		cmocka_unit_test_setup_teardown(test_process_failures, setup, teardown),
		cmocka_unit_test_setup_teardown(test_process_refresh, setup, teardown),
		cmocka_unit_test_setup_teardown(test_web_identity, setup, teardown),
		cmocka_unit_test_setup_teardown(test_container, setup, teardown),
		cmocka_unit_test_setup_teardown(test_imds, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refresh, setup, teardown),
		cmocka_unit_test_setup_teardown(test_threads, setup, teardown),
		cmocka_unit_test_setup_teardown(test_precedence, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_credentials, setup, teardown),
		cmocka_unit_test_setup_teardown(test_region, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_secrets_in_log, setup, teardown),
	};
	static const char *const proxies[] = {
		"http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY",
	};
	int rc;

	/* Talk to 127.0.0.1 directly, whatever the caller's proxy. */
	for (size_t i = 0; i < sizeof(proxies) / sizeof(proxies[0]); i++)
		unsetenv(proxies[i]);
	log_init(1, getenv("TEST_CREDS_VERBOSE") ? LOG_LVL_DEBUG : LOG_LVL_ERROR);
	if (http_global_init(NULL) != 0)
		return 1;
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	http_global_cleanup();
	return rc;
}

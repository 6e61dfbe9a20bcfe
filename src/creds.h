/*
 * creds: the AWS CLI's credential chain, cached and refreshed.
 *
 * Sources, first that answers: environment (AWS_ACCESS_KEY_ID...), an
 * s3fs-style passwd_file (when given explicitly), the profile in
 * ~/.aws/credentials and ~/.aws/config (static keys or credential_process),
 * web identity (AWS_WEB_IDENTITY_TOKEN_FILE + AWS_ROLE_ARN through STS
 * AssumeRoleWithWebIdentity), container credentials
 * (AWS_CONTAINER_CREDENTIALS_RELATIVE_URI / _FULL_URI) and the EC2 instance
 * role through IMDSv2. Temporary credentials are refreshed a few minutes
 * before they expire. Thread-safe: every function may be called from any
 * thread. Secrets never reach the log.
 */
#ifndef AWSFS_CREDS_H
#define AWSFS_CREDS_H

#include <stdbool.h>
#include <time.h>

struct creds {
	char *access_key;
	char *secret_key;
	char *session_token; /* NULL for long-term keys */
	time_t expiration;   /* 0: does not expire */
};

struct creds_options {
	const char *profile;       /* NULL: AWS_PROFILE or "default" */
	const char *passwd_file;   /* s3fs-style "AKID:SECRET" file, or NULL */
	const char *sts_endpoint;  /* NULL: AWS_ENDPOINT_URL_STS, AWS_ENDPOINT_URL,
				    * or https://sts.<region>.amazonaws.com */
	const char *region;        /* region for STS */
	bool no_imds;              /* skip the instance metadata service */
};

struct creds_provider;

/* Build the chain. Looks nothing up yet. Caller frees with creds_provider_free. */
int creds_provider_new(const struct creds_options *opts, struct creds_provider **out);
void creds_provider_free(struct creds_provider *p);

/*
 * Current credentials, fetching or refreshing them when needed. On success
 * *out holds copies the caller must release with creds_clear(). Returns 0,
 * -ENOKEY when no source has credentials, -EACCES when a source refused,
 * -EIO when a source could not be reached, -ENOMEM.
 */
int creds_get(struct creds_provider *p, struct creds *out);

/* Human description of where the credentials came from ("environment",
 * "profile dev in /root/.aws/credentials", "instance metadata"...), or
 * "none" before the first successful creds_get. Never contains a secret.
 * The string lives as long as the provider. */
const char *creds_source(struct creds_provider *p);

/* Wipe and free the strings in c. */
void creds_clear(struct creds *c);

/*
 * The AWS CLI's region chain: AWS_REGION, AWS_DEFAULT_REGION, the profile's
 * "region" in ~/.aws/config, else NULL. Caller frees. profile as above.
 */
char *creds_region(const char *profile);

/*
 * A value of the profile from ~/.aws/config (AWS_CONFIG_FILE), e.g.
 * "endpoint_url". Caller frees; NULL when absent.
 */
char *creds_profile_value(const char *profile, const char *key);

#endif

/*
 * ssm: SSM Parameter Store as files, MNT/ssm/<path...>.
 *
 * A parameter's name is its path: /app/prod/db_url is ssm/app/prod/db_url,
 * and a name without slashes (foo, which SSM also stores for /foo) is
 * ssm/foo. Folders are the names' segments. When a name is both a
 * parameter and a folder (/app/db and /app/db/user), the folder keeps the
 * name and the parameter shows as app/db@. x@3 and x@label read version 3
 * or a labelled version; they are never listed.
 *
 * The tree comes from one DescribeParameters listing of everything (50 a
 * page, every page), kept as a snapshot for the ssm TTL. Values are
 * fetched on open, WithDecryption: a String or StringList with up to 9 of
 * the nearest in its folder (GetParameters), kept in memory for the ssm TTL
 * while the snapshot names their version; a SecureString alone
 * (GetParameter), held in memory only for as long as the file is open.
 * Writing is PutParameter at close, keeping an existing parameter's type;
 * rm is DeleteParameter; mkdir makes a folder that lives until the next
 * listing after ssm_ttl or until something is written into it.
 */
#ifndef AWSFS_SSM_H
#define AWSFS_SSM_H

#include "aws.h"
#include "backend.h"
#include "fs.h"

struct ssm_options {
	const char *new_type; /* type of new parameters: "String" (NULL), "StringList",
			       * "SecureString" */
	const char *kms_key;  /* KeyId for new SecureStrings; NULL: the account's default */
};

/* Make the backend. client and cfg (and its cache, which sets how long a
 * listing is trusted: the ssm TTL) must outlive it; opts is copied.
 * 0, -EINVAL (unknown new_type) or -ENOMEM. */
int ssm_new(struct aws_client *client, const struct fs_config *cfg, const struct ssm_options *opts,
	    struct backend *out);

/*
 * Name mapping, exposed for unit tests.
 *
 * ssm_key_of_name: the path below ssm/ of an SSM name ("/a/b" -> "a/b",
 * "foo" and "/foo" -> "foo"). -EINVAL for a name that has no place in the
 * tree (an empty segment, "." or "..", '@', a segment longer than NAME_MAX,
 * or a slash without a leading one, which AWS refuses anyway). Caller frees
 * *key.
 * ssm_name_of_key: the reverse ("a/b" -> "/a/b", "foo" -> "foo").
 * ssm_check_new_name: 0 when AWS would accept key as the name of a new
 * parameter (levels: 15 at most; a folder needs room for one more), else
 * -EINVAL or -ENAMETOOLONG.
 */
int ssm_key_of_name(const char *name, char **key);
char *ssm_name_of_key(const char *key);
int ssm_check_new_name(const char *key, int levels_below);

#endif

/*
 * s3: the S3 backend, MNT/s3/<bucket>/<key...>.
 *
 * So far: the bucket list (ListBuckets, every page). Objects come with the
 * S3 issue; until then a bucket's contents answer ENOSYS.
 */
#ifndef AWSFS_S3_H
#define AWSFS_S3_H

#include "aws.h"
#include "backend.h"
#include "fs.h"

/* Make the backend. client and cfg must outlive it. */
int s3_new(struct aws_client *client, const struct fs_config *cfg, struct backend *out);

#endif

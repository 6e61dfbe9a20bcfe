/*
 * control: MNT/.awsfs/, awsfs's own status files.
 *
 *   version   "awsfs VERSION"
 *   stats     JSON counters (stats.h)
 *   config    the options in force, key=value, never a secret
 *   invalidate  write-only: each line a path or pattern (CloudFront's:
 *             a trailing '*' takes everything below) dropped from every
 *             cache layer at close
 *
 * Each open of a readable file takes a snapshot that reads consistently.
 */
#ifndef AWSFS_CONTROL_H
#define AWSFS_CONTROL_H

#include "backend.h"
#include "fs.h"

/*
 * Make the backend. config_text is copied (what .awsfs/config shows);
 * cfg (owner, umask) must outlive the backend.
 */
int control_new(const struct fs_config *cfg, const char *config_text, struct backend *out);

#endif

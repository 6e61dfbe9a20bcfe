/*
 * sqs: the SQS backend, MNT/sqs/<queue>/... (JSON protocol, AmazonSQS.*).
 *
 *   sqs/                       ListQueues (every page); mkdir = CreateQueue
 *                              (NAME.fifo: a FIFO queue), rmdir = DeleteQueue
 *                              of a queue holding no message (else ENOTEMPTY)
 *   sqs/Q/attributes.json      GetQueueAttributes All, read-only
 *   sqs/Q/send                 write-only: each close after writes sends one
 *                              message holding exactly the bytes written
 *   sqs/Q/send-lines           write-only: one message per line, SendMessageBatch
 *   sqs/Q/messages/            listing receives; files named by MessageId;
 *                              rm = DeleteMessage (the acknowledgement)
 *
 * Received messages are held in memory per queue (at most receive_max) until
 * they are removed or their visibility timeout ends, when they leave the
 * folder (they are back in the queue). Thread-safe.
 */
#ifndef AWSFS_SQS_H
#define AWSFS_SQS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "aws.h"
#include "backend.h"
#include "fs.h"

#define SQS_DEFAULT_RECEIVE_MAX 100
#define SQS_DEFAULT_GROUP "awsfs"

struct sqs_options {
	size_t receive_max; /* messages a listing holds; 0: SQS_DEFAULT_RECEIVE_MAX */
	const char *group;  /* MessageGroupId for FIFO queues; NULL: SQS_DEFAULT_GROUP */
};

/* Make the backend. client and cfg must outlive it; opts' strings are
 * copied. 0 or -ENOMEM. */
int sqs_new(struct aws_client *client, const struct fs_config *cfg,
	    const struct sqs_options *opts, struct backend *out);

/* Test hook: the monotonic clock (ms) for visibility timeouts and TTLs;
 * NULL restores the real one. b must come from sqs_new. */
void sqs_set_clock(struct backend *b, uint64_t (*clock)(void));

/* A queue name SQS accepts: 1-80 of [A-Za-z0-9_-], a FIFO queue's ending in
 * ".fifo" (counted in the 80). */
bool sqs_name_valid(const char *name);
/* The queue name of a queue URL (its last path segment), or NULL when the
 * URL has none. Points into url. */
const char *sqs_name_of_url(const char *url, size_t *len);
/* A body SQS accepts: valid UTF-8 of #x9, #xA, #xD, #x20-#xD7FF,
 * #xE000-#xFFFD and #x10000-#x10FFFF only. */
bool sqs_body_valid(const char *body, size_t len);

#endif

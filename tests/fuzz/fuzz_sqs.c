/*
 * fuzz_sqs: the SQS backend (src/sqs.c) on hostile answers, and its
 * small parsers.
 *
 * First byte, low bit 0: fuzz_walk lists sqs/ (ListQueues pages), each
 * queue, attributes.json (GetQueueAttributes) and messages/
 * (ReceiveMessage), reading every message; bit 1 then writes a message to
 * MyQueue/send (SendMessage at close), bit 2 to MyQueue/send-lines
 * (SendMessageBatch, one message a line). Queue URLs without a name,
 * MessageIds like "../x", bodies that are not UTF-8, receipt handles of a
 * megabyte: nothing may crash, leak, or reach a listing as a name the
 * kernel refuses.
 * Low bit 1: the rest is a queue URL, a name and a body for
 * sqs_name_of_url, sqs_name_valid and sqs_body_valid (lines).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "sqs.h"

#define MAX_ATTEMPTS 2

static uint64_t fake_clock(void)
{
	return 1000000;
}

static void run_backend(const uint8_t *data, size_t size, uint8_t flags)
{
	static const char one[] = "one message, with \"quotes\" and \xc3\xa9\n";
	static const char lines[] = "first line\nsecond \xff line\n\nlast\n";
	struct sqs_options o = { .receive_max = 20 };
	struct fuzz_walk_opts wo = { .xattr = NULL };
	struct fuzz_env env;
	struct backend be;

	if (flags & 2) {
		wo.data = one;
		wo.data_len = sizeof(one) - 1;
		wo.write_path = "MyQueue/send";
	} else if (flags & 4) {
		wo.data = lines;
		wo.data_len = sizeof(lines) - 1;
		wo.write_path = "MyQueue/send-lines";
	}
	fuzz_env_init(&env, MAX_ATTEMPTS);
	FUZZ_CHECK(sqs_new(env.client, &env.cfg, &o, &be) == 0);
	sqs_set_clock(&be, fake_clock);
	fuzz_net_load(data, size);
	fuzz_walk(&be, &wo);
	be.ops->destroy(be.be);
	fuzz_net_reset();
	fuzz_env_free(&env);
}

static void run_parsers(const uint8_t *data, size_t size)
{
	char *text = fuzz_cstr(data, size), *lines[3] = { NULL, NULL, NULL };
	size_t n = fuzz_split(text, '\n', lines, 3), len = 0;
	const char *name = n > 0 ? sqs_name_of_url(lines[0], &len) : NULL;

	if (name) {
		/* A name is a piece of the URL with no '/' in it. */
		FUZZ_CHECK(name >= lines[0] && name + len <= lines[0] + strlen(lines[0]));
		FUZZ_CHECK(!memchr(name, '/', len));
	}
	if (n > 1 && sqs_name_valid(lines[1])) {
		size_t l = strlen(lines[1]);

		FUZZ_CHECK(l >= 1 && l <= 80 && !strchr(lines[1], '/') && strcmp(lines[1], ".") &&
			   strcmp(lines[1], ".."));
	}
	if (n > 2)
		(void)sqs_body_valid(lines[2], strlen(lines[2]));
	/* The whole input as a body, NULs included. */
	(void)sqs_body_valid((const char *)data, size);
	free(text);
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_init();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	if (data[0] & 1)
		run_parsers(data + 1, size - 1);
	else
		run_backend(data + 1, size - 1, data[0]);
	return 0;
}

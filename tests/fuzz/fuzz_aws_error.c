/*
 * fuzz_aws_error: aws_parse_error on any error answer of any service.
 *
 * Input: one byte choosing the service, then one answer in the text form
 * of fuzz.h (status line, header lines, empty line, body): S3 and query
 * XML error documents, JSON __type/code/message bodies, x-amzn-query-error
 * and x-amzn-errortype headers, request id headers. Checks every field
 * stays a terminated string within its array and that aws_errno_for maps
 * the result to one of SPEC.md's errnos.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "aws.h"
#include "fuzz.h"

/* The errnos SPEC.md's table uses. */
static const int spec_errnos[] = {
	ENOENT, EACCES, ENOTEMPTY, EFBIG, EINVAL, ENAMETOOLONG, EEXIST, EBUSY,
	ENOSPC, EDQUOT, EAGAIN, EIO,
};

static bool known_errno(int e)
{
	for (size_t i = 0; i < sizeof(spec_errnos) / sizeof(spec_errnos[0]); i++)
		if (e == -spec_errnos[i])
			return true;
	return false;
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
	struct fuzz_reply *r;
	struct aws_response resp;
	enum aws_service svc;
	int rc;

	if (size < 1)
		return 0;
	svc = (enum aws_service)(data[0] % AWS_SVC_COUNT);
	r = calloc(1, sizeof(*r));
	if (!r)
		abort();
	fuzz_parse_reply((const char *)data + 1, size - 1, r);
	memset(&resp, 0, sizeof(resp));
	/* Error answers are collected whole, under aws.c's 16 MiB cap. */
	rc = fuzz_fill_response(r, 0, NULL, NULL, &resp.http);
	if (rc == 0) {
		resp.status = resp.http.status;
		aws_parse_error(svc, &resp);
		FUZZ_CHECK(memchr(resp.code, '\0', sizeof(resp.code)));
		FUZZ_CHECK(memchr(resp.message, '\0', sizeof(resp.message)));
		FUZZ_CHECK(memchr(resp.request_id, '\0', sizeof(resp.request_id)));
		FUZZ_CHECK(known_errno(aws_errno_for(resp.code, resp.status)));
		/* Parsing twice gives the same: no state is kept between calls. */
		{
			struct aws_response again = resp;

			memset(again.code, 0, sizeof(again.code));
			memset(again.message, 0, sizeof(again.message));
			memset(again.request_id, 0, sizeof(again.request_id));
			aws_parse_error(svc, &again);
			FUZZ_CHECK(strcmp(again.code, resp.code) == 0);
			FUZZ_CHECK(strcmp(again.message, resp.message) == 0);
			FUZZ_CHECK(strcmp(again.request_id, resp.request_id) == 0);
		}
	}
	aws_response_free(&resp);
	free(r);
	return 0;
}

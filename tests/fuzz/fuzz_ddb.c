/*
 * fuzz_ddb: the DynamoDB backend (src/ddb.c) on hostile answers.
 *
 * fuzz_walk lists dynamodb/ (ListTables pages), each table (DescribeTable,
 * Scan pages), partitions (Query), reads .table.json and items (GetItem),
 * with answers from the input (fuzz.h). First byte: bit 0 the typed view,
 * bit 1 write an item over the first file (PutItem at close), bit 2 make
 * that write bad JSON. Item keys that cannot be file names, tables named
 * "..", numbers of 40 digits, sets of the wrong type, LastEvaluatedKeys
 * that go round: nothing may crash, leak, or reach a listing as a name the
 * kernel refuses.
 */
#include <stdint.h>
#include <string.h>

#include "ddb.h"
#include "fuzz.h"

#define MAX_ATTEMPTS 2

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_init();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char plain[] = "{\"id\": \"a/1%\", \"n\": 12345678901234567890123456789012345678,"
				    " \"tags\": [\"x\", \"y\"], \"m\": {\"b\": true, \"z\": null}}\n";
	static const char typed[] = "{\"id\": {\"S\": \"a/1%\"}, \"n\": {\"N\": \"-1E+125\"},"
				    " \"s\": {\"SS\": [\"x\", \"y\"]}, \"b\": {\"B\": \"AAEC\"}}\n";
	static const char bad[] = "{\"id\": \"a1\", \"n\": 1e400, \"x\": [1, \n";
	struct ddb_options o = { .scan_segments = 1, .list_max = 200 };
	struct fuzz_walk_opts wo = { .xattr = NULL };
	struct fuzz_env env;
	struct backend be;

	if (size < 1)
		return 0;
	o.view = data[0] & 1 ? DDBJSON_TYPED : DDBJSON_PLAIN;
	if (data[0] & 2) {
		const char *d = data[0] & 4 ? bad : o.view == DDBJSON_TYPED ? typed : plain;

		wo.data = d;
		wo.data_len = strlen(d);
	}
	fuzz_env_init(&env, MAX_ATTEMPTS);
	FUZZ_CHECK(ddb_new(env.client, &env.cfg, &o, &be) == 0);
	fuzz_net_load(data + 1, size - 1);
	fuzz_walk(&be, &wo);
	be.ops->destroy(be.be);
	fuzz_net_reset();
	fuzz_env_free(&env);
	return 0;
}

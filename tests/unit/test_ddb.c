/*
 * ddb: how many Scan segments a table listing takes when ddb_scan_segments
 * is automatic (ddb_scan_segments_for). The rest of the backend is tested
 * through real mounts in tests/integration/test_dynamodb.py.
 */
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "ddb.h"

#define MB (1ll << 20)
#define GB (1ll << 30)
#define MAX DDB_AUTO_SCAN_SEGMENTS_MAX
#define LIST_MAX DDB_DEFAULT_LIST_MAX

static void test_small_tables_take_one_segment(void **state)
{
	(void)state;
	/* The benchmark's table: 5,000 items of ~45 bytes. */
	assert_int_equal(ddb_scan_segments_for(225000, 5000, LIST_MAX, MAX), 1);
	assert_int_equal(ddb_scan_segments_for(1, 1, LIST_MAX, MAX), 1);
	assert_int_equal(ddb_scan_segments_for(DDB_SCAN_SEGMENT_BYTES - 1, 4000, LIST_MAX, MAX),
			 1);
}

static void test_unknown_size_takes_one_segment(void **state)
{
	(void)state;
	/* A new table (AWS updates the figures every ~6 h), or an emulator
	 * that always says 0 (moto), or nonsense. */
	assert_int_equal(ddb_scan_segments_for(0, 0, LIST_MAX, MAX), 1);
	assert_int_equal(ddb_scan_segments_for(0, 5000, LIST_MAX, MAX), 1);
	assert_int_equal(ddb_scan_segments_for(-1, -1, LIST_MAX, MAX), 1);
}

static void test_segments_grow_with_size_up_to_max(void **state)
{
	(void)state;
	assert_int_equal(ddb_scan_segments_for(DDB_SCAN_SEGMENT_BYTES, 4000, LIST_MAX, MAX), 2);
	assert_int_equal(ddb_scan_segments_for(2 * DDB_SCAN_SEGMENT_BYTES, 8000, LIST_MAX, MAX),
			 3);
	assert_int_equal(ddb_scan_segments_for(3 * DDB_SCAN_SEGMENT_BYTES, 9000, LIST_MAX, MAX),
			 MAX);
	assert_int_equal(ddb_scan_segments_for(30 * GB, 9000, LIST_MAX, MAX), MAX);
	assert_int_equal(ddb_scan_segments_for(30 * GB, 9000, LIST_MAX, 2), 2);
	assert_int_equal(ddb_scan_segments_for(30 * GB, 9000, LIST_MAX, 0), 1);
	assert_int_equal(ddb_scan_segments_for(LLONG_MAX, LLONG_MAX, (size_t)-1, 64), 64);
}

static void test_only_the_part_the_listing_reads_counts(void **state)
{
	(void)state;
	/* 100 GB in a billion 100-byte items: a 10,000-item listing reads ~1 MB. */
	assert_int_equal(ddb_scan_segments_for(100 * GB, 1000000000, LIST_MAX, MAX), 1);
	/* 10,000 items of 4 KB (~40 MB read): all segments... */
	assert_int_equal(ddb_scan_segments_for(40 * MB * 100, 1000000, LIST_MAX, MAX), MAX);
	/* ...but a listing cut at 1,000 of them reads ~4 MB: two. */
	assert_int_equal(ddb_scan_segments_for(40 * MB * 100, 1000000, 1000, MAX), 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_small_tables_take_one_segment),
		cmocka_unit_test(test_unknown_size_takes_one_segment),
		cmocka_unit_test(test_segments_grow_with_size_up_to_max),
		cmocka_unit_test(test_only_the_part_the_listing_reads_counts),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

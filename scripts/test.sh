#!/usr/bin/env bash
# Install what is needed, build awsfs and run every test:
#   1. scripts/install-deps.sh
#   2. autoreconf -fi; configure --enable-werror in build/; make
#   3. make check: the unit tests (cmocka)
#   4. the integration tests: pytest under /usr/bin/python3; the fixtures
#      start moto on loopback and mount build/awsfs through a signature-
#      checking proxy
#   5. with AWSFS_TEST_ASAN=1 (CI's default): 2-4 again with ASan+UBSan in
#      build-asan/, and every daemon log checked for sanitizer reports
#   6. with AWSFS_TEST_VALGRIND=1: the unit tests of build/ again under
#      valgrind (make check-valgrind: any invalid access or definite leak
#      fails)
#   7. with AWSFS_TEST_FUZZ=1: the libFuzzer targets built in build-fuzz/
#      (clang, --enable-fuzzing), their regressions replayed and each fuzzed
#      for FUZZ_SECONDS (scripts/fuzz.sh); each target counts as one test
# and ends with one line "N passed, N failed" (unit tests counted one by
# one from cmocka's output, plus pytest's counts). Exits non-zero when
# anything failed or when no test ran.
#
# Environment: AWSFS_TEST_ASAN (0/1, default 1), AWSFS_TEST_VALGRIND (0/1,
# default 0), AWSFS_TEST_FUZZ (0/1, default 0), FUZZ_SECONDS (per fuzz
# target, default 30), AWSFS_JOBS (make -j, 2),
# AWSFS_PYTEST_ARGS (extra pytest words, e.g. "-x"; for quoted ones use
# pytest's own PYTEST_ADDOPTS="-k 'sigterm or version'"),
# AWSFS_KEEP_TEST_DIR=1 keeps the scratch folder (logs) even on success.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
ROOT=$(pwd)
AWSFS_SCRIPT="test"
. scripts/lib.sh

ASAN=${AWSFS_TEST_ASAN:-1}
VALGRIND=${AWSFS_TEST_VALGRIND:-0}
FUZZ=${AWSFS_TEST_FUZZ:-0}
PYTHON=/usr/bin/python3
WORK=$(mktemp -d /tmp/awsfs-test.XXXXXX)
PIDFILE=$WORK/pids
: >"$PIDFILE"
PASSED=0
FAILED=0
NOTES=()

# End what the tests left (mounts below $WORK, processes they started).
# Quiet, idempotent; runs before the summary and again from the EXIT trap.
tidy() {
	unmount_below "$WORK"
	kill_pidfile "$PIDFILE"
	unmount_below "$WORK"
}

cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	tidy >/dev/null 2>&1
	if [ "$rc" -eq 0 ] && [ -z "${AWSFS_KEEP_TEST_DIR:-}" ]; then
		rm -rf --one-file-system "$WORK"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'echo "test: interrupted" >&2; exit 130' INT TERM

fail_step() { # a step that failed outside any test runner counts as one failure
	FAILED=$((FAILED + 1))
	NOTES+=("FAILED: $*")
	echo "test: FAILED: $*" >&2
}

# Sum cmocka's per-test results of the unit test logs in DIR/tests/unit.
# A program that failed without a cmocka summary (crash, abort) counts as one
# failed test. Prints "passed failed".
count_unit() {
	local dir=$1 trs log res p f np nf
	np=0
	nf=0
	for trs in "$dir"/tests/unit/*.trs; do
		[ -e "$trs" ] || continue
		log=${trs%.trs}.log
		res=$(sed -n 's/^:test-result: //p' "$trs" | head -n 1)
		p=$(sed -n 's/^\[  PASSED  \] \([0-9][0-9]*\) test(s)\..*/\1/p' "$log" | awk '{s+=$1} END {print s+0}')
		f=$(sed -n 's/^\[  FAILED  \] \([0-9][0-9]*\) test(s), listed below:.*/\1/p' "$log" | awk '{s+=$1} END {print s+0}')
		case $res in
		FAIL | ERROR | XPASS) [ "$f" -eq 0 ] && f=1 ;;
		SKIP) echo "test: skipped: $(basename "${trs%.trs}"): $(tail -n 1 "$log")" >&2 ;;
		esac
		np=$((np + p))
		nf=$((nf + f))
	done
	echo "$np $nf"
}

# Run make check (or TARGET) in DIR; add the unit counts.
unit_tests() {
	local dir=$1 label=$2 target=${3:-check} rc=0 counts p f
	echo "test: unit tests ($label)"
	rm -f "$dir"/tests/unit/*.trs # no stale results if make stops early
	(cd "$dir" && make -j"${AWSFS_JOBS:-2}" "$target" >"$WORK/check-$label.log" 2>&1) || rc=$?
	grep -E '^(PASS|FAIL|SKIP|ERROR|XFAIL|XPASS):' "$WORK/check-$label.log" || true
	counts=$(count_unit "$dir")
	p=${counts% *}
	f=${counts#* }
	if [ "$rc" -ne 0 ]; then
		echo "---- $dir/test-suite.log ----"
		if [ -f "$dir/test-suite.log" ]; then cat "$dir/test-suite.log"; else tail -n 60 "$WORK/check-$label.log"; fi
		echo "----"
		[ "$f" -eq 0 ] && f=1 # make check failed (build of a test, ...)
	fi
	echo "test: unit ($label): $p passed, $f failed"
	PASSED=$((PASSED + p))
	FAILED=$((FAILED + f))
}

# Run the integration tests against BIN; add pytest's counts.
integration_tests() {
	local bin=$1 label=$2 rc=0 junit counts p f
	junit=$WORK/junit-$label.xml
	echo "test: integration tests ($label, $bin)"
	# shellcheck disable=SC2086
	AWSFS_BIN=$bin AWSFS_TEST_PIDFILE=$PIDFILE AWSFS_TEST_LOGDIR=$WORK/logs-$label \
		"$PYTHON" -m pytest -q -p no:cacheprovider --basetemp="$WORK/pytest-$label" \
		--junitxml="$junit" ${AWSFS_PYTEST_ARGS:-} tests/integration </dev/null || rc=$?
	unmount_below "$WORK"
	if [ ! -f "$junit" ]; then
		fail_step "pytest ($label) ended with $rc and no report"
		return
	fi
	counts=$("$PYTHON" - "$junit" <<'EOF'
import sys
import xml.etree.ElementTree as ET
# One test per (classname, name): pytest writes a second <testcase> for an
# error in the teardown of a test that failed.
state = {}
for case in ET.parse(sys.argv[1]).getroot().iter("testcase"):
    key = (case.get("classname"), case.get("name"))
    tags = {child.tag for child in case}
    if tags & {"failure", "error"}:
        state[key] = "failed"
    elif "skipped" in tags and key not in state:
        state[key] = "skipped"
    else:
        state.setdefault(key, "passed")
values = list(state.values())
print(values.count("passed"), values.count("failed"))
EOF
	)
	p=${counts% *}
	f=${counts#* }
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		f=1 # pytest failed without a failed test (exit 5: none collected, crash)
		echo "test: pytest ($label) exited with $rc" >&2
	fi
	echo "test: integration ($label): $p passed, $f failed"
	PASSED=$((PASSED + p))
	FAILED=$((FAILED + f))
}

# Fail for every daemon log in DIR with a sanitizer report.
check_sanitizer_logs() {
	local dir=$1 hits
	[ -d "$dir" ] || return 0
	hits=$(grep -lE 'runtime error|AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer' "$dir"/* 2>/dev/null || true)
	for f in $hits; do
		echo "---- sanitizer report in $f ----"
		grep -E -A 30 'runtime error|AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer' "$f" | head -n 60
		fail_step "sanitizer report in $(basename "$f")"
	done
}

# The fuzz targets' results: each target passed or failed (scripts/fuzz.sh).
fuzz_tests() {
	local rc=0 last p f
	echo "test: fuzzing (build-fuzz, ${FUZZ_SECONDS:-30} s per target)"
	FUZZ_WORK=$WORK/fuzz bash scripts/fuzz.sh "$ROOT/build-fuzz" 2>&1 | tee "$WORK/fuzz.log" || rc=$?
	last=$(grep -E '^fuzz: [0-9]+ passed, [0-9]+ failed$' "$WORK/fuzz.log" | tail -n 1)
	if [ -z "$last" ]; then
		fail_step "scripts/fuzz.sh ended with $rc and no summary"
		return
	fi
	p=$(echo "$last" | sed 's/^fuzz: \([0-9]*\) passed.*/\1/')
	f=$(echo "$last" | sed 's/.* \([0-9]*\) failed$/\1/')
	echo "test: fuzz: $p passed, $f failed"
	PASSED=$((PASSED + p))
	FAILED=$((FAILED + f))
}

# 1. dependencies
deps=()
[ "$VALGRIND" = 1 ] && deps+=(--valgrind)
[ "$FUZZ" = 1 ] && deps+=(--fuzz)
if ! bash scripts/install-deps.sh "${deps[@]+"${deps[@]}"}"; then
	fail_step "scripts/install-deps.sh"
	echo "$PASSED passed, $FAILED failed"
	exit 1
fi

# 2-4. the normal build
normal_ok=0
if build_in build "$WORK" --enable-werror; then
	normal_ok=1
	unit_tests build build
	integration_tests "$ROOT/build/awsfs" build
else
	fail_step "build (build/)"
fi

# 5. sanitizers
if [ "$ASAN" = 1 ]; then
	export ASAN_OPTIONS=detect_leaks=0:abort_on_error=1:print_summary=1
	export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
	if build_in build-asan "$WORK" --enable-werror --enable-asan; then
		unit_tests build-asan asan
		export AWSFS_MOUNT_TIMEOUT=${AWSFS_MOUNT_TIMEOUT:-30}
		integration_tests "$ROOT/build-asan/awsfs" asan
		check_sanitizer_logs "$WORK/logs-asan"
	else
		fail_step "build (build-asan/)"
	fi
	unset ASAN_OPTIONS UBSAN_OPTIONS
fi

# 6. valgrind, on the build without sanitizers
if [ "$VALGRIND" = 1 ] && [ "$normal_ok" = 1 ]; then
	unit_tests build valgrind check-valgrind
fi

# 7. fuzzing
if [ "$FUZZ" = 1 ]; then
	if build_in build-fuzz "$WORK" --enable-werror --enable-fuzzing CC=clang; then
		fuzz_tests
	else
		fail_step "build (build-fuzz/)"
	fi
fi

tidy
for n in "${NOTES[@]+"${NOTES[@]}"}"; do
	echo "test: $n"
done
if [ "$FAILED" -ne 0 ] || [ "$PASSED" -eq 0 ] || [ -n "${AWSFS_KEEP_TEST_DIR:-}" ]; then
	echo "test: logs are in $WORK"
fi
# The last line, whatever happened: nothing may print after it.
echo "$PASSED passed, $FAILED failed"
if [ "$FAILED" -ne 0 ] || [ "$PASSED" -eq 0 ]; then
	exit 1
fi
exit 0

#!/usr/bin/env bash
# Run awsfs's libFuzzer targets (a build configured with --enable-fuzzing):
# for each target in tests/fuzz/,
#   1. replay every file of tests/fuzz/regressions/TARGET/ and of its seed
#      corpus tests/fuzz/corpus/TARGET/ (each must pass: a fixed crash
#      stays fixed);
#   2. fuzz it for FUZZ_SECONDS, starting from the seeds, with its
#      dictionary tests/fuzz/TARGET.dict when there is one;
# and print one line per target (runs, coverage, corpus, result). A crash,
# leak, timeout or out-of-memory input is kept under FUZZ_WORK and its
# report shown; fix the code, then keep the input as
# tests/fuzz/regressions/TARGET/NAME (see tests/fuzz/README.md).
#
# Usage: scripts/fuzz.sh [BUILD_DIR [TARGET...]]   (BUILD_DIR: build-fuzz)
# Environment: FUZZ_SECONDS (per target, default 30), FUZZ_WORK (grown
# corpora and crash inputs, kept between runs; default BUILD_DIR/fuzz-work),
# FUZZ_ARGS (more libFuzzer flags, e.g. "-jobs=2").
# The last line is "fuzz: N passed, N failed"; exits 1 when one failed.
set -uo pipefail
CALLER=$(pwd)
cd "$(dirname "$0")/.." || exit 1
ROOT=$(pwd)
AWSFS_SCRIPT=fuzz
. scripts/lib.sh

# A relative BUILD_DIR is the caller's; the default is the tree's build-fuzz/.
if [ $# -gt 0 ]; then
	BUILD=$1
	shift
	case $BUILD in /*) ;; *) BUILD=$CALLER/$BUILD ;; esac
else
	BUILD=$ROOT/build-fuzz
fi
SECONDS_EACH=${FUZZ_SECONDS:-30}
WORKDIR=${FUZZ_WORK:-$BUILD/fuzz-work}
SRC=$ROOT/tests/fuzz

case $SECONDS_EACH in '' | *[!0-9]*) die "FUZZ_SECONDS must be a number of seconds" ;; esac
[ -d "$BUILD/tests/fuzz" ] ||
	die "no fuzz targets in $BUILD/tests/fuzz: configure that build with --enable-fuzzing (CC=clang) and run make"

if [ $# -gt 0 ]; then
	TARGETS=("$@")
else
	TARGETS=()
	# A target is a file that defines the entry point (not the helpers).
	for f in "$SRC"/fuzz_*.c; do
		grep -q '^int LLVMFuzzerTestOneInput(' "$f" || continue
		TARGETS+=("$(basename "$f" .c)")
	done
fi

# Sanitizer settings of our own, whatever the caller exported.
export ASAN_OPTIONS=detect_leaks=1:print_summary=1:allocator_may_return_null=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

passed=0
failed=0

# Files (not folders) below a folder, sorted, NUL-separated-safe enough for
# our names (no newlines in the repository's file names).
list_files() {
	[ -d "$1" ] || return 0
	find "$1" -type f ! -name '.*' | LC_ALL=C sort
}

show_report() { # the sanitizer's or libFuzzer's words, without the noise
	grep -E -A 40 'ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error|property violated|SUMMARY' "$1" |
		head -n 80
}

run_target() {
	local t=$1 bin=$BUILD/tests/fuzz/$1 work=$WORKDIR/$1 log files=() dict=() rc
	local runs cov ft corp crashes
	if [ ! -x "$bin" ]; then
		say "$t: FAILED: $bin is missing (make in $BUILD)"
		return 1
	fi
	mkdir -p "$work/corpus" "$work/artifacts"
	log=$work/replay.log
	: >"$log"

	# 1. Regressions and seeds, each run once.
	mapfile -t files < <(list_files "$SRC/regressions/$t"; list_files "$SRC/corpus/$t")
	if [ "${#files[@]}" -gt 0 ]; then
		if ! "$bin" -close_fd_mask=2 -timeout=10 "${files[@]}" >"$log" 2>&1; then
			say "$t: FAILED: replaying a regression or seed input"
			show_report "$log"
			return 1
		fi
	fi

	# 2. Fuzz. New inputs go to the first corpus folder (the work one).
	[ -f "$SRC/$t.dict" ] && dict=(-dict="$SRC/$t.dict")
	log=$work/fuzz.log
	rc=0
	# shellcheck disable=SC2086
	"$bin" -max_total_time="$SECONDS_EACH" -timeout=10 -rss_limit_mb=2048 \
		-print_final_stats=1 -close_fd_mask=2 -artifact_prefix="$work/artifacts/" \
		"${dict[@]+"${dict[@]}"}" ${FUZZ_ARGS:-} \
		"$work/corpus" "$SRC/corpus/$t" >"$log" 2>&1 || rc=$?
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
	cov=$(grep -oE 'cov: [0-9]+ ft: [0-9]+ corp: [0-9]+' "$log" | tail -n 1)
	crashes=$(find "$work/artifacts" -type f \( -name 'crash-*' -o -name 'leak-*' \
		-o -name 'timeout-*' -o -name 'oom-*' \) -newer "$work/replay.log" 2>/dev/null)
	if [ "$rc" -ne 0 ] || [ -n "$crashes" ]; then
		say "$t: FAILED (exit $rc) after ${runs:-?} runs; ${cov:-no coverage line}"
		show_report "$log"
		for c in $crashes; do
			say "$t: input kept: $c"
		done
		say "$t: fix the code, then: cp INPUT $SRC/regressions/$t/"
		return 1
	fi
	ft=${cov#*ft: }
	ft=${ft%% *}
	corp=${cov##*corp: }
	cov=${cov#cov: }
	cov=${cov%% *}
	say "$t: ok: ${runs:-?} runs in ${SECONDS_EACH}s, cov ${cov:-?}, ft ${ft:-?}, corpus ${corp:-?}, ${#files[@]} replayed"
	return 0
}

for t in "${TARGETS[@]}"; do
	if run_target "$t"; then
		passed=$((passed + 1))
	else
		failed=$((failed + 1))
	fi
done

echo "fuzz: $passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]

# Shared by install-deps.sh, test.sh and demo.sh: source it, do not run it.
# Expects to be sourced from the repository root.

say() { printf '%s: %s\n' "${AWSFS_SCRIPT:-awsfs}" "$*"; }
die() { printf '%s: %s\n' "${AWSFS_SCRIPT:-awsfs}" "$*" >&2; exit 1; }

# Run a command quietly: its output goes to a log, shown only when it fails.
# quiet LOGFILE CMD...
quiet() {
	local log=$1
	shift
	local rc=0
	"$@" >"$log" 2>&1 || rc=$?
	[ "$rc" -eq 0 ] && return 0
	printf '%s: failed (exit %d): %s\n' "${AWSFS_SCRIPT:-awsfs}" "$rc" "$*" >&2
	tail -n 80 "$log" >&2
	return "$rc"
}

# The real interpreter path of a python3 that can import moto.server:
# $AWSFS_MOTO_PYTHON, then python3 from a PATH with pyenv's shims first,
# then /usr/bin/python3. Prints it; returns 1 when there is none.
find_moto_python() {
	local c exe
	for c in "${AWSFS_MOTO_PYTHON:-}" /root/.pyenv/shims/python3 \
		"${HOME:-/root}/.pyenv/shims/python3" \
		"$(PATH="/root/.pyenv/shims:$PATH" command -v python3 2>/dev/null)" \
		/usr/local/bin/python3 /usr/bin/python3; do
		[ -n "$c" ] && [ -x "$c" ] || continue
		exe=$("$c" -c 'import sys, moto.server; print(sys.executable)' 2>/dev/null | tail -n 1) || continue
		if [ -n "$exe" ] && [ -x "$exe" ]; then
			printf '%s\n' "$exe"
			return 0
		fi
	done
	return 1
}

# Configure and build in a build folder, out of tree.
# build_in DIR LOGDIR [configure args...]
build_in() {
	local dir=$1 logdir=$2
	shift 2
	if [ -f config.status ]; then
		say "the source tree is configured in place (./config.status): out-of-tree"
		say "builds need a clean tree; run 'make distclean' in $(pwd) first"
		return 1
	fi
	# Once per run (the ASan build reuses it).
	if [ ! -f "$logdir/autoreconf.log" ]; then
		say "autoreconf -fi"
		quiet "$logdir/autoreconf.log" autoreconf -fi || return 1
	fi
	mkdir -p "$dir"
	say "configure $* (in $dir/)"
	(cd "$dir" && quiet "$logdir/configure-$(basename "$dir").log" ../configure -q "$@") || return 1
	say "make -j${AWSFS_JOBS:-2} (in $dir/)"
	# Warnings are errors (--enable-werror); show the compiler's words on failure.
	(cd "$dir" && quiet "$logdir/make-$(basename "$dir").log" make -j"${AWSFS_JOBS:-2}") || return 1
}

# Unmount every FUSE mount below a folder (fusermount3 -u, then -uz).
unmount_below() {
	local root=$1 mnt
	[ -n "$root" ] || return 0
	# /proc/mounts escapes spaces as \040; our folders have none.
	awk -v r="$root/" '($3 == "fuse" || $3 ~ /^fuse\./) && index($2 "/", r) == 1 { print $2 }' \
		/proc/mounts | sort -r | while read -r mnt; do
		fusermount3 -u "$mnt" 2>/dev/null || fusermount3 -uz "$mnt" 2>/dev/null || true
	done
}

# End the processes listed (one PID a line) in a file, if they are still
# one of ours (awsfs or moto), TERM then KILL.
kill_pidfile() {
	local f=$1 pid cmd
	[ -f "$f" ] || return 0
	while read -r pid; do
		[ -n "$pid" ] || continue
		cmd=$(tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline") || continue
		case $cmd in *awsfs* | *moto*) ;; *) continue ;; esac
		kill -TERM "$pid" 2>/dev/null || continue
		for _ in 1 2 3 4 5 6 7 8 9 10; do
			[ -d "/proc/$pid" ] || break
			sleep 0.5
		done
		kill -KILL "$pid" 2>/dev/null || true
	done <"$f"
}

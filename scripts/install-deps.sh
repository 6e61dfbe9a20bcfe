#!/usr/bin/env bash
# Install what awsfs needs to build, test and run its demo, on Debian or
# Ubuntu, as root. Idempotent: when everything is there it installs nothing
# and does not touch apt's lists. Quiet unless something fails.
#
# Also checks that a python3 with moto (the AWS emulator the tests and the
# demo start) exists: pyenv's python3 on these machines, or the one named by
# AWSFS_MOTO_PYTHON.
#
# Options (also as FUZZ=1 / VALGRIND=1 in the environment), for the
# hardening runs only, so the normal install stays lean:
#   --fuzz      clang and its libFuzzer runtime (configure --enable-fuzzing)
#   --valgrind  valgrind (make check-valgrind)
set -euo pipefail
cd "$(dirname "$0")/.."
AWSFS_SCRIPT=install-deps
. scripts/lib.sh

PKGS=(
	build-essential autoconf automake libtool pkg-config
	libfuse3-dev fuse3
	libcurl4-openssl-dev libssl-dev libjansson-dev libexpat1-dev
	libcmocka-dev
	python3-pytest python3-boto3 python3-botocore
	attr jq curl ca-certificates groff-base util-linux mount procps
	s3fs rsync
)

# libFuzzer ships in clang's runtime package, which clang only recommends
# (Debian 12: libclang-rt-14-dev; libclang-rt-dev follows the default clang).
FUZZ_PKGS=(clang libclang-rt-dev)
VALGRIND_PKGS=(valgrind)
for arg in "$@"; do
	case $arg in
	--fuzz) FUZZ=1 ;;
	--valgrind) VALGRIND=1 ;;
	*) die "unknown option '$arg' (--fuzz, --valgrind)" ;;
	esac
done
[ "${FUZZ:-0}" = 1 ] && PKGS+=("${FUZZ_PKGS[@]}")
[ "${VALGRIND:-0}" = 1 ] && PKGS+=("${VALGRIND_PKGS[@]}")

SUDO=()
if [ "$(id -u)" -ne 0 ]; then
	command -v sudo >/dev/null 2>&1 || die "run as root (or install sudo)"
	SUDO=(sudo)
fi

missing=()
for p in "${PKGS[@]}"; do
	if ! dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$'; then
		missing+=("$p")
	fi
done

if [ "${#missing[@]}" -gt 0 ]; then
	command -v apt-get >/dev/null 2>&1 || die "apt-get not found: install by hand: ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	log=$(mktemp /tmp/awsfs-install-deps.XXXXXX)
	trap 'rm -f "$log"' EXIT
	apt_install() {
		"${SUDO[@]}" apt-get install -y -qq --no-install-recommends \
			-o Dpkg::Use-Pty=0 "${missing[@]}"
	}
	apt_update() { "${SUDO[@]}" apt-get update -qq; }
	# Refresh the lists first when they are missing or older than a day.
	if ! find /var/lib/apt/lists -maxdepth 1 -name '*_Packages*' -mmin -1440 2>/dev/null \
		| grep -q .; then
		say "apt-get update"
		quiet "$log" apt_update || die "apt-get update failed"
	fi
	say "installing ${missing[*]}"
	if ! apt_install >"$log" 2>&1; then
		# Stale lists are the usual cause: refresh once and try again.
		quiet "$log" apt_update || die "apt-get update failed"
		quiet "$log" apt_install || die "apt-get install failed"
	fi
	say "installed ${#missing[@]} package(s)"
else
	say "all ${#PKGS[@]} packages present"
fi

[ -e /dev/fuse ] || say "warning: /dev/fuse is missing: mounting will fail (load the fuse module)"
command -v fusermount3 >/dev/null 2>&1 || die "fusermount3 not found after installing fuse3"

# Second-opinion emulators from npm, into .deps/npm (their tests skip
# without them). TESTING.md says which versions and why.
NPM_PKGS=(
	s3rver@3.7.1
)
if command -v npm >/dev/null 2>&1; then
	for p in "${NPM_PKGS[@]}"; do
		if [ ! -f ".deps/npm/node_modules/${p%@*}/package.json" ]; then
			say "npm install $p"
			npmlog=$(mktemp /tmp/awsfs-npm.XXXXXX)
			quiet "$npmlog" npm install --prefix .deps/npm --no-audit --no-fund "$p" ||
				say "warning: npm install $p failed: its tests will be skipped"
			rm -f "$npmlog"
		fi
	done
else
	say "warning: npm not found: the s3rver tests will be skipped"
fi

# dynalite, the DynamoDB tests' second opinion (npm), into .deps/npm; without
# node and npm those tests are skipped, nothing else needs it.
DYNALITE_VERSION=4.0.0
if command -v npm >/dev/null 2>&1 && command -v node >/dev/null 2>&1; then
	have=$(node -p "require('./.deps/npm/node_modules/dynalite/package.json').version" \
		2>/dev/null || true)
	if [ "$have" != "$DYNALITE_VERSION" ]; then
		say "npm install dynalite@$DYNALITE_VERSION (into .deps/npm)"
		mkdir -p .deps/npm
		npmlog=$(mktemp /tmp/awsfs-npm.XXXXXX)
		quiet "$npmlog" npm install --prefix .deps/npm --no-audit --no-fund \
			"dynalite@$DYNALITE_VERSION" || die "npm install dynalite failed"
		rm -f "$npmlog"
	fi
else
	say "node/npm not found: the dynalite half of the DynamoDB tests will be skipped"
fi

# fauxqs, the SQS tests' second opinion (npm), into .deps/npm; without node
# and npm those tests are skipped, nothing else needs it.
FAUXQS_VERSION=1.9.2
if command -v npm >/dev/null 2>&1 && command -v node >/dev/null 2>&1; then
	have=$(node -p "require('./.deps/npm/node_modules/fauxqs/package.json').version" \
		2>/dev/null || true)
	if [ "$have" != "$FAUXQS_VERSION" ]; then
		say "npm install fauxqs@$FAUXQS_VERSION (into .deps/npm)"
		mkdir -p .deps/npm
		npmlog=$(mktemp /tmp/awsfs-npm.XXXXXX)
		quiet "$npmlog" npm install --prefix .deps/npm --no-audit --no-fund \
			"fauxqs@$FAUXQS_VERSION" || die "npm install fauxqs failed"
		rm -f "$npmlog"
	fi
else
	say "node/npm not found: the fauxqs half of the SQS tests will be skipped"
fi

if py=$(find_moto_python); then
	ver=$("$py" -c 'import moto; print(moto.__version__)' 2>/dev/null || echo '?')
	say "moto $ver: $py"
else
	cat >&2 <<'EOF'
install-deps: no python3 with moto found.
  The integration tests and the demo run moto's server (python3 -m moto.server).
  Install it into a python3 with: pip install 'moto[server]'
  and, if that python3 is not the one on PATH (or pyenv's), point to it with
  AWSFS_MOTO_PYTHON=/path/to/python3.
EOF
	exit 1
fi

#!/usr/bin/env bash
# The module keeps its connection to the auth service from authenticate to
# account in one PAM handle: a login connects once. When something else
# in the stack holds the handle past the service's wait (250 ms), the
# service has closed its end, and the account call connects again and is
# decided as usual. The connection never outlives the handle (the
# 1,000-transaction descriptor check is test_pam_loop's).
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

MODULE=$BUILD/pam_module/pam_idgov.so
SECURITY=/usr/lib/x86_64-linux-gnu/security
command -v strace >/dev/null || { echo "SKIP: strace is not installed"; exit 77; }
it_setup
ig sync >/dev/null
enroll alice 0
mkdir -p "$T/pam.d"
authd_start || exit 1

# connects FILE: the connections the traced process made to the auth socket.
connects() {
	grep -c "connect(.*$T/run/authd.sock" "$1" || true
}

# login TRACE USER < code: authenticate and account in one pamtester,
# its connect calls traced into TRACE. LeakSanitizer cannot run under
# ptrace: test_pam_loop checks the module's memory.
login() {
	strace -f -qq -e trace=connect -o "$1" \
		env LD_PRELOAD="$(pam_preload)" PAM_WRAPPER=1 PAM_WRAPPER_SERVICE_DIR="$T/pam.d" \
		ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" \
		pamtester idgov "$2" authenticate acct_mgmt
}

{
	echo "auth required $MODULE $PAM_ARGS"
	echo "account required $MODULE $PAM_ARGS"
} > "$T/pam.d/idgov"
assert_exit 0 "a login with a code passes authenticate and account" \
	login "$T/one.trace" alice <<<"$(code 1)"
assert_eq "$(connects "$T/one.trace")" 1 "authenticate and account share one connection"

# A module after pam_idgov in the auth stack that takes longer than the
# service waits: the kept connection is closed when account comes.
enroll bob 0
{
	echo "auth required $MODULE $PAM_ARGS"
	echo "auth optional $SECURITY/pam_exec.so quiet /bin/sleep 0.6"
	echo "account required $MODULE $PAM_ARGS"
} > "$T/pam.d/idgov"
assert_exit 0 "account after the service closed the kept connection still decides" \
	login "$T/two.trace" bob <<<"$(code 1)"
assert_eq "$(connects "$T/two.trace")" 2 "the account call connected again"
finish

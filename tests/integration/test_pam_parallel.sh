#!/usr/bin/env bash
# Parallel logins of one user never lose an update: 20 forked
# authentications at once with wrong codes count exactly 20 failures, and
# 20 at once with 20 distinct valid codes leave the watermark at the
# highest step, with every code accepted at most once.
. "$(dirname "$0")/lib.sh"

MODULE=$BUILD/pam_module/pam_idgov.so
it_setup
sed -i 's/^\[admin\]$/[mfa]\nwindow = 10\nmax_failures = 100\nfail_delay_ms = 0\n[admin]/' "$T/etc/idgov.conf"
ig sync >/dev/null
mkdir -p "$T/pam.d"
echo "auth required $MODULE config=$T/etc/idgov.conf" > "$T/pam.d/idgov"
preload=libpam_wrapper.so
[ -n "${ASAN_OPTIONS:-}" ] && preload="$(gcc -print-file-name=libasan.so) $(gcc -print-file-name=libubsan.so) $preload"
pam() {
	LD_PRELOAD="$preload" PAM_WRAPPER=1 PAM_WRAPPER_SERVICE_DIR="$T/pam.d" \
		ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" \
		pamtester idgov "$@" >/dev/null 2>&1
}

# Enrol alice with the CLI, answering its prompt with the first code.
coproc ENROL { "$IDGOV" -c "$T/etc/idgov.conf" mfa enroll alice 2>&1; }
enrol_pid=$ENROL_PID
exec {from}<&"${ENROL[0]}" {to}>&"${ENROL[1]}"
while read -r line <&"$from"; do
	case "$line" in otpauth://*) secret=$(printf '%s' "$line" | sed 's/.*secret=\([A-Z2-7]*\).*/\1/'); break ;; esac
done
base=$(($(date +%s) / 30 - 10))
code() { oathtool --totp -b -N "@$(((base + $1) * 30))" "$secret"; }
# Confirm with the oldest usable step so that the 20 above it are all valid.
echo "$(code 0)" >&"$to"
exec {to}>&-
cat <&"$from" >/dev/null
wait "$enrol_pid" 2>/dev/null
assert_eq "$(sql "SELECT confirmed FROM mfa")" 1 "alice enrolled"

for i in $(seq 1 20); do
	pam alice authenticate <<<"000000" &
done
wait
assert_eq "$(sql "SELECT failures FROM mfa")" 20 "20 parallel wrong codes: exactly 20 failures counted"

codes=()
for k in $(seq 1 20); do codes+=("$(code "$k")"); done
pids=()
for k in $(seq 0 19); do
	pam alice authenticate <<<"${codes[$k]}" &
	pids+=($!)
done
accepted=0
for p in "${pids[@]}"; do wait "$p" && accepted=$((accepted + 1)); done
assert_eq "$(sql "SELECT last_step - $base FROM mfa")" 20 "watermark at the highest step submitted"
if [ "$accepted" -ge 1 ] && [ "$accepted" -le 20 ]; then ok "$accepted of 20 accepted, the rest refused as older than the watermark"; else not_ok "accepted $accepted"; fi
# No code works twice: replaying all 20 now is refused every time.
refused=0
for k in $(seq 0 19); do pam alice authenticate <<<"${codes[$k]}" || refused=$((refused + 1)); done
assert_eq "$refused" 20 "every one of the 20 codes is refused when replayed"
finish

#!/usr/bin/env bash
# .ci/fuzz.sh: fuzz each fuzz target of the h2server package for a while and
# fail on any finding.
#
# usage:
#   .ci/fuzz.sh [TARGET...]        default: every Fuzz* function of the package
#
# env: FUZZTIME           how long each target runs, as go test -fuzztime takes
#                         it (default 60s; "500x" means 500 inputs)
#      FUZZ_MINIMIZETIME  time go test may spend minimizing each new input
#                         (default 5s; go test's own default, 60s, would eat
#                         most of a short run)
#      FUZZ_PARALLEL      fuzzing workers per target (default: go test's, the
#                         number of cores)
#
# A finding fails the run. go test prints the failure and writes the input to
# testdata/fuzz/TARGET/<hash>; `go test -run 'TARGET/<hash>' .` replays it.
# Commit that file with the fix: every plain `go test` runs testdata/fuzz as
# regression tests, next to the committed seeds.
# Exit status: 0 when every target ran without a finding, 1 on a finding (or
# a target that failed to build or run), 2 on usage or setup errors.
#
# Go 1.26's fuzz coordinator can fail a target with a bare "context deadline
# exceeded" at the end of a duration -fuzztime, having found nothing: a race
# in internal/fuzz between its deadline and its workers' stop, most often on
# a loaded machine (go.dev/issue/75804, fixed in Go 1.27). A target that
# fails that way, with no input written, is said so and run once more; a
# second failure of any kind fails the run.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
[[ -x /usr/local/go/bin/go ]] && export PATH=$PATH:/usr/local/go/bin

fuzztime=${FUZZTIME:-60s}
minimizetime=${FUZZ_MINIMIZETIME:-5s}
parallel=()
[[ -n ${FUZZ_PARALLEL:-} ]] && parallel=(-parallel "$FUZZ_PARALLEL")

# The test binary's own -timeout must outlast the fuzzing: FUZZTIME plus ten
# minutes for building and the seed corpus, or 30 minutes for a count.
timeout=30m
if [[ $fuzztime =~ ^([0-9]+)(s|m|h)$ ]]; then
	case ${BASH_REMATCH[2]} in
	s) secs=${BASH_REMATCH[1]} ;;
	m) secs=$((BASH_REMATCH[1] * 60)) ;;
	h) secs=$((BASH_REMATCH[1] * 3600)) ;;
	esac
	timeout=$((secs + 600))s
elif [[ ! $fuzztime =~ ^[0-9]+x$ ]]; then
	echo "ERROR: FUZZTIME=$fuzztime is neither a duration like 60s, 5m, 1h nor a count like 500x" >&2
	exit 2
fi

targets=("$@")
if ((${#targets[@]} == 0)); then
	list=$(go test -list '^Fuzz' .) || { echo "$list"; echo "ERROR: could not list the fuzz targets" >&2; exit 2; }
	mapfile -t targets < <(grep '^Fuzz' <<<"$list" || true)
fi
if ((${#targets[@]} == 0)); then
	echo "ERROR: no fuzz targets (func FuzzXxx(f *testing.F)) in the package" >&2
	exit 2
fi

log=$(mktemp)
trap 'rm -f "$log"' EXIT

# fuzz TARGET: one go test -fuzz run, its output shown and kept in $log.
fuzz() {
	go test -run '^$' -fuzz "^${1}\$" -fuzztime "$fuzztime" \
		-fuzzminimizetime "$minimizetime" -timeout "$timeout" "${parallel[@]}" . 2>&1 | tee "$log"
	return "${PIPESTATUS[0]}"
}

failed=()
for target in "${targets[@]}"; do
	echo "==================== $target: fuzzing for $fuzztime ===================="
	before=$(find "testdata/fuzz/$target" -type f 2>/dev/null | sort || true)
	if fuzz "$target"; then
		echo "-- $target: no finding"
		continue
	fi
	after=$(find "testdata/fuzz/$target" -type f 2>/dev/null | sort || true)
	if [[ $before == "$after" ]] && grep -q '^    context deadline exceeded$' "$log" && ! grep -q '^panic\|Failing input written' "$log"; then
		echo "-- $target: failed with Go's fuzz coordinator race (go.dev/issue/75804), no input written; running it once more"
		if fuzz "$target"; then
			echo "-- $target: no finding"
			continue
		fi
	fi
	failed+=("$target")
	echo "-- $target: FAILED"
	after=$(find "testdata/fuzz/$target" -type f 2>/dev/null | sort || true)
	new=$(comm -13 <(echo "$before") <(echo "$after") | sed '/^$/d')
	if [[ -n $new ]]; then
		echo "   failing input, replay with: go test -run '$target/<name>' ."
		while IFS= read -r f; do echo "     $f"; done <<<"$new"
	fi
done

echo
if ((${#failed[@]})); then
	echo "fuzz: FAILED: ${failed[*]} (of ${#targets[@]} targets, $fuzztime each)"
	exit 1
fi
echo "fuzz: ${#targets[@]} targets, $fuzztime each, no finding"

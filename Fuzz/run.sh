#!/bin/sh
# Builds the fuzz targets and runs each for SECONDS (`make fuzz` runs `Fuzz/run.sh $(FUZZ_SECONDS)`), over its seed
# corpus in Fuzz/Corpus/<name>/ and what earlier runs found in $FUZZ_WORK/corpus/<name>/.
# Usage: Fuzz/run.sh SECONDS [lines|configuration|core ...]
#
# The build: optimized (-c release: 5 to 20 times the executions a second of a debug build) with libFuzzer's coverage
# and AddressSanitizer, and with assertions kept (-assert-config Debug: the core checks every routing decision against
# a scan of every agent in an assert). Its .build is Fuzz/.build, apart from the main one.
#
# Exits non-zero when any target found a crash, a hang (an input running over 10 s) or a leak; the input is written to
# $FUZZ_WORK/artifacts/<name>/ (by default Fuzz/.build/fuzz, ignored by git), and the command to replay it is printed.
set -u
here=$(cd "$(dirname "$0")" && pwd)
seconds=${1:?usage: Fuzz/run.sh SECONDS [lines|configuration|core ...]}
shift
names=${*:-lines configuration core}
work=${FUZZ_WORK:-$here/.build/fuzz}
flags="-c release -Xswiftc -sanitize=fuzzer,address -Xswiftc -use-ld=lld -Xswiftc -assert-config -Xswiftc Debug"
# shellcheck disable=SC2086
(cd "$here" && ${SWIFT:-swift} build $flags) || exit 1
# shellcheck disable=SC2086
bin=$(cd "$here" && ${SWIFT:-swift} build $flags --show-bin-path)
failed=""
for name in $names; do
    case $name in
        lines) target=FuzzLines max_len=4096 dict=-dict=$here/Dictionaries/lines.dict ;;
        configuration) target=FuzzConfiguration max_len=16384 dict=-dict=$here/Dictionaries/configuration.dict ;;
        core) target=FuzzCore max_len=4096 dict= ;;
        *) echo "unknown fuzz target $name (lines, configuration, core)" >&2; exit 2 ;;
    esac
    mkdir -p "$work/corpus/$name" "$work/artifacts/$name"
    rm -f "$work/artifacts/$name"/*
    echo "== fuzzing $name ($target) for $seconds s"
    # Swift's own crash backtracer would read the stack under AddressSanitizer's eyes: libFuzzer reports crashes.
    if SWIFT_BACKTRACE=enable=no "$bin/$target" -max_total_time="$seconds" -timeout=10 -max_len="$max_len" $dict \
        -artifact_prefix="$work/artifacts/$name/" -print_final_stats=1 \
        "$work/corpus/$name" "$here/Corpus/$name" >"$work/$name.log" 2>&1
    then
        grep -E '^(#[0-9]+[[:space:]]+DONE|stat::number_of_executed_units|stat::new_units_added)' "$work/$name.log"
    else
        tail -n 60 "$work/$name.log"
        echo "** $name: libFuzzer failed; the whole log is $work/$name.log"
        for artifact in "$work/artifacts/$name"/*; do
            [ -e "$artifact" ] && echo "** replay: SWIFT_BACKTRACE=enable=no $bin/$target $artifact"
        done
        failed="$failed $name"
    fi
done
if [ -n "$failed" ]; then
    echo "fuzzing failed:$failed (see above; keep the input in Fuzz/Corpus/<name>/ and add a regression test)"
    exit 1
fi

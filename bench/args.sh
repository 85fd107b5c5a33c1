# Sourced by the bench/run-*.sh scripts: parses the options they share.
#
#   parse_bench_args "$@"
#
# Before calling, the script sets DATASETS (the default list) and may set
# QUICK_OK=0 to refuse --quick, and may define `extra_arg` to take its own
# options: it gets the remaining arguments, and on a match sets SHIFT (how
# many it used) and returns 0. Sets DATA (absolute), DATASETS, QUICK and
# COMMAND (the command line, for reports). `usage` prints the script's
# header comment up to its first `set -` line.
usage() { sed -n '2,/^set -/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; }

parse_bench_args() {
    local name
    name="$(basename "$0")"
    COMMAND="bench/$name${*:+ $*}"
    DATA="$ROOT/../shared/data"
    QUICK=0
    while [ $# -gt 0 ]; do
        case "$1" in
            --data) DATA="${2:?--data needs a directory}"; shift 2 ;;
            --data=*) DATA="${1#*=}"; shift ;;
            --datasets) DATASETS="${2:?--datasets needs a comma list}"; shift 2 ;;
            --datasets=*) DATASETS="${1#*=}"; shift ;;
            --quick) [ "${QUICK_OK:-1}" = 1 ] || { echo "$name: --quick is not an option here" >&2; exit 2; }
                QUICK=1; shift ;;
            -h|--help) usage; exit 0 ;;
            *)
                if declare -F extra_arg >/dev/null && extra_arg "$@"; then
                    shift "$SHIFT"
                else
                    echo "$name: unknown argument: $1" >&2
                    usage >&2
                    exit 2
                fi
                ;;
        esac
    done
    DATA="$(cd "$DATA" 2>/dev/null && pwd)" || { echo "$name: data directory not found" >&2; exit 2; }
}

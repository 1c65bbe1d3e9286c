#!/usr/bin/env bash
# pulldoctor's test command:
#
#   bash tests/run.sh            install missing tools, run every check, then the Rust tests
#   bash tests/run.sh --setup    only install/verify the tools
#   bash tests/run.sh --demo     install moto if missing, then run the end-to-end demo
#                                (tests/src/bin/demo.rs: a broken moto account, one event,
#                                the real handler, the SNS message it delivered)
#   bash tests/run.sh --bench    install moto if missing, build release, run the benchmark
#                                (tests/src/bin/bench.rs: wall time, calls, rounds, storm,
#                                cold start, peak RSS against moto behind a 50 ms proxy)
#
# Needs cargo and Python 3.11 with pip. It installs the pinned Python tools it lacks:
#   - moto[server] into the Python that runs it (the Rust test harness starts `moto_server`
#     from PATH; the infra checks use moto and boto3 from there too);
#   - aws-sam-cli and cfn-lint into their own virtualenv ($PULLDOCTOR_TOOLS_VENV,
#     default ~/.cache/pulldoctor/py-tools), because aws-sam-cli pins boto3 and cfn-lint
#     versions that would otherwise replace the ones moto runs with;
#   - checkov into a third virtualenv ($PULLDOCTOR_CHECKOV_VENV, default
#     ~/.cache/pulldoctor/checkov), for the same reason.
# Nothing needs AWS credentials or network access beyond the package index.
#
# Every phase runs even if an earlier one failed; the exit code is non-zero if any failed.
# The Rust tests run last so that their summary closes the output.
set -uo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 1

MOTO_VERSION=5.2.1
SAM_CLI_VERSION=1.170.0
CFN_LINT_VERSION=1.58.0
CHECKOV_VERSION=3.3.30
TOOLS_VENV=${PULLDOCTOR_TOOLS_VENV:-$HOME/.cache/pulldoctor/py-tools}
# checkov pins its own versions of shared libraries: a virtualenv of its own.
CHECKOV_VENV=${PULLDOCTOR_CHECKOV_VENV:-$HOME/.cache/pulldoctor/checkov}
TEMPLATES=(template.yaml infra/member-account.yaml)
PYTHON=${PYTHON:-python3}

export SAM_CLI_TELEMETRY=0
export MOTO_IAM_LOAD_MANAGED_POLICIES=true

log() { printf '\n==> %s\n' "$*"; }

# Version of an installed distribution in the given interpreter, or nothing.
dist_version() {
    "$1" - "$2" <<'EOF' 2>/dev/null
import importlib.metadata as m, sys
try:
    print(m.version(sys.argv[1]))
except m.PackageNotFoundError:
    pass
EOF
}

ensure_moto() {
    if [[ "$(dist_version "$PYTHON" moto)" == "$MOTO_VERSION" ]] \
        && "$PYTHON" -c 'import moto.server, boto3' 2>/dev/null; then
        echo "moto[server] $MOTO_VERSION: present"
    else
        echo "moto[server] $MOTO_VERSION: installing"
        "$PYTHON" -m pip install --disable-pip-version-check -q "moto[server]==$MOTO_VERSION" || return 1
        command -v pyenv >/dev/null 2>&1 && pyenv rehash
    fi
    # Use the moto_server of this interpreter: its script directory is not always on PATH
    # (virtualenvs, user installs), and another moto_server may come first.
    local scripts
    scripts=$("$PYTHON" -c 'import sysconfig; print(sysconfig.get_path("scripts"))')
    if [[ -x "$scripts/moto_server" ]]; then
        export PATH="$scripts:$PATH"
    fi
    command -v moto_server >/dev/null 2>&1 || { echo "moto_server is not on PATH" >&2; return 1; }
    echo "moto_server: $(command -v moto_server)"
}

ensure_sam_tools() {
    local vpy="$TOOLS_VENV/bin/python"
    if [[ -x "$vpy" && "$(dist_version "$vpy" aws-sam-cli)" == "$SAM_CLI_VERSION" \
        && "$(dist_version "$vpy" cfn-lint)" == "$CFN_LINT_VERSION" ]]; then
        echo "aws-sam-cli $SAM_CLI_VERSION, cfn-lint $CFN_LINT_VERSION: present in $TOOLS_VENV"
        return 0
    fi
    echo "aws-sam-cli $SAM_CLI_VERSION, cfn-lint $CFN_LINT_VERSION: installing into $TOOLS_VENV (a few minutes, once)"
    [[ -x "$vpy" ]] || "$PYTHON" -m venv "$TOOLS_VENV" || return 1
    "$vpy" -m pip install --disable-pip-version-check -q \
        "aws-sam-cli==$SAM_CLI_VERSION" "cfn-lint==$CFN_LINT_VERSION"
}

FAILED=()
phase() { # phase NAME COMMAND...
    local name=$1 start=$SECONDS
    shift
    log "$name"
    if "$@"; then
        echo "--- $name: ok ($((SECONDS - start)) s)"
    else
        echo "--- $name: FAILED ($((SECONDS - start)) s)"
        FAILED+=("$name")
    fi
}

ensure_checkov() {
    local vpy="$CHECKOV_VENV/bin/python"
    if [[ -x "$vpy" && "$(dist_version "$vpy" checkov)" == "$CHECKOV_VERSION" ]]; then
        echo "checkov $CHECKOV_VERSION: present in $CHECKOV_VENV"
        return 0
    fi
    echo "checkov $CHECKOV_VERSION: installing into $CHECKOV_VENV"
    [[ -x "$vpy" ]] || "$PYTHON" -m venv "$CHECKOV_VENV" || return 1
    "$vpy" -m pip install --disable-pip-version-check -q "checkov==$CHECKOV_VERSION"
}

setup() { ensure_moto && ensure_sam_tools && ensure_checkov; }

# Every template through one validator; all run even if one fails.
each_template() {
    local rc=0 t
    for t in "${TEMPLATES[@]}"; do
        "$@" "$t" || rc=1
    done
    return $rc
}
sam_validate() { "$TOOLS_VENV/bin/sam" validate --lint --template-file "$1"; }
# Skips are justified in the templates themselves (Metadata.checkov.skip with a comment).
# --skip-download: offline, no calls to the vendor's platform for guidelines.
checkov_scan() {
    BC_SKIP_MAPPING=TRUE "$CHECKOV_VENV/bin/checkov" --quiet --compact --skip-download \
        --framework cloudformation -f "$1" 2> >(grep -v -e '^  ' -e '^Traceback' -e 'urllib3' -e '^The above' -e '^$' >&2)
}

if [[ "${1:-}" == "--setup" ]]; then
    phase "setup: Python tools" setup
    [[ ${#FAILED[@]} -eq 0 ]] || exit 1
    exit 0
elif [[ "${1:-}" == "--demo" ]]; then
    ensure_moto >&2 || exit 1
    exec cargo run --quiet -p pulldoctor-tests --bin demo
elif [[ "${1:-}" == "--bench" ]]; then
    ensure_moto >&2 || exit 1
    cargo build --quiet --release -p pulldoctor --bin pulldoctor-lambda || exit 1
    exec cargo run --quiet --release -p pulldoctor-tests --bin bench
elif [[ $# -gt 0 ]]; then
    echo "usage: bash tests/run.sh [--setup | --demo | --bench]" >&2
    exit 2
fi

phase "setup: Python tools" setup
if [[ ${#FAILED[@]} -gt 0 ]]; then
    echo "tests/run.sh: cannot install the Python tools (is the package index reachable?)" >&2
    exit 1
fi

phase "infra: EventBridge pattern (template.yaml == infra/patterns/pull-failure.json, samples, moto)" \
    "$PYTHON" infra/check-pattern.py
phase "infra: IAM policy (least privilege, template.yaml == infra/policies/pulldoctor-read.json)" \
    "$PYTHON" infra/check-policy.py
phase "rust: no import circles between the pipeline stages (tests/tools/check-layers.py)" \
    "$PYTHON" tests/tools/check-layers.py
# `sam validate --lint` runs cfn-lint on the SAM template offline: no region or credentials.
phase "templates: sam validate --lint" each_template sam_validate
phase "templates: cfn-lint" "$TOOLS_VENV/bin/cfn-lint" "${TEMPLATES[@]}"
phase "templates: checkov" each_template checkov_scan
# PULLDOCTOR_CARGO_TIMINGS=1 (CI) also writes cargo's build timing report (target/cargo-timings/).
CARGO_TEST_ARGS=(--workspace --all-targets --no-fail-fast)
[[ "${PULLDOCTOR_CARGO_TIMINGS:-0}" == 1 ]] && CARGO_TEST_ARGS+=(--timings)
# The pure core first: it builds without the AWS SDK, so its tests answer in seconds.
phase "rust: cargo test -p pulldoctor-core (the pure engine)" cargo test -p pulldoctor-core --all-targets
phase "rust: cargo test --workspace --all-targets" cargo test "${CARGO_TEST_ARGS[@]}" --exclude pulldoctor-core

if [[ ${#FAILED[@]} -gt 0 ]]; then
    printf '\ntests/run.sh: FAILED phase(s):\n' >&2
    printf '  - %s\n' "${FAILED[@]}" >&2
    exit 1
fi

#!/usr/bin/env bash
# Every CUDA figure nnstudio promises, and its CUDA tests, in one command on one GPU
# (under 8 minutes on an H100/H200-class card). Run it from the repository root:
#
#     bash benchmarks/gpu_check.sh
#
# It prints, in order:
#   1. the CUDA tests (fast mode, bf16, torch.compile, out of memory mid-run, the
#      memory estimate, data on the GPU and checkpoints back on the CPU);
#   2. benchmarks/train_overhead.py on CUDA: seconds and ms per step of the three
#      benchmark models (LeNet-5, GoogLeNet-style, LSTM) for a bare PyTorch loop,
#      the trainer in eager mode, with torch.compile and in fast mode (one CUDA graph
#      per step), with trainer/bare (limit 1.05) and bare/fast (target 3 for LeNet-5
#      and the LSTM);
#   3. benchmarks/gui_responsiveness.py on CUDA: the app's training throughput vs
#      `nnstudio train` (limit: at least 95%) and the GUI's event-loop lateness.
# Each part has its own time limit so the whole stays under 8 minutes; a part that
# runs out says so and the others still run. Exit status: 0 when every part passed.
#
# A fresh GPU machine may lack some of nnstudio's dependencies and reach no package
# index. Then fetch their wheels on a machine that can (for the machine's Python):
#
#     bash benchmarks/gpu_check.sh --fetch-wheels [3.12]
#
# which saves them in .whl/ (ignored by git); this script installs .whl/*.whl when
# it finds them. PySide6's wheel is large (about 90 MB): without it part 3 is skipped
# with a note, and parts 1 and 2 still run.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 2
PY=${PYTHON:-python3}
command -v "$PY" >/dev/null || PY=python

NEEDED_WHEELS=(pydantic pydantic-core annotated-types typing-inspection typing-extensions
               pyqtgraph PySide6-Essentials shiboken6)

if [ "${1:-}" = "--fetch-wheels" ]; then
    version=${2:-3.12}
    mkdir -p .whl
    grep -qxF '/.whl/' .git/info/exclude 2>/dev/null || echo '/.whl/' >> .git/info/exclude
    for name in "${NEEDED_WHEELS[@]}"; do
        "$PY" -m pip download -q --no-deps --only-binary=:all: --python-version "$version" \
            --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
            --platform manylinux2014_x86_64 -d .whl "$name" || echo "could not fetch $name"
    done
    ls -la .whl
    exit 0
fi

started=$(date +%s)
status=0
section() { printf '\n=== %s (%ds elapsed) ===\n' "$1" "$(( $(date +%s) - started ))"; }
# run LIMIT_SECONDS NAME COMMAND...: a part with its own time limit
run_part() {
    local limit=$1 name=$2; shift 2
    timeout --signal=INT --kill-after=15 "$limit" "$@"
    local rc=$?
    if [ $rc -eq 124 ] || [ $rc -eq 130 ] || [ $rc -eq 137 ]; then
        echo "$name: stopped at its ${limit}s limit (figures above are partial)"
        status=1
    elif [ $rc -ne 0 ]; then
        echo "$name: exit status $rc"
        status=1
    fi
}

section "environment"
export PYTHONUNBUFFERED=1 QT_QPA_PLATFORM=offscreen
if ls .whl/*.whl >/dev/null 2>&1; then
    "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target /tmp/nnstudio-site .whl/*.whl && export PYTHONPATH=/tmp/nnstudio-site${PYTHONPATH:+:$PYTHONPATH}
fi
# nnstudio itself runs from this checkout: nothing to build.
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
missing=$("$PY" - <<'EOF'
import importlib.util
need = ["networkx", "pydantic", "numpy", "torch", "safetensors", "sklearn", "PIL", "pytest", "hypothesis"]
print(" ".join(n for n in need if importlib.util.find_spec(n) is None))
EOF
)
if [ -n "$missing" ]; then
    # Try the package index briefly (a GPU machine often has none), then give up in words.
    "$PY" -m pip install -q --retries 0 --timeout 5 $missing >/dev/null 2>&1 || true
    missing=$("$PY" -c "import importlib.util as u; print(' '.join(n for n in '$missing'.split() if u.find_spec(n) is None))")
fi
if [ -n "$missing" ]; then
    echo "missing Python packages: $missing"
    echo "fetch them where PyPI is reachable with: bash benchmarks/gpu_check.sh --fetch-wheels"
    exit 2
fi
"$PY" - <<'EOF' || exit 2
import sys, torch
if not torch.cuda.is_available():
    sys.exit("no CUDA GPU is visible to torch here; this check needs one")
p = torch.cuda.get_device_properties(0)
print(f"python {sys.version.split()[0]}, torch {torch.__version__} (CUDA {torch.version.cuda}), "
      f"{torch.cuda.get_device_name(0)}, {p.total_memory / 2**30:.0f} GiB, {torch.cuda.device_count()} GPU(s)")
EOF
gui=yes
"$PY" -c "import PySide6.QtWidgets, pyqtgraph" 2>/dev/null || gui=no

section "1. CUDA tests"
run_part 150 "CUDA tests" "$PY" -m pytest -q -p no:cacheprovider -x \
    tests/training/test_fast.py tests/training/test_hardening_cuda.py tests/training/test_hardening_memory.py

section "2. trainer vs bare loop vs torch.compile vs fast mode, per model"
run_part 230 "train_overhead" "$PY" benchmarks/train_overhead.py --device cuda --rounds 2 --max-rounds 2

section "3. training in the app on CUDA vs nnstudio train"
if [ "$gui" = yes ]; then
    run_part 100 "gui_responsiveness" "$PY" benchmarks/gui_responsiveness.py --device cuda \
        --model lenet5 --repeats 2 --lateness-runs 1
else
    echo "skipped: PySide6 and pyqtgraph are not installed here (see --fetch-wheels above)"
    status=1
fi

section "done"
echo "gpu_check: $([ $status -eq 0 ] && echo 'every part passed' || echo 'some parts failed or were skipped (see above)')"
exit $status

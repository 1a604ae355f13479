#!/usr/bin/env bash
# Build the sdist and the wheel the way PyPI users get them, install the wheel
# built FROM the sdist into a fresh virtual environment, and run nnstudio from
# outside the checkout. Slow (a venv, all dependencies); not part of the tests.
#
#   packaging/check_wheel.sh            # leaves the artefacts in dist/
#
# torch: a plain `pip install` of the wheel would pull the CUDA build of torch
# (several GB). When the Python running this script already has torch, the same
# version is installed into the venv first (the CPU build here comes from the
# local wheel cache); set TORCH_SPEC to choose another, e.g. TORCH_SPEC=torch.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

echo "== building the sdist, then the wheel from it (isolated) =="
rm -f dist/nnstudio-*.whl dist/nnstudio-*.tar.gz
"$PYTHON" -m build --outdir dist . >"$work/build.log" 2>&1 || { cat "$work/build.log"; exit 1; }
grep -iE "^(WARNING|warning:)" "$work/build.log" | grep -v "byte-compiling is disabled" || true
sdist=$(ls dist/nnstudio-*.tar.gz)
wheel=$(ls dist/nnstudio-*.whl)
echo "$sdist: $(tar tzf "$sdist" | grep -c '/resources/') resource entries"
echo "$wheel: $("$PYTHON" -m zipfile -l "$wheel" | grep -c 'nnstudio/_resources/') resource files"

echo "== installing the wheel into a fresh venv =="
"$PYTHON" -m venv "$work/venv"
pip="$work/venv/bin/pip"
torch_spec="${TORCH_SPEC:-$("$PYTHON" -c 'import torch; print("torch==" + torch.__version__.split("+")[0])' 2>/dev/null || echo torch)}"
"$pip" install -q --disable-pip-version-check "$torch_spec"
"$pip" install -q --disable-pip-version-check "$wheel"

echo "== running it from outside the checkout =="
cd "$work"
bin="$work/venv/bin"
for exe in nnstudio nnstudio-gui; do
    [ -x "$bin/$exe" ] || { echo "missing entry point: $exe"; exit 1; }
done
"$bin/python" - <<'EOF'
import nnstudio, nnstudio.resources as r
site = r.resources_dir()
assert "site-packages" in str(site), f"resources found outside the install: {site}"
assert r.app_icon(256).exists() and (r.desktop_dir() / f"{r.APP_ID}.desktop").exists()
print(f"nnstudio {nnstudio.__version__} from {nnstudio.__file__}; {len(r.example_files())} examples")
EOF
example=$("$bin/python" -c "from nnstudio.resources import example_files; print(example_files()[0])")
"$bin/nnstudio" validate "$example"
"$bin/nnstudio" info "$example" | tail -3
# The exported training script runs with the installed packages alone.
circles=$("$bin/python" -c "from nnstudio.resources import examples_dir; print(examples_dir() / 'mlp_circles.nnstudio')")
"$bin/nnstudio" export "$circles" -o "$work/export" --train-script
(cd "$work/export" && "$bin/python" train.py --epochs 1 --device cpu | tail -1)
echo "check_wheel: OK"

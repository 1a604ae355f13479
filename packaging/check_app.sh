#!/usr/bin/env bash
# Check the built app folder (packaging/build_app.sh): it starts under a virtual X
# display, opens a bundled example and shows its window; its command line works
# without any Python installed. Slow, so not part of the test run.
#
#   packaging/check_app.sh [dist/nnstudio]
set -euo pipefail
cd "$(dirname "$0")/.."
app_dir="$(cd "${1:-dist/nnstudio}" 2>/dev/null && pwd || echo "${1:-dist/nnstudio}")"
exe="$app_dir/nnstudio"
[ -x "$exe" ] || { echo "no app at $exe; run packaging/build_app.sh first" >&2; exit 1; }
example_src=resources/examples/lenet5.nnstudio

# A clean home: no settings or autosaved work of the user's (a recovery prompt would wait forever).
home="$(mktemp -d)"
trap 'rm -rf "$home"' EXIT
export HOME="$home" XDG_CONFIG_HOME="$home/.config" XDG_DATA_HOME="$home/.local/share" \
    XDG_CACHE_HOME="$home/.cache" XDG_RUNTIME_DIR="$home/run"
mkdir -m 700 "$home/run"
# The bundle must find its own resources, so run from elsewhere and open its copy.
example="$app_dir/_internal/nnstudio/_resources/examples/$(basename "$example_src")"
[ -f "$example" ] || { echo "the bundle lacks its examples: $example" >&2; exit 1; }
cd "$home"

echo "== command line =="
"$exe" --version
"$exe" validate "$example"
"$exe" export "$example" -o "$home/export" --train-script
if "$exe" train --help >/dev/null 2>&1; then  # torch inside the bundle, end to end
    "$exe" train "$example" --epochs 1 --device cpu --out "$home/run-1" | tail -2
fi

echo "== the editor, under Xvfb =="
if ! command -v xvfb-run >/dev/null; then
    echo "xvfb-run is missing (Debian: apt-get install xvfb xauth)" >&2
    exit 1
fi
# NNSTUDIO_STARTUP_PROBE: the app prints one line once its windows are shown, then quits.
output="$(NNSTUDIO_STARTUP_PROBE=1 QT_QPA_PLATFORM=xcb timeout 180 \
    xvfb-run -a -s "-screen 0 1600x1000x24" "$exe" "$example" 2>&1)" || {
    echo "$output"; echo "check_app: the app did not start and quit cleanly" >&2; exit 1; }
echo "$output" | tail -5
if ! grep -q "^nnstudio-shown .*torch_imported=False .*window=.*lenet5" <<<"$output"; then
    echo "check_app: no window showed the example (or torch loaded before the window)" >&2
    exit 1
fi
if grep -qiE "traceback|fatal|could not load the qt platform plugin" <<<"$output"; then
    echo "check_app: the app printed errors" >&2
    exit 1
fi
echo "check_app: OK"

#!/usr/bin/env bash
# Build the self-contained Linux app folder dist/nnstudio/ with PyInstaller.
#
#   packaging/build_app.sh          # then: packaging/check_app.sh
#   dist/nnstudio/nnstudio resources/examples/lenet5.nnstudio
#   dist/nnstudio/install_desktop.sh    # menu entry, icons, .nnstudio file type
#
# Build in the Python environment whose packages should ship (torch's CPU build
# keeps the folder near 1 GB; a CUDA build adds its libraries). Takes minutes.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"

if ! "$PYTHON" -m PyInstaller --version >/dev/null 2>&1; then
    echo "PyInstaller is missing: $PYTHON -m pip install pyinstaller" >&2
    exit 1
fi
"$PYTHON" -m PyInstaller --noconfirm --clean --log-level WARN \
    --distpath dist --workpath build/pyinstaller packaging/nnstudio.spec
install -m755 packaging/install_desktop.sh dist/nnstudio/install_desktop.sh
echo "Built dist/nnstudio/ ($(du -sh dist/nnstudio | cut -f1)); check it with packaging/check_app.sh"

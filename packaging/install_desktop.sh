#!/usr/bin/env bash
# Register nnstudio with the Linux desktop: menu entry, icons, AppStream data and
# the application/x-nnstudio MIME type, so .nnstudio files open with the app.
#
#   packaging/install_desktop.sh                 # pip install: runs `nnstudio` from PATH
#   dist/nnstudio/install_desktop.sh             # the PyInstaller app folder: runs the bundle
#   ... --prefix /usr/local                      # system-wide (default: ~/.local)
#   ... --exec /opt/nnstudio/nnstudio            # a specific executable
#   ... --uninstall                              # remove what an install put there
set -euo pipefail

APP_ID=io.github.nnstudio.nnstudio
MIME_ICON=application-x-nnstudio
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

prefix="${XDG_DATA_HOME:-$HOME/.local/share}"
prefix="${prefix%/share}"
exec_path=""
uninstall=0
while [ $# -gt 0 ]; do
    case "$1" in
        --prefix) prefix="$2"; shift 2 ;;
        --exec) exec_path="$2"; shift 2 ;;
        --uninstall) uninstall=1; shift ;;
        -h|--help) sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "install_desktop.sh: unknown option '$1' (try --help)" >&2; exit 2 ;;
    esac
done

# The resources: in a checkout beside packaging/, in the app folder inside the bundle.
resources="${NNSTUDIO_RESOURCES:-}"
for candidate in "$here/../resources" "$here/_internal/nnstudio/_resources"; do
    if [ -z "$resources" ] && [ -f "$candidate/desktop/$APP_ID.desktop" ]; then
        resources="$(cd "$candidate" && pwd)"
    fi
done
if [ -z "$resources" ]; then
    echo "install_desktop.sh: cannot find nnstudio's resources folder; set NNSTUDIO_RESOURCES." >&2
    exit 1
fi
# In the app folder the executable sits beside this script; elsewhere use PATH.
if [ -z "$exec_path" ] && [ -x "$here/nnstudio" ] && [ -d "$here/_internal" ]; then
    exec_path="$here/nnstudio"
fi

share="$prefix/share"
icons="$share/icons/hicolor"
targets=(
    "$share/applications/$APP_ID.desktop"
    "$share/metainfo/$APP_ID.metainfo.xml"
    "$share/mime/packages/$APP_ID.xml"
    "$icons/scalable/apps/$APP_ID.svg"
    "$icons/scalable/mimetypes/$MIME_ICON.svg"
)
for png in "$resources"/icons/nnstudio-*.png; do
    size="${png##*-}"; size="${size%.png}"
    targets+=("$icons/${size}x${size}/apps/$APP_ID.png")
done
for png in "$resources"/icons/$MIME_ICON-*.png; do
    size="${png##*-}"; size="${size%.png}"
    targets+=("$icons/${size}x${size}/mimetypes/$MIME_ICON.png")
done

if [ "$uninstall" -eq 1 ]; then
    rm -f "${targets[@]}"
else
    install -Dm644 "$resources/desktop/$APP_ID.desktop" "$share/applications/$APP_ID.desktop"
    if [ -n "$exec_path" ]; then
        # The desktop entry spec: arguments with spaces are double-quoted.
        quoted="\"${exec_path//\"/\\\"}\""
        sed -i -e "s|^Exec=nnstudio |Exec=$quoted |" -e "s|^TryExec=.*|TryExec=$exec_path|" \
            "$share/applications/$APP_ID.desktop"
    fi
    install -Dm644 "$resources/desktop/$APP_ID.metainfo.xml" "$share/metainfo/$APP_ID.metainfo.xml"
    install -Dm644 "$resources/desktop/$APP_ID.mime.xml" "$share/mime/packages/$APP_ID.xml"
    install -Dm644 "$resources/icons/nnstudio.svg" "$icons/scalable/apps/$APP_ID.svg"
    install -Dm644 "$resources/icons/$MIME_ICON.svg" "$icons/scalable/mimetypes/$MIME_ICON.svg"
    for png in "$resources"/icons/nnstudio-*.png; do
        size="${png##*-}"; size="${size%.png}"
        install -Dm644 "$png" "$icons/${size}x${size}/apps/$APP_ID.png"
    done
    for png in "$resources"/icons/$MIME_ICON-*.png; do
        size="${png##*-}"; size="${size%.png}"
        install -Dm644 "$png" "$icons/${size}x${size}/mimetypes/$MIME_ICON.png"
    done
fi

# Refresh the caches desktops read; each tool is optional.
if command -v update-mime-database >/dev/null && [ -d "$share/mime/packages" ]; then
    update-mime-database "$share/mime"
fi
if command -v update-desktop-database >/dev/null && [ -d "$share/applications" ]; then
    update-desktop-database -q "$share/applications"
fi
if command -v gtk-update-icon-cache >/dev/null && [ -f "$icons/index.theme" ]; then
    gtk-update-icon-cache -q -t -f "$icons"
fi
if [ "$uninstall" -eq 1 ]; then
    echo "Removed nnstudio's desktop files from $share."
else
    echo "Installed nnstudio's desktop entry, icons and MIME type under $share."
fi

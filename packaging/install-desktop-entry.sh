#!/bin/sh
# Add Workbench to the desktop menu of the current user (no root needed).
# Run it from the unpacked bundle folder; run it again after moving the folder.
# --remove takes the entry, icon and file type away again.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
data=${XDG_DATA_HOME:-$HOME/.local/share}
apps=$data/applications
icons=$data/icons/hicolor
if [ "${1:-}" = "--remove" ]; then
    rm -f "$apps/workbench.desktop" "$icons/256x256/apps/workbench.png" \
        "$icons/scalable/apps/workbench.svg" "$data/mime/packages/workbench-mime.xml"
else
    mkdir -p "$apps" "$icons/256x256/apps" "$icons/scalable/apps" "$data/mime/packages"
    # Exec and TryExec point at this folder's executable.
    sed -e "s|^Exec=workbench|Exec=\"$here/workbench\"|" -e "s|^TryExec=workbench|TryExec=$here/workbench|" \
        "$here/workbench.desktop" > "$apps/workbench.desktop"
    cp "$here/workbench.png" "$icons/256x256/apps/workbench.png"
    cp "$here/workbench.svg" "$icons/scalable/apps/workbench.svg"
    cp "$here/workbench-mime.xml" "$data/mime/packages/workbench-mime.xml"
fi
command -v update-mime-database >/dev/null 2>&1 && update-mime-database "$data/mime" || true
command -v update-desktop-database >/dev/null 2>&1 && update-desktop-database "$apps" || true
command -v gtk-update-icon-cache >/dev/null 2>&1 && gtk-update-icon-cache -q -t "$icons" || true
if [ "${1:-}" = "--remove" ]; then
    echo "Workbench desktop entry removed from $apps"
else
    echo "Workbench desktop entry installed in $apps"
fi

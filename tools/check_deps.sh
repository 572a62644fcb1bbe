#!/bin/sh
# check_deps.sh: makes sure the Debian packages the build needs are installed.
# Run by `make` on a fresh build directory and by `make deps`.  As root it installs
# what is missing with apt-get; otherwise it prints the exact command and fails.
missing=""
[ -f /usr/include/doctest/doctest.h ] || missing="$missing doctest-dev"
[ -f /usr/include/stb/stb_image.h ] || missing="$missing libstb-dev"
[ -z "$missing" ] && exit 0
if [ "$(id -u)" = 0 ]; then
    echo "== installing missing packages:$missing"
    (apt-get install -y $missing || (apt-get update && apt-get install -y $missing)) >/dev/null || {
        echo "error: apt-get install$missing failed" >&2; exit 1; }
else
    echo "error: missing packages:$missing" >&2
    echo "HINT: run  sudo apt-get install -y$missing  and then make again" >&2
    exit 1
fi

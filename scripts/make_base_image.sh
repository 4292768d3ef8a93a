#!/usr/bin/env bash
# Build a minimal Debian + Python 3.11 base image from Debian's packages with debootstrap.
#
# For machines that cannot pull from any registry (see ../shared/docs/MACHINE.md). Anywhere
# else the Dockerfile's default base, python:3.11-slim, is what you want.
#
#   scripts/make_base_image.sh [IMAGE]     # default IMAGE: localtypes-base:bookworm
#
# Cached: does nothing when IMAGE already exists (set FORCE=1 to rebuild). Needs root and
# debootstrap. The mirror is the one apt uses on this machine (MIRROR=... overrides it).
set -euo pipefail

IMAGE="${1:-${BASE_IMAGE:-localtypes-base:bookworm}}"
DOCKER="${DOCKER:-$( [[ -x /usr/bin/docker ]] && echo /usr/bin/docker || command -v docker )}"
SUITE="${SUITE:-bookworm}"

if [[ "${FORCE:-0}" != 1 ]] && "$DOCKER" image inspect "$IMAGE" >/dev/null 2>&1; then
    echo "make_base_image: $IMAGE exists, skipping" >&2
    exit 0
fi

if [[ -z "${MIRROR:-}" ]]; then
    MIRROR="$(awk '/^URIs:/ && $2 ~ /\/debian\/?$/ {print $2; exit}' \
        /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)"
    if [[ -z "$MIRROR" ]]; then
        MIRROR="$(awk '$1 == "deb" && $3 == "'"$SUITE"'" {print $2; exit}' \
            /etc/apt/sources.list 2>/dev/null || true)"
    fi
    MIRROR="${MIRROR:-http://deb.debian.org/debian}"
fi

ROOTFS="$(mktemp -d /tmp/localtypes-rootfs.XXXXXX)"
trap 'rm -rf "$ROOTFS"' EXIT
echo "make_base_image: debootstrap $SUITE from $MIRROR into $ROOTFS" >&2
start=$(date +%s)
debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates \
    "$SUITE" "$ROOTFS" "$MIRROR" >/tmp/make_base_image.log 2>&1 || {
    tail -30 /tmp/make_base_image.log >&2; exit 1; }

# Trim what a runtime image never needs: apt lists and caches, docs, man pages, locales.
rm -rf "$ROOTFS"/var/cache/apt/archives/*.deb "$ROOTFS"/var/lib/apt/lists/* \
       "$ROOTFS"/usr/share/doc/* "$ROOTFS"/usr/share/man/* "$ROOTFS"/usr/share/info/* \
       "$ROOTFS"/var/log/*.log "$ROOTFS"/var/cache/debconf/*-old
find "$ROOTFS"/usr/share/locale -mindepth 1 -maxdepth 1 ! -name 'locale.alias' \
    -exec rm -rf {} + 2>/dev/null || true

tar --numeric-owner -C "$ROOTFS" -c . | "$DOCKER" import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV LANG=C.UTF-8' \
    --change 'CMD ["/bin/bash"]' \
    --message "debootstrap --variant=minbase $SUITE + python3 python3-venv ca-certificates" \
    - "$IMAGE" >/dev/null
echo "make_base_image: built $IMAGE in $(( $(date +%s) - start )) s," \
    "$("$DOCKER" image inspect -f '{{.Size}}' "$IMAGE") bytes" >&2

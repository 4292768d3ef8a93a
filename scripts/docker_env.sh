#!/usr/bin/env bash
# Make a Docker engine, Compose and the base image available on this machine.
#
#   scripts/docker_env.sh            # install what is missing, start dockerd, build the base
#   scripts/docker_env.sh --no-base  # engine only
#
# Prints "DOCKER_ENV_OK" as its last line when the engine answers; exits non-zero otherwise.
# On a machine that already has Docker running (a user's laptop) it changes nothing.
# Here (see ../shared/docs/MACHINE.md) it installs Debian's docker.io (engine 20.10),
# docker-compose (v1) and debootstrap, starts dockerd in the background as root, and builds
# the base image with scripts/make_base_image.sh (cached: skipped when it exists).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
BUILD_BASE=1
[[ "${1:-}" == "--no-base" ]] && BUILD_BASE=0

# Debian's client builds with BuildKit; the newer client in /usr/local/bin needs buildx.
DOCKER="${DOCKER:-}"
if [[ -z "$DOCKER" ]]; then
    if [[ -x /usr/bin/docker ]]; then DOCKER=/usr/bin/docker; else DOCKER="$(command -v docker || true)"; fi
fi

log() { echo "docker_env: $*" >&2; }

engine_up() { [[ -n "$DOCKER" ]] && "$DOCKER" info >/dev/null 2>&1; }

if ! engine_up; then
    need=()
    command -v dockerd >/dev/null 2>&1 || need+=(docker.io)
    [[ -x /usr/bin/docker ]] || need+=(docker.io)
    command -v docker-compose >/dev/null 2>&1 || need+=(docker-compose)
    if [[ $BUILD_BASE == 1 ]]; then command -v debootstrap >/dev/null 2>&1 || need+=(debootstrap); fi
    if ((${#need[@]})); then
        if [[ $(id -u) != 0 ]] || ! command -v apt-get >/dev/null 2>&1; then
            log "missing ${need[*]} and cannot apt-get install them (not root or not Debian)"
            exit 1
        fi
        log "installing ${need[*]}"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq >/dev/null
        # The set checked on these machines (MACHINE.md): recommends included.
        apt-get install -y -qq "${need[@]}" >/dev/null
    fi
    DOCKER=/usr/bin/docker
    if ! engine_up; then
        if [[ $(id -u) != 0 ]]; then log "dockerd is not running and we are not root"; exit 1; fi
        if ! pgrep -x dockerd >/dev/null 2>&1; then
            log "starting dockerd (log: /tmp/dockerd.log)"
            setsid dockerd >/tmp/dockerd.log 2>&1 < /dev/null &
        fi
        for _ in $(seq 1 60); do engine_up && break; sleep 1; done
        if ! engine_up; then
            log "dockerd did not answer within 60 s; tail of /tmp/dockerd.log:"
            tail -20 /tmp/dockerd.log >&2 || true
            exit 1
        fi
    fi
fi
log "engine: $("$DOCKER" version --format '{{.Server.Version}}' 2>/dev/null) via $DOCKER"

# Optional: Debian's Prometheus, so the tests can scrape the service and run the Grafana
# dashboard's queries (its image cannot be pulled here). Best effort, never fatal.
if [[ "${WITH_PROMETHEUS:-1}" == 1 ]] && ! command -v prometheus >/dev/null 2>&1 \
    && [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null 2>&1; then
    log "installing prometheus (for the dashboard query check)"
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus; } \
        >/dev/null 2>&1 || log "prometheus could not be installed; that check will skip"
fi

if [[ $BUILD_BASE == 1 ]]; then
    if ! "$DOCKER" image inspect "${BASE_IMAGE:-localtypes-base:bookworm}" >/dev/null 2>&1 \
        && ! command -v debootstrap >/dev/null 2>&1 && [[ $(id -u) == 0 ]] \
        && command -v apt-get >/dev/null 2>&1; then
        log "installing debootstrap"
        { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap; } \
            >/dev/null 2>&1 || log "debootstrap could not be installed"
    fi
    DOCKER="$DOCKER" "$HERE/make_base_image.sh"
fi
echo DOCKER_ENV_OK

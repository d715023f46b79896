#!/usr/bin/env bash
# Install the system packages shmlru's tests and benchmarks need (Debian 12).
#
# Idempotent: when everything is already installed it does no apt work at all
# (no `apt-get update`), so repeated `make test` runs are fast and work offline.
#
#   luajit2                 OpenResty's LuaJIT branch -> /usr/bin/luajit, the same
#                           libluajit2-5.1-2 the nginx lua module links.  Debian's
#                           `luajit` is upstream 2.1.0-beta3; its library conflicts
#                           with libluajit2-5.1-2, so luajit2 replaces it.
#   nginx                   nginx core binary (modules are separate packages)
#   libnginx-mod-http-lua   ngx_http_lua_module; pulls libnginx-mod-http-ndk,
#                           lua-resty-core, lua-resty-lrucache, libluajit2-5.1-2
#   lua-resty-core, lua-resty-lrucache   (named explicitly for clarity)
#   redis-server            the near cache's and the Lua tests' Redis
#   memcached               a peer in bench/
#   pkg-config              the install test builds a C program with nothing else
#   luarocks                the install test runs `luarocks make` on the rockspec
#                           (pulls lua5.1, which LuaRocks runs on)
#   groff-base              shmctl's man page test renders it with groff -ww
#
# Services: the packages' maintainer scripts would start nginx (port 80),
# redis and memcached through invoke-rc.d.  A temporary policy-rc.d that
# denies every start prevents that; afterwards it is removed again, or the
# one that was there before (e.g. Docker's) is put back.
set -euo pipefail
export PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"  # nginx lives in /usr/sbin

PKGS=(
  luajit2
  nginx
  libnginx-mod-http-ndk
  libnginx-mod-http-lua
  lua-resty-core
  lua-resty-lrucache
  redis-server
  memcached
  pkg-config
  luarocks
  groff-base
)

# Commands that must exist afterwards (sanity check on the result).
CMDS=(luajit nginx redis-server memcached pkg-config luarocks groff)

pkg_installed() {
  [ "$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null || true)" = installed ]
}

missing=()
for p in "${PKGS[@]}"; do
  pkg_installed "$p" || missing+=("$p")
done
# A package marked installed but whose command is gone: reinstall everything.
if [ ${#missing[@]} -eq 0 ]; then
  for c in "${CMDS[@]}"; do
    command -v "$c" >/dev/null 2>&1 || { missing=("${PKGS[@]}"); break; }
  done
fi

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "deps.sh: missing system packages: ${missing[*]}" >&2
  echo "deps.sh: run as root (or: sudo apt-get install --no-install-recommends ${missing[*]})" >&2
  exit 1
fi

echo "deps.sh: installing: ${missing[*]}" >&2

# Keep package installs from starting services (no systemd here, so
# invoke-rc.d would run /etc/init.d/nginx start and bind port 80).  Any
# existing policy-rc.d is put back afterwards.
POLICY=/usr/sbin/policy-rc.d
POLICY_BAK=""
if [ -e "$POLICY" ]; then
  POLICY_BAK=$(mktemp /usr/sbin/.policy-rc.d.shmlru.XXXXXX)
  cp -p "$POLICY" "$POLICY_BAK"
fi
cleanup() {
  if [ -n "$POLICY_BAK" ]; then mv -f "$POLICY_BAK" "$POLICY"; else rm -f "$POLICY"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP
printf '#!/bin/sh\n# temporary, from shmlru scripts/deps.sh\nexit 101\n' > "$POLICY"
chmod 755 "$POLICY"

export DEBIAN_FRONTEND=noninteractive
APT=(apt-get -y -q -o DPkg::Lock::Timeout=300 -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold)

LOG=$(mktemp /tmp/shmlru-deps.XXXXXX.log)
if ! { "${APT[@]}" update && "${APT[@]}" install --no-install-recommends "${missing[@]}"; } >"$LOG" 2>&1; then
  tail -n 40 "$LOG" >&2
  echo "deps.sh: apt-get failed; full log: $LOG" >&2
  exit 1
fi
rm -f "$LOG"

for c in "${CMDS[@]}"; do
  command -v "$c" >/dev/null 2>&1 || { echo "deps.sh: '$c' still missing after install" >&2; exit 1; }
done
echo "deps.sh: done" >&2

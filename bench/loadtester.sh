#!/usr/bin/env bash
# Builds strongSwan's charon with the load-tester plugin, which Debian does
# not ship in any binary package, from Debian's own source package of the
# strongSwan version that is installed (so the tested peer and the load
# generator are the same code). The result is cached under
# bench/cache/strongswan-VERSION/ and reused while that version stays
# installed; prints the install prefix on stdout.
#
#   bash bench/loadtester.sh        (root: apt-get source, build-dep)
#
# deb-src entries: when apt has none for the installed suite, this adds
# /etc/apt/sources.list.d/esptunbench-src.sources (Types: deb-src, same URIs,
# suites and keyring as debian.sources) and leaves it there for the next run.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
cache=$here/cache
log() { printf 'loadtester: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

[ "$(id -u)" -eq 0 ] || die "needs root (apt-get)"
version=$(dpkg-query -W -f='${Version}' strongswan-charon 2>/dev/null) ||
	die "strongswan-charon is not installed (run interop/install.sh first)"
prefix=$cache/strongswan-$version
if [ -x "$prefix/libexec/ipsec/charon" ] && [ -e "$prefix/lib/ipsec/plugins/libstrongswan-load-tester.so" ]; then
	echo "$prefix"
	exit 0
fi
mkdir -p "$cache"

export DEBIAN_FRONTEND=noninteractive
srcfile=/etc/apt/sources.list.d/esptunbench-src.sources
if ! grep -rqsE '^(deb-src|Types:.*deb-src)' /etc/apt/sources.list /etc/apt/sources.list.d/; then
	log "no deb-src entries: adding $srcfile"
	deb822=/etc/apt/sources.list.d/debian.sources
	if [ -r "$deb822" ]; then
		sed -e 's/^Types: deb$/Types: deb-src/' "$deb822" | grep -v '^#' >"$srcfile"
	else
		codename=$(. /etc/os-release && echo "$VERSION_CODENAME")
		cat >"$srcfile" <<EOF
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: $codename $codename-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb-src
URIs: http://deb.debian.org/debian-security
Suites: $codename-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
	fi
	apt-get update -qq
fi

# The minimal build dependencies for charon with the openssl plugin; the
# whole build-dep list (systemd, ldap, curl, tss2, ...) is not needed.
need=()
for p in build-essential pkg-config libssl-dev dpkg-dev; do
	dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$' || need+=("$p")
done
if [ "${#need[@]}" -gt 0 ]; then
	log "installing ${need[*]}"
	apt-get install -y -qq --no-install-recommends "${need[@]}" >&2
fi

build=$cache/build-$version
rm -rf "$build"
mkdir -p "$build"
# The installed revision first; a mirror may lack the source of a security
# update (404), so then any other revision of the same upstream version.
upstream=${version%%-*}
got=
for v in "$version" $(apt-cache showsrc strongswan 2>/dev/null | awk '/^Version:/ { print $2 }' | sort -urV); do
	case "$v" in "$upstream"-*) ;; *) continue ;; esac
	log "apt-get source strongswan=$v"
	rm -rf "${build:?}"/*
	if (cd "$build" && apt-get source -qq --download-only "strongswan=$v" >&2 2>"$build.err"); then
		got=$v
		break
	fi
	log "$(grep -m1 '^E:' "$build.err" || tail -n 1 "$build.err")"
done
rm -f "$build.err"
[ -n "$got" ] || die "apt-get source strongswan: no source package of strongSwan $upstream could be fetched"
[ "$got" = "$version" ] || log "built from $got (the source of $version could not be fetched)"
# dpkg-source applies Debian's patches, so the built charon is the packaged one.
(cd "$build" && dpkg-source -x ./*.dsc src >&2) || die "dpkg-source -x failed"

log "configure (load-tester, openssl, charon only)"
cd "$build/src"
./configure -q --prefix="$prefix" --sysconfdir="$prefix/etc" \
	--disable-defaults --enable-charon --enable-ikev2 --enable-load-tester \
	--enable-openssl --enable-random --enable-nonce --enable-kdf \
	--enable-sha1 --enable-sha2 --enable-hmac --enable-kernel-netlink \
	--enable-socket-default --with-systemdsystemunitdir=no >&2
log "make (about five minutes on two cores)"
make -s -j"$(nproc)" >&2
# Installed into a staging directory first: strongSwan's install also
# writes outside the prefix (a systemd unit under /lib/systemd/system, which
# would overwrite the packaged one); only the prefix is taken from it.
stage=$build/stage
make -s install DESTDIR="$stage" >&2
rm -rf "$prefix"
mkdir -p "$(dirname "$prefix")"
mv "$stage$prefix" "$prefix"
echo "$got" >"$prefix/DEBIAN-SOURCE-VERSION"
[ -x "$prefix/libexec/ipsec/charon" ] || die "charon missing after the build"
[ -e "$prefix/lib/ipsec/plugins/libstrongswan-load-tester.so" ] || die "load-tester plugin missing after the build"
rm -rf "$build"
echo "$prefix"

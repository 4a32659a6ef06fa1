#!/usr/bin/env bash
# Installs what the esptun interoperability suite needs from Debian's
# packages: strongSwan's charon with its kernel-libipsec plugin (userspace ESP
# over a TUN device) and its EAP plugins (eap-identity, eap-tls from
# libcharon-extra-plugins, eap-mschapv2 from libcharon-extauth-plugins, MD4
# from gcrypt in libstrongswan-extra-plugins), swanctl, pki and openssl for
# certificates, iproute2 for namespaces and veth pairs, iperf3 and tcpdump for
# manual digging.
#
# Non-interactive and idempotent: when everything is there already it changes
# nothing and asks no registry. The suite runs its own charon instances inside
# network namespaces, so no system-wide strongSwan may run and hold UDP 500
# and 4500 in the root namespace: services are kept from starting during the
# install (policy-rc.d) and disabled afterwards where systemd runs them.
set -euo pipefail

if [ "$(id -u)" -ne 0 ]; then
	echo "interop/install.sh: needs root (apt-get install)" >&2
	exit 1
fi

packages=(
	strongswan-charon
	strongswan-swanctl
	strongswan-pki
	libcharon-extra-plugins
	libcharon-extauth-plugins
	libstrongswan-standard-plugins
	libstrongswan-extra-plugins
	openssl
	iproute2
	iperf3
	tcpdump
)

missing=()
for p in "${packages[@]}"; do
	if ! dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$'; then
		missing+=("$p")
	fi
done

if [ "${#missing[@]}" -gt 0 ]; then
	echo "interop/install.sh: installing ${missing[*]}"
	# Keep maintainer scripts from starting charon or starter: exit 101 is
	# "action forbidden" to invoke-rc.d. An existing policy-rc.d is left as
	# it is (it already decides), ours is removed on the way out.
	made_policy=
	if [ ! -e /usr/sbin/policy-rc.d ]; then
		printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
		chmod 0755 /usr/sbin/policy-rc.d
		made_policy=1
	fi
	trap '[ -n "$made_policy" ] && rm -f /usr/sbin/policy-rc.d' EXIT
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends \
		-o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
		"${missing[@]}"
fi

# Where systemd manages services, make sure the packaged units are neither
# running nor started at boot. Without systemd, policy-rc.d above kept them
# from starting.
if [ -d /run/systemd/system ] && command -v systemctl >/dev/null; then
	for unit in strongswan-starter.service strongswan.service ipsec.service; do
		if systemctl list-unit-files "$unit" >/dev/null 2>&1; then
			systemctl disable --now "$unit" >/dev/null 2>&1 || true
		fi
	done
fi

# Report, so that a CI log shows what the suite will run against.
for f in /usr/lib/ipsec/charon /usr/sbin/swanctl /usr/bin/pki /usr/bin/openssl /usr/bin/iperf3; do
	if [ ! -x "$f" ]; then
		echo "interop/install.sh: $f is missing after the install" >&2
		exit 1
	fi
done
if ! ls /usr/lib/ipsec/plugins/libstrongswan-kernel-libipsec.so >/dev/null 2>&1; then
	echo "interop/install.sh: the kernel-libipsec plugin is missing (libcharon-extra-plugins)" >&2
	exit 1
fi
for p in eap-identity eap-mschapv2 eap-tls gcrypt; do
	if ! ls "/usr/lib/ipsec/plugins/libstrongswan-$p.so" >/dev/null 2>&1; then
		echo "interop/install.sh: strongSwan's $p plugin is missing" >&2
		exit 1
	fi
done
echo "interop/install.sh: strongSwan $(dpkg-query -W -f='${Version}' strongswan-charon), $(openssl version | cut -d" " -f1-2)"

#!/bin/sh
# Installs the Debian packages a Slipway host needs, when any is missing. Idempotent:
# when everything is present it only checks and exits. As root it runs apt-get; as any
# other user it prints the command to run and fails.
#
#   sh infra/host-setup.sh          packages for running Slipway
#   sh infra/host-setup.sh --test   also the outside tools the test suite runs against
#   sh infra/host-setup.sh --bench  also podman, skopeo and wrk, which the benchmarks compare with
set -eu

# command-name:package pairs; a command that is on PATH means its package is present.
runtime_packages="runc:runc redis-server:redis-server iptables:iptables ip:iproute2 git:git
debootstrap:debootstrap mknod:coreutils setfattr:attr getfattr:attr tar:tar bzip2:bzip2 xz:xz-utils
zstd:zstd tini-static:tini"
test_packages="skopeo:skopeo umoci:umoci docker-registry:docker-registry busybox:busybox-static
pg_ctlcluster:postgresql openssl:openssl"
bench_packages="podman:podman skopeo:skopeo busybox:busybox-static wrk:wrk"

wanted="$runtime_packages"
if [ "${1:-}" = "--test" ]; then
  wanted="$runtime_packages $test_packages"
elif [ "${1:-}" = "--bench" ]; then
  wanted="$runtime_packages $bench_packages"
fi

missing=""
for pair in $wanted; do
  command_name=${pair%%:*}
  package=${pair#*:}
  if ! command -v "$command_name" >/dev/null 2>&1 && ! [ -x "/usr/sbin/$command_name" ] && ! [ -x "/sbin/$command_name" ]; then
    case " $missing " in
      *" $package "*) ;;
      *) missing="$missing $package" ;;
    esac
  fi
done

if [ -z "$missing" ]; then
  exit 0
fi

if [ "$(id -u)" != "0" ]; then
  echo "Slipway needs these Debian packages:$missing" >&2
  echo "Install them as root with: apt-get update && apt-get install -y$missing" >&2
  exit 1
fi

echo "Installing Debian packages:$missing" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086 # the package list is meant to split into words
apt-get install -y -qq --no-install-recommends $missing >/dev/null

#!/usr/bin/env bash
# Install everything matcher needs on a fresh Debian machine: the Python package with its test
# extras, a CJK font for Chinese maps and briefings, and Chromium for the browser tests.
# Safe to run twice. Needs root (or sudo) for the Debian packages.
set -euo pipefail
cd "$(dirname "$0")/.."

apt_packages=(fonts-noto-cjk chromium chromium-driver poppler-utils)
missing=()
for p in "${apt_packages[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

python3 -m pip install -q -e '.[test]'

#!/usr/bin/env bash
# scripts/master-key.sh — print the development master key, creating it once.
#
# The key is 32 random bytes, base64, kept in $REPO/.data/master.key (mode 0600).
# `make run` exports it as KEYPLANE_MASTER_KEY when that variable is not set.
# Losing the file makes private keys sealed with it unreadable: keep .data/.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
KEY_FILE=$REPO/.data/master.key

if [[ ! -s $KEY_FILE ]]; then
  mkdir -p "$REPO/.data"
  tmp=$(mktemp "$REPO/.data/master.key.XXXXXX")
  chmod 0600 "$tmp"
  if command -v openssl >/dev/null 2>&1; then
    openssl rand -base64 32 >"$tmp"
  else
    head -c 32 /dev/urandom | base64 >"$tmp"
  fi
  # Don't overwrite a key written meanwhile by a concurrent run.
  if ln "$tmp" "$KEY_FILE" 2>/dev/null; then
    echo "master-key.sh: generated $KEY_FILE" >&2
  fi
  rm -f "$tmp"
fi
chmod 0600 "$KEY_FILE"
tr -d '\n' <"$KEY_FILE"
echo

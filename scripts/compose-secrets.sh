#!/usr/bin/env sh
# docker compose's `secrets` service: the stack's secrets as files in the nvr-secret volume,
# made once and kept, so nothing secret needs to be typed or sits in docker-compose.yml.
#   secret_key, field_encryption_key  (mode 600, read by the nvr services as SECRET_KEY_FILE ...)
#   db_password, redis_password       (mode 644: the db and redis containers read them as root
#                                      without CAP_DAC_OVERRIDE; only containers mounting the
#                                      volume see them)
# A value set in .env (SECRET_KEY, FIELD_ENCRYPTION_KEY, POSTGRES_PASSWORD, REDIS_PASSWORD) wins
# and is written to its file; otherwise an existing file is kept, else a random value is made.
# Files hold the value alone, without a newline (settings read them verbatim).
set -eu
dir=${NVR_SECRETS_DIR:-/var/lib/nvr}
cd "$dir"

secret() {  # secret FILE MODE VALUE-FROM-ENV
  file=$1 mode=$2 given=$3
  # 50 random bytes: 67 characters (Django's check --deploy wants a SECRET_KEY of 50 or more)
  if [ -n "$given" ]; then
    value=$given
  elif [ -s "$file" ]; then
    value=$(cat "$file")  # also drops the newline of files written by earlier versions
  else
    value=$(python -c 'import secrets; print(secrets.token_urlsafe(50))')
    echo "nvr: generated $file"
  fi
  (umask 077 && printf '%s' "$value" > "$file.tmp")
  chmod "$mode" "$file.tmp"
  mv "$file.tmp" "$file"
}

secret secret_key 600 "${SECRET_KEY:-}"
secret field_encryption_key 600 "${FIELD_ENCRYPTION_KEY:-}"
secret db_password 644 "${POSTGRES_PASSWORD:-}"
secret redis_password 644 "${REDIS_PASSWORD:-}"

# The VAPID key pair that signs Web Push requests (events/vapid.py): made once and kept, mode 600, read by
# the web and capture services as NVR_PUSH_KEY_PATH. Only its public key is ever shown.
if [ ! -s vapid_private.pem ]; then
  (umask 077 && python -c 'import sys; from py_vapid import Vapid02; v = Vapid02(); v.generate_keys(); sys.stdout.buffer.write(v.private_pem())' > vapid_private.pem.tmp)
  chmod 600 vapid_private.pem.tmp
  mv vapid_private.pem.tmp vapid_private.pem
  echo "nvr: generated vapid_private.pem"
fi

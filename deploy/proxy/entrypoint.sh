#!/bin/sh
# Entrypoint of the proxy image (deploy/proxy/Dockerfile): writes the htpasswd file from
#   CLAWDATA_PROXY_USER      (default: clawdata)
#   CLAWDATA_PROXY_PASSWORD  (at least 12 characters), or CLAWDATA_PROXY_PASSWORD_FILE (a secret file)
# then runs nginx. The password never reaches a command line, a log or a file: it goes through a
# pipe from a shell builtin into `openssl passwd`, and only its hash is stored (tmpfs, mode 600).
set -eu

# The image's CMD is `nginx -e stderr -c /etc/nginx/nginx.conf`. Any other command (`docker run
# IMAGE sh`, for debugging) runs as given, without the password checks.
[ "$#" -gt 0 ] || set -- nginx -e stderr -c /etc/nginx/nginx.conf
if [ "$1" != nginx ]; then exec "$@"; fi

die() { echo "proxy: error: $*" >&2; exit 1; }
# A setting the proxy refuses: said once, then nothing is served and the healthcheck fails, so
# `docker compose up --wait` (make up) fails on it, instead of a container restarting in a loop.
refuse() {
  echo "proxy: refusing to serve: $*" >&2
  trap 'exit 0' TERM INT
  while :; do sleep 3600 & wait $!; done
}

user=${CLAWDATA_PROXY_USER:-clawdata}
if [ -n "${CLAWDATA_PROXY_PASSWORD_FILE:-}" ]; then
  [ -r "$CLAWDATA_PROXY_PASSWORD_FILE" ] || die "CLAWDATA_PROXY_PASSWORD_FILE ($CLAWDATA_PROXY_PASSWORD_FILE) is not readable."
  password=$(cat -- "$CLAWDATA_PROXY_PASSWORD_FILE")
else
  password=${CLAWDATA_PROXY_PASSWORD:-}
fi
unset CLAWDATA_PROXY_PASSWORD

case $user in
  '' | *:* | *"
"*) refuse "CLAWDATA_PROXY_USER must be non-empty, without ':' or line breaks." ;;
esac
[ -n "$password" ] || refuse "CLAWDATA_PROXY_PASSWORD is not set or empty. Set a password of at least 12 characters (e.g. in .env) to share the Dagster UI through the proxy."
case $password in
  *"
"*) refuse "CLAWDATA_PROXY_PASSWORD must be a single line." ;;
esac
# Characters (the image sets LANG=C.UTF-8; in a byte locale wc -m would count bytes).
[ "$(printf '%s' "$password" | wc -m)" -ge 12 ] \
  || refuse "CLAWDATA_PROXY_PASSWORD is too short: use at least 12 characters (e.g. \`openssl rand -base64 18\`)."

mkdir -p /tmp/nginx
umask 077
# SHA-512 crypt ($6$, 5000 rounds, random salt), checked by nginx through libc's crypt(). printf is
# a builtin: the password is on no process's command line.
hash=$(printf '%s\n' "$password" | openssl passwd -6 -stdin) || die "could not hash the password."
unset password
printf '%s:%s\n' "$user" "$hash" >/tmp/nginx/htpasswd.new
mv -f /tmp/nginx/htpasswd.new /tmp/nginx/htpasswd
echo "proxy: basic auth on for user \"$user\"; listening on :8080, forwarding to webserver:3000." >&2

# nginx becomes PID 1 and receives docker's stop signal.
exec "$@"

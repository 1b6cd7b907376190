#!/bin/sh
# Build-time helper: runs a command trusting the optional `ca_bundle` build secret (for a
# TLS-intercepting proxy). Without the secret it changes nothing.
if [ -s /run/secrets/ca_bundle ]; then
  export SSL_CERT_FILE=/run/secrets/ca_bundle PIP_CERT=/run/secrets/ca_bundle
fi
exec "$@"

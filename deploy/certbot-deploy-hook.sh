#!/bin/sh
# certbot deploy hook for hydracluster serving TLS itself (server.tls):
# copies the renewed certificate where the service user can read it and
# reloads the service (SIGHUP: new connections get the new certificate,
# open ones are not dropped).
#
#   install -m 0755 deploy/certbot-deploy-hook.sh /etc/letsencrypt/renewal-hooks/deploy/hydracluster.sh
#
# certbot runs it after each successful renewal with RENEWED_LINEAGE set to
# /etc/letsencrypt/live/<name>. HC_CERT_NAME picks the lineage (default: the
# first domain of the certificate, as certbot names it).
set -eu

NAME=${HC_CERT_NAME:-cluster.example.com}
DEST=${HC_TLS_DIR:-/etc/hydracluster/tls}

case "${RENEWED_LINEAGE:-}" in
    */"$NAME") ;;
    *) exit 0 ;;   # another certificate
esac

install -d -m 0750 -o root -g hydracluster "$DEST"
# write both next to the old ones, then rename: a reload never sees a half-written file
install -m 0644 -o root -g hydracluster "$RENEWED_LINEAGE/fullchain.pem" "$DEST/fullchain.pem.new"
install -m 0640 -o root -g hydracluster "$RENEWED_LINEAGE/privkey.pem" "$DEST/privkey.pem.new"
mv -f "$DEST/privkey.pem.new" "$DEST/privkey.pem"
mv -f "$DEST/fullchain.pem.new" "$DEST/fullchain.pem"
systemctl reload hydracluster

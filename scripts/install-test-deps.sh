#!/usr/bin/env bash
# Installs the real servers that holdover's integration tests start through
# internal/testenv (Dovecot IMAP, Radicale CalDAV, Apache httpd WebDAV) plus
# the tools they use, Chromium for the status page's browser test, and mutt
# for the sendmail test (a real program calling holdover sendmail), and
# offlineimap, a second real client of the local IMAP endpoint.
# Idempotent: exits at once when everything is present.
# The packages' own services are not started or enabled by this script.
set -euo pipefail

PATH="$PATH:/usr/sbin:/sbin:/usr/local/sbin"

# file-or-command  package
needs=(
	"dovecot                       dovecot-core"
	"/usr/lib/dovecot/imap         dovecot-imapd"
	"radicale                      radicale"
	"apache2                       apache2"
	"/usr/lib/apache2/modules/mod_dav_fs.so apache2-bin"
	"htpasswd                      apache2-utils"
	"mbsync                        isync"
	"/usr/bin/time                 time"
	"systemd-analyze               systemd"
	"useradd                       passwd"
	"chromium                      chromium"
	"mutt                          mutt"
	"vdirsyncer                    vdirsyncer"
	"/usr/lib/python3/dist-packages/caldav python3-caldav"
	"litmus                        litmus"
	"offlineimap                   offlineimap3"
)

missing=()
for entry in "${needs[@]}"; do
	read -r what pkg <<<"$entry"
	if [[ "$what" == /* ]]; then
		[[ -e "$what" ]] && continue
	else
		command -v "$what" >/dev/null 2>&1 && continue
	fi
	missing+=("$pkg")
done

if ((${#missing[@]} == 0)); then
	echo "install-test-deps: all test servers present"
	exit 0
fi

echo "install-test-deps: missing packages: ${missing[*]}"
sudo=()
if [[ $(id -u) -ne 0 ]]; then
	if command -v sudo >/dev/null 2>&1; then
		sudo=(sudo)
	else
		echo "install-test-deps: not root and no sudo; install as root: ${missing[*]}" >&2
		exit 1
	fi
fi

"${sudo[@]}" apt-get update
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y \
	dovecot-core dovecot-imapd radicale apache2 apache2-bin apache2-utils isync time systemd passwd chromium
# Without its recommended mail transport agent (exim4): the test points
# mutt's sendmail at holdover.
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends mutt
# CalDAV clients of the local CalDAV endpoint (endpoints/caldavd): vdirsyncer
# syncing a folder, python3-caldav discovery, the litmus WebDAV suite.
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends vdirsyncer python3-caldav litmus
# A second real client of the local IMAP endpoint (endpoints/imapd); it
# recommends nothing, --no-install-recommends keeps it that way.
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends offlineimap3
echo "install-test-deps: done"

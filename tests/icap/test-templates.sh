#!/bin/bash
# The 403 page in its three forms says the same thing: squid's
# ERR_EGRESS_DENIED (header mode) and the module's c-icap templates
# EGRESS_DENIED (HTML) and EGRESS_DENIED_TEXT (page mode). Each is reduced
# to its sentences (tags and the footer dropped, every code replaced by
# what it stands for, the default egress.AccessHint for %EA) and they must
# match, except that squid cannot know the workspace's project (%EW) and
# only squid's page carries the external ACL helper's message (%o, empty on
# the ICAP path).
set -u
. "$(dirname "$0")/../lib/check.sh"

src=${top_srcdir:-.}
squid=$src/contrib/squid/errors/ERR_EGRESS_DENIED
html=$src/contrib/c-icap/templates/egress/en/EGRESS_DENIED
text=$src/contrib/c-icap/templates/egress/en/EGRESS_DENIED_TEXT
conf=$src/contrib/c-icap/egress.conf
for f in "$squid" "$html" "$text" "$conf"; do
    [ -f "$f" ] || { echo "harness error: $f is missing"; exit 99; }
done
hint=$(sed -n 's/^egress\.AccessHint "\(.*\)"$/\1/p' "$conf")
[ -n "$hint" ] || { echo "harness error: no egress.AccessHint in $conf"; exit 99; }

# The words between <h1> and <hr>, tags removed, whitespace collapsed.
sentences_html() {
    sed -n '/<h1>/,/<hr>/p' "$1" | sed '/<hr>/d' | sed 's/<[^>]*>//g' | tr -s ' \n' '  ' |
        sed 's/^ //; s/ $//'
}
# Every line of the text template but the footer, whitespace collapsed.
sentences_text() {
    sed '/^(egress-policy/d' "$1" | tr -s ' \n' '  ' | sed 's/^ //; s/ $//'
}
codes_cicap() {
    sed -e 's/ %EW / /g' -e 's/%EH/HOST/g' -e 's/%EI/ADDRESS/g' -e 's/%EU/URL/g' \
        -e "s/%EA/$(printf '%s' "$hint" | sed 's/[&/\]/\\&/g')/g"
}
codes_squid() {
    sed -e 's/ *%o *//g' -e 's/%H/HOST/g' -e 's/%i/ADDRESS/g' -e 's/%U/URL/g'
}

s=$(sentences_html "$squid" | codes_squid)
h=$(sentences_html "$html" | codes_cicap)
t=$(sentences_text "$text" | codes_cicap)
expect_match "squid's page names host, address and URL" "$s" "HOST.*ADDRESS.*HOST.*URL"
expect_no_match "squid's page has no unknown % code left" "$s" '%[A-Za-z]'
expect_no_match "the HTML template has no unknown % code left" "$h" '%[A-Za-z]'
expect_eq "the HTML template says what squid's page says" "$h" "$s"
expect_eq "the text template says what squid's page says" "$t" "$s"
expect_match "the HTML template names the workspace's project" "$(cat "$html")" '<b>%EW</b>'
expect_match "the text template names the workspace's project" "$(cat "$text")" 'workspace %EW '
finish

# Fuzz targets for the policy core's parsers (hosts and rules; README.md).
# Each target is one LLVMFuzzerTestOneInput() in fuzz_<target>.c. Every
# build links it with replay.c into tests/fuzz/replay_<target>, a test that
# replays the seed corpus in corpus/<target>/ plus 20,000 deterministic
# mutations of it; the sanitizer build runs those too. With
# --enable-fuzzing (clang) the same sources also build tests/fuzz/fuzz_<target>
# with libFuzzer for coverage-guided fuzzing.
fuzz_replays = tests/fuzz/replay_host tests/fuzz/replay_rule
check_PROGRAMS += $(fuzz_replays)
TESTS += $(fuzz_replays)
UNIT_TESTS += $(fuzz_replays)

tests_fuzz_replay_host_SOURCES = tests/fuzz/replay.c tests/fuzz/fuzz_host.c tests/fuzz/fuzz.h
tests_fuzz_replay_host_CPPFLAGS = $(AM_CPPFLAGS) -DFUZZ_TARGET='"host"'
tests_fuzz_replay_host_LDADD = policy/libpolicy.la
tests_fuzz_replay_rule_SOURCES = tests/fuzz/replay.c tests/fuzz/fuzz_rule.c tests/fuzz/fuzz.h
tests_fuzz_replay_rule_CPPFLAGS = $(AM_CPPFLAGS) -DFUZZ_TARGET='"rule"' $(PSL_CFLAGS)
tests_fuzz_replay_rule_LDADD = policy/libpolicy.la $(PSL_LIBS)

if FUZZING
noinst_PROGRAMS += tests/fuzz/fuzz_host tests/fuzz/fuzz_rule
tests_fuzz_fuzz_host_SOURCES = tests/fuzz/fuzz_host.c tests/fuzz/fuzz.h
tests_fuzz_fuzz_host_LDFLAGS = -fsanitize=fuzzer
tests_fuzz_fuzz_host_LDADD = policy/libpolicy.la
tests_fuzz_fuzz_rule_SOURCES = tests/fuzz/fuzz_rule.c tests/fuzz/fuzz.h
tests_fuzz_fuzz_rule_CPPFLAGS = $(AM_CPPFLAGS) $(PSL_CFLAGS)
tests_fuzz_fuzz_rule_LDFLAGS = -fsanitize=fuzzer
tests_fuzz_fuzz_rule_LDADD = policy/libpolicy.la $(PSL_LIBS)
endif

# The seed corpus, file by file (make dist takes files, not folders).
EXTRA_DIST += tests/fuzz/README.md tests/fuzz/host.dict tests/fuzz/rule.dict
EXTRA_DIST += \
	tests/fuzz/corpus/host/connect-authority \
	tests/fuzz/corpus/host/crlf \
	tests/fuzz/corpus/host/dot-only \
	tests/fuzz/corpus/host/double-dot \
	tests/fuzz/corpus/host/host-253 \
	tests/fuzz/corpus/host/host-254 \
	tests/fuzz/corpus/host/hyphen-edge \
	tests/fuzz/corpus/host/idn-alabel \
	tests/fuzz/corpus/host/idn-alabel-bogus \
	tests/fuzz/corpus/host/idn-alabel-upper \
	tests/fuzz/corpus/host/idn-dotless-i \
	tests/fuzz/corpus/host/idn-emoji \
	tests/fuzz/corpus/host/idn-fullwidth \
	tests/fuzz/corpus/host/idn-fullwidth-slash \
	tests/fuzz/corpus/host/idn-sharp-s \
	tests/fuzz/corpus/host/idn-utf8 \
	tests/fuzz/corpus/host/idn-zero-width \
	tests/fuzz/corpus/host/ipv4-decimal \
	tests/fuzz/corpus/host/ipv4-hex \
	tests/fuzz/corpus/host/ipv4-octal \
	tests/fuzz/corpus/host/ipv4-port \
	tests/fuzz/corpus/host/ipv4-short \
	tests/fuzz/corpus/host/label-63 \
	tests/fuzz/corpus/host/label-64 \
	tests/fuzz/corpus/host/mixed-case-port-dot \
	tests/fuzz/corpus/host/percent-bad \
	tests/fuzz/corpus/host/percent-dots \
	tests/fuzz/corpus/host/percent-nul \
	tests/fuzz/corpus/host/percent-nul-raw \
	tests/fuzz/corpus/host/percent-trunc \
	tests/fuzz/corpus/host/percent-utf8 \
	tests/fuzz/corpus/host/plain \
	tests/fuzz/corpus/host/port-big \
	tests/fuzz/corpus/host/port-empty \
	tests/fuzz/corpus/host/port-only \
	tests/fuzz/corpus/host/port-zero \
	tests/fuzz/corpus/host/relative \
	tests/fuzz/corpus/host/space \
	tests/fuzz/corpus/host/trailing-dots \
	tests/fuzz/corpus/host/underscore \
	tests/fuzz/corpus/host/url-at-in-path \
	tests/fuzz/corpus/host/url-backslash \
	tests/fuzz/corpus/host/url-full \
	tests/fuzz/corpus/host/url-scheme-only \
	tests/fuzz/corpus/host/url-v6 \
	tests/fuzz/corpus/host/v6-bare \
	tests/fuzz/corpus/host/v6-bracket-port \
	tests/fuzz/corpus/host/v6-bracket-upper \
	tests/fuzz/corpus/host/v6-future \
	tests/fuzz/corpus/host/v6-junk-after \
	tests/fuzz/corpus/host/v6-mapped-v4 \
	tests/fuzz/corpus/host/v6-unclosed \
	tests/fuzz/corpus/host/v6-zone \
	tests/fuzz/corpus/host/wildcard
EXTRA_DIST += \
	tests/fuzz/corpus/rule/bare-ip \
	tests/fuzz/corpus/rule/bare-v6 \
	tests/fuzz/corpus/rule/bracket-v6 \
	tests/fuzz/corpus/rule/dot-only \
	tests/fuzz/corpus/rule/double-wild \
	tests/fuzz/corpus/rule/exact \
	tests/fuzz/corpus/rule/idn-suffix \
	tests/fuzz/corpus/rule/idn-wild \
	tests/fuzz/corpus/rule/inner-wild \
	tests/fuzz/corpus/rule/ip-bad \
	tests/fuzz/corpus/rule/ip-cidr \
	tests/fuzz/corpus/rule/ip-empty \
	tests/fuzz/corpus/rule/ip4 \
	tests/fuzz/corpus/rule/ip6-bracket \
	tests/fuzz/corpus/rule/ip6-upper \
	tests/fuzz/corpus/rule/leading-space \
	tests/fuzz/corpus/rule/long-host \
	tests/fuzz/corpus/rule/newline-injection \
	tests/fuzz/corpus/rule/numeric-three \
	tests/fuzz/corpus/rule/path \
	tests/fuzz/corpus/rule/percent \
	tests/fuzz/corpus/rule/port \
	tests/fuzz/corpus/rule/port-ip4 \
	tests/fuzz/corpus/rule/port-ip6 \
	tests/fuzz/corpus/rule/port-name \
	tests/fuzz/corpus/rule/port-regex \
	tests/fuzz/corpus/rule/port-subdomains \
	tests/fuzz/corpus/rule/port-suffix \
	tests/fuzz/corpus/rule/port-zero \
	tests/fuzz/corpus/rule/private-suffix \
	tests/fuzz/corpus/rule/private-suffix-dot \
	tests/fuzz/corpus/rule/private-suffix-s3 \
	tests/fuzz/corpus/rule/public-suffix-bare \
	tests/fuzz/corpus/rule/public-suffix-dot \
	tests/fuzz/corpus/rule/public-suffix-wild \
	tests/fuzz/corpus/rule/regex \
	tests/fuzz/corpus/rule/regex-any \
	tests/fuzz/corpus/rule/regex-backref \
	tests/fuzz/corpus/rule/regex-bad \
	tests/fuzz/corpus/rule/regex-caseless \
	tests/fuzz/corpus/rule/regex-catastrophic \
	tests/fuzz/corpus/rule/regex-codepoint \
	tests/fuzz/corpus/rule/regex-empty \
	tests/fuzz/corpus/rule/regex-long \
	tests/fuzz/corpus/rule/regex-nonascii \
	tests/fuzz/corpus/rule/subdomains \
	tests/fuzz/corpus/rule/suffix \
	tests/fuzz/corpus/rule/underscore \
	tests/fuzz/corpus/rule/upper \
	tests/fuzz/corpus/rule/url \
	tests/fuzz/corpus/rule/userinfo \
	tests/fuzz/corpus/rule/wild-empty \
	tests/fuzz/corpus/rule/wild-trailing-dot

# The API's request handling in this process (tests/api/inproc.c through
# http_dispatch()), over a fresh store per input: fewer mutations in the
# replay, as each input opens a store.
check_PROGRAMS += tests/fuzz/replay_api
TESTS += tests/fuzz/replay_api
SANITIZER_TESTS += tests/fuzz/replay_api
FUZZ_API_SOURCES = tests/fuzz/fuzz_api.c tests/fuzz/fuzz.h tests/api/inproc.c tests/api/inproc.h
FUZZ_API_CFLAGS = $(AM_CFLAGS) $(JANSSON_CFLAGS) $(LMDB_CFLAGS)
tests_fuzz_replay_api_SOURCES = tests/fuzz/replay.c $(FUZZ_API_SOURCES)
tests_fuzz_replay_api_CPPFLAGS = $(AM_CPPFLAGS) -DFUZZ_TARGET='"api"' -DFUZZ_REPLAY_DEFAULT_RUNS=3000
tests_fuzz_replay_api_CFLAGS = $(FUZZ_API_CFLAGS)
tests_fuzz_replay_api_LDADD = api/libegressapi.la $(JANSSON_LIBS)
if FUZZING
noinst_PROGRAMS += tests/fuzz/fuzz_api
tests_fuzz_fuzz_api_SOURCES = $(FUZZ_API_SOURCES)
tests_fuzz_fuzz_api_CFLAGS = $(FUZZ_API_CFLAGS)
tests_fuzz_fuzz_api_LDFLAGS = -fsanitize=fuzzer
tests_fuzz_fuzz_api_LDADD = api/libegressapi.la $(JANSSON_LIBS)
endif
EXTRA_DIST += tests/fuzz/api.dict
EXTRA_DIST += \
	tests/fuzz/corpus/api/admin-header \
	tests/fuzz/corpus/api/audit \
	tests/fuzz/corpus/api/check \
	tests/fuzz/corpus/api/create \
	tests/fuzz/corpus/api/create-admin \
	tests/fuzz/corpus/api/create-bad-json \
	tests/fuzz/corpus/api/create-dup-key \
	tests/fuzz/corpus/api/create-forbidden-mode \
	tests/fuzz/corpus/api/create-wrong-type \
	tests/fuzz/corpus/api/delete \
	tests/fuzz/corpus/api/delete-anon \
	tests/fuzz/corpus/api/delete-overlong-utf8 \
	tests/fuzz/corpus/api/get-project \
	tests/fuzz/corpus/api/get-project-anon \
	tests/fuzz/corpus/api/get-project-bad-id \
	tests/fuzz/corpus/api/health \
	tests/fuzz/corpus/api/health-head \
	tests/fuzz/corpus/api/ip-conflict \
	tests/fuzz/corpus/api/ip-map \
	tests/fuzz/corpus/api/ip-unmap \
	tests/fuzz/corpus/api/list-admin \
	tests/fuzz/corpus/api/list-anon \
	tests/fuzz/corpus/api/method-not-allowed \
	tests/fuzz/corpus/api/method-not-utf8 \
	tests/fuzz/corpus/api/metrics \
	tests/fuzz/corpus/api/not-found \
	tests/fuzz/corpus/api/password \
	tests/fuzz/corpus/api/password-header \
	tests/fuzz/corpus/api/password-remove \
	tests/fuzz/corpus/api/profiles \
	tests/fuzz/corpus/api/promote \
	tests/fuzz/corpus/api/promote-replace \
	tests/fuzz/corpus/api/promote-replace-empty \
	tests/fuzz/corpus/api/proxy-mode \
	tests/fuzz/corpus/api/recorded \
	tests/fuzz/corpus/api/recorded-clear \
	tests/fuzz/corpus/api/start \
	tests/fuzz/corpus/api/stop \
	tests/fuzz/corpus/api/whitelist-add \
	tests/fuzz/corpus/api/whitelist-get \
	tests/fuzz/corpus/api/whitelist-put \
	tests/fuzz/corpus/api/whitelist-put-bad \
	tests/fuzz/corpus/api/whitelist-put-empty \
	tests/fuzz/corpus/api/whitelist-remove \
	tests/fuzz/corpus/api/whitelist-remove-regex \
	tests/fuzz/corpus/api/wrong-token

# Sign-in, sessions, tokens and accounts (issue 19).
EXTRA_DIST += \
	tests/fuzz/corpus/api/signin \
	tests/fuzz/corpus/api/signin-wrong \
	tests/fuzz/corpus/api/signin-bad-name \
	tests/fuzz/corpus/api/session-get \
	tests/fuzz/corpus/api/session-signout \
	tests/fuzz/corpus/api/session-write-no-csrf \
	tests/fuzz/corpus/api/session-write-csrf \
	tests/fuzz/corpus/api/session-cross-site \
	tests/fuzz/corpus/api/token-list-projects \
	tests/fuzz/corpus/api/token-other-course \
	tests/fuzz/corpus/api/token-create \
	tests/fuzz/corpus/api/token-revoke \
	tests/fuzz/corpus/api/token-wrong \
	tests/fuzz/corpus/api/accounts-create \
	tests/fuzz/corpus/api/accounts-disable \
	tests/fuzz/corpus/api/courses-put \
	tests/fuzz/corpus/api/courses-get
# egress-dns's query path (dns/query.h): a DNS message from a client through
# the limits and the gate over a real store, with a stand-in resolver.
check_PROGRAMS += tests/fuzz/replay_dns
TESTS += tests/fuzz/replay_dns
SANITIZER_TESTS += tests/fuzz/replay_dns
FUZZ_DNS_SOURCES = tests/fuzz/fuzz_dns.c tests/fuzz/fuzz.h
tests_fuzz_replay_dns_SOURCES = tests/fuzz/replay.c $(FUZZ_DNS_SOURCES)
tests_fuzz_replay_dns_CPPFLAGS = $(AM_CPPFLAGS) -DFUZZ_TARGET='"dns"' $(LDNS_CFLAGS)
tests_fuzz_replay_dns_LDADD = dns/libegressdns.la $(LDNS_LIBS)
if FUZZING
noinst_PROGRAMS += tests/fuzz/fuzz_dns
tests_fuzz_fuzz_dns_SOURCES = $(FUZZ_DNS_SOURCES)
tests_fuzz_fuzz_dns_CPPFLAGS = $(AM_CPPFLAGS) $(LDNS_CFLAGS)
tests_fuzz_fuzz_dns_LDFLAGS = -fsanitize=fuzzer
tests_fuzz_fuzz_dns_LDADD = dns/libegressdns.la $(LDNS_LIBS)
endif
EXTRA_DIST += \
	tests/fuzz/corpus/dns/allowed-a \
	tests/fuzz/corpus/dns/allowed-aaaa-edns \
	tests/fuzz/corpus/dns/allowed-do-tcp \
	tests/fuzz/corpus/dns/bogus \
	tests/fuzz/corpus/dns/denied-edns \
	tests/fuzz/corpus/dns/denied-noedns \
	tests/fuzz/corpus/dns/dot-label \
	tests/fuzz/corpus/dns/huge-counts \
	tests/fuzz/corpus/dns/logging \
	tests/fuzz/corpus/dns/lookalike \
	tests/fuzz/corpus/dns/mixed-case \
	tests/fuzz/corpus/dns/nul-label \
	tests/fuzz/corpus/dns/pointer-loop \
	tests/fuzz/corpus/dns/resolver-fails \
	tests/fuzz/corpus/dns/response \
	tests/fuzz/corpus/dns/root \
	tests/fuzz/corpus/dns/short \
	tests/fuzz/corpus/dns/trusted \
	tests/fuzz/corpus/dns/two-questions \
	tests/fuzz/corpus/dns/udp-small-big-answer \
	tests/fuzz/corpus/dns/unknown \
	tests/fuzz/corpus/dns/update \
	tests/fuzz/corpus/dns/utf8-label

GO ?= go

.PHONY: all build test vet fmt demo race scenarios bench fuzz

all: build

build:
	$(GO) build -buildvcs=auto -o bin/recursor ./cmd/recursor

vet:
	$(GO) vet ./...
	@out=$$(gofmt -l .); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

# The main job, offline: resolve a handful of sandbox names by iteration,
# showing every referral.
DEMO_NAMES = "www.example.com A" "www.shop.example.com A" "www.example.org A" \
	"alias.example.com A" "nope.example.com A" "www.all-lame.lab A"

# Below Linux's ephemeral range (32768-60999): a port in it can be held in
# TIME_WAIT by some earlier outgoing TCP connection, which fails the listen.
DEMO_PORT ?= 25353

demo: build
	@for q in $(DEMO_NAMES); do \
		echo "==> recursor resolve --sandbox --trace $$q"; \
		./bin/recursor resolve --sandbox --trace $$q || true; \
		echo; \
	done
	@for q in "www.example.com A" "www.shop.example.com A" "www.badsig.lab A"; do \
		echo "==> recursor resolve --sandbox --dnssec $$q"; \
		./bin/recursor resolve --sandbox --dnssec $$q 2>&1 | grep -E '^; [a-z]|flags:|RRSIG|^recursor:' | cut -c1-160 || true; \
		echo; \
	done
	@if command -v dig >/dev/null; then \
		echo "==> recursor serve --sandbox --listen 127.0.0.1:$(DEMO_PORT), asked with dig"; \
		./bin/recursor serve --sandbox --listen 127.0.0.1:$(DEMO_PORT) $$([ "$$(id -u)" = 0 ] && echo --user nobody) & pid=$$!; sleep 1; \
		for q in "www.example.org A" "chain1.example.com A" "big.example.com TXT +ignore" "big.example.com TXT +short" "www.dead.lab A"; do \
			echo "--> dig @127.0.0.1 -p $(DEMO_PORT) $$q"; dig @127.0.0.1 -p $(DEMO_PORT) +tries=1 +time=5 $$q | grep -vE '^;; (WHEN|MSG SIZE)|^$$' | cut -c1-120; \
		done; \
		kill -TERM $$pid; wait $$pid; \
	else echo "(dig is not installed: apt-get install bind9-dnsutils to see recursor serve answer it)"; fi

# Every fuzz target's seed corpus and saved crashers (testdata/fuzz) run
# here as plain tests. The random hunt is make fuzz, kept out of make test so
# that a test run, and CI, gives the same verdict on the same tree.
test: vet
	$(GO) test -race -count=1 ./...

# Every native fuzz target, hunting for a bounded time each; a crasher it
# finds is written to the package's testdata/fuzz, commit it with the fix.
# FUZZTIME=2m make fuzz for a longer hunt.
# A run that fails only with "context deadline exceeded" and no failing
# input is the Go fuzzer's own shutdown racing its deadline: it runs once
# more; a real crasher fails at once.
FUZZTIME ?= 10s
FUZZ_TARGETS = roothints:FuzzParse internal/dnsname:FuzzCanonical cache:FuzzStore resolver:FuzzReply resolver:FuzzUnpackReply resolver:FuzzInZone resolver:FuzzValidate \
	server:FuzzHandle server:FuzzAnswerFast testnet:FuzzRespond testnet:FuzzParseConf \
	replay:FuzzParse cmd/recursor:FuzzLoadConfig cache:FuzzLoad

fuzz:
	@for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; name=$${t##*:}; \
		if ! grep -qs "^func $$name(" ./$$pkg/*_test.go; then echo "fuzz: $$pkg has no $$name, skipped"; continue; fi; \
		echo "fuzz: $$pkg $$name for $(FUZZTIME)"; \
		for try in 1 2; do \
			if $(GO) test ./$$pkg -run '^$$' -fuzz "^$$name\$$" -fuzztime $(FUZZTIME) > fuzz.log 2>&1; then tail -1 fuzz.log; break; fi; \
			cat fuzz.log; \
			if grep -q "Failing input written" fuzz.log || ! grep -q "context deadline exceeded" fuzz.log || [ $$try = 2 ]; then rm -f fuzz.log; exit 1; fi; \
			echo "fuzz: the Go fuzzer's own shutdown timed out (no failing input); once more"; \
		done; \
	done; rm -f fuzz.log

# Side-by-side with Unbound over a generated NSD tree, loopback only; root.
# BENCH_QUICK=1 for a ~1-minute smoke run. Table in bench/out/latest.md.
bench:
	GO=$(GO) bash bench/bench.sh

# Replays the peer resolvers' .rpl suites (../shared/scenarios/iter, ops and
# dnssec; make test runs them too) in-process: one PASS/FAIL line per file,
# counts per suite, then "N passed, M failed". Failures listed in
# replay/expectations.txt are expected; SCENARIO_SETS=dnssec runs one set,
# SCENARIO_FLAGS=-force runs files whose config is unsupported, -events logs
# every exchange, -update rewrites the list.
SCENARIO_SETS ?= iter,dnssec,ops
scenarios:
	cd replay && $(GO) test -count=1 -run '^TestScenarios$$' -args -set $(SCENARIO_SETS) $(SCENARIO_FLAGS)

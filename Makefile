# The two set-up commands are `make demo` and `make test`; each installs the
# Debian packages it is missing first. Also: `make shell`, `make check`
# (plain C tests under sanitizers), `make bench` / `make bench-quick`.

PACKAGES := gcc make erlang-nox erlang-dev erlang-eunit erlang-common-test \
            erlang-proper erlang-tools rebar3 libck-dev libxxhash-dev
EBIN := _build/default/lib/xets/ebin

.PHONY: all deps compile demo test check shell bench bench-quick clean

all: compile

# Installs what is missing with apt-get when root; otherwise prints the
# exact command and stops.
deps:
	@missing=$$(for p in $(PACKAGES); do \
	    dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; \
	  done); \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing:" $$missing; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	  else \
	    echo "missing packages; run:"; \
	    echo "  sudo apt-get install -y" $$missing; \
	    exit 1; \
	  fi; \
	fi

compile: deps
	rebar3 compile

demo: compile
	erlc -o $(EBIN) bench/xets_demo.erl
	erl -noshell -pa $(EBIN) -s xets_demo main -s init stop

test: compile
	./test/run

bench bench-quick: compile
	erlc -o $(EBIN) bench/xets_bench.erl
	erl -noshell -pa $(EBIN) -s xets_bench main -s init stop

check: deps
	$(MAKE) -C c_src check

shell: compile
	erl -pa $(EBIN)

clean:
	rebar3 clean
	rm -rf _build c_src/build

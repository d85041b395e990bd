# The two set-up commands are `make demo` and `make test`; each installs the
# Debian packages it is missing first. Also: `make shell`, `make check`
# (plain C tests under sanitizers), `make fuzz`, `make bench` /
# `make bench-quick`.

# mount (mount, losetup) and e2fsprogs (mkfs.ext4, e2fsck): the disk
# failures of test/xets_disk_failure_SUITE (a full tmpfs, an ext4 image
# whose fsyncs fail).
PACKAGES := gcc make erlang-nox erlang-dev erlang-eunit erlang-common-test \
            erlang-proper erlang-tools erlang-dialyzer rebar3 libck-dev libxxhash-dev liblz4-dev \
            elixir mount e2fsprogs
BENCH_PACKAGES := gnuplot-nox
# db_bench, RocksDB's benchmark, the reference of `make bench-disk`.
DISK_BENCH_PACKAGES := rocksdb-tools gnuplot-nox
# The objects of `make bench-disk`'s tables (some rows use fewer; each
# prints its own).
DISK_N ?= 1000000
# The beyond-RAM rows of `make bench-disk` (and `make bench-disk-beyond`):
# a table of 10 x DISK_LIMIT_MB MiB of keys and values under
# {memory_limit, DISK_LIMIT_MB MiB}, db_bench given the same budget; each
# row runs DISK_BEYOND_SECONDS for xets and as long for db_bench.
DISK_LIMIT_MB ?= 32
DISK_BEYOND_SECONDS ?= 5
# clang and its runtime hold libFuzzer.
FUZZ_PACKAGES := clang libclang-rt-dev
FUZZ_SECONDS ?= 300
EBIN := _build/default/lib/xets/ebin
# The demo and benchmarks, kept out of the application's ebin (which
# Dialyzer reads).
BENCH_EBIN := _build/bench
RESULTS := bench/results

.PHONY: all deps bench-deps fuzz-deps compile demo test soak check fuzz shell bench bench-quick bench-select bench-disk bench-disk-beyond bench-disk-beyond-run bench-disk-deps bench-mnesia bench-compile clean

all: compile

# Installs the Debian packages of $(1) that are missing: with apt-get when
# root; otherwise prints the exact command and stops.
define install_missing
	@missing=$$(for p in $(1); do \
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
endef

deps:
	$(call install_missing,$(PACKAGES))

# gnuplot draws bench/results/throughput.png.
bench-deps:
	$(call install_missing,$(BENCH_PACKAGES))

compile: deps
	rebar3 compile

demo: compile
	mkdir -p $(BENCH_EBIN)
	erlc -o $(BENCH_EBIN) bench/xets_demo.erl
	erl -noshell -pa $(EBIN) $(BENCH_EBIN) -s xets_demo main -s init stop

test: compile
	./test/run

# Longer runs than make test affords: the LSM store's crash simulation for
# 10 minutes of seeds (ASan build), and 1,000 kill -9 cycles of a VM
# writing to a persistent table, a 1,000,000-record Mnesia table
# copied onto a new node in bounded memory, and a table of 5 GiB with a
# memory limit of 256 MiB.
soak: compile
	$(MAKE) -C c_src build/lsm_test.asan
	LSM_CRASH_SECONDS=600 ./c_src/build/lsm_test.asan
	XETS_KILL_CYCLES=1000 rebar3 ct --suite test/xets_disk_SUITE \
	    --case kill_9_keeps_every_acknowledged_write
	XETS_MNESIA_LOAD_N=1000000 rebar3 ct --suite test/xets_mnesia_SUITE \
	    --case a_large_table_loads_onto_a_new_node_in_bounded_memory
	XETS_MEMORY_MB=256 XETS_MEMORY_RATIO=20 rebar3 ct --suite test/xets_disk_memory_SUITE

# The whole set (about 10 minutes): the Erlang sections, their CSV and plot
# under bench/results/, then the C micro-benchmarks of bench/c/.
bench: bench-compile bench-deps
	erl -noshell -pa $(EBIN) $(BENCH_EBIN) -run xets_bench main full $(RESULTS) -s init stop
	cd $(RESULTS) && gnuplot throughput.gp
	$(MAKE) -s -C c_src bench
	@for b in c_src/build/*_bench; do echo; echo "== $$b"; ./$$b; done

# A subset of each Erlang section, in under 2 minutes; CSV in bench/results/quick.csv.
bench-quick: bench-compile
	erl -noshell -pa $(EBIN) $(BENCH_EBIN) -run xets_bench main quick $(RESULTS) -s init stop

# The select_count mixes of bench only, in about 2 minutes; CSV in
# bench/results/select.csv.
bench-select: bench-compile
	erl -noshell -pa $(EBIN) $(BENCH_EBIN) -run xets_bench main select $(RESULTS) -s init stop

# Persistent tables (xets:open/3) against DETS, mnesia disc_copies and
# disc_only_copies and RocksDB's db_bench, then the beyond-RAM rows, in
# about 5 minutes; CSV in bench/results/disk.csv and disk_beyond.csv. Its
# files live in temp dirs, removed at the end.
bench-disk: bench-compile bench-disk-deps
	erl -noshell -pa $(EBIN) $(BENCH_EBIN) -run xets_bench_disk main $(DISK_N) $(RESULTS) -s init stop
	cd $(RESULTS) && gnuplot disk.gp
	$(MAKE) -s bench-disk-beyond-run

# The beyond-RAM rows alone (about 2 minutes at the defaults): random
# reads and writes, uniform and skewed keys, 1 and 8 processes, on a
# table 10x its memory limit, against db_bench with the same budget; CSV
# in bench/results/disk_beyond.csv.
bench-disk-beyond: bench-compile bench-disk-deps
	$(MAKE) -s bench-disk-beyond-run

bench-disk-beyond-run:
	erl -noshell -pa $(EBIN) $(BENCH_EBIN) -run xets_bench_beyond main $(DISK_LIMIT_MB) \
	    $(DISK_BEYOND_SECONDS) $(RESULTS) -s init stop
	cd $(RESULTS) && gnuplot disk_beyond.gp

# Mnesia's disc storages, xets_copies against disc_copies and
# disc_only_copies, on 1 and 3 peer nodes on 127.0.0.1: dirty and
# transaction rates (MNESIA_OPS operations), and the time to copy a table
# of MNESIA_N records onto a new node; CSV in bench/results/mnesia.csv.
MNESIA_N ?= 1000000
MNESIA_OPS ?= 50000
bench-mnesia: bench-compile
	erl -noshell -pa $(EBIN) $(BENCH_EBIN) -run xets_bench_mnesia main $(MNESIA_N) $(MNESIA_OPS) $(RESULTS) -s init stop

bench-disk-deps:
	$(call install_missing,$(DISK_BENCH_PACKAGES))

bench-compile: compile
	mkdir -p $(BENCH_EBIN)
	erlc -o $(BENCH_EBIN) bench/xets_bench*.erl
	mkdir -p $(RESULTS)

check: deps
	$(MAKE) -C c_src check

fuzz-deps:
	$(call install_missing,$(FUZZ_PACKAGES))

# The fuzz targets of the C core (today the key codec, which the disk tier
# runs on stored bytes) with clang's libFuzzer, FUZZ_SECONDS each (default
# 300); `make check` and `make test` run them a few seconds each with a
# plain driver.
fuzz: deps fuzz-deps
	$(MAKE) -C c_src fuzz FUZZ_SECONDS=$(FUZZ_SECONDS)

shell: compile
	erl -pa $(EBIN)

clean:
	rebar3 clean
	rm -rf _build c_src/build

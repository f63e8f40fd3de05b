# nanogpt -- `make` builds ./nanogpt, `make test` builds and runs every test.
CC      ?= cc
ifeq ($(origin CC),default)
CC      = gcc
endif
OPT     ?= -O3 -march=native
CFLAGS  ?= $(OPT) -g
CFLAGS  += -ffp-contract=fast -fno-math-errno -std=c11 -D_GNU_SOURCE -Wall -Wextra -Wno-unused-parameter -Iinclude -Isrc -fopenmp
ICU_LIBS ?= $(shell pkg-config --libs icu-uc 2>/dev/null || echo -licuuc -licudata)
# cairo draws `plot` and `attention` pictures (PNG and SVG); Debian: libcairo2-dev
CAIRO_CFLAGS ?= $(shell pkg-config --cflags cairo 2>/dev/null)
CAIRO_LIBS   ?= $(shell pkg-config --libs cairo 2>/dev/null || echo -lcairo)
# clang reports the max-reductions it leaves scalar; they are not errors
CFLAGS  += $(if $(findstring clang,$(CC)),-Wno-pass-failed,)
MHD_LIBS ?= $(shell pkg-config --libs libmicrohttpd 2>/dev/null || echo -lmicrohttpd)
CFLAGS  += $(CAIRO_CFLAGS)
LDLIBS  += -lm -fopenmp $(ICU_LIBS) $(MHD_LIBS) $(CAIRO_LIBS) -lpthread
BUILD   ?= build
# MPI (multi-process training, src/base/dist.c): on when mpicc is found; `make MPI=0` / `MPI=1`
# forces it. Only dist.c sees MPI's headers; the link takes MPI's libraries (Open MPI's
# `mpicc --showme`, else MPICH's pkg-config file).
MPI     ?= $(if $(shell command -v mpicc 2>/dev/null),1,0)
ifeq ($(MPI),1)
MPI_CFLAGS ?= -DNG_MPI $(shell mpicc --showme:compile 2>/dev/null || pkg-config --cflags mpich 2>/dev/null)
MPI_LIBS   ?= $(shell mpicc --showme:link 2>/dev/null || pkg-config --libs mpich 2>/dev/null)
endif
LDLIBS  += $(MPI_LIBS)
# rebuilds dist.o when MPI changes between builds
MPI_STAMP := $(BUILD)/.mpi-$(MPI)

LIB_SRC  := $(sort $(wildcard src/*.c src/*/*.c))
LIB_SRC  := $(filter-out src/cli/%,$(LIB_SRC))
CLI_SRC  := $(wildcard src/cli/*.c)
TEST_SRC := $(sort $(wildcard tests/test_*.c))
LIB_ASM  := $(sort $(wildcard src/*/*.S))
LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/%.o) $(LIB_ASM:%.S=$(BUILD)/%.o)
CLI_OBJ  := $(CLI_SRC:%.c=$(BUILD)/%.o)
TESTS    := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)
EXAMPLE_SRC := $(sort $(wildcard examples/*.c))
EXAMPLES := $(EXAMPLE_SRC:examples/%.c=$(BUILD)/examples/%)

.PHONY: all test clean fixtures bench examples
all: nanogpt

# `make build/bench_allreduce`: the gradient exchange's bandwidth (tools/bench_allreduce.c; run with mpirun)
$(BUILD)/bench_allreduce: tools/bench_allreduce.c $(BUILD)/libnanogpt.a
	$(CC) $(CFLAGS) -o $@ $< $(BUILD)/libnanogpt.a $(LDLIBS)

nanogpt: $(CLI_OBJ) $(BUILD)/libnanogpt.a
	$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

# (rebuilt from scratch: an object whose source is gone must not linger in the archive)
$(BUILD)/libnanogpt.a: $(LIB_OBJ)
	rm -f $@
	ar rcs $@ $^

$(BUILD)/%.o: %.c include/nanogpt.h $(wildcard src/*.h src/*/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c -o $@ $<

# the build the ranks of a job compare at start-up (src/app/ddp.c)
NG_VERSION ?= $(shell git describe --always --dirty 2>/dev/null || echo unknown)
$(BUILD)/src/app/ddp.o: CFLAGS += -DNG_VERSION='"$(NG_VERSION)"'
$(BUILD)/src/base/dist.o: CFLAGS += $(MPI_CFLAGS)
$(BUILD)/src/base/dist.o: $(MPI_STAMP)
$(MPI_STAMP):
	@mkdir -p $(dir $@); rm -f $(BUILD)/.mpi-*; touch $@

# .S files embed data files (.incbin, paths relative to the repository root)
$(BUILD)/%.o: %.S $(wildcard data/gpt2/*) src/app/report_page.html
	@mkdir -p $(dir $@)
	$(CC) -c -o $@ $<

$(BUILD)/tests/%: tests/%.c tests/test.h $(BUILD)/libnanogpt.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $< $(BUILD)/libnanogpt.a $(LDLIBS)

# examples/: programs that see only the public header (no -Isrc), as an embedding program would
examples: $(EXAMPLES)
$(BUILD)/examples/%: examples/%.c include/nanogpt.h $(BUILD)/libnanogpt.a
	@mkdir -p $(dir $@)
	$(CC) $(filter-out -Isrc,$(CFLAGS)) -o $@ $< $(BUILD)/libnanogpt.a $(LDLIBS)

# Runs every unit test program, then the end-to-end scripts (tests/e2e_examples.sh runs the
# examples); prints the totals.
test: nanogpt $(TESTS) $(EXAMPLES)
	@bash tests/run_all.sh $(TESTS)

fixtures:
	/usr/bin/python3 tools/gen_fixtures.py tests/fixtures
	/usr/bin/python3 tools/gen_lecture_fixtures.py tests/fixtures
	/usr/bin/python3 tools/gen_bf16_fixtures.py tests/fixtures

clean:
	rm -rf $(BUILD) nanogpt

# ---- fuzzing: every fuzz/fuzz_NAME.c is a libFuzzer target run on fuzz/corpus/NAME/ ----
# Needs clang with its fuzzer runtime (Debian: apt-get install clang libclang-rt-14-dev).
# `make fuzz` builds them; `make fuzz-run FUZZ_SECONDS=60` runs each on a scratch copy
# of its corpus (the seeds in the repo stay as they are); crashes land in build/fuzz/.
FUZZ_CC      ?= clang
FUZZ_CFLAGS  ?= -g -O1 -fsanitize=fuzzer,address,undefined
FUZZ_SECONDS ?= 60
FUZZ_SRC     := $(sort $(wildcard fuzz/fuzz_*.c))
FUZZ_BIN     := $(FUZZ_SRC:fuzz/%.c=$(BUILD)/fuzz/%)

.PHONY: fuzz fuzz-run
fuzz: $(FUZZ_BIN)

$(BUILD)/fuzz/fuzz_%: fuzz/fuzz_%.c $(LIB_SRC) $(LIB_ASM) include/nanogpt.h $(wildcard src/*.h src/*/*.h)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -std=c11 -D_GNU_SOURCE -Iinclude -Isrc $(CAIRO_CFLAGS) -o $@ $< $(LIB_SRC) $(LIB_ASM) -lm $(ICU_LIBS) $(MHD_LIBS) $(CAIRO_LIBS) -lpthread

fuzz-run: $(FUZZ_BIN)
	@set -e; for bin in $(FUZZ_BIN); do \
	    name=$${bin##*/fuzz_}; work=$(BUILD)/fuzz/corpus/$$name; \
	    rm -rf $$work; mkdir -p $$work; \
	    if [ -d fuzz/corpus/$$name ]; then cp -R fuzz/corpus/$$name/. $$work/; fi; \
	    dict=; if [ -f fuzz/$$name.dict ]; then dict=-dict=fuzz/$$name.dict; fi; \
	    echo "== $$bin: $(FUZZ_SECONDS)s on $$work (log: $(BUILD)/fuzz/$$name.log)"; \
	    if ! $$bin -max_total_time=$(FUZZ_SECONDS) -max_len=65536 -timeout=10 -print_final_stats=1 \
	        -artifact_prefix=$(BUILD)/fuzz/$$name- $$dict $$work > $(BUILD)/fuzz/$$name.log 2>&1; then \
	        tail -n 60 $(BUILD)/fuzz/$$name.log; echo "fuzz_$$name FAILED"; exit 1; fi; \
	    grep -E '^(stat::number_of_executed_units|Done )' $(BUILD)/fuzz/$$name.log || tail -n 2 $(BUILD)/fuzz/$$name.log; \
	done

# ---- sanitizers and valgrind ----
# `make sanitize`: the library, the CLI (build-asan/nanogpt) and every test built with
# AddressSanitizer + UBSan and the release's -march=native (so the AVX-512 kernels run
# instrumented) into build-asan/, then every test run as `make test` runs them,
# the e2e scripts included (they run $NANOGPT), with leak checks on and UBSan errors fatal.
# Needs no CFLAGS in the environment (the sanitizer flags travel in OPT). Built without MPI
# (MPI=0): Open MPI's own allocations would drown the leak reports; e2e_mpi.sh then skips.
# `make valgrind`: prepare, a short train, resume, sample, eval and two failing commands of a
# tiny model under valgrind memcheck: no errors and no definitely lost memory (libgomp's
# "possibly lost" thread stacks are allowed). It uses its own -O2 build in build-vg/ without
# -march=native, because valgrind cannot decode AVX-512 instructions.
ASAN_BUILD ?= build-asan
# -march=native as the release: the AVX-512 (or AVX2) kernels are the code instrumented
ASAN_OPT   ?= -O1 -g -march=native -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
ASAN_TESTS := $(TEST_SRC:tests/%.c=$(ASAN_BUILD)/tests/%)
VG_BUILD   ?= build-vg
VG_OPT     ?= -O2 -g
VALGRIND   ?= valgrind
VG_FLAGS   ?= -q --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite --show-leak-kinds=definite \
              --suppressions=tests/valgrind.supp

.PHONY: sanitize valgrind
# the CLI inside a build directory (build-asan/nanogpt, build-vg/nanogpt)
$(BUILD)/nanogpt: $(CLI_OBJ) $(BUILD)/libnanogpt.a
	$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

# (./nanogpt too: e2e scripts that do not read $NANOGPT still find a binary)
sanitize: nanogpt
	$(MAKE) BUILD=$(ASAN_BUILD) OPT='$(ASAN_OPT)' MPI=0 $(ASAN_BUILD)/nanogpt $(ASAN_TESTS) examples
	@UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 ASAN_OPTIONS=detect_leaks=1 LSAN_OPTIONS=suppressions=$(CURDIR)/tests/lsan.supp NANOGPT=$(ASAN_BUILD)/nanogpt \
	    bash tests/run_all.sh $(ASAN_TESTS)

valgrind:
	$(MAKE) BUILD=$(VG_BUILD) OPT='$(VG_OPT)' MPI=0 $(VG_BUILD)/nanogpt
	@set -u; bin=$(VG_BUILD)/nanogpt; ds=valgrind_$$$$; tmp=$$(mktemp -d); pass=0; fail=0; \
	trap 'rm -rf "$$tmp" "data/$$ds"' EXIT; \
	head -c 20000 data/shakespeare_char/input.txt >"$$tmp/input.txt"; \
	vg() { want=$$1; name=$$2; shift 2; \
	    $(VALGRIND) $(VG_FLAGS) --log-file="$$tmp/$$name.vg" "$$@" >"$$tmp/$$name.out" 2>&1; rc=$$?; \
	    if [ "$$rc" -eq "$$want" ] && [ ! -s "$$tmp/$$name.vg" ]; then pass=$$((pass + 1)); echo "valgrind $$name: ok (exit $$rc)"; \
	    else fail=$$((fail + 1)); echo "valgrind $$name: FAILED (exit $$rc, want $$want)"; cat "$$tmp/$$name.vg"; tail -n 5 "$$tmp/$$name.out"; fi; }; \
	m="--n_layer=2 --n_head=2 --n_embd=32 --block_size=16 --batch_size=2 --gradient_accumulation_steps=2 --dropout=0.1 --eval_iters=1 --threads=2"; \
	vg 0 prepare $$bin prepare --dataset=$$ds --input="$$tmp/input.txt"; \
	vg 0 train $$bin train --dataset=$$ds --out_dir="$$tmp/out" $$m --max_iters=4 --eval_interval=2; \
	vg 0 resume $$bin train --dataset=$$ds --out_dir="$$tmp/out" $$m --max_iters=6 --eval_interval=2 --init_from=resume; \
	vg 0 sample $$bin sample --out_dir="$$tmp/out" --num_samples=2 --max_new_tokens=20 --start=ROMEO; \
	vg 0 eval $$bin eval --out_dir="$$tmp/out" --eval_iters=2; \
	vg 1 resume_refused $$bin train --out_dir="$$tmp/out" --init_from=resume --n_layer=3; \
	mkdir -p "$$tmp/bad"; head -c 3000 "$$tmp/out/ckpt.safetensors" >"$$tmp/bad/ckpt.safetensors"; \
	vg 1 corrupt_ckpt $$bin sample --out_dir="$$tmp/bad"; \
	echo "valgrind: $$pass passed, $$fail failed"; [ "$$fail" -eq 0 ]

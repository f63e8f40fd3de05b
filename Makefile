# nanogpt -- `make` builds ./nanogpt, `make test` builds and runs every test.
CC      ?= cc
ifeq ($(origin CC),default)
CC      = gcc
endif
OPT     ?= -O3 -march=native
CFLAGS  ?= $(OPT) -g
CFLAGS  += -ffp-contract=fast -fno-math-errno -std=c11 -D_GNU_SOURCE -Wall -Wextra -Wno-unused-parameter -Iinclude -Isrc -fopenmp
ICU_LIBS ?= $(shell pkg-config --libs icu-uc 2>/dev/null || echo -licuuc -licudata)
LDLIBS  += -lm -fopenmp $(ICU_LIBS)
BUILD   ?= build

LIB_SRC  := $(sort $(wildcard src/*.c src/*/*.c))
LIB_SRC  := $(filter-out src/cli/%,$(LIB_SRC))
CLI_SRC  := $(wildcard src/cli/*.c)
TEST_SRC := $(sort $(wildcard tests/test_*.c))
LIB_ASM  := $(sort $(wildcard src/*/*.S))
LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/%.o) $(LIB_ASM:%.S=$(BUILD)/%.o)
CLI_OBJ  := $(CLI_SRC:%.c=$(BUILD)/%.o)
TESTS    := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)

.PHONY: all test clean fixtures bench
all: nanogpt

nanogpt: $(CLI_OBJ) $(BUILD)/libnanogpt.a
	$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/libnanogpt.a: $(LIB_OBJ)
	ar rcs $@ $^

$(BUILD)/%.o: %.c include/nanogpt.h $(wildcard src/*.h src/*/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c -o $@ $<

# .S files embed data files (.incbin, paths relative to the repository root)
$(BUILD)/%.o: %.S $(wildcard data/gpt2/*)
	@mkdir -p $(dir $@)
	$(CC) -c -o $@ $<

$(BUILD)/tests/%: tests/%.c tests/test.h $(BUILD)/libnanogpt.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $< $(BUILD)/libnanogpt.a $(LDLIBS)

# Runs every unit test program, then the end-to-end script; prints the totals.
test: nanogpt $(TESTS)
	@bash tests/run_all.sh $(TESTS)

fixtures:
	/usr/bin/python3 tools/gen_fixtures.py tests/fixtures

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
	$(FUZZ_CC) $(FUZZ_CFLAGS) -std=c11 -D_GNU_SOURCE -Iinclude -Isrc -o $@ $< $(LIB_SRC) $(LIB_ASM) -lm $(ICU_LIBS)

fuzz-run: $(FUZZ_BIN)
	@set -e; for bin in $(FUZZ_BIN); do \
	    name=$${bin##*/fuzz_}; work=$(BUILD)/fuzz/corpus/$$name; \
	    rm -rf $$work; mkdir -p $$work; \
	    if [ -d fuzz/corpus/$$name ]; then cp -R fuzz/corpus/$$name/. $$work/; fi; \
	    dict=; if [ -f fuzz/$$name.dict ]; then dict=-dict=fuzz/$$name.dict; fi; \
	    echo "== $$bin: $(FUZZ_SECONDS)s on $$work"; \
	    $$bin -max_total_time=$(FUZZ_SECONDS) -max_len=65536 -timeout=10 -print_final_stats=1 \
	        -artifact_prefix=$(BUILD)/fuzz/$$name- $$dict $$work; \
	done

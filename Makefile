# velt for SQLite. `make` builds velt.so; `make help` lists the targets.

PREFIX   ?= /usr/local
DESTDIR  ?=
CC       ?= cc
VERSION  := $(shell cat VERSION)
UNAME    := $(shell uname -s)
EXT      := $(if $(filter Darwin,$(UNAME)),dylib,so)
BUILD    ?= build
OUT      ?= .
PYTHON   := /usr/bin/python3

DEB_PACKAGES := sqlite3 libsqlite3-dev libcjson-dev pkg-config python3
PKGS     := sqlite3 libcjson
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   = $(shell pkg-config --libs $(PKGS) 2>/dev/null)
CJSON_LIBS = $(shell pkg-config --libs libcjson 2>/dev/null)

WARN     := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes
CFLAGS   ?= -O2 -g
ALL_CFLAGS = -std=c11 -D_DEFAULT_SOURCE $(WARN) -fPIC $(CFLAGS) $(PKG_CFLAGS) \
             -I$(BUILD) -Iext -DVELT_VERSION='"$(VERSION)"'

SRC      := $(wildcard ext/*.c)
HDR      := $(wildcard ext/*.h) $(BUILD)/migrations.h
MIGRATIONS := $(sort $(wildcard sql/migrations/*.sql))
OBJ_SO   := $(SRC:ext/%.c=$(BUILD)/so/%.o)
OBJ_A    := $(SRC:ext/%.c=$(BUILD)/a/%.o)

SO       := $(OUT)/velt.$(EXT)
LIB      := $(OUT)/libvelt.a

.PHONY: all static test demo bench install clean deps help lint test-asan test-valgrind coverage
all: $(SO)

help:
	@echo "make            build velt.$(EXT) (the loadable extension)"
	@echo "make static     build libvelt.a (for sqlite3_auto_extension)"
	@echo "make test       build and run every test; ends with 'N passed, N failed'"
	@echo "make demo       run the admin-script demo on a fresh demo.db"
	@echo "make bench      cancel cost against hand-written SQL"
	@echo "make install    install to \$$(DESTDIR)\$$(PREFIX) (default /usr/local)"
	@echo "make deps       install missing Debian packages: $(DEB_PACKAGES)"
	@echo "make test-asan  the whole suite with AddressSanitizer and UndefinedBehaviorSanitizer"
	@echo "make test-valgrind  the shell and C tests under valgrind"
	@echo "make coverage   line and branch coverage of ext/ over the whole suite"
	@echo "make lint       clang-format and cppcheck"
	@echo "make fuzz-quick the libFuzzer targets, 20 s each (make fuzz FUZZ_SECONDS=N: longer)"
	@echo "make soak       eight processes, 60 s, totals reconciled (make soak-quick: 10 s)"

# Installs what the build and the tests need, only when something is missing.
deps:
	@missing=""; for p in $(DEB_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null || exit 1; \
	  else \
	    echo "missing Debian packages:$$missing"; \
	    echo "run: sudo apt-get update && sudo apt-get install -y$$missing"; exit 1; \
	  fi; \
	fi

$(BUILD)/.deps: Makefile
	@$(MAKE) --no-print-directory deps
	@mkdir -p $(BUILD) && touch $@

$(BUILD)/migrations.h: $(MIGRATIONS) tools/embed_sql.awk | $(BUILD)/.deps
	awk -f tools/embed_sql.awk $(MIGRATIONS) > $@

$(BUILD)/so/%.o: ext/%.c $(HDR) | $(BUILD)/.deps
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c $< -o $@

$(BUILD)/a/%.o: ext/%.c $(HDR) | $(BUILD)/.deps
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -DSQLITE_CORE -DVELT_STATIC -c $< -o $@

$(SO): $(OBJ_SO)
	$(CC) -shared -o $@ $(OBJ_SO) $(CJSON_LIBS) -lm $(LDFLAGS)

static: $(LIB)
$(LIB): $(OBJ_A)
	rm -f $@ && ar rcs $@ $(OBJ_A)

install: $(SO) $(LIB)
	install -d $(DESTDIR)$(PREFIX)/lib $(DESTDIR)$(PREFIX)/include
	install -m 0755 velt.$(EXT) $(DESTDIR)$(PREFIX)/lib/velt.$(EXT)
	install -m 0644 libvelt.a $(DESTDIR)$(PREFIX)/lib/libvelt.a
	install -m 0644 ext/velt.h $(DESTDIR)$(PREFIX)/include/velt.h

test: $(SO) $(LIB)
	@sh tests/run

demo: $(SO)
	rm -f demo.db demo.db-wal demo.db-shm
	sqlite3 -bail demo.db < sql/examples/admin_cancel.sql

bench: $(SO)
	@mkdir -p $(BUILD)
	$(CC) -std=c11 -D_DEFAULT_SOURCE -O2 $(WARN) $(PKG_CFLAGS) bench/bench.c -o $(BUILD)/bench $(PKG_LIBS) -lm
	$(BUILD)/bench ./velt.$(EXT)

lint:
	clang-format --dry-run -Werror ext/*.c ext/*.h bench/*.c tests/c/*.c tests/fuzz/*.c tests/fuzz/*.h
	cppcheck --quiet --error-exitcode=1 --std=c11 --enable=warning,performance,portability \
	  -Iext -I$(BUILD) --suppress=missingIncludeSystem ext/

# ---- sanitizers and coverage ----------------------------------------------
# Each builds its own copy of the extension under build/ and runs the same
# test scripts against it (they take the extension's path from VELT_*).
ASAN_DIR   := build/asan
ASAN_FLAGS := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined \
              -fno-sanitize-recover=undefined
ASAN_RT     = $(shell clang -print-file-name=libclang_rt.asan-x86_64.so)
SAN_PKGS   := clang libclang-rt-14-dev valgrind

sanitizer-deps:
	@$(MAKE) --no-print-directory deps DEB_PACKAGES="$(DEB_PACKAGES) $(SAN_PKGS)"

test-asan: sanitizer-deps
	$(MAKE) --no-print-directory BUILD=$(ASAN_DIR) OUT=$(ASAN_DIR) CC=clang \
	  CFLAGS="$(ASAN_FLAGS)" LDFLAGS="-fsanitize=address,undefined -shared-libasan" \
	  $(ASAN_DIR)/velt.$(EXT) $(ASAN_DIR)/libvelt.a
	VELT_EXTENSION=$(ASAN_DIR)/velt VELT_STATIC_LIB=$(ASAN_DIR)/libvelt.a CC=clang \
	VELT_TEST_CFLAGS="$(ASAN_FLAGS) -shared-libasan -Wl,-rpath,$(dir $(ASAN_RT))" VELT_PRELOAD="$(ASAN_RT)" \
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	VELT_PY_ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 VELT_FAULT_STRIDE=10 sh tests/run

test-valgrind: sanitizer-deps $(SO) $(LIB)
	sh tests/valgrind.sh

COV_DIR := build/coverage
coverage:
	rm -rf $(COV_DIR)
	$(MAKE) --no-print-directory BUILD=$(COV_DIR) OUT=$(COV_DIR) \
	  CFLAGS="-O0 -g --coverage" LDFLAGS="--coverage" $(COV_DIR)/velt.$(EXT) $(COV_DIR)/libvelt.a
	-VELT_EXTENSION=$(COV_DIR)/velt VELT_STATIC_LIB=$(COV_DIR)/libvelt.a \
	  VELT_TEST_CFLAGS="--coverage" sh tests/run > $(COV_DIR)/tests.log 2>&1
	@tail -n 1 $(COV_DIR)/tests.log
	@$(PYTHON) tools/coverage.py $(COV_DIR)

clean:
	rm -rf $(BUILD) velt.so velt.dylib libvelt.a demo.db demo.db-wal demo.db-shm

# ---- fuzzing: libFuzzer targets in tests/fuzz/ (tests/fuzz/README.md) --------------
#   make fuzz-build                build them (clang, libFuzzer, ASan, UBSan)
#   make fuzz-quick                each target about 20 s, one after the other
#   make fuzz FUZZ_SECONDS=N       each target N seconds (default 300)
# New inputs go to build/fuzz/corpus/<target>/, crash files to build/fuzz/artifacts/.
.PHONY: fuzz-build fuzz-quick fuzz

FUZZ_CC            ?= clang
FUZZ_SECONDS       ?= 300
FUZZ_QUICK_SECONDS ?= 20
FUZZ_TARGETS       := fuzz_api fuzz_definition fuzz_ops
FUZZ_OUT           := $(BUILD)/fuzz
FUZZ_DEB_PACKAGES  := clang libclang-rt-14-dev
FUZZ_SAN           := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
FUZZ_CFLAGS         = -std=c11 -D_DEFAULT_SOURCE -g -O1 -Wall -Wextra $(FUZZ_SAN) $(PKG_CFLAGS) \
                      -DSQLITE_CORE -DVELT_STATIC -I$(BUILD) -Iext -Itests/fuzz \
                      -DVELT_VERSION='"$(VERSION)"'
FUZZ_EXT_OBJ       := $(SRC:ext/%.c=$(FUZZ_OUT)/obj/%.o)
FUZZ_HDR           := $(wildcard tests/fuzz/*.h)
FUZZ_BIN           := $(FUZZ_TARGETS:%=$(FUZZ_OUT)/%)
FUZZ_RUN_FLAGS     := -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 -dict=tests/fuzz/velt.dict
FUZZ_ENV           := ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1 \
                      UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

# Installs clang's libFuzzer through `deps` (only when missing), checks that every
# path of ext/api.c's endpoint table is listed in tests/fuzz/fuzz_endpoints.h, builds.
fuzz-build:
	@$(MAKE) --no-print-directory deps DEB_PACKAGES="$(DEB_PACKAGES) $(FUZZ_DEB_PACKAGES)"
	@for p in $$(sed -n '/aEndpoint\[\] = {/,/^};/p' ext/api.c | grep -o '{"[^"]*"' | tr -d '{"'); do \
	  grep -q "X(\"$$p\")" tests/fuzz/fuzz_endpoints.h || { \
	    echo "endpoint '$$p' of ext/api.c is missing from tests/fuzz/fuzz_endpoints.h: add X(\"$$p\")"; exit 1; }; \
	done
	@$(MAKE) --no-print-directory $(FUZZ_BIN)

$(FUZZ_OUT)/obj/%.o: ext/%.c $(HDR) | $(BUILD)/.deps
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c $< -o $@

$(FUZZ_OUT)/obj/fuzz_common.o: tests/fuzz/fuzz_common.c $(FUZZ_HDR) $(HDR) | $(BUILD)/.deps
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c $< -o $@

$(FUZZ_OUT)/fuzz_%: tests/fuzz/fuzz_%.c $(FUZZ_OUT)/obj/fuzz_common.o $(FUZZ_EXT_OBJ) $(FUZZ_HDR) $(HDR)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer $< $(FUZZ_OUT)/obj/fuzz_common.o $(FUZZ_EXT_OBJ) \
	  -o $@ $(PKG_LIBS) -lm

# Keep the objects between builds (make would delete them as intermediate files).
.SECONDARY: $(FUZZ_EXT_OBJ) $(FUZZ_OUT)/obj/fuzz_common.o

# $(1): seconds per target. First replays tests/fuzz/regressions/<target>/* one by one
# with every check strict (VELT_FUZZ_STRICT=1): a failing input fails the run unless
# tests/fuzz/regressions/KNOWN lists it as an open bug of ext/ (then it is reported).
# Then fuzzes from the seeds, one process at a time, and prints the runs of each target.
define FUZZ_RUN
	@mkdir -p $(FUZZ_OUT)/artifacts $(FUZZ_OUT)/logs
	@status=0; for t in $(FUZZ_TARGETS); do \
	  case $$t in fuzz_definition) extra=-max_len=20000;; fuzz_ops) extra="-max_len=1024 -len_control=10";; \
	    *) extra=-max_len=4096;; esac; \
	  mkdir -p $(FUZZ_OUT)/corpus/$$t; log=$(FUZZ_OUT)/logs/$$t.log; \
	  for r in tests/fuzz/regressions/$$t/*; do \
	    [ -f "$$r" ] || continue; name=$$t/$$(basename $$r); \
	    if VELT_FUZZ_STRICT=1 $(FUZZ_ENV) $(FUZZ_OUT)/$$t -timeout=5 -artifact_prefix=$(FUZZ_OUT)/artifacts/$$t- $$r \
	         > $(FUZZ_OUT)/logs/regression.log 2>&1; then \
	      if grep -q "^$$name " tests/fuzz/regressions/KNOWN 2>/dev/null; then \
	        echo "$$name: passes now -- remove it from tests/fuzz/regressions/KNOWN"; fi; \
	    elif grep -q "^$$name " tests/fuzz/regressions/KNOWN 2>/dev/null; then \
	      echo "$$name: open bug, still reproduces ($$(grep "^$$name " tests/fuzz/regressions/KNOWN | cut -d' ' -f2))"; \
	    else \
	      echo "$$name: regression FAILS"; grep -E 'VIOLATION|ERROR: |SUMMARY|runtime error' $(FUZZ_OUT)/logs/regression.log | head -n 5; status=1; \
	    fi; \
	  done; \
	  $(FUZZ_ENV) $(FUZZ_OUT)/$$t $(FUZZ_RUN_FLAGS) $$extra -max_total_time=$(1) \
	    -artifact_prefix=$(FUZZ_OUT)/artifacts/$$t- $(FUZZ_OUT)/corpus/$$t tests/fuzz/corpus/$$t > $$log 2>&1; \
	  rc=$$?; runs=$$(sed -n 's/^stat::number_of_executed_units: *//p' $$log | tail -n 1); \
	  if [ $$rc -eq 0 ]; then echo "$$t: $${runs:-?} runs in $(1) s, no crash, leak or timeout"; \
	  else echo "$$t: FAILED (exit $$rc) after $${runs:-?} runs; log $$log, inputs in $(FUZZ_OUT)/artifacts/"; \
	    grep -E 'VIOLATION|ERROR: |SUMMARY|runtime error|Test unit written' $$log | head -n 20; status=1; fi; \
	done; exit $$status
endef

fuzz-quick: fuzz-build
	$(call FUZZ_RUN,$(FUZZ_QUICK_SECONDS))

fuzz: fuzz-build
	$(call FUZZ_RUN,$(FUZZ_SECONDS))

# Soak: 8 processes on one WAL database, then every reported outcome is
# reconciled with the database (tests/soak/soak.py). make test runs the
# 10-second version through tests/py/test_soak_quick.py.
.PHONY: soak soak-quick
soak: $(SO)
	$(PYTHON) tests/soak/soak.py --seconds 60 --workers 8

soak-quick: $(SO)
	$(PYTHON) tests/soak/soak.py --seconds 10 --workers 8

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
	clang-format --dry-run -Werror ext/*.c ext/*.h bench/*.c tests/c/*.c
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
	VELT_TEST_CFLAGS="$(ASAN_FLAGS) -shared-libasan" VELT_PRELOAD="$(ASAN_RT)" \
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	VELT_PY_ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 sh tests/run

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

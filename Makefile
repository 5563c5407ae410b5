# velt for SQLite. `make` builds velt.so; `make help` lists the targets.

PREFIX   ?= /usr/local
DESTDIR  ?=
CC       ?= cc
VERSION  := $(shell cat VERSION)
UNAME    := $(shell uname -s)
EXT      := $(if $(filter Darwin,$(UNAME)),dylib,so)
BUILD    := build
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

.PHONY: all static test demo bench install clean deps help check-deps
all: velt.$(EXT)

help:
	@echo "make            build velt.$(EXT) (the loadable extension)"
	@echo "make static     build libvelt.a (for sqlite3_auto_extension)"
	@echo "make test       build and run every test; ends with 'N passed, N failed'"
	@echo "make demo       run the admin-script demo on a fresh demo.db"
	@echo "make bench      cancel cost against hand-written SQL"
	@echo "make install    install to \$$(DESTDIR)\$$(PREFIX) (default /usr/local)"
	@echo "make deps       install missing Debian packages: $(DEB_PACKAGES)"

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

velt.$(EXT): $(OBJ_SO)
	$(CC) -shared -o $@ $(OBJ_SO) $(CJSON_LIBS) -lm $(LDFLAGS)

static: libvelt.a
libvelt.a: $(OBJ_A)
	rm -f $@ && ar rcs $@ $(OBJ_A)

install: velt.$(EXT) libvelt.a
	install -d $(DESTDIR)$(PREFIX)/lib $(DESTDIR)$(PREFIX)/include
	install -m 0755 velt.$(EXT) $(DESTDIR)$(PREFIX)/lib/velt.$(EXT)
	install -m 0644 libvelt.a $(DESTDIR)$(PREFIX)/lib/libvelt.a
	install -m 0644 ext/velt.h $(DESTDIR)$(PREFIX)/include/velt.h

test: velt.$(EXT) libvelt.a
	@sh tests/run

demo: velt.$(EXT)
	rm -f demo.db demo.db-wal demo.db-shm
	sqlite3 -bail demo.db < sql/examples/admin_cancel.sql

bench: velt.$(EXT)
	@mkdir -p $(BUILD)
	$(CC) -std=c11 -D_DEFAULT_SOURCE -O2 $(WARN) $(PKG_CFLAGS) bench/bench.c -o $(BUILD)/bench $(PKG_LIBS) -lm
	$(BUILD)/bench ./velt.$(EXT)

clean:
	rm -rf $(BUILD) velt.so velt.dylib libvelt.a demo.db demo.db-wal demo.db-shm

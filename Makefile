SHELL := /bin/bash
MAKEFLAGS += --no-print-directory

# ngx_cluster_module
#
#   make            the module, against the system nginx (Debian's nginx-dev)
#   make test       set-up, then the unit tests and the integration tests,
#                   twice: with the module as released, and with it built
#                   under AddressSanitizer and UndefinedBehaviorSanitizer;
#                   then make static
#   make check      the tests once, for one build: SANITIZE=0 or 1
#   make matrix     the tests on each supported platform: this Debian 12
#                   (make check's record of this tree, else make check
#                   twice), Debian 13 and unstable in roots made by
#                   debootstrap under build/matrix/ (cached in
#                   /var/cache/ngx-cluster-matrix/), HAProxy from
#                   experimental, nginx mainline from NGINX_UPSTREAM=
#                   (a .tar.gz of its source); then README.md's
#                   "Supported platforms" table checked against the run
#   make matrix-readme  that table, from the last make matrix, into README.md
#   make static     nginx's source from Debian's archive, built with the
#                   module linked in, and the tests a static build could fail
#   make demo       five simulated nodes behind nginx, with the status page
#   make demo-ha    two nginx sharing one PostgreSQL in front of three nodes
#   make demo-haproxy  make demo's scenario behind HAProxy, with the bridge
#   make bridge     the HAProxy bridge: build/*/haproxy/{cluster.lua,
#                   cluster_bridge.so}, for the Lua that HAPROXY_BIN runs
#   make bench      throughput and latency against plain round robin
#   make deb        the Debian packages, for the release it runs on, by
#                   Debian's tools (dpkg-buildpackage, debhelper, dh_nginx),
#                   into build/deb/: libnginx-mod-http-cluster (the module)
#                   and haproxy-cluster-bridge (the bridge, for the Lua of
#                   the system's HAProxy)
#   make reliability  reloads, a node and a worker killed, a node hanging,
#                   1,000 nodes: failed requests against plain round robin
#   make install    the module, its load_module line and the HAProxy bridge
#                   under DESTDIR and PREFIX (/usr/local)
#   make fuzz       libFuzzer over the readers of the checks' answers, the
#                   cookie opener and scanner, the key readers and the state
#                   file's reader (FUZZ_SECONDS each, 600 by default)
#
# NGINX_SRC=/path/to/nginx-1.x.y builds against another nginx source tree;
# NGINX_CONFIGURE="..." adds to its configure flags.
#
# HAPROXY_BIN=/path/to/haproxy: the HAProxy the bridge is built for, tested
# and demonstrated with (/usr/sbin/haproxy); its Lua is read from its -vv
# ("Built with Lua version : Lua 5.4.7"), or given: LUA=5.4, or LUA_CFLAGS
# with the flags of lua.h's folder.

NGINX_SRC ?= /usr/share/nginx/src
PREFIX ?= /usr/local
DESTDIR ?=
NGINX_CONFIGURE ?=
NGINX_BIN ?= /usr/sbin/nginx
HAPROXY_BIN ?= /usr/sbin/haproxy
SANITIZE ?= 0

CC ?= cc

ifeq ($(SANITIZE),1)
BUILD := build/sanitize
SAN_FLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer \
	-fno-sanitize-recover=undefined
else
BUILD := build/release
SAN_FLAGS :=
endif

MODULE := $(BUILD)/ngx_http_cluster_module.so
BRIDGE := $(BUILD)/haproxy/cluster_bridge.so
SIM := $(BUILD)/cluster-sim
UNIT := $(BUILD)/unit

CORE_SRCS := $(wildcard src/*.c)
CORE_HDRS := $(wildcard src/*.h)
GLUE_SRCS := $(wildcard ngx_cluster_module/*.c ngx_cluster_module/*.h)

CFLAGS_OWN := -std=c11 -O1 -g -Wall -Wextra -Werror -D_POSIX_C_SOURCE=200809L

# unit tests always run under the sanitizers
UNIT_SAN := -fsanitize=address,undefined -fno-omit-frame-pointer \
	-fno-sanitize-recover=undefined

.PHONY: all module setup sim unit check test static prove demo demo-ha \
	demo-haproxy FORCE \
	bench fuzz bridge deb install install-bridge reliability \
	clean

all: module

setup:
	@sh tests/setup.sh

module: $(MODULE)

# a release's tree has ./configure, a tree of nginx's repository (nginx
# mainline in make matrix) auto/configure only
$(BUILD)/nginx/objs/Makefile: config
	@mkdir -p $(BUILD)
	rm -rf $(BUILD)/nginx
	cp -r $(NGINX_SRC) $(BUILD)/nginx
	cd $(BUILD)/nginx && flags=() \
	    && if [ -f conf_flags ]; then . ./conf_flags; flags=("$${NGX_CONF_FLAGS[@]}"); \
	       else flags=(--with-compat); fi \
	    && configure=./configure && if [ ! -f configure ]; then configure=./auto/configure; fi \
	    && $$configure "$${flags[@]}" $(NGINX_CONFIGURE) \
	        $(if $(SAN_FLAGS),--with-cc-opt="$(SAN_FLAGS)" --with-ld-opt="$(SAN_FLAGS)") \
	        --add-dynamic-module=$(CURDIR) > configure.log 2>&1 \
	    || { tail -20 configure.log; exit 1; }

$(MODULE): $(BUILD)/nginx/objs/Makefile $(CORE_SRCS) $(CORE_HDRS) $(GLUE_SRCS)
	$(MAKE) -s -C $(BUILD)/nginx -f objs/Makefile modules
	cp $(BUILD)/nginx/objs/ngx_http_cluster_module.so $@.new
	mv -f $@.new $@

sim: $(SIM)

# the HAProxy bridge: the core as a Lua module, for the Lua that HAProxy
# runs (read once, and only when the bridge is built)
bridge: $(BRIDGE)

LUA_OF_HAPROXY = $(eval LUA_OF_HAPROXY := $(shell $(HAPROXY_BIN) -vv \
	2>/dev/null | sed -n \
	's/^Built with Lua version : Lua \([0-9]*\.[0-9]*\).*/\1/p'))$(LUA_OF_HAPROXY)
LUA ?= $(LUA_OF_HAPROXY)
LUA_CFLAGS ?= -I/usr/include/lua$(LUA)

BRIDGE_SRCS := $(wildcard haproxy-lua-bridge/*.c haproxy-lua-bridge/*.h)

# the flags of the last build: another Lua builds the bridge again
$(BUILD)/haproxy/lua.flags: FORCE
	@if [ -z '$(LUA)' ] && [ '$(origin LUA_CFLAGS)' = file ]; then \
	    echo "make bridge: $(HAPROXY_BIN) says no Lua version" \
	         "(HAProxy not installed, or built without Lua):" \
	         "set HAPROXY_BIN, or LUA=5.3 or LUA=5.4" >&2; \
	    exit 1; \
	fi
	@mkdir -p $(@D)
	@echo '$(LUA_CFLAGS)' | cmp -s - $@ || echo '$(LUA_CFLAGS)' > $@

$(BRIDGE): $(BRIDGE_SRCS) haproxy-lua-bridge/cluster.lua $(CORE_SRCS) \
		$(CORE_HDRS) $(BUILD)/haproxy/lua.flags
	@echo '#include <lua.h>' | $(CC) -E $(LUA_CFLAGS) -x c - >/dev/null \
	    2>&1 || { echo "make bridge: no lua.h for Lua $(or $(LUA),?) with" \
	        "LUA_CFLAGS=$(LUA_CFLAGS): install liblua$(LUA)-dev" >&2; exit 1; }
	$(CC) $(CFLAGS_OWN) -Wno-format-truncation -D_DEFAULT_SOURCE -fPIC -shared \
	    $(SAN_FLAGS) -Isrc $(LUA_CFLAGS) -I/usr/include/postgresql \
	    -o $@.new $(filter %.c,$(BRIDGE_SRCS)) $(CORE_SRCS) \
	    -lsodium -ljansson -lpcre2-8 -lpq -lpthread
	mv -f $@.new $@
	cp haproxy-lua-bridge/cluster.lua $(BUILD)/haproxy/cluster.lua

FORCE:

$(SIM): tests/sim/cluster_sim.c src/cluster_cookie.c src/cluster_cookie.h
	@mkdir -p $(BUILD)
	$(CC) $(CFLAGS_OWN) -O2 $(SAN_FLAGS) -Isrc -o $@ tests/sim/cluster_sim.c \
	    src/cluster_cookie.c -lsodium

$(UNIT): tests/unit/*.c tests/unit/*.h $(CORE_SRCS) $(CORE_HDRS)
	@mkdir -p $(BUILD)
	$(CC) $(CFLAGS_OWN) $(UNIT_SAN) -Isrc -o $@ tests/unit/*.c $(CORE_SRCS) -ljansson -lsodium

unit: $(UNIT)
	$(UNIT)

prove: $(MODULE) $(SIM) $(BRIDGE)
	CLUSTER_MODULE=$(CURDIR)/$(MODULE) CLUSTER_SIM=$(CURDIR)/$(SIM) \
	CLUSTER_BRIDGE=$(CURDIR)/$(BUILD)/haproxy/cluster.lua \
	CLUSTER_SANITIZE=$(SANITIZE) NGINX_BIN=$(NGINX_BIN) \
	HAPROXY_BIN=$(HAPROXY_BIN) \
	CLUSTER_ARTIFACTS=$(CURDIR)/$(BUILD)/artifacts \
	prove -I t/lib $(or $(T),t/)

# the whole suite's counts are recorded for this tree (build/matrix/records/)
# for make matrix, which then does not run them again
check:
	@mkdir -p $(BUILD)
	@start=$$(date +%s); set -o pipefail; \
	{ $(MAKE) unit && $(MAKE) prove; } 2>&1 | tee $(BUILD)/check.log; rc=$$?; \
	T='$(T)' NGINX_BIN='$(NGINX_BIN)' NGINX_SRC='$(NGINX_SRC)' \
	bash tests/matrix.sh record $(SANITIZE) $$rc $(BUILD)/check.log \
	    $$(( $$(date +%s) - start )); exit $$rc

test: setup
	$(MAKE) check SANITIZE=0
	$(MAKE) check SANITIZE=1
	$(MAKE) static

# the tests on each platform (tests/matrix.sh); NGINX_UPSTREAM= nginx
# mainline's source; MATRIX_LEGS= some legs only
.PHONY: matrix matrix-readme

matrix:
	@sh tests/setup.sh matrix
	NGINX_UPSTREAM='$(NGINX_UPSTREAM)' bash tests/matrix.sh

matrix-readme:
	bash tests/matrix.sh readme

# nginx built from source with the module linked in (--add-module)
static:
	$(MAKE) sim SANITIZE=0
	bash tests/static.sh $(CURDIR)/build/release/cluster-sim

demo: setup
	$(MAKE) module sim
	CLUSTER_MODULE=$(CURDIR)/$(MODULE) CLUSTER_SIM=$(CURDIR)/$(SIM) \
	NGINX_BIN=$(NGINX_BIN) bash tests/demo.sh

demo-ha: setup
	$(MAKE) module sim
	CLUSTER_MODULE=$(CURDIR)/$(MODULE) CLUSTER_SIM=$(CURDIR)/$(SIM) \
	NGINX_BIN=$(NGINX_BIN) bash tests/demo_ha.sh

demo-haproxy: setup
	$(MAKE) bridge sim
	CLUSTER_BRIDGE=$(CURDIR)/$(BUILD)/haproxy/cluster.lua \
	CLUSTER_SIM=$(CURDIR)/$(SIM) HAPROXY_BIN=$(HAPROXY_BIN) \
	CLUSTER_SANITIZE=$(SANITIZE) bash tests/demo_haproxy.sh

bench: setup
	$(MAKE) module sim bridge
	@mkdir -p $(BUILD)
	$(CC) $(CFLAGS_OWN) -O2 -Isrc -o $(BUILD)/bench-render \
	    tests/bench_render.c $(CORE_SRCS) -ljansson -lsodium
	$(BUILD)/bench-render
	CLUSTER_MODULE=$(CURDIR)/$(MODULE) NGINX_BIN=$(NGINX_BIN) \
	bash tests/bench.sh
	CLUSTER_MODULE=$(CURDIR)/$(MODULE) CLUSTER_SIM=$(CURDIR)/$(SIM) \
	NGINX_BIN=$(NGINX_BIN) bash tests/bench_checks.sh
	CLUSTER_MODULE=$(CURDIR)/$(MODULE) CLUSTER_SIM=$(CURDIR)/$(SIM) \
	NGINX_BIN=$(NGINX_BIN) bash tests/bench_key.sh
	CLUSTER_MODULE=$(CURDIR)/$(MODULE) CLUSTER_SIM=$(CURDIR)/$(SIM) \
	NGINX_BIN=$(NGINX_BIN) bash tests/bench_db.sh
	CLUSTER_BRIDGE=$(CURDIR)/$(BUILD)/haproxy/cluster.lua \
	CLUSTER_SIM=$(CURDIR)/$(SIM) NGINX_BIN=$(NGINX_BIN) \
	HAPROXY_BIN=$(HAPROXY_BIN) bash tests/bench_haproxy.sh

deb: setup
	bash tests/deb.sh

# what clients see while things go wrong, against plain round robin; not
# part of make test (RELIABILITY.md)
reliability: setup
	$(MAKE) module sim
	CLUSTER_MODULE=$(CURDIR)/$(MODULE) CLUSTER_SIM=$(CURDIR)/$(SIM) \
	NGINX_BIN=$(NGINX_BIN) bash tests/reliability.sh

# as the Debian packages place them, under PREFIX: the module and a file
# with its load_module line (include it, or link it into modules-enabled/),
# and the HAProxy bridge's two files (install-bridge: those alone; make deb
# installs the bridge's package with it, PREFIX=/usr)
install: module install-bridge
	install -d $(DESTDIR)$(PREFIX)/lib/nginx/modules \
	    $(DESTDIR)$(PREFIX)/share/nginx/modules-available
	install -m 644 $(MODULE) $(DESTDIR)$(PREFIX)/lib/nginx/modules/
	printf 'load_module %s/lib/nginx/modules/ngx_http_cluster_module.so;\n' \
	    '$(PREFIX)' \
	    > $(DESTDIR)$(PREFIX)/share/nginx/modules-available/mod-http-cluster.conf

install-bridge: bridge
	install -d $(DESTDIR)$(PREFIX)/lib/haproxy-cluster
	install -m 644 $(BUILD)/haproxy/cluster_bridge.so \
	    $(BUILD)/haproxy/cluster.lua $(DESTDIR)$(PREFIX)/lib/haproxy-cluster/

# libFuzzer over the check's readers; not part of "make test"
FUZZ_SECONDS ?= 600

fuzz:
	@sh tests/setup.sh fuzz
	@mkdir -p build/fuzz/corpus
	clang -g -O1 -fsanitize=fuzzer,address,undefined -Isrc \
	    -o build/fuzz/fuzz_check tests/fuzz/fuzz_check.c \
	    src/cluster_http.c src/cluster_health.c src/cluster_check.c \
	    src/cluster_node.c -ljansson
	build/fuzz/fuzz_check -max_total_time=$(FUZZ_SECONDS) -max_len=80000 \
	    -print_final_stats=1 build/fuzz/corpus tests/fuzz/seeds
	@mkdir -p build/fuzz/cookie-corpus
	clang -g -O1 -fsanitize=fuzzer,address,undefined -Isrc \
	    -o build/fuzz/fuzz_cookie tests/fuzz/fuzz_cookie.c \
	    src/cluster_cookie.c -lsodium
	build/fuzz/fuzz_cookie -max_total_time=$(FUZZ_SECONDS) -max_len=5000 \
	    -print_final_stats=1 build/fuzz/cookie-corpus tests/fuzz/seeds
	@mkdir -p build/fuzz/headers-corpus
	clang -g -O1 -fsanitize=fuzzer,address,undefined -Isrc \
	    -o build/fuzz/fuzz_headers tests/fuzz/fuzz_headers.c \
	    src/cluster_cookie.c src/cluster_session.c src/cluster_node.c \
	    src/cluster_health.c -ljansson -lsodium
	build/fuzz/fuzz_headers -max_total_time=$(FUZZ_SECONDS) -max_len=8192 \
	    -print_final_stats=1 build/fuzz/headers-corpus tests/fuzz/seeds
	@mkdir -p build/fuzz/key-corpus
	clang -g -O1 -fsanitize=fuzzer,address,undefined -Isrc \
	    -o build/fuzz/fuzz_key tests/fuzz/fuzz_key.c \
	    src/cluster_cookie.c -lsodium -lpcre2-8
	build/fuzz/fuzz_key -max_total_time=$(FUZZ_SECONDS) -max_len=70000 \
	    -print_final_stats=1 build/fuzz/key-corpus tests/fuzz/seeds
	@mkdir -p build/fuzz/state-corpus
	clang -g -O1 -fsanitize=fuzzer,address,undefined -Isrc \
	    -o build/fuzz/fuzz_state tests/fuzz/fuzz_state.c \
	    src/cluster_state.c src/cluster_health.c src/cluster_json.c \
	    src/cluster_buf.c src/cluster_node.c -ljansson
	build/fuzz/fuzz_state -max_total_time=$(FUZZ_SECONDS) -max_len=65536 \
	    -print_final_stats=1 build/fuzz/state-corpus tests/fuzz/seeds

# the matrix's roots are unmounted first; rm never crosses into a mount
clean:
	bash tests/matrix.sh unmount
	rm -rf --one-file-system build

# purple — build, test, install.  See README.md.
LUA_VERSION ?= 5.4
PREFIX      ?= /usr/local
DESTDIR     ?=
LUA         ?= lua$(LUA_VERSION)
PKG_CONFIG  ?= pkg-config
LUA_INCDIR  ?= $(shell $(PKG_CONFIG) --variable=includedir lua$(LUA_VERSION) 2>/dev/null)/lua$(LUA_VERSION)
LUA_LIBDIR  ?= $(PREFIX)/lib/lua/$(LUA_VERSION)
LUA_SHAREDIR ?= $(PREFIX)/share/lua/$(LUA_VERSION)
BINDIR      ?= $(PREFIX)/bin
DATADIR     ?= $(PREFIX)/share/purple
MANDIR      ?= $(PREFIX)/share/man
DOCDIR      ?= $(PREFIX)/share/doc/purple
# /etc only for a system prefix: `make install PREFIX=$HOME/.local` writes nothing outside the prefix.
SYSCONFDIR  ?= $(if $(filter /usr /usr/local,$(patsubst %/,%,$(PREFIX))),/etc,$(PREFIX)/etc)
UNITDIR     ?= $(PREFIX)/lib/systemd/system

CC      ?= cc
CFLAGS  ?= -O2 -g
WARN     = -std=c11 -Wall -Wextra -Werror -Werror=missing-prototypes -Werror=format=2 -Werror=shadow \
           -Wno-unused-parameter
DEPS_CFLAGS := $(shell $(PKG_CONFIG) --cflags libseccomp libcap 2>/dev/null)
DEPS_LIBS   := $(shell $(PKG_CONFIG) --libs libseccomp libcap 2>/dev/null)
# The core (csrc/*.c) is plain C: it is compiled without the Lua headers, so an include of lua.h
# fails the build. Only the binding layer (csrc/lua/*.c) sees them (docs/sandbox.md, Layers).
CORE_CFLAGS = $(WARN) -D_GNU_SOURCE -fPIC $(DEPS_CFLAGS) $(CFLAGS)
BIND_CFLAGS = $(WARN) -D_GNU_SOURCE -fPIC -iquote csrc -I$(LUA_INCDIR) $(DEPS_CFLAGS) $(CFLAGS)

# Debian packages needed to build, run and test.
DEB_PACKAGES = lua5.4 liblua5.4-dev libseccomp-dev libcap-dev lua-yaml lua-dkjson lua-lpeg lua-argparse lua-busted \
               pkg-config gcc make \
               python3 iproute2 util-linux man-db logrotate git procps nodejs luarocks \
               curl openssl python3-pip
# purple-oci's engine tests (spec/oci_engines_spec.lua) and its bench row: the engines that call it, runc to
# compare with; busybox-static for the images (docs/oci.md) and spec/oci_config_spec.lua's rootfs
DEB_PACKAGES += podman uidmap runc containerd busybox-static slirp4netns

CORE_SRC := $(sort $(wildcard csrc/*.c))
BIND_SRC := $(sort $(wildcard csrc/lua/*.c))
C_OBJ    := $(CORE_SRC:csrc/%.c=build/%.o)
CORE_OBJ := $(C_OBJ) $(BIND_SRC:csrc/lua/%.c=build/lua/%.o)
CORE_SO  := lua/purple/core.so

.PHONY: FORCE all luac-fresh deps demo check check-c check-unit check-root check-user install uninstall clean env bench bench-soak bench-seccomp bench-deps check-vm

# Precompiled Lua that the in-tree purple runs instead of compiling the source (~3 ms a start):
# each .luac records its source's stamp (device, inode, size, mtime, ctime) and absolute path, and
# the command runs it only while both match the file beside it (csrc/launcher/launcher.c:
# load_bytecode). LUAC_STAMP holds this tree's path, so a copied or moved tree recompiles on its next
# `make`; luac-fresh compiles again what a chmod or `cp -p` made stale without a newer date.
LUA_SRC    := $(shell find lua -name '*.lua' 2>/dev/null)
LUAC_OBJ   := $(LUA_SRC:lua/%.lua=build/luac/%.luac)
# the shipped Lua profiles too (launcher.c: load_profile; lua/purple/profiles.lua)
PROFILE_LUAC := $(patsubst profiles/%.lua,build/luac/profiles/%.luac,$(wildcard profiles/*.lua))
LUAC_STAMP := build/luac/.tree

# Debian's Lua modules that every start loads, precompiled the same way into build/luac/_sys/
# (launcher.c: system_bytecode); one whose source is not found is simply not precompiled.
SYS_LUA    := argparse dkjson
SYS_LUAC   := $(SYS_LUA:%=build/luac/_sys/%.luac)

all: $(CORE_SO) bin/purple bin/purple-lua bin/purple-oci spec/helpers/bin $(LUAC_OBJ) $(PROFILE_LUAC) $(SYS_LUAC) luac-fresh

luac-fresh: $(LUAC_OBJ) $(PROFILE_LUAC)
	@$(LUA) csrc/launcher/precompile.lua --fresh $(CURDIR) $(LUA_SRC) $(wildcard profiles/*.lua)

$(LUAC_STAMP): FORCE
	@mkdir -p $(@D)
	@[ "$$(cat $@ 2>/dev/null)" = "$(CURDIR)" ] || echo "$(CURDIR)" > $@

build/luac/%.luac: lua/%.lua csrc/launcher/precompile.lua $(LUAC_STAMP)
	@mkdir -p $(@D)
	@$(LUA) csrc/launcher/precompile.lua $(CURDIR)/$< $@ || { rm -f $@.tmp; echo "luac: $< not precompiled (loaded from source)"; }

build/luac/profiles/%.luac: profiles/%.lua csrc/launcher/precompile.lua $(LUAC_STAMP)
	@mkdir -p $(@D)
	@$(LUA) csrc/launcher/precompile.lua $(CURDIR)/$< $@ || { rm -f $@.tmp; echo "luac: $< not precompiled (loaded from source)"; }

build/luac/_sys/%.luac: csrc/launcher/precompile.lua FORCE
	@mkdir -p $(@D)
	@src=$$($(LUA) -e 'print(package.searchpath("$*", package.path) or "")'); \
	if [ -n "$$src" ]; then $(LUA) csrc/launcher/precompile.lua "$$src" $@ strip || rm -f $@.tmp; else rm -f $@; fi

# bin/purple has purple.core built in (package.preload), so a start maps one object less. liblua,
# libseccomp and libcap stay shared libraries, so Debian's security updates reach purple without a
# rebuild; `make STATIC_LIBS=1` links their static archives instead (~110 KiB less peak RSS and ~7%
# less CPU per `purple run`: bench/README.md, Memory). The Lua C API is exported, as lua5.4 does, for
# C modules (lyaml). -z now: full RELRO, and the forked init never runs the lazy binder (which would
# map ld.so and libm pages in it). DT_RELR (binutils 2.38, glibc 2.36) where the toolchain has it.
LUA_LIBS  := $(shell $(PKG_CONFIG) --libs lua$(LUA_VERSION) 2>/dev/null)
STATIC_LIBS ?=
lib_a      = $(if $(STATIC_LIBS),$(wildcard $(shell $(PKG_CONFIG) --variable=libdir $(1) 2>/dev/null)/$(2)))
LUA_A     ?= $(call lib_a,lua$(LUA_VERSION),liblua$(LUA_VERSION).a)
SECCOMP_A ?= $(call lib_a,libseccomp,libseccomp.a)
CAP_A     ?= $(call lib_a,libcap,libcap.a)
RELR      ?= $(shell echo 'int main(void){return 0;}' | $(CC) -x c -o /dev/null -Wl,--fatal-warnings \
               -Wl,-z,pack-relative-relocs - 2>/dev/null && echo -Wl,-z,pack-relative-relocs)
LUA_STATIC = -Wl,--whole-archive $(LUA_A) -Wl,--no-whole-archive -lm -ldl
LAUNCHER_LIBS = $(if $(SECCOMP_A),$(SECCOMP_A),-lseccomp) $(if $(CAP_A),$(CAP_A),-lcap) \
  $(if $(LUA_A),$(LUA_STATIC),$(LUA_LIBS)) \
  -Wl,--export-dynamic-symbol='lua_*',--export-dynamic-symbol='luaL_*',--export-dynamic-symbol='luaopen_*' \
  -Wl,-z,relro,-z,now $(RELR)
bin/purple-lua: csrc/launcher/launcher.c csrc/launcher/exec_client.c csrc/*.h $(CORE_OBJ)
	@mkdir -p bin
	$(CC) $(WARN) -D_GNU_SOURCE -I$(LUA_INCDIR) $(CFLAGS) -o $@.tmp $(filter %.c,$^) $(CORE_OBJ) $(LAUNCHER_LIBS) $(LDFLAGS)
	mv -f $@.tmp $@  # a failed link leaves the last good binary for purple runs in progress

# bin/purple (csrc/launcher/main.c) is a static executable without a C library: `purple exec` runs
# there with a few page faults and ~10 system calls, as many as its work takes (a glibc start is ~25
# faults: bench/README.md, Sessions); every other command, and the rarer forms of `purple exec`,
# exec bin/purple-lua beside it (the launcher above: a dynamic executable, so Debian's security
# updates of its libraries reach it). It is written for x86-64; elsewhere bin/purple is a link
# to the launcher, which runs `purple exec` itself (exec_client.c).
FRONT_CFLAGS = -ffreestanding -fno-stack-protector -fno-pie -fno-asynchronous-unwind-tables
ifneq ($(filter x86_64-%,$(shell $(CC) -dumpmachine)),)
bin/purple: csrc/launcher/main.c csrc/session_proto.h bin/purple-lua
	$(CC) $(WARN) -D_GNU_SOURCE $(CFLAGS) $(FRONT_CFLAGS) -static -nostdlib -no-pie -o $@.tmp $< -lgcc
	mv -f $@.tmp $@
else
bin/purple: bin/purple-lua
	ln -f bin/purple-lua bin/purple
endif

bin/purple-oci: bin/purple-lua
	ln -f bin/purple-lua bin/purple-oci

build/%.o: csrc/%.c csrc/*.h
	@mkdir -p build
	$(CC) $(CORE_CFLAGS) -c -o $@ $<

build/lua/%.o: csrc/lua/%.c csrc/lua/*.h csrc/*.h
	@mkdir -p build/lua
	$(CC) $(BIND_CFLAGS) -c -o $@ $<

$(CORE_SO): $(CORE_OBJ)
	$(CC) -shared -o $@.tmp $(CORE_OBJ) $(DEPS_LIBS) $(LDFLAGS)
	mv -f $@.tmp $@  # atomic: purple processes running during a build never load a half-written file

# Small C programs the specs run inside sandboxes to attack them.
HELPER_SRC := $(wildcard spec/helpers/*.c)
spec/helpers/bin: $(HELPER_SRC)
	@mkdir -p $@
	@for f in $(HELPER_SRC); do \
	  n=$$(basename $$f .c); \
	  $(CC) -std=gnu11 -O1 -Wall -Werror -o $@/$$n $$f -lpthread || exit 1; \
	done
	@touch $@

deps:
	@missing=""; for p in $(DEB_PACKAGES); do \
	  dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'install ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ]; then \
	  echo "make deps: installing$$missing"; \
	  apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $$missing; \
	else \
	  echo "make deps: missing Debian packages; run as root:"; \
	  echo "  apt-get install -y --no-install-recommends$$missing"; exit 1; \
	fi

demo: deps
	@$(MAKE) --no-print-directory all
	@sh examples/demo.sh

# Tests: as the invoking user, and as root also as an unprivileged user (uid 65534).
BUSTED = $(LUA) /usr/bin/busted
check: deps
	@$(MAKE) --no-print-directory all
	@$(if $(SANITIZE),$(SAN_ENV)) $(MAKE) --no-print-directory check-c
	@$(MAKE) --no-print-directory fuzz-replay
	@$(if $(SANITIZE),$(SAN_ENV)) sh spec/run.sh $(if $(SANITIZE),$(SANITIZE_SPECS))

# The C core alone: a C program linked with the core objects only (no liblua, no binding) starts
# real sandboxes through the C API; as root, again as uid 65534 (docs/sandbox.md, Layers).
build/check/core_test: spec/c/core_test.c $(C_OBJ) csrc/*.h
	@mkdir -p build/check
	$(CC) $(CORE_CFLAGS) -iquote csrc -o $@ $< $(C_OBJ) $(DEPS_LIBS) -lpthread $(LDFLAGS)

check-c: build/check/core_test $(CORE_OBJ)
	@python3 spec/c/layers.py $(C_OBJ) -- $(filter build/lua/%,$(CORE_OBJ))
	@build/check/core_test
	@if [ "$$(id -u)" = 0 ]; then setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all \
	  --bounding-set=-all $(CURDIR)/build/check/core_test; fi

env:
	@echo 'export LUA_PATH="$(CURDIR)/lua/?.lua;$(CURDIR)/lua/?/init.lua;;"'
	@echo 'export LUA_CPATH="$(CURDIR)/lua/?.so;;"'
	@echo 'export PATH="$(CURDIR)/bin:$$PATH"'

# The installed purple.paths: lua/purple/paths.lua with its INSTALLED line naming the directories
# installed to (without DESTDIR), so the installed purple reads profiles from there and never from
# this tree. Written straight into the destination: an installing user need not own this tree.
INSTALLED_PATHS = I_LUADIR='$(LUA_SHAREDIR)' I_DATADIR='$(DATADIR)' I_SYSCONFDIR='$(SYSCONFDIR)' $(LUA) -e ' \
  local function dir(v) return (assert(os.getenv(v)):gsub("(.)/+$$", "%1")) end \
  local line = ("local INSTALLED = { luadir = %q, datadir = %q, sysconfdir = %q }"):format( \
    dir("I_LUADIR"), dir("I_DATADIR"), dir("I_SYSCONFDIR")) \
  local s, n = io.read("a"):gsub("\nlocal INSTALLED = nil[^\n]*", function() return "\n" .. line end) \
  assert(n == 1, "lua/purple/paths.lua: no INSTALLED line") io.write(s)'

install: all
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(LUA_LIBDIR)/purple $(DESTDIR)$(LUA_SHAREDIR)/purple \
	  $(DESTDIR)$(DATADIR)/profiles $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man5
	install -m 0755 $(CORE_SO) $(DESTDIR)$(LUA_LIBDIR)/purple/core.so
	install -m 0644 lua/purple.lua $(DESTDIR)$(LUA_SHAREDIR)/purple.lua
	install -m 0644 lua/purple/*.lua $(DESTDIR)$(LUA_SHAREDIR)/purple/
	$(INSTALLED_PATHS) < lua/purple/paths.lua > $(DESTDIR)$(LUA_SHAREDIR)/purple/paths.lua
	chmod 0644 $(DESTDIR)$(LUA_SHAREDIR)/purple/paths.lua
	install -d $(DESTDIR)$(LUA_SHAREDIR)/purple/cli $(DESTDIR)$(LUA_SHAREDIR)/purple/enforce
	install -m 0644 lua/purple/cli/*.lua $(DESTDIR)$(LUA_SHAREDIR)/purple/cli/
	install -m 0644 lua/purple/enforce/*.lua $(DESTDIR)$(LUA_SHAREDIR)/purple/enforce/
	install -m 0644 profiles/*.lua profiles/*.yaml $(DESTDIR)$(DATADIR)/profiles/
	install -m 0755 bin/purple bin/purple-lua $(DESTDIR)$(BINDIR)/
	install -m 0644 man/purple.1 man/purple-lua.1 $(DESTDIR)$(MANDIR)/man1/
	ln -f $(DESTDIR)$(BINDIR)/purple-lua $(DESTDIR)$(BINDIR)/purple-oci
	install -m 0644 man/purple-oci.1 $(DESTDIR)$(MANDIR)/man1/
	install -d $(DESTDIR)$(LUA_SHAREDIR)/purple/oci
	install -m 0644 lua/purple/oci/*.lua $(DESTDIR)$(LUA_SHAREDIR)/purple/oci/
	install -d $(DESTDIR)$(SYSCONFDIR)/purple/profiles $(DESTDIR)$(SYSCONFDIR)/logrotate.d $(DESTDIR)$(UNITDIR) \
	  $(DESTDIR)$(DOCDIR)
	install -m 0644 contrib/logrotate.d/purple $(DESTDIR)$(SYSCONFDIR)/logrotate.d/purple
	sed 's#@BINDIR@#$(BINDIR)#g' contrib/purple-sandbox.service > $(DESTDIR)$(UNITDIR)/purple-sandbox.service
	chmod 0644 $(DESTDIR)$(UNITDIR)/purple-sandbox.service
	install -m 0644 docs/audit-schema.json $(DESTDIR)$(DOCDIR)/
	install -m 0644 man/purple-policy.5 $(DESTDIR)$(MANDIR)/man5/

# The local profiles directory is removed only when empty: what an administrator put there stays.
uninstall:
	rm -f $(DESTDIR)$(BINDIR)/purple $(DESTDIR)$(BINDIR)/purple-lua
	rm -f $(DESTDIR)$(BINDIR)/purple-oci $(DESTDIR)$(MANDIR)/man1/purple-oci.1
	rm -rf $(DESTDIR)$(LUA_LIBDIR)/purple $(DESTDIR)$(LUA_SHAREDIR)/purple $(DESTDIR)$(LUA_SHAREDIR)/purple.lua
	rm -rf $(DESTDIR)$(DATADIR)
	rm -f $(DESTDIR)$(MANDIR)/man1/purple.1 $(DESTDIR)$(MANDIR)/man1/purple-lua.1 $(DESTDIR)$(MANDIR)/man5/purple-policy.5
	rm -f $(DESTDIR)$(SYSCONFDIR)/logrotate.d/purple $(DESTDIR)$(UNITDIR)/purple-sandbox.service
	rm -rf $(DESTDIR)$(DOCDIR)
	-rmdir $(DESTDIR)$(SYSCONFDIR)/purple/profiles $(DESTDIR)$(SYSCONFDIR)/purple 2>/dev/null

clean:
	rm -rf build $(CORE_SO) spec/helpers/bin bin/purple bin/purple-lua bin/purple-oci

# cgroup v2 specs in a qemu VM, as root and as a delegated user (vm/README.md). As root:
#   make check-vm [VM_SPECS="spec/x_spec.lua ..."] [VM_PASSES=root,user] [VM_TIMEOUT=1200]
# The guest kernel is Debian's, fetched as a package file and unpacked into build/vm/kernel
# (vm/fetch-kernel): nothing is installed on the host's /boot or /lib/modules.
VM_PACKAGES = qemu-system-x86 busybox-static e2fsprogs cpio kmod util-linux dash procps psmisc iproute2
VM_KERNEL_PACKAGE ?= linux-image-amd64
.PHONY: vm-deps
vm-deps:
	@$(MAKE) --no-print-directory deps DEB_PACKAGES="$(DEB_PACKAGES) $(VM_PACKAGES)"

check-vm: vm-deps
	@$(MAKE) --no-print-directory all
	@VM_KERNEL_PACKAGE="$(VM_KERNEL_PACKAGE)" VM_SPECS="$(VM_SPECS)" vm/run

# Benchmarks (bench/README.md). The peers come from Debian; bench-deps installs them.
BENCH_PACKAGES = bubblewrap firejail
ROUNDS       ?= 200
TPUT_SECONDS ?= 5
COUNT        ?= 10000
BASELINE     ?=
build/bench/runner: bench/runner.c
	@mkdir -p build/bench
	$(CC) $(WARN) -D_GNU_SOURCE $(CFLAGS) -o $@ $<

# x86-64 only, like bin/purple (bench.lua leaves its row out when it is missing)
build/bench/exec_floor: bench/exec_floor.c
	@mkdir -p build/bench
	-$(CC) $(WARN) $(CFLAGS) $(FRONT_CFLAGS) -static -nostdlib -no-pie -o $@ $<

build/bench/rss_probe: bench/rss_probe.c
	@mkdir -p build/bench
	$(CC) $(WARN) $(CFLAGS) -o $@ $< -ldl

bench-deps:
	@$(MAKE) --no-print-directory deps DEB_PACKAGES="$(BENCH_PACKAGES)"

bench: bench-deps all build/bench/runner build/bench/rss_probe build/bench/exec_floor
	@ROUNDS=$(ROUNDS) TPUT_SECONDS=$(TPUT_SECONDS) BASELINE=$(BASELINE) $(LUA) bench/bench.lua
	@$(LUA) bench/memory.lua
	@$(CURDIR)/bin/purple-lua bench/breakdown.lua ai-strict 100
	@PURPLE_ROOT=$(CURDIR) $(LUA) bench/egress.lua

bench-soak: all build/bench/runner
	@COUNT=$(COUNT) $(LUA) bench/soak.lua

build/bench/syscall_loop: bench/syscall_loop.c
	@mkdir -p build/bench
	$(CC) $(WARN) -D_GNU_SOURCE $(CFLAGS) -o $@ $<

bench-seccomp: all build/bench/syscall_loop
	@$(CURDIR)/bin/purple-lua bench/seccomp.lua $(ROUNDS_SECCOMP)

# Fuzzing (docs/reliability.md). Every spec/fuzz/fuzz_NAME.c (int LLVMFuzzerTestOneInput) is a
# harness: built with libFuzzer against the core objects (csrc/*.c) compiled with ASan and UBSan,
# liblua linked for harnesses that load purple's Lua library. Seeds: spec/fuzz/corpus/NAME/;
# dictionary: spec/fuzz/NAME.dict; libFuzzer options: spec/fuzz/NAME.options; what a run finds goes to build/fuzz/corpus/NAME/ and crashes to
# build/fuzz/artifacts/. `make fuzz [FUZZ_SECONDS=N] [FUZZ=NAME...]` runs each harness N seconds at
# nice 15. fuzz-replay builds the same harnesses without libFuzzer (spec/fuzz/replay.c is their
# main) so spec/fuzz_regress_spec.lua replays spec/fuzz/regress/NAME/* and the seeds in `make check`.
FUZZ_PACKAGES = clang libclang-rt-14-dev
FUZZ_CC      ?= clang
FUZZ_SECONDS ?= 10
FUZZ_TIMEOUT ?= 60
FUZZ_SAN      = -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
FUZZ_CFLAGS   = -std=gnu11 -g -O1 -D_GNU_SOURCE -iquote csrc -I$(LUA_INCDIR) $(DEPS_CFLAGS) $(FUZZ_SAN)
FUZZ_LIBS     = $(DEPS_LIBS) $(LUA_LIBS) -lpthread
FUZZ_SRC     := $(sort $(wildcard spec/fuzz/fuzz_*.c))
FUZZ_ALL     := $(FUZZ_SRC:spec/fuzz/%.c=%)
FUZZ         ?= $(FUZZ_ALL)
FUZZ_OBJ     := $(CORE_SRC:csrc/%.c=build/fuzz/core/%.o)
REPLAY_OBJ   := $(CORE_SRC:csrc/%.c=build/fuzz/replay-core/%.o)
.PHONY: fuzz fuzz-deps fuzz-build fuzz-replay

fuzz-deps:
	@$(MAKE) --no-print-directory deps DEB_PACKAGES="$(FUZZ_PACKAGES)"

build/fuzz/core/%.o: csrc/%.c csrc/*.h
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c -o $@ $<

build/fuzz/bin/%: spec/fuzz/%.c spec/fuzz/*.h $(FUZZ_OBJ)
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $< $(FUZZ_OBJ) $(FUZZ_LIBS)

# The replay build: the system compiler, ASan and UBSan, no libFuzzer (make check needs no clang).
build/fuzz/replay-core/%.o: csrc/%.c csrc/*.h
	@mkdir -p $(@D)
	$(CC) $(FUZZ_CFLAGS) -c -o $@ $<

build/fuzz/replay/%: spec/fuzz/%.c spec/fuzz/replay.c spec/fuzz/*.h $(REPLAY_OBJ)
	@mkdir -p $(@D)
	$(CC) $(FUZZ_CFLAGS) -o $@ $< spec/fuzz/replay.c $(REPLAY_OBJ) $(FUZZ_LIBS)

.SECONDARY: $(FUZZ_OBJ) $(REPLAY_OBJ)
fuzz-build: $(FUZZ:%=build/fuzz/bin/%)
fuzz-replay: $(FUZZ_ALL:%=build/fuzz/replay/%)

fuzz: fuzz-deps all
	@$(MAKE) --no-print-directory fuzz-build
	@mkdir -p build/fuzz/artifacts
	@for n in $(FUZZ); do \
	  mkdir -p build/fuzz/corpus/$$n spec/fuzz/corpus/$$n; \
	  echo "== fuzz $$n: $(FUZZ_SECONDS) s"; \
	  nice -n 15 build/fuzz/bin/$$n -max_total_time=$(FUZZ_SECONDS) -timeout=$(FUZZ_TIMEOUT) -rss_limit_mb=2048 \
	    -print_final_stats=1 -artifact_prefix=build/fuzz/artifacts/$$n- \
	    $$( [ -f spec/fuzz/$$n.dict ] && echo -dict=spec/fuzz/$$n.dict ) $$(cat spec/fuzz/$$n.options 2>/dev/null) \
	    build/fuzz/corpus/$$n spec/fuzz/corpus/$$n 2>build/fuzz/$$n.log; rc=$$?; \
	  grep -E '^stat::number_of_executed_units|^stat::average_exec_per_sec|^stat::peak_rss_mb|^==[0-9]+==ERROR|^SUMMARY' build/fuzz/$$n.log; \
	  if [ $$rc != 0 ]; then echo "fuzz $$n: FAILED (status $$rc; build/fuzz/$$n.log, build/fuzz/artifacts/$$n-*)"; exit 1; fi; \
	done

# Sanitizer builds (docs/reliability.md): `make check SANITIZE=address,undefined` builds purple
# with those sanitizers and runs the specs of SANITIZE_SPECS under them. build/.flags records the
# compiler and flags, so switching SANITIZE on or off rebuilds every object (never a mix).
# The objects whose code runs on the static stack of a clone(CLONE_VM|CLONE_VFORK) child (spawn.c,
# payload.c, session_agent.c) are built without ASan: ASan does not know that stack and warns on
# the child's first noreturn call, into the command's stderr. Specs run lua5.4, which loads the
# sanitized core.so late (verify_asan_link_order=0: its heap is libc's, its stack and globals are
# checked); bin/purple, which most specs run, has the runtime linked in.
SANITIZE ?=
comma := ,
empty :=
space := $(empty) $(empty)
san_flags = $(if $(strip $(1)),-fsanitize=$(subst $(space),$(comma),$(strip $(1))) -fno-omit-frame-pointer \
              -fno-sanitize-recover=all)
SAN_LIST   := $(subst $(comma),$(space),$(SANITIZE))
SAN_CFLAGS  = $(call san_flags,$(SAN_LIST))
override CFLAGS  += $(SAN_CFLAGS)
override LDFLAGS += $(if $(SANITIZE),-fsanitize=$(SANITIZE))
build/spawn.o build/payload.o build/session_agent.o: SAN_CFLAGS = $(call san_flags,$(filter-out address,$(SAN_LIST)))
# bin/purple has no C library for a sanitizer runtime to hook into: it is built as always.
bin/purple: SAN_CFLAGS =
FLAGS_STAMP := build/.flags
$(FLAGS_STAMP): FORCE
	@mkdir -p $(@D)
	@f='$(CC) $(CFLAGS) $(LDFLAGS) $(SANITIZE)'; [ "$$(cat $@ 2>/dev/null)" = "$$f" ] || echo "$$f" > $@
$(CORE_OBJ) $(CORE_SO) bin/purple build/check/core_test: $(FLAGS_STAMP)
# Specs that run under the sanitizers; the others need what a sanitizer runtime changes or takes:
# LD_PRELOAD-free hosts for helpers that test raw syscalls (int 0x80, SIGSEGV/SIGSYS handling),
# exact memory and pids limits (ASan reserves terabytes of shadow address space and spawns no
# threads the limits count), timing-sensitive benchmarks. docs/reliability.md lists the reasons.
SANITIZE_SPECS ?= spec/core_spec.lua spec/cli_spec.lua spec/launcher_spec.lua spec/session_spec.lua \
                  spec/seccomp_emit_spec.lua spec/policy_spec.lua spec/yaml_spec.lua spec/compose_spec.lua \
                  spec/enforce_spec.lua spec/network_spec.lua spec/timeout_spec.lua spec/audit_spec.lua \
                  spec/fuzz_regress_spec.lua
SAN_ENV = ASAN_OPTIONS=detect_leaks=0:verify_asan_link_order=0:abort_on_error=0 \
          UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

# Fault injection under load (bench/chaos.lua, docs/reliability.md): root only; a private mount
# namespace and its own cgroups, removed at the end. CHAOS_ROUNDS rounds of CHAOS_JOBS jobs.
CHAOS_ROUNDS ?= 2
CHAOS_JOBS   ?= 32
.PHONY: chaos
chaos: all
	@ROUNDS=$(CHAOS_ROUNDS) JOBS=$(CHAOS_JOBS) PURPLE_ROOT=$(CURDIR) $(LUA) bench/chaos.lua

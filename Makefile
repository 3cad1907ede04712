# SPDX-License-Identifier: MIT
# svcid — one GNU Makefile. Every artefact goes into $(BUILD) (build/, or
# build/asan with SANITIZE=1). New sources are picked up by wildcard: a file
# in lib/ joins libsvcid, tests/test_*.c becomes a cmocka test, tests/t_*.sh a
# shell test, fuzz/fuzz_*.c a libFuzzer target, man/*.scd a man page.

VERSION   := 0.1.0
SOVERSION := 1
PREFIX    ?= /usr/local
DESTDIR   ?=
BINDIR    ?= $(PREFIX)/bin
SBINDIR   ?= $(PREFIX)/sbin
MULTIARCH := $(shell $(CC) -print-multiarch 2>/dev/null)
LIBDIR    ?= $(PREFIX)/lib/$(MULTIARCH)
INCLUDEDIR ?= $(PREFIX)/include
MANDIR    ?= $(PREFIX)/share/man
# Where Linux-PAM loads a module named without a path: not under PREFIX.
PAMDIR    ?= /lib/$(if $(MULTIARCH),$(MULTIARCH)/)security

CC        ?= cc
PKG_CONFIG ?= pkg-config
SANITIZE  ?=
BUILD     := build$(if $(SANITIZE),/asan)
export SVCID_BUILD := $(abspath $(BUILD))

WARN := -Wall -Wextra -Wconversion -Wformat=2 -Wstrict-prototypes \
        -Wmissing-prototypes -Wshadow -Wno-sign-conversion
ifeq ($(CI),true)
WARN += -Werror
endif
# _FORTIFY_SOURCE=2 unless CPPFLAGS or CFLAGS (a distribution's) set a level
HARDEN   := $(if $(findstring _FORTIFY_SOURCE,$(CPPFLAGS) $(CFLAGS)),,-D_FORTIFY_SOURCE=2) \
            -fstack-protector-strong -fstack-clash-protection
comma    := ,
SAN_FLAGS := -fsanitize=address$(comma)undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
OPT      := $(if $(SANITIZE),-O1 -g $(SAN_FLAGS),-O2 -g)
BASE_CFLAGS := -std=gnu11 -fPIC $(OPT) -Iinclude -D_GNU_SOURCE -DSVCID_VERSION=\"$(VERSION)\"
LDHARDEN := -Wl,-z,relro,-z,now -Wl,--as-needed $(if $(SANITIZE),$(SAN_FLAGS))

pc = $(shell $(PKG_CONFIG) --cflags --libs $(1) 2>/dev/null)
pcflags = $(shell $(PKG_CONFIG) --cflags $(1) 2>/dev/null)
pclibs = $(shell $(PKG_CONFIG) --libs $(1) 2>/dev/null)

LIB_PKGS   := libcrypto jansson
CFLAGS_ALL := $(BASE_CFLAGS) $(HARDEN) $(call pcflags,$(LIB_PKGS) libsystemd libmicrohttpd inih libcurl) $(CPPFLAGS) $(CFLAGS)
LIB_LIBS   := $(call pclibs,$(LIB_PKGS))

# common/ holds helpers every part uses (cleanup, capped reads); its
# objects are built into libsvcid, and the version script keeps them local.
COMMON_SRC := $(sort $(wildcard common/*.c))
LIB_SRC    := $(sort $(wildcard lib/*.c)) $(COMMON_SRC)
CLI_SRC    := $(sort $(wildcard cli/*.c))
AGENT_SRC  := $(sort $(wildcard agent/*.c))
PAM_SRC    := $(sort $(wildcard pam/*.c))
GATE_SRC   := $(sort $(wildcard gate/*.c))
TEST_SRC   := $(sort $(wildcard tests/test_*.c))
FUZZ_SRC   := $(sort $(wildcard fuzz/fuzz_*.c))
BENCH_SRC  := $(sort $(wildcard bench/*.c))
MAN_SRC    := $(sort $(wildcard man/*.scd))

obj = $(patsubst %.c,$(BUILD)/obj/%.o,$(1))

LIBSVCID_A := $(BUILD)/libsvcid.a
LIBSVCID_SO := $(BUILD)/libsvcid.so.$(SOVERSION)

PROGRAMS := $(BUILD)/svcid \
            $(if $(AGENT_SRC),$(BUILD)/svcid-agent) \
            $(if $(GATE_SRC),$(BUILD)/svcid-gate) \
            $(if $(PAM_SRC),$(BUILD)/pam_svcid.so)
TESTS    := $(patsubst tests/%.c,$(BUILD)/tests/%,$(TEST_SRC))
BENCHES  := $(patsubst bench/%.c,$(BUILD)/bench/%,$(BENCH_SRC))
MANS     := $(patsubst man/%.scd,$(BUILD)/man/%,$(MAN_SRC))

.PHONY: all lib programs tests man check fuzz bench demo deps deps-deb install deb rpm clean
all: lib programs man

lib: $(LIBSVCID_SO) $(LIBSVCID_A) $(BUILD)/svcid.pc
programs: $(PROGRAMS)
tests: $(TESTS) $(BENCHES)
man: $(MANS)

$(BUILD)/obj/%.o: %.c $(wildcard include/svcid/*.h lib/*.h common/*.h agent/*.h pam/*.h gate/*.h cli/*.h)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_ALL) $(WARN) -c -o $@ $<

# Tests and fuzzers use cmocka/libFuzzer idioms that -Wconversion dislikes.
# Some tests #include the agent's, gate's or module's sources: a change
# there must rebuild them.
$(BUILD)/obj/tests/%.o: tests/%.c $(wildcard include/svcid/*.h lib/*.h common/*.h tests/*.h \
                                             agent/*.[ch] gate/*.[ch] pam/*.[ch])
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_ALL) -Wall -Wextra $(if $(filter true,$(CI)),-Werror) $(call pcflags,cmocka) -c -o $@ $<

$(LIBSVCID_A): $(call obj,$(LIB_SRC))
	@mkdir -p $(@D)
	rm -f $@ && ar rcs $@ $^

# -z nodelete: once used, libsvcid's functions are jansson's allocator
# (common/json.c), so it must never be unloaded.
$(LIBSVCID_SO): $(call obj,$(LIB_SRC)) lib/libsvcid.sym
	$(CC) -shared -o $@ $(call obj,$(LIB_SRC)) -Wl,-soname,libsvcid.so.$(SOVERSION) \
		-Wl,--version-script=lib/libsvcid.sym -Wl,--no-undefined -Wl,-z,nodelete $(LDHARDEN) $(LIB_LIBS) $(LDFLAGS)
	ln -sf libsvcid.so.$(SOVERSION) $(BUILD)/libsvcid.so

$(BUILD)/svcid.pc: lib/svcid.pc.in
	@mkdir -p $(@D)
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(LIBDIR)|' -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|' \
	    -e 's|@VERSION@|$(VERSION)|' $< > $@

# Programs link libsvcid statically: one self-contained binary per part.
PROG_LDFLAGS = -pie $(LDHARDEN) $(LDFLAGS)

# svcid connect reads the gate's line-mode answer with the gate's own
# parser of that format.
$(BUILD)/svcid: $(call obj,$(CLI_SRC) gate/preamble.c) $(LIBSVCID_A)
	$(CC) -o $@ $^ $(PROG_LDFLAGS) $(LIB_LIBS)

$(BUILD)/svcid-agent: $(call obj,$(AGENT_SRC)) $(LIBSVCID_A)
	$(CC) -o $@ $^ $(PROG_LDFLAGS) $(LIB_LIBS) $(call pclibs,libsystemd libmicrohttpd inih)

$(BUILD)/svcid-gate: $(call obj,$(GATE_SRC)) $(LIBSVCID_A)
	$(CC) -o $@ $^ $(PROG_LDFLAGS) $(LIB_LIBS)

$(BUILD)/pam_svcid.so: $(call obj,$(PAM_SRC)) $(LIBSVCID_A) pam/pam_svcid.sym
	$(CC) -shared -o $@ $(call obj,$(PAM_SRC)) $(LIBSVCID_A) \
		-Wl,--version-script=pam/pam_svcid.sym -Wl,--no-undefined $(LDHARDEN) $(LDFLAGS) $(LIB_LIBS) -lpam

$(BUILD)/tests/%: $(BUILD)/obj/tests/%.o $(LIBSVCID_A)
	@mkdir -p $(@D)
	$(CC) -o $@ $^ $(LDHARDEN) $(LDFLAGS) $(LIB_LIBS) $(call pclibs,cmocka libsystemd) -lpam -lpam_misc -ldl

$(BUILD)/bench/%: bench/%.c $(LIBSVCID_A) $(wildcard bench/*.h)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_ALL) -Wall -Wextra -o $@ $(filter-out %.h,$^) $(LDHARDEN) $(LDFLAGS) $(LIB_LIBS) -lpam

# A man page is dated by the release (the top entry of debian/changelog),
# as dpkg-buildpackage dates it, so every build of a release is the same.
SOURCE_DATE_EPOCH ?= $(shell date -d "$$(sed -n 's/^ -- .*>  //p;T;q' packaging/debian/changelog)" +%s)

$(BUILD)/man/%: man/%.scd packaging/debian/changelog
	@mkdir -p $(@D)
	SOURCE_DATE_EPOCH=$(SOURCE_DATE_EPOCH) scdoc < $< > $@

check: all tests
	tests/run.sh

# libFuzzer targets: clang, every lib source rebuilt with the fuzzer's
# sanitizers. FUZZ_SECONDS bounds each target's run.
FUZZ_CC      ?= clang-14
FUZZ_SECONDS ?= 30
FUZZ_BUILD   := build/fuzz
FUZZ_CFLAGS  := -std=gnu11 -g -O1 -Iinclude -D_GNU_SOURCE -DSVCID_VERSION=\"$(VERSION)\" \
                -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
                -fsanitize-coverage-ignorelist=fuzz/coverage-ignore.txt \
                $(call pcflags,$(LIB_PKGS))
FUZZ_TARGETS := $(patsubst fuzz/%.c,$(FUZZ_BUILD)/%,$(FUZZ_SRC))

$(FUZZ_BUILD)/%: fuzz/%.c $(LIB_SRC) $(wildcard fuzz/*.h pam/*.[ch] gate/*.[ch] agent/*.[ch] include/svcid/*.h lib/*.h common/*.h) fuzz/coverage-ignore.txt
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -o $@ $< $(LIB_SRC) $(LIB_LIBS) -lpam

fuzz: $(FUZZ_TARGETS)
	FUZZ_SECONDS=$(FUZZ_SECONDS) fuzz/run.sh $(FUZZ_TARGETS)

bench: all $(BENCHES)
	bench/run.sh

demo: all
	./demo.sh

DEPS := build-essential pkg-config libssl-dev openssl libjansson-dev libcmocka-dev \
        libsystemd-dev systemd libpam0g-dev libpam-runtime libmicrohttpd-dev libinih-dev \
        libcurl4-openssl-dev curl scdoc clang-14 libclang-rt-14-dev \
        python3 python3-jwt python3-cryptography \
        libpam-wrapper libpamtest0-dev pamtester openssh-server openssh-client sshpass \
        busybox munge util-linux procps jq sudo \
        debhelper dpkg-dev fakeroot lintian rpm strace systemd-container mmdebstrap
# Node.js and npm (for the jose interop test) come with the machine image;
# Debian's npm conflicts with that nodejs, so it is not installed here.
deps:
	@missing=$$(for p in $(DEPS); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; done); \
	if [ -z "$$missing" ]; then echo "deps: all installed"; exit 0; fi; \
	echo "deps: installing $$missing"; \
	export DEBIAN_FRONTEND=noninteractive; \
	apt-get update -q && apt-get install -y -q --no-install-recommends $$missing

# Only what `make deb` needs: the Build-Depends of packaging/debian/control
# (apt-get build-dep adds build-essential), dpkg-dev and fakeroot. For a
# host that is to run svcid: `make deps` also brings the test suite's
# programs, among them openssh-server and munge, whose daemons Debian starts.
deps-deb:
	@if command -v dpkg-checkbuilddeps >/dev/null && command -v fakeroot >/dev/null && \
	    dpkg-checkbuilddeps packaging/debian/control 2>/dev/null; then echo "deps-deb: all installed"; exit 0; fi; \
	export DEBIAN_FRONTEND=noninteractive; \
	apt-get update -q && apt-get build-dep -y -q --no-install-recommends ./packaging && \
	apt-get install -y -q --no-install-recommends dpkg-dev fakeroot

# Where `make install` puts the system integration. The defaults are
# Debian 12's (debian/rules and the RPM spec pass their own); the agent's
# config is always /etc/svcid, the path compiled into it.
SYSCONFDIR  ?= /etc
UNITDIR     ?= $(or $(shell $(PKG_CONFIG) --variable=systemdsystemunitdir systemd 2>/dev/null),/lib/systemd/system)
SYSUSERSDIR ?= $(or $(shell $(PKG_CONFIG) --variable=sysusersdir systemd 2>/dev/null),/usr/lib/sysusers.d)
TMPFILESDIR ?= $(or $(shell $(PKG_CONFIG) --variable=tmpfilesdir systemd 2>/dev/null),/usr/lib/tmpfiles.d)
PAMCONFDIR  ?= /usr/share/pam-configs
DOCDIR      ?= $(PREFIX)/share/doc/svcid
GATE_EXAMPLES := $(sort $(wildcard packaging/svcid-gate-*example*))

install: all
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(LIBDIR)/pkgconfig $(DESTDIR)$(INCLUDEDIR)/svcid
	install -m 0755 $(BUILD)/svcid $(DESTDIR)$(BINDIR)/svcid
	install -m 0644 $(LIBSVCID_SO) $(DESTDIR)$(LIBDIR)/libsvcid.so.$(SOVERSION)
	ln -sf libsvcid.so.$(SOVERSION) $(DESTDIR)$(LIBDIR)/libsvcid.so
	install -m 0644 include/svcid/svcid.h $(DESTDIR)$(INCLUDEDIR)/svcid/svcid.h
	# svcid.pc from the .in here: $(BUILD)/svcid.pc keeps the paths of the
	# first build, and an install may name others.
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(LIBDIR)|' -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|' \
	    -e 's|@VERSION@|$(VERSION)|' lib/svcid.pc.in > $(DESTDIR)$(LIBDIR)/pkgconfig/svcid.pc
	chmod 0644 $(DESTDIR)$(LIBDIR)/pkgconfig/svcid.pc
	$(if $(wildcard $(BUILD)/svcid-agent),install -d $(DESTDIR)$(SBINDIR) && install -m 0755 $(BUILD)/svcid-agent $(DESTDIR)$(SBINDIR)/svcid-agent)
	$(if $(wildcard $(BUILD)/svcid-gate),install -m 0755 $(BUILD)/svcid-gate $(DESTDIR)$(BINDIR)/svcid-gate)
	$(if $(wildcard $(BUILD)/pam_svcid.so),install -d $(DESTDIR)$(PAMDIR) && install -m 0644 $(BUILD)/pam_svcid.so $(DESTDIR)$(PAMDIR)/pam_svcid.so)
	for m in $(MANS); do s=$${m##*.}; install -d $(DESTDIR)$(MANDIR)/man$$s; \
		install -m 0644 $$m $(DESTDIR)$(MANDIR)/man$$s/; done
	install -d $(DESTDIR)$(SYSCONFDIR)/svcid $(DESTDIR)$(SYSCONFDIR)/svcid/trust.d $(DESTDIR)$(UNITDIR) $(DESTDIR)$(SYSUSERSDIR) \
		$(DESTDIR)$(TMPFILESDIR) $(DESTDIR)$(PAMCONFDIR) $(DESTDIR)$(DOCDIR)/examples
	# An operator's policy survives a reinstall, as a conffile does.
	if [ -e $(DESTDIR)$(SYSCONFDIR)/svcid/agent.conf ]; then \
		echo "make install: kept $(DESTDIR)$(SYSCONFDIR)/svcid/agent.conf (the shipped one is packaging/agent.conf)"; \
	else install -m 0644 packaging/agent.conf $(DESTDIR)$(SYSCONFDIR)/svcid/agent.conf; fi
	install -m 0644 packaging/svcid-agent.socket $(DESTDIR)$(UNITDIR)/svcid-agent.socket
	sed 's|^\(Exec[A-Za-z]*=\)/usr/sbin/|\1$(SBINDIR)/|' packaging/svcid-agent.service > $(DESTDIR)$(UNITDIR)/svcid-agent.service
	chmod 0644 $(DESTDIR)$(UNITDIR)/svcid-agent.service
	install -m 0644 packaging/sysusers.d/svcid.conf $(DESTDIR)$(SYSUSERSDIR)/svcid.conf
	install -m 0644 packaging/tmpfiles.d/svcid.conf $(DESTDIR)$(TMPFILESDIR)/svcid.conf
	install -m 0644 packaging/pam-configs/svcid $(DESTDIR)$(PAMCONFDIR)/svcid
	# The examples name the gate where this install puts it.
	for f in $(GATE_EXAMPLES); do d=$(DESTDIR)$(DOCDIR)/examples/$${f##*/}; \
		sed 's|^ExecStart=/usr/bin/svcid-gate |ExecStart=$(BINDIR)/svcid-gate |' $$f > $$d && chmod 0644 $$d || exit 1; done

# Debian packages into $(BUILD)/deb: dpkg-buildpackage on a copy of the
# tree (sources only) with packaging/debian as debian/.
DEB_DIR := $(BUILD)/deb
deb:
	rm -rf $(DEB_DIR) && mkdir -p $(DEB_DIR)/svcid-$(VERSION)
	tar -c --exclude=./build --exclude=./.git --exclude=./tests/interop/node_modules . | \
		tar -x -C $(DEB_DIR)/svcid-$(VERSION)
	cp -a packaging/debian $(DEB_DIR)/svcid-$(VERSION)/debian
	cd $(DEB_DIR)/svcid-$(VERSION) && dpkg-buildpackage -us -uc -b
	rm -rf $(DEB_DIR)/svcid-$(VERSION)
	@ls -1 $(DEB_DIR)

# RPM packages into $(BUILD)/rpm. On Debian the build dependencies are
# Debian packages that rpm's database does not know: --nodeps.
RPM_DIR := $(abspath $(BUILD)/rpm)
rpm:
	rm -rf $(RPM_DIR) && mkdir -p $(RPM_DIR)/SOURCES
	tar -c --exclude=./build --exclude=./.git --exclude=./tests/interop/node_modules \
		--transform='s|^\.|svcid-$(VERSION)|' . | gzip -n > $(RPM_DIR)/SOURCES/svcid-$(VERSION).tar.gz
	rpmbuild -bb --nodeps --define '_topdir $(RPM_DIR)' packaging/rpm/svcid.spec
	@find $(RPM_DIR)/RPMS -name '*.rpm' | sort

clean:
	rm -rf build

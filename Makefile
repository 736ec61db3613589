# qmgr: build and install the C library (libqmgr.so.0, libqmgr.a), its C and C++ headers and
# pkg-config file, the qmgr command with its man pages and shell completions, the man page of
# the C API, and the systemd user unit of the background runner. GNU conventions:
#
#   make                                  # cargo build --release; man pages and completions
#   sudo make install                     # into PREFIX (default /usr/local); no cargo run
#   make install DESTDIR=/tmp/stage PREFIX=/usr LIBDIR=/usr/lib/x86_64-linux-gnu
#   make uninstall                        # removes every file install installs
#   make install-strip                    # install, with the binary and the library stripped
#   make check                            # ./run-tests.sh
#
# `install` runs no cargo when the build is there (so `sudo make install` works without a
# Rust toolchain for root); the files that name installation directories (qmgr.pc, the
# systemd unit) are written at install time, from the directories given then.

PREFIX = /usr/local
EXEC_PREFIX = $(PREFIX)
BINDIR = $(EXEC_PREFIX)/bin
LIBDIR = $(EXEC_PREFIX)/lib
INCLUDEDIR = $(PREFIX)/include
DATADIR = $(PREFIX)/share
MANDIR = $(DATADIR)/man
PKGCONFIGDIR = $(LIBDIR)/pkgconfig
BASHCOMPLETIONDIR = $(DATADIR)/bash-completion/completions
ZSHCOMPLETIONDIR = $(DATADIR)/zsh/site-functions
FISHCOMPLETIONDIR = $(DATADIR)/fish/vendor_completions.d
SYSTEMDUSERUNITDIR = $(PREFIX)/lib/systemd/user
DESTDIR =

CARGO = cargo
INSTALL = install
INSTALL_PROGRAM = $(INSTALL) -m 0755
INSTALL_DATA = $(INSTALL) -m 0644
LDCONFIG = ldconfig

# Where cargo builds: $CARGO_TARGET_DIR when set, else target/ here.
TARGET_DIR = $(or $(CARGO_TARGET_DIR),target)
OUT = $(TARGET_DIR)/release
GEN = $(OUT)/install-files
QMGR = $(OUT)/qmgr

# The crate version ([workspace.package] of Cargo.toml), e.g. 0.1.0.
VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)
# The soname's number: libqmgr.so.0, as qmgr-ffi/build.rs sets it.
SOMAJOR = 0
LIBFILE = libqmgr.so.$(SOMAJOR).$(word 2,$(subst ., ,$(VERSION))).$(word 3,$(subst ., ,$(VERSION)))

.PHONY: all install install-strip uninstall check clean

all:
	$(CARGO) build --release -p qmgr-ffi -p qmgr-cli
	$(MAKE) --no-print-directory $(GEN)/.done

# Built by `all`; only when missing for `install`.
$(QMGR) $(OUT)/libqmgr.so $(OUT)/libqmgr.a &:
	$(CARGO) build --release -p qmgr-ffi -p qmgr-cli

# Man pages (qmgr.1, qmgr-SUBCOMMAND.1) and completions, made by the built binary from its
# clap definition (`qmgr __generate`, qmgr-cli/src/generate.rs).
$(GEN)/.done: $(QMGR)
	rm -rf $(GEN)
	mkdir -p $(GEN)/man $(GEN)/completions
	$(QMGR) __generate man $(GEN)/man
	$(QMGR) __generate completions bash > $(GEN)/completions/qmgr
	$(QMGR) __generate completions zsh > $(GEN)/completions/_qmgr
	$(QMGR) __generate completions fish > $(GEN)/completions/qmgr.fish
	touch $@

install: $(QMGR) $(OUT)/libqmgr.so $(OUT)/libqmgr.a $(GEN)/.done
	$(INSTALL) -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(LIBDIR) $(DESTDIR)$(INCLUDEDIR) \
		$(DESTDIR)$(PKGCONFIGDIR) $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man3 \
		$(DESTDIR)$(BASHCOMPLETIONDIR) $(DESTDIR)$(ZSHCOMPLETIONDIR) $(DESTDIR)$(FISHCOMPLETIONDIR) \
		$(DESTDIR)$(SYSTEMDUSERUNITDIR)
	$(INSTALL_PROGRAM) $(QMGR) $(DESTDIR)$(BINDIR)/qmgr
	$(INSTALL_PROGRAM) $(OUT)/libqmgr.so $(DESTDIR)$(LIBDIR)/$(LIBFILE)
	ln -sf $(LIBFILE) $(DESTDIR)$(LIBDIR)/libqmgr.so.$(SOMAJOR)
	ln -sf libqmgr.so.$(SOMAJOR) $(DESTDIR)$(LIBDIR)/libqmgr.so
	$(INSTALL_DATA) $(OUT)/libqmgr.a $(DESTDIR)$(LIBDIR)/libqmgr.a
	$(INSTALL_DATA) include/qmgr.h include/qmgr.hpp $(DESTDIR)$(INCLUDEDIR)/
	sed -e 's|@VERSION@|$(VERSION)|' -e 's|@LIBDIR@|$(LIBDIR)|' -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|' \
		qmgr-ffi/qmgr.pc.in > $(DESTDIR)$(PKGCONFIGDIR)/qmgr.pc
	chmod 0644 $(DESTDIR)$(PKGCONFIGDIR)/qmgr.pc
	$(INSTALL_DATA) $(GEN)/man/*.1 $(DESTDIR)$(MANDIR)/man1/
	$(INSTALL_DATA) man/qmgr.3 $(DESTDIR)$(MANDIR)/man3/qmgr.3
	$(INSTALL_DATA) $(GEN)/completions/qmgr $(DESTDIR)$(BASHCOMPLETIONDIR)/qmgr
	$(INSTALL_DATA) $(GEN)/completions/_qmgr $(DESTDIR)$(ZSHCOMPLETIONDIR)/_qmgr
	$(INSTALL_DATA) $(GEN)/completions/qmgr.fish $(DESTDIR)$(FISHCOMPLETIONDIR)/qmgr.fish
	$(QMGR) __generate unit $(BINDIR)/qmgr > $(DESTDIR)$(SYSTEMDUSERUNITDIR)/qmgr.service
	chmod 0644 $(DESTDIR)$(SYSTEMDUSERUNITDIR)/qmgr.service
	@# The loader's cache, so that programs and Python find libqmgr.so.0 at once.
	@if [ -z "$(DESTDIR)" ] && [ "$$(id -u)" = 0 ]; then $(LDCONFIG) || true; fi

install-strip:
	$(MAKE) INSTALL_PROGRAM='$(INSTALL_PROGRAM) -s' install

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/qmgr
	rm -f $(DESTDIR)$(LIBDIR)/libqmgr.so.$(SOMAJOR).* $(DESTDIR)$(LIBDIR)/libqmgr.so.$(SOMAJOR) \
		$(DESTDIR)$(LIBDIR)/libqmgr.so $(DESTDIR)$(LIBDIR)/libqmgr.a
	rm -f $(DESTDIR)$(INCLUDEDIR)/qmgr.h $(DESTDIR)$(INCLUDEDIR)/qmgr.hpp
	rm -f $(DESTDIR)$(PKGCONFIGDIR)/qmgr.pc
	rm -f $(DESTDIR)$(MANDIR)/man1/qmgr.1 $(DESTDIR)$(MANDIR)/man1/qmgr-*.1 $(DESTDIR)$(MANDIR)/man3/qmgr.3
	rm -f $(DESTDIR)$(BASHCOMPLETIONDIR)/qmgr $(DESTDIR)$(ZSHCOMPLETIONDIR)/_qmgr \
		$(DESTDIR)$(FISHCOMPLETIONDIR)/qmgr.fish
	rm -f $(DESTDIR)$(SYSTEMDUSERUNITDIR)/qmgr.service
	@if [ -z "$(DESTDIR)" ] && [ "$$(id -u)" = 0 ]; then $(LDCONFIG) || true; fi

check:
	./run-tests.sh

clean:
	rm -rf $(GEN)
	$(CARGO) clean --release -p qmgr-ffi -p qmgr-cli

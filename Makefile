# oom-explain: build, install and package, the way SPANK plugins are installed (docs/admins.md).
#
#   make                          build the plugin and the command for this host's Slurm
#   make install                  install them (DESTDIR=… to stage, as packagers do)
#   make uninstall                remove exactly what `make install` put there
#   make deb                      a .deb for this host's Slurm release (packaging/deb/build.sh)
#   make rpm                      an .rpm, with rpmbuild (packaging/rpm/oom-explain.spec)
#   make check                    every test (tests/run-all.sh: as root, starts a real Slurm)
#
# The build refuses headers of a Slurm release other than the host's unless
# OOM_EXPLAIN_OTHER_RELEASE=<major.minor> is set (build.rs; slurm-headers/README.md).

PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
DATADIR ?= $(PREFIX)/share
MANDIR ?= $(DATADIR)/man
DOCDIR ?= $(DATADIR)/doc/oom-explain
# Slurm's plugin folder: Debian/Ubuntu /usr/lib/<multiarch>/slurm-wlm, RHEL-like /usr/lib64/slurm
# (looked up once, and only if not given: it may ask scontrol).
ifndef LIBDIR
LIBDIR := $(shell packaging/plugin-dir.sh)
endif
# Where Slurm reads plugstack.conf and plugstack.conf.d/ (both Debian and RHEL: /etc/slurm).
SLURM_SYSCONFDIR ?= /etc/slurm
LOGROTATEDIR ?= /etc/logrotate.d
# The plugin's default job log folder (job_log=/var/log/oom-explain/jobs.jsonl).
LOGDIR ?= /var/log/oom-explain
BASHCOMPDIR ?= $(DATADIR)/bash-completion/completions
# zsh's own folder everywhere (Debian's packages use vendor-completions: packaging/deb/build.sh).
ZSHCOMPDIR ?= $(DATADIR)/zsh/site-functions
FISHCOMPDIR ?= $(DATADIR)/fish/vendor_completions.d

CARGO ?= cargo
CARGO_TARGET_DIR ?= target
RELEASE_DIR := $(CARGO_TARGET_DIR)/release
BUILT := $(CARGO_TARGET_DIR)/oom-explain-install
MAN1 := $(wildcard docs/oom-explain*.1)
MAN8 := docs/oom-explain-plugin.8

# Every installed file, for install and uninstall alike.
INSTALLED_FILES = \
	$(LIBDIR)/oom_explain.so \
	$(BINDIR)/oom-explain \
	$(patsubst docs/%,$(MANDIR)/man1/%,$(MAN1)) \
	$(MANDIR)/man8/oom-explain-plugin.8 \
	$(SLURM_SYSCONFDIR)/plugstack.conf.d/oom-explain.conf \
	$(LOGROTATEDIR)/oom-explain \
	$(BASHCOMPDIR)/oom-explain \
	$(ZSHCOMPDIR)/_oom-explain \
	$(FISHCOMPDIR)/oom-explain.fish \
	$(DOCDIR)/README.md \
	$(DOCDIR)/CHANGELOG.md \
	$(DOCDIR)/COPYING \
	$(DOCDIR)/plugstack.conf.example

.PHONY: all build install uninstall need-libdir deb rpm check clean print-files

all: build

build:
	CARGO_TARGET_DIR=$(CARGO_TARGET_DIR) $(CARGO) build --release --locked
	@mkdir -p $(BUILT)
	$(RELEASE_DIR)/oom-explain completions bash >$(BUILT)/oom-explain.bash
	$(RELEASE_DIR)/oom-explain completions zsh >$(BUILT)/_oom-explain
	$(RELEASE_DIR)/oom-explain completions fish >$(BUILT)/oom-explain.fish

# Installs what `make` built; it never builds as root (run `make` first as yourself). The
# snippet is written here, from the LIBDIR of this install; it and the logrotate entry are the
# site's to edit, so an existing one is kept (the new one goes beside it as .new).
install: need-libdir
	@test -f $(BUILT)/oom-explain.bash || { echo "make: nothing built yet: run make first" >&2; exit 1; }
	install -D -m 0755 $(RELEASE_DIR)/liboom_explain.so $(DESTDIR)$(LIBDIR)/oom_explain.so
	install -D -m 0755 $(RELEASE_DIR)/oom-explain $(DESTDIR)$(BINDIR)/oom-explain
	install -d $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man8
	install -m 0644 $(MAN1) $(DESTDIR)$(MANDIR)/man1/
	install -m 0644 $(MAN8) $(DESTDIR)$(MANDIR)/man8/
	sed -e 's|@LIBDIR@|$(LIBDIR)|g' -e 's|@SLURM_SYSCONFDIR@|$(SLURM_SYSCONFDIR)|g' \
		packaging/plugstack.conf.d/oom-explain.conf.in >$(BUILT)/oom-explain.conf
	sed -e 's|@LOGDIR@|$(LOGDIR)|g' packaging/logrotate.in >$(BUILT)/logrotate
	$(call install_config,$(BUILT)/oom-explain.conf,$(DESTDIR)$(SLURM_SYSCONFDIR)/plugstack.conf.d/oom-explain.conf)
	$(call install_config,$(BUILT)/logrotate,$(DESTDIR)$(LOGROTATEDIR)/oom-explain)
	install -D -m 0644 $(BUILT)/oom-explain.bash $(DESTDIR)$(BASHCOMPDIR)/oom-explain
	install -D -m 0644 $(BUILT)/_oom-explain $(DESTDIR)$(ZSHCOMPDIR)/_oom-explain
	install -D -m 0644 $(BUILT)/oom-explain.fish $(DESTDIR)$(FISHCOMPDIR)/oom-explain.fish
	install -d $(DESTDIR)$(DOCDIR)
	install -m 0644 README.md CHANGELOG.md COPYING plugstack.conf.example $(DESTDIR)$(DOCDIR)/

# Removes the installed files only: the records the plugin wrote (spool, job log) are the
# site's and stay (a package's purge removes the default folders).
uninstall: need-libdir
	rm -f $(addprefix $(DESTDIR),$(INSTALLED_FILES))
	rmdir --ignore-fail-on-non-empty $(DESTDIR)$(DOCDIR) $(DESTDIR)$(SLURM_SYSCONFDIR)/plugstack.conf.d 2>/dev/null || true

need-libdir:
	@test -n "$(LIBDIR)" || { echo "make: no LIBDIR (Slurm's plugin folder): give it, e.g. make install LIBDIR=/usr/lib64/slurm" >&2; exit 1; }

# install_config FILE DEST: a site's config file is never overwritten.
install_config = if [ -e $(2) ] && ! cmp -s $(1) $(2); then install -m 0644 $(1) $(2).new; \
	echo "make: kept your $(2); the new one is $(2).new"; else install -D -m 0644 $(1) $(2); fi

# The files `make install` lays out, one per line (the package tests compare them).
print-files:
	@printf '%s\n' $(INSTALLED_FILES) | sort

deb: build
	bash packaging/deb/build.sh

rpm:
	bash packaging/rpm/build.sh

check:
	bash tests/run-all.sh

clean:
	CARGO_TARGET_DIR=$(CARGO_TARGET_DIR) $(CARGO) clean

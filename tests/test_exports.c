/* SPDX-License-Identifier: MIT */
/*
 * The public surface of the shared objects, read from the built files.
 *
 *  - libsvcid.so.1 has SONAME libsvcid.so.1, full RELRO and BIND_NOW, and
 *    exports exactly the functions declared in include/svcid/svcid.h:
 *    nothing more (internal helpers stay hidden even when named svcid_*),
 *    nothing less (every declared function is implemented and exported).
 *  - each of them resolves with dlsym() on a dlopen()ed copy, and a few are
 *    called through it; no other global symbol of libsvcid.a does.
 *  - pam_svcid.so (when built) exports only pam_sm_*.
 *
 * The dynamic symbol table is parsed straight from the ELF file (<elf.h>),
 * so the test needs no binutils for the shared objects.
 */
#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <regex.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "svcid/svcid.h"

static const char *src_dir;
static const char *build_dir;

/* ---- a sorted, de-duplicated list of names ------------------------------ */

typedef struct names {
        char **v;
        size_t n;
} names;

static void names_add(names *l, const char *name, size_t len) {
        for (size_t i = 0; i < l->n; i++)
                if (strlen(l->v[i]) == len && memcmp(l->v[i], name, len) == 0)
                        return;
        l->v = realloc(l->v, (l->n + 1) * sizeof(char *));
        assert_non_null(l->v);
        l->v[l->n] = strndup(name, len);
        assert_non_null(l->v[l->n]);
        l->n++;
}

static bool names_has(const names *l, const char *name) {
        for (size_t i = 0; i < l->n; i++)
                if (strcmp(l->v[i], name) == 0)
                        return true;
        return false;
}

static void names_free(names *l) {
        for (size_t i = 0; i < l->n; i++)
                free(l->v[i]);
        free(l->v);
        *l = (names) { 0 };
}

static bool starts_with(const char *s, const char *prefix) {
        return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* ---- ELF ---------------------------------------------------------------- */

typedef struct elf_info {
        names exported;         /* defined global/weak dynamic symbols */
        names versions;         /* version definitions (not symbols) */
        char *soname;
        bool bind_now;
        bool relro;
} elf_info;

/* Bounds-checked view of [off, off + size) within the mapped file. */
static const void *at(const unsigned char *base, size_t file_size, uint64_t off, uint64_t size) {
        assert_true(off <= file_size);
        assert_true(size <= file_size - off);
        return base + off;
}

static void elf_read(const char *path, elf_info *ret) {
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                print_message("%s: %s\n", path, strerror(errno));
        assert_true(fd >= 0);
        struct stat st;
        assert_int_equal(fstat(fd, &st), 0);
        size_t size = (size_t) st.st_size;
        assert_true(size >= sizeof(Elf64_Ehdr));
        const unsigned char *base = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
        assert_true(base != MAP_FAILED);
        close(fd);

        const Elf64_Ehdr *eh = (const Elf64_Ehdr *) base;
        assert_memory_equal(eh->e_ident, ELFMAG, SELFMAG);
        assert_int_equal(eh->e_ident[EI_CLASS], ELFCLASS64);
        assert_int_equal(eh->e_type, ET_DYN);
        assert_int_equal(eh->e_shentsize, sizeof(Elf64_Shdr));
        const Elf64_Shdr *sh = at(base, size, eh->e_shoff, (uint64_t) eh->e_shnum * sizeof(Elf64_Shdr));
        const Elf64_Phdr *ph = at(base, size, eh->e_phoff, (uint64_t) eh->e_phnum * sizeof(Elf64_Phdr));

        *ret = (elf_info) { 0 };
        for (size_t i = 0; i < eh->e_phnum; i++)
                if (ph[i].p_type == PT_GNU_RELRO)
                        ret->relro = true;

        for (size_t i = 0; i < eh->e_shnum; i++) {
                const Elf64_Shdr *s = &sh[i];
                if (s->sh_type != SHT_DYNSYM && s->sh_type != SHT_DYNAMIC && s->sh_type != SHT_GNU_verdef)
                        continue;
                assert_true(s->sh_link < eh->e_shnum);
                const Elf64_Shdr *strsh = &sh[s->sh_link];
                const char *strtab = at(base, size, strsh->sh_offset, strsh->sh_size);
                size_t strsz = strsh->sh_size;
                assert_true(strsz > 0 && strtab[strsz - 1] == '\0');

                if (s->sh_type == SHT_DYNSYM) {
                        assert_int_equal(s->sh_entsize, sizeof(Elf64_Sym));
                        const Elf64_Sym *sym = at(base, size, s->sh_offset, s->sh_size);
                        for (size_t k = 0; k < s->sh_size / sizeof(Elf64_Sym); k++) {
                                unsigned bind = ELF64_ST_BIND(sym[k].st_info);
                                if (sym[k].st_shndx == SHN_UNDEF || sym[k].st_name == 0 ||
                                    (bind != STB_GLOBAL && bind != STB_WEAK && bind != STB_GNU_UNIQUE))
                                        continue;
                                assert_true(sym[k].st_name < strsz);
                                const char *name = strtab + sym[k].st_name;
                                names_add(&ret->exported, name, strlen(name));
                        }
                } else if (s->sh_type == SHT_DYNAMIC) {
                        const Elf64_Dyn *d = at(base, size, s->sh_offset, s->sh_size);
                        for (size_t k = 0; k < s->sh_size / sizeof(Elf64_Dyn) && d[k].d_tag != DT_NULL; k++) {
                                if (d[k].d_tag == DT_SONAME) {
                                        assert_true(d[k].d_un.d_val < strsz);
                                        ret->soname = strdup(strtab + d[k].d_un.d_val);
                                } else if (d[k].d_tag == DT_BIND_NOW ||
                                           (d[k].d_tag == DT_FLAGS && (d[k].d_un.d_val & DF_BIND_NOW)) ||
                                           (d[k].d_tag == DT_FLAGS_1 && (d[k].d_un.d_val & DF_1_NOW)))
                                        ret->bind_now = true;
                        }
                } else {
                        /* Version definitions appear in .dynsym as ABS
                         * symbols named after the version node; they are
                         * not exports. The chain is walked within bounds. */
                        uint64_t off = 0;
                        for (size_t k = 0; k < s->sh_info; k++) {
                                const Elf64_Verdef *vd = at(base, size, s->sh_offset + off, sizeof(Elf64_Verdef));
                                const Elf64_Verdaux *va = at(base, size, s->sh_offset + off + vd->vd_aux,
                                                             sizeof(Elf64_Verdaux));
                                assert_true(va->vda_name < strsz);
                                const char *name = strtab + va->vda_name;
                                names_add(&ret->versions, name, strlen(name));
                                if (vd->vd_next == 0)
                                        break;
                                off += vd->vd_next;
                        }
                }
        }
        munmap((void *) base, size);
}

static void elf_info_free(elf_info *e) {
        names_free(&e->exported);
        names_free(&e->versions);
        free(e->soname);
}

/* Exported symbols, less version-node names. */
static void real_exports(const elf_info *e, names *ret) {
        *ret = (names) { 0 };
        for (size_t i = 0; i < e->exported.n; i++)
                if (!names_has(&e->versions, e->exported.v[i]))
                        names_add(ret, e->exported.v[i], strlen(e->exported.v[i]));
}

/* ---- the header's declarations ------------------------------------------ */

static char *read_text(const char *path) {
        FILE *f = fopen(path, "re");
        if (!f)
                print_message("%s: %s\n", path, strerror(errno));
        assert_non_null(f);
        assert_int_equal(fseek(f, 0, SEEK_END), 0);
        long n = ftell(f);
        assert_true(n > 0 && n < 1024 * 1024);
        rewind(f);
        char *buf = malloc((size_t) n + 1);
        assert_non_null(buf);
        assert_int_equal(fread(buf, 1, (size_t) n, f), (size_t) n);
        buf[n] = '\0';
        fclose(f);
        return buf;
}

/* Blanks out comments and string literals, so that a function merely
 * mentioned in a comment ("see svcid_free_secret()") is not counted. */
static void strip_comments(char *s) {
        for (char *p = s; *p; p++) {
                if (p[0] == '/' && p[1] == '*') {
                        char *end = strstr(p + 2, "*/");
                        assert_non_null(end);
                        memset(p, ' ', (size_t) (end + 2 - p));
                        p = end + 1;
                } else if (p[0] == '/' && p[1] == '/') {
                        while (*p && *p != '\n')
                                *p++ = ' ';
                        if (!*p)
                                break;
                } else if (p[0] == '"') {
                        char *q = p + 1;
                        while (*q && *q != '"')
                                q += q[0] == '\\' && q[1] ? 2 : 1;
                        assert_true(*q == '"');
                        memset(p, ' ', (size_t) (q + 1 - p));
                        p = q;
                }
        }
}

/* Every svcid_* function declared in svcid.h: a name followed by "(". */
static void header_functions(names *ret) {
        char *path = NULL;
        assert_true(asprintf(&path, "%s/include/svcid/svcid.h", src_dir) > 0);
        char *text = read_text(path);
        free(path);
        strip_comments(text);

        regex_t re;
        assert_int_equal(regcomp(&re, "(^|[^A-Za-z0-9_])(svcid_[a-z0-9_]+)[ \t\n]*\\(", REG_EXTENDED), 0);
        *ret = (names) { 0 };
        regmatch_t m[3];
        for (const char *p = text; regexec(&re, p, 3, m, p == text ? 0 : REG_NOTBOL) == 0; p += m[0].rm_eo)
                names_add(ret, p + m[2].rm_so, (size_t) (m[2].rm_eo - m[2].rm_so));
        regfree(&re);
        free(text);
}

/* ---- tests -------------------------------------------------------------- */

static char *lib_path(void) {
        char *p = NULL;
        assert_true(asprintf(&p, "%s/libsvcid.so.1", build_dir) > 0);
        return p;
}

static void test_header_parse(void **state) {
        (void) state;
        names decl;
        header_functions(&decl);
        print_message("exports: svcid.h declares %zu functions\n", decl.n);
        /* Sanity of the parser itself: known functions found, types and
         * names only mentioned in comments not. */
        assert_true(decl.n >= 40);
        assert_true(names_has(&decl, "svcid_verify"));
        assert_true(names_has(&decl, "svcid_version"));
        assert_true(names_has(&decl, "svcid_agent_jwks"));
        assert_true(names_has(&decl, "svcid_policy_set_clock"));
        assert_false(names_has(&decl, "svcid_alg"));
        assert_false(names_has(&decl, "svcid_report"));
        names_free(&decl);
}

static void test_libsvcid_exports_exactly_the_header(void **state) {
        (void) state;
        char *path = lib_path();
        elf_info e;
        elf_read(path, &e);

        assert_non_null(e.soname);
        assert_string_equal(e.soname, "libsvcid.so.1");
        assert_true(e.relro);
        assert_true(e.bind_now);
        /* The version script named the node: symbols carry LIBSVCID_1. */
        assert_true(names_has(&e.versions, "LIBSVCID_1"));

        names exp, decl;
        real_exports(&e, &exp);
        header_functions(&decl);
        print_message("exports: libsvcid.so.1 exports %zu symbols, svcid.h declares %zu\n", exp.n, decl.n);

        size_t extra = 0, missing = 0;
        for (size_t i = 0; i < exp.n; i++) {
                if (!starts_with(exp.v[i], "svcid_"))
                        print_message("exports: %s is exported but outside the svcid_ namespace\n", exp.v[i]);
                if (!names_has(&decl, exp.v[i])) {
                        print_message("exports: %s is exported but not declared in svcid.h\n", exp.v[i]);
                        extra++;
                }
        }
        for (size_t i = 0; i < decl.n; i++)
                if (!names_has(&exp, decl.v[i])) {
                        print_message("exports: %s is declared in svcid.h but not exported\n", decl.v[i]);
                        missing++;
                }
        assert_int_equal(extra, 0);
        assert_int_equal(missing, 0);

        names_free(&exp);
        names_free(&decl);
        elf_info_free(&e);
        free(path);
}

typedef const char *(*str_fn)(void);
typedef const char *(*reason_str_fn)(svcid_reason);
typedef int (*alg_from_str_fn)(const char *, svcid_alg *);
typedef int (*key_from_jwk_fn)(const char *, size_t, svcid_key **);

static void test_dlsym(void **state) {
        (void) state;
        char *path = lib_path();
        void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
        if (!h)
                print_message("dlopen: %s\n", dlerror());
        assert_non_null(h);

        names decl;
        header_functions(&decl);
        for (size_t i = 0; i < decl.n; i++) {
                void *p = dlsym(h, decl.v[i]);
                if (!p)
                        print_message("dlsym(%s): %s\n", decl.v[i], dlerror());
                assert_non_null(p);
        }

        /* Called through the dlopen()ed copy, not the statically linked one. */
        str_fn version = (str_fn) dlsym(h, "svcid_version");
        assert_non_null(version);
        assert_string_equal(version(), SVCID_VERSION);
        reason_str_fn reason_str = (reason_str_fn) dlsym(h, "svcid_reason_str");
        assert_non_null(reason_str);
        assert_string_equal(reason_str(SVCID_BAD_SIGNATURE), "bad_signature");
        assert_string_equal(reason_str(_SVCID_REASON_MAX), "unknown");
        alg_from_str_fn alg_from_str = (alg_from_str_fn) dlsym(h, "svcid_alg_from_str");
        assert_non_null(alg_from_str);
        svcid_alg alg = SVCID_ALG_INVALID;
        assert_int_equal(alg_from_str("Ed25519", &alg), 0);
        assert_int_equal(alg, SVCID_ALG_EDDSA);
        assert_int_equal(alg_from_str("none", &alg), -EINVAL);

        /* Names that must never resolve. dlsym() on this handle also
         * searches libsvcid's dependencies (jansson, libcrypto), so only
         * names that are ours. Then every global symbol of the static
         * archive that svcid.h does not declare: an internal helper, which
         * the version script must keep local. */
        static const char *const never[] = { "svcid_", "main", "svcid_internal" };
        for (size_t i = 0; i < sizeof(never) / sizeof(never[0]); i++)
                assert_null(dlsym(h, never[i]));

        char *cmd = NULL;
        assert_true(asprintf(&cmd, "nm -g --defined-only '%s/libsvcid.a' 2>/dev/null", build_dir) > 0);
        FILE *nm = popen(cmd, "re");
        free(cmd);
        size_t internal = 0;
        if (nm) {
                char line[512];
                while (fgets(line, sizeof(line), nm)) {
                        char addr[64], type[8], name[400];
                        if (sscanf(line, "%63s %7s %399s", addr, type, name) != 3)
                                continue;
                        if (names_has(&decl, name))
                                continue;
                        internal++;
                        if (dlsym(h, name))
                                print_message("exports: internal %s resolves with dlsym\n", name);
                        assert_null(dlsym(h, name));
                }
                if (pclose(nm) != 0)
                        print_message("exports: nm failed on libsvcid.a: internal symbols not all checked\n");
        }
        print_message("exports: %zu declared functions resolve, %zu internal globals do not\n",
                      decl.n, internal);

        /* A JSON read through the library makes its functions jansson's
         * allocator (common/json.c): it must stay loaded after dlclose()
         * (-z nodelete), or jansson's next allocation jumps into nothing. */
        key_from_jwk_fn from_jwk = (key_from_jwk_fn) dlsym(h, "svcid_key_from_jwk");
        svcid_key *key = NULL;
        assert_non_null(from_jwk);
        assert_int_equal(from_jwk("{}", 2, &key), -EINVAL);

        names_free(&decl);
        assert_int_equal(dlclose(h), 0);
        free(path);

        json_t *j = json_pack("{s:s}", "a", "b");
        char *text = json_dumps(j, JSON_COMPACT);
        assert_string_equal(text, "{\"a\":\"b\"}");
        free(text);
        json_decref(j);
}

static void test_pam_exports(void **state) {
        (void) state;
        char *path = NULL;
        assert_true(asprintf(&path, "%s/pam_svcid.so", build_dir) > 0);
        if (access(path, F_OK) < 0) {
                print_message("exports: %s not built, pam_sm_* check not run\n", path);
                free(path);
                skip();
        }
        elf_info e;
        elf_read(path, &e);
        names exp;
        real_exports(&e, &exp);
        assert_true(e.relro);
        assert_true(e.bind_now);
        assert_true(names_has(&exp, "pam_sm_authenticate"));
        assert_true(names_has(&exp, "pam_sm_setcred"));
        for (size_t i = 0; i < exp.n; i++) {
                if (!starts_with(exp.v[i], "pam_sm_"))
                        print_message("exports: pam_svcid.so exports %s\n", exp.v[i]);
                assert_true(starts_with(exp.v[i], "pam_sm_"));
        }
        print_message("exports: pam_svcid.so exports %zu pam_sm_* symbols only\n", exp.n);
        names_free(&exp);
        elf_info_free(&e);
        free(path);
}

int main(void) {
        src_dir = getenv("SVCID_SRC");
        if (!src_dir || !*src_dir)
                src_dir = ".";
        build_dir = getenv("SVCID_BUILD");
        if (!build_dir || !*build_dir)
                build_dir = "build";

        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_header_parse),
                cmocka_unit_test(test_libsvcid_exports_exactly_the_header),
                cmocka_unit_test(test_dlsym),
                cmocka_unit_test(test_pam_exports),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * manager.c — the entry point, queue options, the manager object, GUID/error/memory helpers
 * and persistence (C-API.md "Entry point and options", "IUnknown", "IBackgroundCopyQMgr",
 * "Memory, GUIDs, errors, version"; DECISIONS D6, D8, D11, D12).
 */
#include "check.h"
#include "qm.h"

#include <sys/types.h>

/* A failing call with an out-pointer: `out` is set to a sentinel first, then the call must
 * fail as CHECK_ERR says and leave NULL in `out` (D8: outputs are cleared on failure). Needs a
 * local `sentinel`. */
#define CHECK_ERR_NULLS(out, expr, expected, needle)                                               \
    do {                                                                                           \
        (out) = (void *)&sentinel;                                                                 \
        CHECK_ERR(expr, expected, needle);                                                         \
        CHECK((out) == NULL);                                                                      \
    } while (0)

static char root[CHECK_ROOT_MAX];

/* ---- version and constants ------------------------------------------------------------- */

static void guid_is(const qmgr_guid *g, const char *expected, const char *name) {
    char *text = NULL;
    CHECK_HR(qmgr_guid_to_string(g, &text), QMGR_S_OK);
    if (text) {
        char lower[64];
        size_t i;
        for (i = 0; expected[i] && i < sizeof lower - 1; i++) {
            lower[i] = (char)((expected[i] >= 'A' && expected[i] <= 'F') ? expected[i] - 'A' + 'a' : expected[i]);
        }
        lower[i] = '\0';
        if (!CHECK_STR(text, lower)) {
            check_note("constant %s", name);
        }
    }
    qmgr_string_free(text);
}

static void test_version_and_constants(void) {
    check_section("version, IIDs, CLSID (C-API.md; reference 1.7)");
    const char *v = qmgr_version();
    CHECK(v != NULL && v[0] != '\0');
#ifdef QMGR_EXPECTED_VERSION
    CHECK_STR(v, QMGR_EXPECTED_VERSION);
#endif
    CHECK(qmgr_version() == v); /* static string */
    guid_is(&IID_IBackgroundCopyQMgr, "{16f41c69-09f5-41d2-8cd8-3c08c47bc8a8}", "IID_IBackgroundCopyQMgr");
    guid_is(&IID_IBackgroundCopyGroup, "{1ded80a7-53ea-424f-8a04-17fea9adc4f5}", "IID_IBackgroundCopyGroup");
    guid_is(&IID_IBackgroundCopyJob1, "{59f5553c-2031-4629-bb18-2645a6970947}", "IID_IBackgroundCopyJob1");
    guid_is(&IID_IEnumBackgroundCopyGroups, "{d993e603-4aa4-47c5-8665-c20d39c2ba4f}",
            "IID_IEnumBackgroundCopyGroups");
    guid_is(&IID_IEnumBackgroundCopyJobs1, "{8baeba9d-8f1c-42c4-b82c-09ae79980d25}",
            "IID_IEnumBackgroundCopyJobs1");
    guid_is(&IID_IBackgroundCopyCallback1, "{084f6593-3800-4e08-9b59-99fa59addf82}",
            "IID_IBackgroundCopyCallback1");
    guid_is(&CLSID_BackgroundCopyQMgr, "{69AD4AEE-51BE-439b-A92C-86AE490E8B30}", "CLSID_BackgroundCopyQMgr");
    CHECK_EQ(IID_IBackgroundCopyQMgr.data1, 0x16f41c69u);
    CHECK_EQ(IID_IBackgroundCopyQMgr.data2, 0x09f5u);
    CHECK_EQ(IID_IBackgroundCopyQMgr.data3, 0x41d2u);
    CHECK_EQ(IID_IBackgroundCopyQMgr.data4[0], 0x8cu);
    CHECK_EQ(IID_IBackgroundCopyQMgr.data4[7], 0xa8u);
    CHECK_EQ(sizeof(qmgr_guid), 16);

    /* Constant values of qmgr.h on Windows (C-API.md). */
    CHECK_EQ((uint32_t)QMGR_E_NOTIMPL, 0x80004001u);
    CHECK_EQ((uint32_t)QMGR_E_NOINTERFACE, 0x80004002u);
    CHECK_EQ((uint32_t)QMGR_E_POINTER, 0x80004003u);
    CHECK_EQ((uint32_t)QMGR_E_ABORT, 0x80004004u);
    CHECK_EQ((uint32_t)QMGR_E_FAIL, 0x80004005u);
    CHECK_EQ((uint32_t)QMGR_E_UNEXPECTED, 0x8000FFFFu);
    CHECK_EQ((uint32_t)QMGR_E_ACCESSDENIED, 0x80070005u);
    CHECK_EQ((uint32_t)QMGR_E_HANDLE, 0x80070006u);
    CHECK_EQ((uint32_t)QMGR_E_OUTOFMEMORY, 0x8007000Eu);
    CHECK_EQ((uint32_t)QMGR_E_INVALIDARG, 0x80070057u);
    CHECK_EQ((uint32_t)BG_E_EMPTY, 0x80200003u);
    CHECK_EQ((uint32_t)QM_E_INVALID_STATE, 0x81001001u);
    CHECK_EQ((uint32_t)QM_E_SERVICE_UNAVAILABLE, 0x81001002u);
    CHECK_EQ((uint32_t)QM_E_DOWNLOADER_UNAVAILABLE, 0x81001003u);
    CHECK_EQ((uint32_t)QM_E_ITEM_NOT_FOUND, 0x81001004u);
    CHECK_EQ(QM_NOTIFY_FILE_DONE, 1);
    CHECK_EQ(QM_NOTIFY_JOB_DONE, 2);
    CHECK_EQ(QM_NOTIFY_GROUP_DONE, 4);
    CHECK_EQ(QM_NOTIFY_DISABLE_NOTIFY, 64);
    CHECK_EQ(QM_NOTIFY_USE_PROGRESSEX, 128);
    CHECK_EQ(QM_STATUS_GROUP_FOREGROUND, 0x400);
    CHECK_EQ(GROUPPROP_DESCRIPTION, 12);
    CHECK_EQ(QMGR_VT_UINT, 23);
}

/* ---- GUID helpers ------------------------------------------------------------------------ */

static void test_guids(void) {
    check_section("qmgr_guid_generate / _to_string / _from_string");
    qmgr_guid a, b, sentinel, out;
    char *text = NULL;
    memset(&sentinel, 0xA5, sizeof sentinel);

    CHECK_HR(qmgr_guid_generate(&a), QMGR_S_OK);
    CHECK_HR(qmgr_guid_generate(&b), QMGR_S_OK);
    CHECK(!qm_guid_eq(&a, &b));
    CHECK_EQ(a.data3 >> 12, 4);            /* version 4 */
    CHECK_EQ(a.data4[0] & 0xC0u, 0x80u);   /* RFC 4122 variant */
    CHECK_ERR(qmgr_guid_generate(NULL), QMGR_E_POINTER, "guid_out");

    CHECK_HR(qmgr_guid_to_string(&IID_IBackgroundCopyQMgr, &text), QMGR_S_OK);
    CHECK_STR(text, "{16f41c69-09f5-41d2-8cd8-3c08c47bc8a8}");
    qmgr_string_free(text);
    CHECK_ERR(qmgr_guid_to_string(NULL, &text), QMGR_E_POINTER, "guid");
    CHECK_ERR(qmgr_guid_to_string(&a, NULL), QMGR_E_POINTER, "text_out");

    out = sentinel;
    CHECK_HR(qmgr_guid_from_string("{16F41C69-09F5-41D2-8CD8-3C08C47BC8A8}", &out), QMGR_S_OK);
    CHECK(qm_guid_eq(&out, &IID_IBackgroundCopyQMgr));
    out = sentinel;
    CHECK_HR(qmgr_guid_from_string("16f41c69-09f5-41d2-8cd8-3c08c47bc8a8", &out), QMGR_S_OK);
    CHECK(qm_guid_eq(&out, &IID_IBackgroundCopyQMgr));
    out = sentinel;
    CHECK_HR(qmgr_guid_from_string("{69ad4aee-51be-439B-a92c-86ae490e8b30}", &out), QMGR_S_OK);
    CHECK(qm_guid_eq(&out, &CLSID_BackgroundCopyQMgr));

    /* Round trip of a random GUID. */
    CHECK_HR(qmgr_guid_to_string(&a, &text), QMGR_S_OK);
    CHECK(text != NULL && strlen(text) == 38 && text[0] == '{' && text[37] == '}');
    out = sentinel;
    CHECK_HR(qmgr_guid_from_string(text, &out), QMGR_S_OK);
    CHECK(qm_guid_eq(&out, &a));
    qmgr_string_free(text);

    static const char *bad[] = {
        "",
        "{16f41c69-09f5-41d2-8cd8-3c08c47bc8a8",
        "16f41c69-09f5-41d2-8cd8-3c08c47bc8a",
        "16f41c69-09f5-41d2-8cd8-3c08c47bc8a8a",
        "zzzzzzzz-09f5-41d2-8cd8-3c08c47bc8a8",
        "{16f41c69 09f5 41d2 8cd8 3c08c47bc8a8}",
        "not a guid",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        out = sentinel;
        CHECK_ERR(qmgr_guid_from_string(bad[i], &out), QMGR_E_INVALIDARG, NULL);
        CHECK(qm_guid_eq(&out, &sentinel)); /* D8: outputs only on success */
    }
    out = sentinel;
    CHECK_ERR(qmgr_guid_from_string("\xff\xfe", &out), QMGR_E_INVALIDARG, "text");
    CHECK(qm_guid_eq(&out, &sentinel));
    CHECK_ERR(qmgr_guid_from_string(NULL, &out), QMGR_E_POINTER, "text");
    CHECK_ERR(qmgr_guid_from_string("16f41c69-09f5-41d2-8cd8-3c08c47bc8a8", NULL), QMGR_E_POINTER, "guid_out");
}

/* ---- errors ---------------------------------------------------------------------------------- */

typedef struct thread_msg {
    qmgr_hresult first;   /* qmgr_get_last_error_message before any failure */
    char *first_text;
    qmgr_hresult after;
    char *after_text;
} thread_msg;

static void *fresh_thread(void *arg) {
    thread_msg *t = (thread_msg *)arg;
    t->first_text = (char *)"sentinel";
    t->first = qmgr_get_last_error_message(&t->first_text);
    qmgr_guid g;
    qmgr_guid_from_string("other thread", &g);
    t->after = qmgr_get_last_error_message(&t->after_text);
    return NULL;
}

static void test_errors(void) {
    check_section("qmgr_get_error_description / qmgr_get_last_error_message (D8, D12)");
    static const qmgr_hresult codes[] = {
        QMGR_S_OK, QMGR_S_FALSE, QMGR_E_NOTIMPL, QMGR_E_NOINTERFACE, QMGR_E_POINTER, QMGR_E_ABORT,
        QMGR_E_FAIL, QMGR_E_UNEXPECTED, QMGR_E_ACCESSDENIED, QMGR_E_HANDLE, QMGR_E_OUTOFMEMORY,
        QMGR_E_INVALIDARG, QM_E_INVALID_STATE, QM_E_SERVICE_UNAVAILABLE, QM_E_DOWNLOADER_UNAVAILABLE,
        QM_E_ITEM_NOT_FOUND, BG_E_EMPTY, BG_E_NETWORK_DISCONNECTED, BG_E_INVALID_SERVER_RESPONSE,
        BG_E_NO_PROGRESS, BG_E_CONNECT_FAILURE, BG_E_CONNECTION_CLOSED, BG_E_REMOTE_FILE_CHANGED,
        (qmgr_hresult)(BG_E_HTTP_ERROR_BASE | 404u), (qmgr_hresult)(BG_E_HTTP_ERROR_BASE | 503u),
        (qmgr_hresult)0x80070070u, /* HRESULT_FROM_WIN32(ERROR_DISK_FULL) */
    };
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) {
        char *text = NULL;
        if (!CHECK_HR(qmgr_get_error_description(codes[i], &text), QMGR_S_OK)) {
            check_note("code 0x%08" PRIX32, (uint32_t)codes[i]);
        }
        CHECK(text != NULL && text[0] != '\0');
        qmgr_string_free(text);
    }
    char *sentinel = (char *)"sentinel";
    char *text = sentinel;
    CHECK_ERR(qmgr_get_error_description((qmgr_hresult)0x12345678, &text), QMGR_E_INVALIDARG, NULL);
    CHECK(text == sentinel);
    CHECK_ERR(qmgr_get_error_description(QMGR_E_FAIL, NULL), QMGR_E_POINTER, "text_out");

    /* Last-error message: per thread, set by failures, untouched by successes and reads. */
    CHECK_HR(qmgr_get_last_error_message(NULL), QMGR_E_POINTER);
    qmgr_guid g;
    char *m1 = NULL, *m2 = NULL, *m3 = NULL;
    CHECK_HR(qmgr_guid_from_string("definitely-not-a-guid", &g), QMGR_E_INVALIDARG);
    CHECK_HR(qmgr_get_last_error_message(&m1), QMGR_S_OK);
    CHECK(m1 != NULL && m1[0] != '\0');
    CHECK_HR(qmgr_guid_generate(&g), QMGR_S_OK); /* a success neither clears nor changes it */
    CHECK_HR(qmgr_get_last_error_message(&m2), QMGR_S_OK);
    CHECK_STR(m2, m1);
    CHECK_HR(qmgr_get_last_error_message(&m3), QMGR_S_OK); /* reading does not consume it */
    CHECK_STR(m3, m1);
    qmgr_string_free(m1);
    qmgr_string_free(m2);
    qmgr_string_free(m3);

    thread_msg t;
    pthread_t th;
    memset(&t, 0, sizeof t);
    pthread_create(&th, NULL, fresh_thread, &t);
    pthread_join(th, NULL);
    CHECK_HR(t.first, QMGR_S_FALSE);
    CHECK(t.first_text == NULL);
    CHECK_HR(t.after, QMGR_S_OK);
    CHECK(t.after_text != NULL);
    qmgr_string_free(t.after_text);
    /* The other thread's failure did not touch this thread's message. */
    m1 = NULL;
    CHECK_HR(qmgr_get_last_error_message(&m1), QMGR_S_OK);
    CHECK(m1 != NULL && strstr(m1, "other thread") == NULL);
    qmgr_string_free(m1);
}

static void test_memory_helpers(void) {
    check_section("qmgr_string_free / qmgr_variant_clear / qmgr_fileset_info_clear");
    qmgr_string_free(NULL);
    qmgr_variant_clear(NULL);
    qmgr_fileset_info_clear(NULL);
    qmgr_variant v;
    v.vt = QMGR_VT_I4;
    v.int_val = 7;
    v.str_val = NULL;
    qmgr_variant_clear(&v);
    CHECK_EQ(v.vt, QMGR_VT_EMPTY);
    CHECK_EQ(v.int_val, 0);
    CHECK(v.str_val == NULL);
    qmgr_fileset_info info;
    info.remote_file = NULL;
    info.local_file = NULL;
    info.size_hint = 9;
    qmgr_fileset_info_clear(&info);
    CHECK(info.remote_file == NULL && info.local_file == NULL && info.size_hint == 0);
    char *s = NULL;
    CHECK_HR(qmgr_guid_to_string(&IID_IBackgroundCopyGroup, &s), QMGR_S_OK);
    qmgr_string_free(s);
}

/* ---- qmgr_create_instance -------------------------------------------------------------- */

static unsigned mode_of(const char *path) {
    struct stat st;
    if (stat(path, &st) != 0) {
        return 0xFFFFu;
    }
    return (unsigned)(st.st_mode & 07777);
}

/* Two managers are the same object when a group created through one is at once visible
   through the other (another manager of the same directory would only see it after a
   reload). */
static int same_manager(qmgr_manager *a, qmgr_manager *b) {
    qmgr_guid id = qm_guid();
    qmgr_group *g = NULL, *h = NULL;
    int same = 0;
    if (qmgr_manager_create_group(a, id, &g) == QMGR_S_OK) {
        same = qmgr_manager_get_group(b, id, &h) == QMGR_S_OK;
        qmgr_group_release(h);
        qmgr_group_cancel_group(g);
        qmgr_group_release(g);
    }
    return same;
}

static void test_create_instance(void) {
    check_section("qmgr_create_instance (D6, D8, D12)");
    char dir[PATH_MAX], path[PATH_MAX + 64], alias[PATH_MAX + 64];
    int sentinel;
    qmgr_manager *m = NULL, *m2 = NULL, *m3 = NULL;

    CHECK_ERR(qmgr_create_instance(root, NULL), QMGR_E_POINTER, "manager_out");
    m = (qmgr_manager *)(void *)&sentinel;
    CHECK_ERR(qmgr_create_instance("", &m), QMGR_E_INVALIDARG, "queue_dir");
    CHECK(m == NULL); /* handle out-parameters are set to NULL first (D8) */
    CHECK_ERR_NULLS(m, qmgr_create_instance("/tmp/\xff\xfe-not-utf8", &m), QMGR_E_INVALIDARG, "queue_dir");
    snprintf(path, sizeof path, "%s/plain-file", root);
    CHECK(check_write_file(path, 1, 10) == 0);
    snprintf(path, sizeof path, "%s/plain-file/queue", root);
    CHECK_ERR_NULLS(m, qmgr_create_instance(path, &m), QM_E_SERVICE_UNAVAILABLE, NULL);

    /* Missing parents are created with mode 0700; queue.sqlite gets 0600 (D6, D12). */
    snprintf(dir, sizeof dir, "%s/a/b/queue", root);
    m = qm_open(dir);
    snprintf(path, sizeof path, "%s/a", root);
    CHECK_EQ(mode_of(path), 0700);
    snprintf(path, sizeof path, "%s/a/b", root);
    CHECK_EQ(mode_of(path), 0700);
    CHECK_EQ(mode_of(dir), 0700);
    snprintf(path, sizeof path, "%s/queue.sqlite", dir);
    CHECK_EQ(mode_of(path), 0600);
    {
        /* Every file the library keeps in the queue directory is 0600 (D6). */
        qmgr_group *g = qm_group(m);
        DIR *d = opendir(dir);
        struct dirent *e;
        int files = 0;
        while (d && (e = readdir(d)) != NULL) {
            char p[PATH_MAX + 300];
            struct stat st;
            snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
            if (stat(p, &st) == 0 && S_ISREG(st.st_mode)) {
                files++;
                if (!CHECK_EQ(st.st_mode & 07777, 0600)) {
                    check_note("file %s", e->d_name);
                }
            }
        }
        if (d) {
            closedir(d);
        }
        CHECK(files >= 1);
        qmgr_group_cancel_group(g);
        qmgr_group_release(g);
    }

    /* The same directory, spelled differently, is the same manager (canonical path). */
    snprintf(alias, sizeof alias, "%s/a/./b/../b/queue/", root);
    m2 = qm_open(alias);
    snprintf(path, sizeof path, "%s/link", root);
    CHECK(symlink(dir, path) == 0);
    m3 = qm_open(path);
    CHECK(same_manager(m, m2));
    CHECK(same_manager(m3, m));
    CHECK_HR(qmgr_manager_set_option(m, "max_active_groups", "3"), QMGR_S_OK);
    char *value = NULL;
    CHECK_HR(qmgr_manager_get_option(m3, "max_active_groups", &value), QMGR_S_OK);
    CHECK_STR(value, "3");
    qmgr_string_free(value);
    qmgr_manager_release(m3);
    qmgr_manager_release(m2);
    CHECK_EQ(qmgr_manager_release(m), 0);

    /* NULL = the default queue: $QMGR_HOME, else $XDG_STATE_HOME/qmgr, else
       ~/.local/state/qmgr (D6). */
    char *saved_home = getenv("HOME") ? strdup(getenv("HOME")) : NULL;
    char *saved_qh = getenv("QMGR_HOME") ? strdup(getenv("QMGR_HOME")) : NULL;
    char *saved_xdg = getenv("XDG_STATE_HOME") ? strdup(getenv("XDG_STATE_HOME")) : NULL;

    snprintf(dir, sizeof dir, "%s/qmgr-home/q", root);
    setenv("QMGR_HOME", dir, 1);
    snprintf(path, sizeof path, "%s/xdg", root);
    setenv("XDG_STATE_HOME", path, 1);
    m = qm_open(NULL);
    CHECK_EQ(mode_of(dir), 0700);
    m2 = qm_open(dir);
    CHECK(same_manager(m, m2));
    qmgr_manager_release(m2);
    qmgr_manager_release(m);
    snprintf(path, sizeof path, "%s/xdg/qmgr", root);
    CHECK(!check_exists(path));

    unsetenv("QMGR_HOME");
    m = qm_open(NULL);
    CHECK_EQ(mode_of(path), 0700);
    snprintf(alias, sizeof alias, "%s/xdg/qmgr/queue.sqlite", root);
    CHECK_EQ(mode_of(alias), 0600);
    m2 = qm_open(path);
    CHECK(same_manager(m, m2));
    qmgr_manager_release(m2);
    qmgr_manager_release(m);

    unsetenv("XDG_STATE_HOME");
    snprintf(path, sizeof path, "%s/home", root);
    CHECK(mkdir(path, 0700) == 0);
    setenv("HOME", path, 1);
    m = qm_open(NULL);
    snprintf(path, sizeof path, "%s/home/.local/state/qmgr", root);
    CHECK_EQ(mode_of(path), 0700);
    m2 = qm_open(path);
    CHECK(same_manager(m, m2));
    qmgr_manager_release(m2);
    qmgr_manager_release(m);

    if (saved_home) {
        setenv("HOME", saved_home, 1);
    } else {
        unsetenv("HOME");
    }
    if (saved_qh) {
        setenv("QMGR_HOME", saved_qh, 1);
    }
    if (saved_xdg) {
        setenv("XDG_STATE_HOME", saved_xdg, 1);
    }
    free(saved_home);
    free(saved_qh);
    free(saved_xdg);
}

/* ---- options ----------------------------------------------------------------------------- */

static void option_is(qmgr_manager *m, const char *name, const char *expected) {
    char *v = NULL;
    if (CHECK_HR(qmgr_manager_get_option(m, name, &v), QMGR_S_OK)) {
        if (!CHECK_STR(v, expected)) {
            check_note("option %s", name);
        }
    }
    qmgr_string_free(v);
}

static void option_rejects(qmgr_manager *m, const char *name, const char *value) {
    char *before = NULL;
    qmgr_manager_get_option(m, name, &before);
    check_prime();
    qmgr_hresult hr = qmgr_manager_set_option(m, name, value);
    if (!CHECK_HR(hr, QMGR_E_INVALIDARG) || !check_msg_(__FILE__, __LINE__, "set_option", name)) {
        check_note("set_option(\"%s\", \"%s\")", name, value);
    }
    if (before) {
        option_is(m, name, before); /* unchanged */
    }
    qmgr_string_free(before);
}

static void test_options(void) {
    check_section("qmgr_manager_set_option / get_option (C-API.md options; D11, D12)");
    char dir[PATH_MAX], pem[PATH_MAX + 32];
    snprintf(dir, sizeof dir, "%s/options", root);
    qmgr_manager *m = qm_open(dir);

    option_is(m, "max_active_groups", "4");
    option_is(m, "min_retry_delay_ms", "5000");
    option_is(m, "no_progress_timeout_ms", "1209600000");
    option_is(m, "background_rate_limit", "0");
    option_is(m, "connect_timeout_ms", "30000");
    option_is(m, "read_timeout_ms", "60000");
    option_is(m, "proxy", "");
    option_is(m, "ca_file", "");
    option_is(m, "allow_credentials_over_http", "0");
    char *ua = NULL;
    CHECK_HR(qmgr_manager_get_option(m, "user_agent", &ua), QMGR_S_OK);
    CHECK(ua != NULL);
    qmgr_string_free(ua);

    static const char *const good[][2] = {
        {"max_active_groups", "1"}, {"max_active_groups", "2"},
        {"min_retry_delay_ms", "100"}, {"min_retry_delay_ms", "250"},
        {"no_progress_timeout_ms", "0"}, {"no_progress_timeout_ms", "86400000"},
        {"background_rate_limit", "1000000"}, {"background_rate_limit", "0"},
        {"connect_timeout_ms", "100"}, {"connect_timeout_ms", "15000"},
        {"read_timeout_ms", "100"}, {"read_timeout_ms", "20000"},
        {"user_agent", "qmgr-c-suite/1.0"}, {"proxy", "http://127.0.0.1:3128"}, {"proxy", ""},
        {"allow_credentials_over_http", "1"}, {"allow_credentials_over_http", "0"},
        {"allow_credentials_over_http", "1"},
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        if (!CHECK_HR(qmgr_manager_set_option(m, good[i][0], good[i][1]), QMGR_S_OK)) {
            check_note("set_option(\"%s\", \"%s\")", good[i][0], good[i][1]);
        }
        option_is(m, good[i][0], good[i][1]);
    }
    const char *bundle = NULL;
    static const char *bundles[] = {"/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt",
                                    "/etc/ssl/cert.pem"};
    for (size_t i = 0; i < sizeof bundles / sizeof bundles[0]; i++) {
        if (access(bundles[i], R_OK) == 0) {
            bundle = bundles[i];
            break;
        }
    }
    if (bundle) {
        CHECK_HR(qmgr_manager_set_option(m, "ca_file", bundle), QMGR_S_OK);
        option_is(m, "ca_file", bundle);
    } else {
        check_note("no system CA bundle: ca_file acceptance not checked");
    }

    static const char *const integer_options[] = {"max_active_groups", "min_retry_delay_ms",
                                                  "no_progress_timeout_ms", "background_rate_limit",
                                                  "connect_timeout_ms", "read_timeout_ms"};
    static const char *const not_decimal[] = {"", "-1", "+1", " 100", "100 ", "1e3", "0x10", "12.5", "abc",
                                              "99999999999999999999999", "18446744073709551616"};
    for (size_t i = 0; i < sizeof integer_options / sizeof integer_options[0]; i++) {
        for (size_t k = 0; k < sizeof not_decimal / sizeof not_decimal[0]; k++) {
            option_rejects(m, integer_options[i], not_decimal[k]);
        }
    }
    option_rejects(m, "max_active_groups", "0");
    option_rejects(m, "max_active_groups", "4294967296");
    option_rejects(m, "min_retry_delay_ms", "99");
    option_rejects(m, "connect_timeout_ms", "99");
    option_rejects(m, "read_timeout_ms", "0");
    option_rejects(m, "allow_credentials_over_http", "2");
    option_rejects(m, "allow_credentials_over_http", "yes");
    option_rejects(m, "allow_credentials_over_http", "");
    option_rejects(m, "ca_file", "/nonexistent/qmgr-ca.pem");
    snprintf(pem, sizeof pem, "%s/empty.pem", root);
    CHECK(check_write_file(pem, 0, 0) == 0);
    option_rejects(m, "ca_file", pem); /* readable, but no certificate */
    snprintf(pem, sizeof pem, "%s/garbage.pem", root);
    CHECK(check_write_file(pem, 3, 300) == 0);
    option_rejects(m, "ca_file", pem);

    char *sentinel = (char *)"sentinel";
    char *v = sentinel;
    CHECK_ERR(qmgr_manager_set_option(m, "no_such_option", "1"), QMGR_E_INVALIDARG, "no_such_option");
    CHECK_ERR(qmgr_manager_get_option(m, "no_such_option", &v), QMGR_E_INVALIDARG, "no_such_option");
    CHECK(v == sentinel);
    CHECK_ERR(qmgr_manager_set_option(m, NULL, "1"), QMGR_E_POINTER, "name");
    CHECK_ERR(qmgr_manager_set_option(m, "max_active_groups", NULL), QMGR_E_POINTER, "value");
    CHECK_ERR(qmgr_manager_set_option(NULL, "max_active_groups", "1"), QMGR_E_POINTER, "manager");
    CHECK_ERR(qmgr_manager_get_option(m, NULL, &v), QMGR_E_POINTER, "name");
    CHECK_ERR(qmgr_manager_get_option(m, "max_active_groups", NULL), QMGR_E_POINTER, "value_out");
    CHECK_ERR(qmgr_manager_get_option(NULL, "max_active_groups", &v), QMGR_E_POINTER, "manager");
    CHECK(v == sentinel);
    CHECK_ERR(qmgr_manager_set_option(m, "user_agent", "bad \xff utf-8"), QMGR_E_INVALIDARG, "value");
    CHECK_ERR(qmgr_manager_set_option(m, "max_\xff", "1"), QMGR_E_INVALIDARG, "name");

    /* Persisted in the queue (C-API.md: shared by every process that opens it). */
    CHECK_HR(qmgr_manager_set_option(m, "min_retry_delay_ms", "777"), QMGR_S_OK);
    CHECK_HR(qmgr_manager_set_option(m, "user_agent", "persisted-agent"), QMGR_S_OK);
    CHECK_EQ(qmgr_manager_release(m), 0);
    m = qm_open(dir);
    option_is(m, "min_retry_delay_ms", "777");
    option_is(m, "user_agent", "persisted-agent");
    option_is(m, "max_active_groups", "2");
    option_is(m, "allow_credentials_over_http", "1");
    qmgr_manager *bad = m;
    CHECK_EQ(qmgr_manager_release(m), 0);
    CHECK_ERR(qmgr_manager_set_option(bad, "max_active_groups", "1"), QMGR_E_HANDLE, "manager");
    v = sentinel;
    CHECK_ERR(qmgr_manager_get_option(bad, "max_active_groups", &v), QMGR_E_HANDLE, "manager");
    CHECK(v == sentinel);
}

/* ---- the manager object --------------------------------------------------------------- */

static void test_manager_object(void) {
    check_section("manager add_ref/release, CreateGroup, GetGroup, EnumGroups (D3, D8, D12)");
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s/manager", root);
    qmgr_manager *m = qm_open(dir);
    int foreign_storage[8];
    qmgr_manager *foreign = (qmgr_manager *)(void *)foreign_storage;
    int sentinel;
    qmgr_group *g = NULL, *g2 = NULL;
    qmgr_enum_groups *e = NULL;
    qmgr_guid nil, id = qm_guid(), got;
    memset(&nil, 0, sizeof nil);

    /* IUnknown. */
    CHECK(qmgr_manager_add_ref(m) >= 2);
    CHECK(qmgr_manager_release(m) >= 1);
    CHECK_EQ(qmgr_manager_add_ref(NULL), 0);
    CHECK_EQ(qmgr_manager_add_ref(foreign), 0);
    CHECK_EQ(qmgr_manager_release(NULL), 0);
    CHECK_EQ(qmgr_manager_release(foreign), 0);

    /* CreateGroup. */
    CHECK_ERR(qmgr_manager_create_group(m, id, NULL), QMGR_E_POINTER, "group_out");
    CHECK_ERR_NULLS(g, qmgr_manager_create_group(NULL, id, &g), QMGR_E_POINTER, "manager");
    CHECK_ERR_NULLS(g, qmgr_manager_create_group(foreign, id, &g), QMGR_E_HANDLE, "manager");
    CHECK_ERR_NULLS(g, qmgr_manager_create_group(m, nil, &g), QMGR_E_INVALIDARG, "group_id");
    g = qm_group_with_id(m, id);
    uint32_t status = 0, index = 77;
    CHECK_HR(qmgr_group_get_status(g, &status, &index), QMGR_S_OK);
    CHECK_EQ(status, 0x180); /* new group: INCOMPLETE | SUSPENDED (D3) */
    CHECK_EQ(index, 0);
    CHECK_HR(qmgr_group_get_group_id(g, &got), QMGR_S_OK);
    CHECK(qm_guid_eq(&got, &id));
    CHECK_ERR_NULLS(g2, qmgr_manager_create_group(m, id, &g2), QMGR_E_INVALIDARG, NULL);
    /* Wrong-type handle. */
    CHECK_ERR_NULLS(g2, qmgr_manager_create_group((qmgr_manager *)(void *)g, qm_guid(), &g2), QMGR_E_HANDLE,
                    "manager");

    /* GetGroup: a new reference to the same group. */
    g2 = (qmgr_group *)(void *)&sentinel;
    CHECK_HR(qmgr_manager_get_group(m, id, &g2), QMGR_S_OK);
    CHECK(g2 != NULL && g2 != (qmgr_group *)(void *)&sentinel);
    CHECK_HR(qm_set_str(g2, GROUPPROP_DISPLAYNAME, "shared"), QMGR_S_OK);
    qmgr_variant v;
    CHECK_HR(qmgr_group_get_prop(g, GROUPPROP_DISPLAYNAME, &v), QMGR_S_OK);
    CHECK_STR(v.str_val, "shared");
    qmgr_variant_clear(&v);
    qmgr_group_release(g2);
    CHECK_HR(qmgr_group_get_status(g, &status, &index), QMGR_S_OK); /* g still valid */
    CHECK_ERR_NULLS(g2, qmgr_manager_get_group(m, qm_guid(), &g2), QM_E_ITEM_NOT_FOUND, NULL);
    CHECK_ERR_NULLS(g2, qmgr_manager_get_group(m, nil, &g2), QM_E_ITEM_NOT_FOUND, NULL);
    CHECK_ERR(qmgr_manager_get_group(m, id, NULL), QMGR_E_POINTER, "group_out");
    CHECK_ERR_NULLS(g2, qmgr_manager_get_group(NULL, id, &g2), QMGR_E_POINTER, "manager");
    CHECK_ERR_NULLS(g2, qmgr_manager_get_group(foreign, id, &g2), QMGR_E_HANDLE, "manager");

    /* EnumGroups. */
    CHECK_ERR_NULLS(e, qmgr_manager_enum_groups(m, 1, &e), QMGR_E_NOTIMPL, "flags");
    CHECK_ERR_NULLS(e, qmgr_manager_enum_groups(m, 0x80000000u, &e), QMGR_E_NOTIMPL, NULL);
    CHECK_ERR(qmgr_manager_enum_groups(m, 0, NULL), QMGR_E_POINTER, "enum_out");
    CHECK_ERR_NULLS(e, qmgr_manager_enum_groups(NULL, 0, &e), QMGR_E_POINTER, "manager");
    CHECK_ERR_NULLS(e, qmgr_manager_enum_groups(foreign, 0, &e), QMGR_E_HANDLE, "manager");
    CHECK_HR(qmgr_manager_enum_groups(m, 0, &e), QMGR_S_OK);
    uint32_t count = 0;
    CHECK_HR(qmgr_enum_groups_get_count(e, &count), QMGR_S_OK);
    CHECK_EQ(count, 1);
    qmgr_enum_groups_release(e);

    /* Cancelled groups are not found; their GUID may be reused (D3). */
    CHECK_HR(qmgr_group_cancel_group(g), QMGR_S_OK);
    CHECK_ERR_NULLS(g2, qmgr_manager_get_group(m, id, &g2), QM_E_ITEM_NOT_FOUND, NULL);
    g2 = qm_group_with_id(m, id);
    CHECK_EQ(qm_status(g2), 0x180);
    CHECK_HR(qmgr_group_get_status(g, &status, &index), QM_E_INVALID_STATE); /* the old one stays cancelled */
    CHECK_HR(qmgr_group_get_group_id(g, &got), QMGR_S_OK);
    CHECK(qm_guid_eq(&got, &id));
    CHECK_EQ(qmgr_group_release(g), 0);
    CHECK_HR(qmgr_group_cancel_group(g2), QMGR_S_OK);
    CHECK_EQ(qmgr_group_release(g2), 0);

    /* A fresh handle with no other reference, released once, returns 0; then it is dead. */
    g = qm_group(m);
    CHECK_EQ(qmgr_group_release(g), 0);
    CHECK_ERR(qmgr_group_get_status(g, &status, &index), QMGR_E_HANDLE, "group");
    CHECK_EQ(qmgr_group_add_ref(g), 0);
    CHECK_EQ(qmgr_group_release(g), 0);

    /* A group handle keeps its manager alive (D12). */
    id = qm_guid();
    g = qm_group_with_id(m, id);
    qmgr_manager *dead = m;
    CHECK_EQ(qmgr_manager_release(m), 0);
    CHECK_ERR(qmgr_manager_create_group(dead, qm_guid(), &g2), QMGR_E_HANDLE, "manager");
    CHECK_EQ(qmgr_manager_add_ref(dead), 0);
    CHECK_EQ(qm_status(g), 0x180);
    qmgr_job *j = qm_job(g);
    uint32_t files = 9;
    CHECK_HR(qmgr_job_get_file_count(j, &files), QMGR_S_OK);
    CHECK_EQ(files, 0);
    m = qm_open(dir); /* the same, still living manager */
    g2 = NULL;
    CHECK_HR(qmgr_manager_get_group(m, id, &g2), QMGR_S_OK);
    qmgr_group_release(g2);
    qmgr_job_release(j);
    CHECK_HR(qmgr_group_cancel_group(g), QMGR_S_OK);
    qmgr_group_release(g);
    CHECK_EQ(qmgr_manager_release(m), 0);
}

/* ---- persistence ------------------------------------------------------------------------- */

static void test_persistence(void) {
    check_section("everything is persisted (D6, D12)");
    char dir[PATH_MAX], local[PATH_MAX + 32];
    snprintf(dir, sizeof dir, "%s/persist", root);
    qmgr_manager *m = qm_open(dir);
    qmgr_guid gid = qm_guid(), jid = qm_guid(), jid2 = qm_guid();
    qmgr_group *g = qm_group_with_id(m, gid);
    CHECK_HR(qm_set_int(g, GROUPPROP_PRIORITY, QMGR_VT_I4, 2), QMGR_S_OK);
    CHECK_HR(qm_set_str(g, GROUPPROP_DISPLAYNAME, "persisted name \xc3\xa9"), QMGR_S_OK);
    CHECK_HR(qm_set_str(g, GROUPPROP_DESCRIPTION, "persisted description"), QMGR_S_OK);
    CHECK_HR(qm_set_str(g, GROUPPROP_REMOTEUSERID, "alice"), QMGR_S_OK);
    CHECK_HR(qm_set_str(g, GROUPPROP_NOTIFYCLSID, "{69AD4AEE-51BE-439b-A92C-86AE490E8B30}"), QMGR_S_OK);
    CHECK_HR(qm_set_int(g, GROUPPROP_NOTIFYFLAGS, QMGR_VT_UI4, QM_NOTIFY_GROUP_DONE | QM_NOTIFY_FILE_DONE),
             QMGR_S_OK);
    CHECK_HR(qm_set_int(g, GROUPPROP_PROGRESSSIZE, QMGR_VT_UI4, 65536), QMGR_S_OK);
    CHECK_HR(qm_set_int(g, GROUPPROP_PROGRESSPERCENT, QMGR_VT_I2, 10), QMGR_S_OK);
    CHECK_HR(qm_set_int(g, GROUPPROP_PROGRESSTIME, QMGR_VT_INT, 500), QMGR_S_OK);
    CHECK_HR(qmgr_group_switch_to_foreground(g), QMGR_S_OK);
    qmgr_guid later[3];
    for (int i = 0; i < 3; i++) {
        later[i] = qm_guid();
        qmgr_group *x = qm_group_with_id(m, later[i]);
        qmgr_group_release(x);
    }
    qmgr_job *j = qm_job_with_id(g, jid);
    qmgr_job *j2 = qm_job_with_id(g, jid2);
    snprintf(local, sizeof local, "%s/out-1.bin", root);
    CHECK_HR(qm_add(j, "http://127.0.0.1:9/persisted/1", local, 1234), QMGR_S_OK);
    snprintf(local, sizeof local, "%s/out-2.bin", root);
    CHECK_HR(qm_add(j, "http://127.0.0.1:9/persisted/2", local, 0), QMGR_S_OK);
    CHECK_HR(qmgr_job_switch_to_foreground(j2), QMGR_S_OK);
    qmgr_job_release(j);
    qmgr_job_release(j2);
    qmgr_group_release(g);
    CHECK_EQ(qmgr_manager_release(m), 0);

    m = qm_open(dir);
    {
        /* Groups keep their creation order (D12). */
        qmgr_enum_groups *eg = NULL;
        qmgr_guid ids[5];
        uint32_t n = 0;
        CHECK_HR(qmgr_manager_enum_groups(m, 0, &eg), QMGR_S_OK);
        CHECK_HR(qmgr_enum_groups_next(eg, 5, ids, &n), QMGR_S_FALSE);
        CHECK_EQ(n, 4);
        CHECK(n == 4 && qm_guid_eq(&ids[0], &gid) && qm_guid_eq(&ids[1], &later[0]) &&
              qm_guid_eq(&ids[2], &later[1]) && qm_guid_eq(&ids[3], &later[2]));
        qmgr_enum_groups_release(eg);
        for (int i = 0; i < 3; i++) {
            qmgr_group *x = NULL;
            CHECK_HR(qmgr_manager_get_group(m, later[i], &x), QMGR_S_OK);
            qmgr_group_cancel_group(x);
            qmgr_group_release(x);
        }
    }
    g = NULL;
    CHECK_HR(qmgr_manager_get_group(m, gid, &g), QMGR_S_OK);
    if (!g) {
        qmgr_manager_release(m);
        return;
    }
    qmgr_variant v;
    CHECK_HR(qmgr_group_get_prop(g, GROUPPROP_PRIORITY, &v), QMGR_S_OK);
    CHECK_EQ(v.int_val, 2);
    CHECK_HR(qmgr_group_get_prop(g, GROUPPROP_DISPLAYNAME, &v), QMGR_S_OK);
    CHECK_STR(v.str_val, "persisted name \xc3\xa9");
    qmgr_variant_clear(&v);
    CHECK_HR(qmgr_group_get_prop(g, GROUPPROP_DESCRIPTION, &v), QMGR_S_OK);
    CHECK_STR(v.str_val, "persisted description");
    qmgr_variant_clear(&v);
    CHECK_HR(qmgr_group_get_prop(g, GROUPPROP_REMOTEUSERID, &v), QMGR_S_OK);
    CHECK_STR(v.str_val, "alice");
    qmgr_variant_clear(&v);
    CHECK_HR(qmgr_group_get_prop(g, GROUPPROP_NOTIFYCLSID, &v), QMGR_S_OK);
    CHECK_STR(v.str_val, "{69AD4AEE-51BE-439b-A92C-86AE490E8B30}");
    qmgr_variant_clear(&v);
    CHECK_HR(qmgr_group_get_prop(g, GROUPPROP_NOTIFYFLAGS, &v), QMGR_S_OK);
    CHECK_EQ(v.int_val, QM_NOTIFY_GROUP_DONE | QM_NOTIFY_FILE_DONE);
    CHECK_HR(qmgr_group_get_prop(g, GROUPPROP_PROGRESSSIZE, &v), QMGR_S_OK);
    CHECK_EQ(v.int_val, 65536);
    CHECK_HR(qmgr_group_get_prop(g, GROUPPROP_PROGRESSPERCENT, &v), QMGR_S_OK);
    CHECK_EQ(v.int_val, 10);
    CHECK_HR(qmgr_group_get_prop(g, GROUPPROP_PROGRESSTIME, &v), QMGR_S_OK);
    CHECK_EQ(v.int_val, 500);
    CHECK_EQ(qm_status(g), 0x580); /* suspended, incomplete, foreground (persisted, D12) */
    j = NULL;
    CHECK_HR(qmgr_group_get_job(g, jid, &j), QMGR_S_OK);
    uint32_t files = 0;
    CHECK_HR(qmgr_job_get_file_count(j, &files), QMGR_S_OK);
    CHECK_EQ(files, 2);
    qmgr_fileset_info info;
    CHECK_HR(qmgr_job_get_file(j, 0, &info), QMGR_S_OK);
    CHECK_STR(info.remote_file, "http://127.0.0.1:9/persisted/1");
    snprintf(local, sizeof local, "%s/out-1.bin", root);
    CHECK_STR(info.local_file, local);
    CHECK_EQ(info.size_hint, 1234);
    qmgr_fileset_info_clear(&info);
    CHECK_EQ(qm_job_status(j) & QM_STATUS_JOB_FOREGROUND, 0);
    j2 = NULL;
    CHECK_HR(qmgr_group_get_job(g, jid2, &j2), QMGR_S_OK);
    CHECK_EQ(qm_job_status(j2), QM_STATUS_JOB_INCOMPLETE | QM_STATUS_JOB_FOREGROUND);
    qmgr_enum_jobs *e = NULL;
    qmgr_guid ids[3];
    uint32_t fetched = 0;
    CHECK_HR(qmgr_group_enum_jobs(g, 0, &e), QMGR_S_OK);
    CHECK_HR(qmgr_enum_jobs_next(e, 3, ids, &fetched), QMGR_S_FALSE);
    CHECK_EQ(fetched, 2);
    CHECK(qm_guid_eq(&ids[0], &jid) && qm_guid_eq(&ids[1], &jid2));
    qmgr_enum_jobs_release(e);
    qmgr_job_release(j);
    qmgr_job_release(j2);
    CHECK_HR(qmgr_group_cancel_group(g), QMGR_S_OK);
    qmgr_group_release(g);
    CHECK_EQ(qmgr_manager_release(m), 0);

    /* The cancel was persisted too. */
    m = qm_open(dir);
    g = (qmgr_group *)(void *)&files;
    CHECK_HR(qmgr_manager_get_group(m, gid, &g), QM_E_ITEM_NOT_FOUND);
    CHECK(g == NULL);
    CHECK_EQ(qmgr_manager_release(m), 0);
}

int main(void) {
    check_begin("manager");
    {
        /* Before any failure in this thread: QMGR_S_FALSE and NULL (C-API.md). */
        char *msg = (char *)"sentinel";
        CHECK_HR(qmgr_get_last_error_message(&msg), QMGR_S_FALSE);
        CHECK(msg == NULL);
    }
    umask(022); /* the modes the library sets must not depend on a strict umask */
    check_mkdtemp(root, "manager");
    test_version_and_constants();
    test_guids();
    test_errors();
    test_memory_helpers();
    test_create_instance();
    test_options();
    test_manager_object();
    test_persistence();
    check_rmtree(root);
    return check_done();
}

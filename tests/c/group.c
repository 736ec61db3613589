/*
 * group.c — IBackgroundCopyGroup without transfers: the 13 properties (types, ranges, length
 * limits, defaults), GetProgress/GetStatus/get_Size/get_GroupID, CreateJob/GetJob/EnumJobs
 * argument rules, SwitchToForeground, QueryNewJobInterface and the argument rules of
 * SetNotificationPointer, the rate-limit extension (C-API.md; DECISIONS D1, D2, D3, D8, D12).
 */
#include "check.h"
#include "qm.h"

static char root[CHECK_ROOT_MAX];

static int sentinel_storage;
#define SENTINEL_PTR ((void *)&sentinel_storage)

/* GetProp of an integer property: value and vt. */
static void int_prop_is(qmgr_group *g, uint32_t prop, uint16_t vt, int64_t value) {
    qmgr_variant v;
    v.vt = 0xEEEE;
    v.int_val = -99;
    v.str_val = NULL;
    if (CHECK_HR(qmgr_group_get_prop(g, prop, &v), QMGR_S_OK)) {
        if (!CHECK_EQ(v.vt, vt) || !CHECK_EQ(v.int_val, value)) {
            check_note("property %u", (unsigned)prop);
        }
        qmgr_variant_clear(&v);
    }
}

static void str_prop_is(qmgr_group *g, uint32_t prop, const char *value) {
    qmgr_variant v;
    v.vt = 0xEEEE;
    v.int_val = -99;
    v.str_val = NULL;
    if (CHECK_HR(qmgr_group_get_prop(g, prop, &v), QMGR_S_OK)) {
        if (!CHECK_EQ(v.vt, QMGR_VT_BSTR) || !CHECK(v.str_val != NULL) || !CHECK_STR(v.str_val, value)) {
            check_note("property %u", (unsigned)prop);
        }
        qmgr_variant_clear(&v);
        CHECK_EQ(v.vt, QMGR_VT_EMPTY);
        CHECK(v.str_val == NULL);
    }
}

/* SetProp that must fail with `expected`; the variant is not modified and the property
   keeps its value (checked by the caller). */
static void set_fails(qmgr_group *g, uint32_t prop, uint16_t vt, int64_t i, const char *s, qmgr_hresult expected) {
    qmgr_variant v;
    v.vt = vt;
    v.int_val = i;
    v.str_val = (char *)s;
    check_prime();
    qmgr_hresult hr = qmgr_group_set_prop(g, prop, &v);
    if (!CHECK_HR(hr, expected) || !check_msg_(__FILE__, __LINE__, "qmgr_group_set_prop", NULL)) {
        check_note("SetProp(%u, vt %u, %" PRId64 ", %s%.40s%s)", (unsigned)prop, (unsigned)vt, i, s ? "\"" : "",
                   s ? s : "NULL", s ? "\"" : "");
    }
    CHECK(v.vt == vt && v.int_val == i && v.str_val == s);
}

static void set_ok(qmgr_group *g, uint32_t prop, uint16_t vt, int64_t i, const char *s) {
    qmgr_variant v;
    v.vt = vt;
    v.int_val = i;
    v.str_val = (char *)s;
    if (!CHECK_HR(qmgr_group_set_prop(g, prop, &v), QMGR_S_OK)) {
        check_note("SetProp(%u, vt %u, %" PRId64 ", %s%.40s%s)", (unsigned)prop, (unsigned)vt, i, s ? "\"" : "",
                   s ? s : "NULL", s ? "\"" : "");
    }
    CHECK(v.vt == vt && v.int_val == i && v.str_val == s); /* the variant is not modified */
}

static char *repeat(const char *unit, size_t n) {
    size_t len = strlen(unit);
    char *s = (char *)malloc(len * n + 1);
    for (size_t i = 0; i < n; i++) {
        memcpy(s + i * len, unit, len);
    }
    s[len * n] = '\0';
    return s;
}

static void test_defaults(qmgr_manager *m) {
    check_section("property defaults and variant types (D12)");
    qmgr_group *g = qm_group(m);
    int_prop_is(g, GROUPPROP_PRIORITY, QMGR_VT_I4, 1);
    str_prop_is(g, GROUPPROP_REMOTEUSERID, "");
    str_prop_is(g, GROUPPROP_REMOTEUSERPWD, "");
    int_prop_is(g, GROUPPROP_PROTOCOLFLAGS, QMGR_VT_I4, QM_PROTOCOL_HTTP);
    int_prop_is(g, GROUPPROP_NOTIFYFLAGS, QMGR_VT_UI4, 0);
    str_prop_is(g, GROUPPROP_NOTIFYCLSID, "");
    int_prop_is(g, GROUPPROP_PROGRESSSIZE, QMGR_VT_I4, 0);
    int_prop_is(g, GROUPPROP_PROGRESSPERCENT, QMGR_VT_I4, 0);
    int_prop_is(g, GROUPPROP_PROGRESSTIME, QMGR_VT_I4, 0);
    str_prop_is(g, GROUPPROP_DISPLAYNAME, "");
    str_prop_is(g, GROUPPROP_DESCRIPTION, "");

    /* LOCALUSERID / LOCALUSERPWD: not implemented (D1); output untouched. */
    uint32_t local_props[] = {GROUPPROP_LOCALUSERID, GROUPPROP_LOCALUSERPWD};
    for (int i = 0; i < 2; i++) {
        qmgr_variant v;
        v.vt = 0xEEEE;
        v.int_val = 5;
        v.str_val = (char *)SENTINEL_PTR;
        CHECK_ERR(qmgr_group_get_prop(g, local_props[i], &v), QMGR_E_NOTIMPL, NULL);
        CHECK(v.vt == 0xEEEE && v.int_val == 5 && v.str_val == (char *)SENTINEL_PTR);
        set_fails(g, local_props[i], QMGR_VT_BSTR, 0, "root", QMGR_E_NOTIMPL);
    }
    /* Unknown property ids. */
    uint32_t unknown[] = {13, 14, 255, 0x80000000u, 0xFFFFFFFFu};
    for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++) {
        qmgr_variant v;
        v.vt = 0xEEEE;
        v.int_val = 5;
        v.str_val = (char *)SENTINEL_PTR;
        CHECK_ERR(qmgr_group_get_prop(g, unknown[i], &v), QMGR_E_INVALIDARG, "prop");
        CHECK(v.vt == 0xEEEE && v.int_val == 5 && v.str_val == (char *)SENTINEL_PTR);
        set_fails(g, unknown[i], QMGR_VT_I4, 1, NULL, QMGR_E_INVALIDARG);
    }
    qmgr_variant v;
    CHECK_ERR(qmgr_group_get_prop(g, GROUPPROP_PRIORITY, NULL), QMGR_E_POINTER, "value_out");
    CHECK_ERR(qmgr_group_set_prop(g, GROUPPROP_PRIORITY, NULL), QMGR_E_POINTER, "value");
    CHECK_ERR(qmgr_group_get_prop(NULL, GROUPPROP_PRIORITY, &v), QMGR_E_POINTER, "group");
    v.vt = QMGR_VT_I4;
    v.int_val = 1;
    v.str_val = NULL;
    CHECK_ERR(qmgr_group_set_prop(NULL, GROUPPROP_PRIORITY, &v), QMGR_E_POINTER, "group");
    CHECK_ERR(qmgr_group_set_prop((qmgr_group *)SENTINEL_PTR, GROUPPROP_PRIORITY, &v), QMGR_E_HANDLE, "group");
    CHECK_HR(qmgr_group_cancel_group(g), QMGR_S_OK);
    qmgr_group_release(g);
}

static void test_integer_props(qmgr_manager *m) {
    check_section("integer properties: the six integer vts when the value fits (D1, D12)");
    qmgr_group *g = qm_group(m);

    /* PRIORITY: 0, 1, 2 through every integer vt; anything else E_INVALIDARG. */
    static const uint16_t int_vts[] = {QMGR_VT_I2, QMGR_VT_I4, QMGR_VT_UI2, QMGR_VT_UI4, QMGR_VT_INT, QMGR_VT_UINT};
    for (size_t i = 0; i < 6; i++) {
        set_ok(g, GROUPPROP_PRIORITY, int_vts[i], (int64_t)(i % 3), NULL);
        int_prop_is(g, GROUPPROP_PRIORITY, QMGR_VT_I4, (int64_t)(i % 3));
    }
    set_ok(g, GROUPPROP_PRIORITY, QMGR_VT_I4, 0, NULL);
    set_fails(g, GROUPPROP_PRIORITY, QMGR_VT_I4, 3, NULL, QMGR_E_INVALIDARG);
    set_fails(g, GROUPPROP_PRIORITY, QMGR_VT_I4, -1, NULL, QMGR_E_INVALIDARG);
    set_fails(g, GROUPPROP_PRIORITY, QMGR_VT_UI4, 0x100000001LL, NULL, QMGR_E_INVALIDARG); /* does not fit */
    set_fails(g, GROUPPROP_PRIORITY, QMGR_VT_BSTR, 0, "1", QMGR_E_INVALIDARG);
    set_fails(g, GROUPPROP_PRIORITY, QMGR_VT_EMPTY, 1, NULL, QMGR_E_INVALIDARG);
    set_fails(g, GROUPPROP_PRIORITY, 11 /* VT_BOOL */, 1, NULL, QMGR_E_INVALIDARG);
    set_fails(g, GROUPPROP_PRIORITY, 0x4003 /* VT_BYREF|VT_I4 */, 1, NULL, QMGR_E_INVALIDARG);
    int_prop_is(g, GROUPPROP_PRIORITY, QMGR_VT_I4, 0);

    /* Values must fit the vt's C type. */
    set_fails(g, GROUPPROP_PROGRESSSIZE, QMGR_VT_I2, 40000, NULL, QMGR_E_INVALIDARG);
    set_fails(g, GROUPPROP_PROGRESSSIZE, QMGR_VT_UI2, 70000, NULL, QMGR_E_INVALIDARG);
    set_fails(g, GROUPPROP_PROGRESSSIZE, QMGR_VT_UI2, -1, NULL, QMGR_E_INVALIDARG);
    set_fails(g, GROUPPROP_PROGRESSSIZE, QMGR_VT_I4, 0x80000000LL, NULL, QMGR_E_INVALIDARG);
    set_fails(g, GROUPPROP_PROGRESSSIZE, QMGR_VT_INT, 0x80000000LL, NULL, QMGR_E_INVALIDARG);
    set_fails(g, GROUPPROP_PROGRESSSIZE, QMGR_VT_UI4, 0x100000000LL, NULL, QMGR_E_INVALIDARG);
    set_fails(g, GROUPPROP_PROGRESSSIZE, QMGR_VT_UINT, -5, NULL, QMGR_E_INVALIDARG);
    int_prop_is(g, GROUPPROP_PROGRESSSIZE, QMGR_VT_I4, 0);
    set_ok(g, GROUPPROP_PROGRESSSIZE, QMGR_VT_I2, 32767, NULL);
    int_prop_is(g, GROUPPROP_PROGRESSSIZE, QMGR_VT_I4, 32767);
    set_ok(g, GROUPPROP_PROGRESSSIZE, QMGR_VT_UI2, 65535, NULL);
    int_prop_is(g, GROUPPROP_PROGRESSSIZE, QMGR_VT_I4, 65535);
    set_ok(g, GROUPPROP_PROGRESSSIZE, QMGR_VT_I4, 2147483647, NULL);
    int_prop_is(g, GROUPPROP_PROGRESSSIZE, QMGR_VT_I4, 2147483647);
    set_ok(g, GROUPPROP_PROGRESSSIZE, QMGR_VT_UINT, 1048576, NULL);
    int_prop_is(g, GROUPPROP_PROGRESSSIZE, QMGR_VT_I4, 1048576);
    set_ok(g, GROUPPROP_PROGRESSSIZE, QMGR_VT_UI4, 0, NULL);
    int_prop_is(g, GROUPPROP_PROGRESSSIZE, QMGR_VT_I4, 0);
    set_fails(g, GROUPPROP_PROGRESSSIZE, QMGR_VT_BSTR, 0, "1024", QMGR_E_INVALIDARG);

    /* PROGRESSPERCENT: 0-100. */
    set_ok(g, GROUPPROP_PROGRESSPERCENT, QMGR_VT_I4, 100, NULL);
    int_prop_is(g, GROUPPROP_PROGRESSPERCENT, QMGR_VT_I4, 100);
    set_ok(g, GROUPPROP_PROGRESSPERCENT, QMGR_VT_UI2, 1, NULL);
    int_prop_is(g, GROUPPROP_PROGRESSPERCENT, QMGR_VT_I4, 1);
    set_fails(g, GROUPPROP_PROGRESSPERCENT, QMGR_VT_I4, 101, NULL, QMGR_E_INVALIDARG);
    set_fails(g, GROUPPROP_PROGRESSPERCENT, QMGR_VT_UI4, 0xFFFFFFFFLL, NULL, QMGR_E_INVALIDARG);
    set_fails(g, GROUPPROP_PROGRESSPERCENT, QMGR_VT_I4, -1, NULL, QMGR_E_INVALIDARG);
    int_prop_is(g, GROUPPROP_PROGRESSPERCENT, QMGR_VT_I4, 1);
    set_ok(g, GROUPPROP_PROGRESSPERCENT, QMGR_VT_INT, 0, NULL);

    /* PROGRESSTIME: milliseconds. */
    set_ok(g, GROUPPROP_PROGRESSTIME, QMGR_VT_UI4, 250, NULL);
    int_prop_is(g, GROUPPROP_PROGRESSTIME, QMGR_VT_I4, 250);
    set_ok(g, GROUPPROP_PROGRESSTIME, QMGR_VT_I2, 0, NULL);
    int_prop_is(g, GROUPPROP_PROGRESSTIME, QMGR_VT_I4, 0);
    set_fails(g, GROUPPROP_PROGRESSTIME, QMGR_VT_BSTR, 0, "250", QMGR_E_INVALIDARG);

    /* NOTIFYFLAGS: defined bits only, read back as QMGR_VT_UI4. */
    uint32_t all = QM_NOTIFY_FILE_DONE | QM_NOTIFY_JOB_DONE | QM_NOTIFY_GROUP_DONE | QM_NOTIFY_DISABLE_NOTIFY |
                   QM_NOTIFY_USE_PROGRESSEX;
    set_ok(g, GROUPPROP_NOTIFYFLAGS, QMGR_VT_UI4, all, NULL);
    int_prop_is(g, GROUPPROP_NOTIFYFLAGS, QMGR_VT_UI4, all);
    set_ok(g, GROUPPROP_NOTIFYFLAGS, QMGR_VT_I2, QM_NOTIFY_GROUP_DONE, NULL);
    int_prop_is(g, GROUPPROP_NOTIFYFLAGS, QMGR_VT_UI4, QM_NOTIFY_GROUP_DONE);
    static const int64_t undefined_bits[] = {8, 16, 32, 256, 0x80000000LL, 0xFFFFFFFFLL};
    for (size_t i = 0; i < sizeof undefined_bits / sizeof undefined_bits[0]; i++) {
        set_fails(g, GROUPPROP_NOTIFYFLAGS, QMGR_VT_UI4, undefined_bits[i] | QM_NOTIFY_GROUP_DONE, NULL,
                  QMGR_E_INVALIDARG);
    }
    int_prop_is(g, GROUPPROP_NOTIFYFLAGS, QMGR_VT_UI4, QM_NOTIFY_GROUP_DONE);
    set_fails(g, GROUPPROP_NOTIFYFLAGS, QMGR_VT_BSTR, 0, "4", QMGR_E_INVALIDARG);
    set_ok(g, GROUPPROP_NOTIFYFLAGS, QMGR_VT_UINT, 0, NULL);

    /* PROTOCOLFLAGS: 1 and 3 accepted; FTP unavailable; CUSTOM not implemented; others invalid. */
    set_ok(g, GROUPPROP_PROTOCOLFLAGS, QMGR_VT_I4, QM_PROTOCOL_SMB, NULL);
    int_prop_is(g, GROUPPROP_PROTOCOLFLAGS, QMGR_VT_I4, QM_PROTOCOL_SMB);
    set_ok(g, GROUPPROP_PROTOCOLFLAGS, QMGR_VT_UI2, QM_PROTOCOL_HTTP, NULL);
    int_prop_is(g, GROUPPROP_PROTOCOLFLAGS, QMGR_VT_I4, QM_PROTOCOL_HTTP);
    set_fails(g, GROUPPROP_PROTOCOLFLAGS, QMGR_VT_I4, QM_PROTOCOL_FTP, NULL, QM_E_DOWNLOADER_UNAVAILABLE);
    set_fails(g, GROUPPROP_PROTOCOLFLAGS, QMGR_VT_I4, QM_PROTOCOL_CUSTOM, NULL, QMGR_E_NOTIMPL);
    set_fails(g, GROUPPROP_PROTOCOLFLAGS, QMGR_VT_I4, 0, NULL, QMGR_E_INVALIDARG);
    set_fails(g, GROUPPROP_PROTOCOLFLAGS, QMGR_VT_I4, 5, NULL, QMGR_E_INVALIDARG);
    set_fails(g, GROUPPROP_PROTOCOLFLAGS, QMGR_VT_BSTR, 0, "1", QMGR_E_INVALIDARG);
    int_prop_is(g, GROUPPROP_PROTOCOLFLAGS, QMGR_VT_I4, QM_PROTOCOL_HTTP);

    /* The protocol may change only while the group has no files; its current value always. */
    char local[PATH_MAX];
    snprintf(local, sizeof local, "%s/protocol.bin", root);
    qmgr_job *j = qm_job(g);
    set_ok(g, GROUPPROP_PROTOCOLFLAGS, QMGR_VT_I4, QM_PROTOCOL_SMB, NULL); /* a job without files */
    set_ok(g, GROUPPROP_PROTOCOLFLAGS, QMGR_VT_I4, QM_PROTOCOL_HTTP, NULL);
    CHECK_HR(qm_add(j, "http://127.0.0.1:9/protocol.bin", local, 0), QMGR_S_OK);
    set_fails(g, GROUPPROP_PROTOCOLFLAGS, QMGR_VT_I4, QM_PROTOCOL_SMB, NULL, QM_E_INVALID_STATE);
    set_ok(g, GROUPPROP_PROTOCOLFLAGS, QMGR_VT_I4, QM_PROTOCOL_HTTP, NULL);
    set_ok(g, GROUPPROP_PROTOCOLFLAGS, QMGR_VT_UI4, QM_PROTOCOL_HTTP, NULL);
    int_prop_is(g, GROUPPROP_PROTOCOLFLAGS, QMGR_VT_I4, QM_PROTOCOL_HTTP);
    qmgr_job_release(j);
    CHECK_HR(qmgr_group_cancel_group(g), QMGR_S_OK);
    qmgr_group_release(g);
}

static void test_string_props(qmgr_manager *m) {
    check_section("string properties: lengths in Unicode scalar values, UTF-8, verbatim (D2, D12)");
    qmgr_group *g = qm_group(m);
    char *s;

    /* DISPLAYNAME: at most 256 characters; DESCRIPTION: at most 1024. */
    s = repeat("n", 256);
    set_ok(g, GROUPPROP_DISPLAYNAME, QMGR_VT_BSTR, 0, s);
    str_prop_is(g, GROUPPROP_DISPLAYNAME, s);
    free(s);
    s = repeat("\xc3\xa9", 256); /* 256 characters, 512 bytes */
    set_ok(g, GROUPPROP_DISPLAYNAME, QMGR_VT_BSTR, 0, s);
    str_prop_is(g, GROUPPROP_DISPLAYNAME, s);
    free(s);
    s = repeat("\xf0\x9f\x93\xa6", 256); /* 256 characters outside the BMP */
    set_ok(g, GROUPPROP_DISPLAYNAME, QMGR_VT_BSTR, 0, s);
    str_prop_is(g, GROUPPROP_DISPLAYNAME, s);
    char *kept = s;
    s = repeat("n", 257);
    set_fails(g, GROUPPROP_DISPLAYNAME, QMGR_VT_BSTR, 0, s, QMGR_E_INVALIDARG);
    free(s);
    s = repeat("\xc3\xa9", 257);
    set_fails(g, GROUPPROP_DISPLAYNAME, QMGR_VT_BSTR, 0, s, QMGR_E_INVALIDARG);
    free(s);
    str_prop_is(g, GROUPPROP_DISPLAYNAME, kept);
    free(kept);
    set_fails(g, GROUPPROP_DISPLAYNAME, QMGR_VT_BSTR, 0, "bad \xff\xfe utf-8", QMGR_E_INVALIDARG);
    set_fails(g, GROUPPROP_DISPLAYNAME, QMGR_VT_BSTR, 0, "overlong \xc0\xaf", QMGR_E_INVALIDARG);
    set_fails(g, GROUPPROP_DISPLAYNAME, QMGR_VT_BSTR, 0, "surrogate \xed\xa0\x80", QMGR_E_INVALIDARG);
    set_fails(g, GROUPPROP_DISPLAYNAME, QMGR_VT_I4, 5, NULL, QMGR_E_INVALIDARG);
    set_fails(g, GROUPPROP_DISPLAYNAME, QMGR_VT_EMPTY, 0, NULL, QMGR_E_INVALIDARG);
    set_ok(g, GROUPPROP_DISPLAYNAME, QMGR_VT_BSTR, 0, NULL); /* NULL str_val means "" */
    str_prop_is(g, GROUPPROP_DISPLAYNAME, "");

    s = repeat("d", 1024);
    set_ok(g, GROUPPROP_DESCRIPTION, QMGR_VT_BSTR, 0, s);
    str_prop_is(g, GROUPPROP_DESCRIPTION, s);
    free(s);
    s = repeat("\xe2\x82\xac", 1024); /* 1024 characters, 3072 bytes */
    set_ok(g, GROUPPROP_DESCRIPTION, QMGR_VT_BSTR, 0, s);
    str_prop_is(g, GROUPPROP_DESCRIPTION, s);
    free(s);
    s = repeat("d", 1025);
    set_fails(g, GROUPPROP_DESCRIPTION, QMGR_VT_BSTR, 0, s, QMGR_E_INVALIDARG);
    free(s);
    set_fails(g, GROUPPROP_DESCRIPTION, QMGR_VT_UI4, 1, NULL, QMGR_E_INVALIDARG);
    set_ok(g, GROUPPROP_DESCRIPTION, QMGR_VT_BSTR, 0, "line one\nline two\ttab");
    str_prop_is(g, GROUPPROP_DESCRIPTION, "line one\nline two\ttab");

    /* REMOTEUSERID round-trips; REMOTEUSERPWD is write-only. */
    set_ok(g, GROUPPROP_REMOTEUSERID, QMGR_VT_BSTR, 0, "user\xc3\xa9@example");
    str_prop_is(g, GROUPPROP_REMOTEUSERID, "user\xc3\xa9@example");
    set_ok(g, GROUPPROP_REMOTEUSERPWD, QMGR_VT_BSTR, 0, "s3cret!");
    str_prop_is(g, GROUPPROP_REMOTEUSERPWD, "");
    set_fails(g, GROUPPROP_REMOTEUSERID, QMGR_VT_I4, 1, NULL, QMGR_E_INVALIDARG);
    set_fails(g, GROUPPROP_REMOTEUSERPWD, QMGR_VT_BSTR, 0, "\xff", QMGR_E_INVALIDARG);
    set_ok(g, GROUPPROP_REMOTEUSERID, QMGR_VT_BSTR, 0, NULL);
    str_prop_is(g, GROUPPROP_REMOTEUSERID, "");

    /* NOTIFYCLSID: "" or a GUID string, stored verbatim. */
    static const char *const clsids[] = {"{69AD4AEE-51BE-439b-A92C-86AE490E8B30}",
                                         "69ad4aee-51be-439b-a92c-86ae490e8b30",
                                         "{084F6593-3800-4E08-9B59-99FA59ADDF82}", ""};
    for (size_t i = 0; i < sizeof clsids / sizeof clsids[0]; i++) {
        set_ok(g, GROUPPROP_NOTIFYCLSID, QMGR_VT_BSTR, 0, clsids[i]);
        str_prop_is(g, GROUPPROP_NOTIFYCLSID, clsids[i]);
    }
    set_ok(g, GROUPPROP_NOTIFYCLSID, QMGR_VT_BSTR, 0, "{084F6593-3800-4E08-9B59-99FA59ADDF82}");
    static const char *const bad_clsids[] = {"not-a-guid", "{69AD4AEE-51BE-439b-A92C-86AE490E8B30",
                                             "{69AD4AEE-51BE-439b-A92C-86AE490E8B3G}", " "};
    for (size_t i = 0; i < sizeof bad_clsids / sizeof bad_clsids[0]; i++) {
        set_fails(g, GROUPPROP_NOTIFYCLSID, QMGR_VT_BSTR, 0, bad_clsids[i], QMGR_E_INVALIDARG);
    }
    set_fails(g, GROUPPROP_NOTIFYCLSID, QMGR_VT_I4, 0, NULL, QMGR_E_INVALIDARG);
    str_prop_is(g, GROUPPROP_NOTIFYCLSID, "{084F6593-3800-4E08-9B59-99FA59ADDF82}");
    set_ok(g, GROUPPROP_NOTIFYCLSID, QMGR_VT_BSTR, 0, NULL);
    str_prop_is(g, GROUPPROP_NOTIFYCLSID, "");

    /* Get: the output is a pure out-parameter (prior content is overwritten, not freed). */
    qmgr_variant v;
    v.vt = QMGR_VT_BSTR;
    v.int_val = 0;
    v.str_val = (char *)"caller-owned";
    CHECK_HR(qmgr_group_get_prop(g, GROUPPROP_PRIORITY, &v), QMGR_S_OK);
    CHECK_EQ(v.vt, QMGR_VT_I4);
    CHECK_HR(qmgr_group_cancel_group(g), QMGR_S_OK);
    qmgr_group_release(g);
}

static void test_group_methods(qmgr_manager *m) {
    check_section("GetProgress, GetStatus, get_Size, get_GroupID, GetJob, EnumJobs, CreateJob args");
    qmgr_guid gid = qm_guid(), jid = qm_guid(), nil, got, sentinel_guid;
    memset(&nil, 0, sizeof nil);
    memset(&sentinel_guid, 0x5A, sizeof sentinel_guid);
    qmgr_group *g = qm_group_with_id(m, gid);
    uint32_t value = 0xABCD, status = 0xABCD, index = 0xABCD;

    /* GetProgress: the three flags; others E_INVALIDARG with the output untouched. */
    CHECK_HR(qmgr_group_get_progress(g, QM_PROGRESS_PERCENT_DONE, &value), QMGR_S_OK);
    CHECK_EQ(value, 0);
    value = 0xABCD;
    CHECK_HR(qmgr_group_get_progress(g, QM_PROGRESS_SIZE_DONE, &value), QMGR_S_OK);
    CHECK_EQ(value, 0);
    value = 0xABCD;
    CHECK_HR(qmgr_group_get_progress(g, QM_PROGRESS_TIME_DONE, &value), QMGR_S_OK);
    CHECK_EQ(value, 0);
    static const uint32_t bad_flags[] = {0, 4, 5, 0x101, 0xFFFFFFFFu};
    for (size_t i = 0; i < sizeof bad_flags / sizeof bad_flags[0]; i++) {
        value = 0xABCD;
        CHECK_ERR(qmgr_group_get_progress(g, bad_flags[i], &value), QMGR_E_INVALIDARG, "flags");
        CHECK_EQ(value, 0xABCD);
    }
    CHECK_ERR(qmgr_group_get_progress(g, QM_PROGRESS_SIZE_DONE, NULL), QMGR_E_POINTER, "progress_out");
    uint64_t done = 7, total = 7;
    CHECK_HR(qmgr_group_get_progress64(g, &done, &total), QMGR_S_OK);
    CHECK_EQ(done, 0);
    CHECK_EQ(total, 0); /* no files: every size known, sum 0 */
    CHECK_ERR(qmgr_group_get_progress64(g, NULL, &total), QMGR_E_POINTER, "bytes_done_out");
    CHECK_ERR(qmgr_group_get_progress64(g, &done, NULL), QMGR_E_POINTER, "bytes_total_out");

    /* GetStatus. */
    CHECK_HR(qmgr_group_get_status(g, &status, &index), QMGR_S_OK);
    CHECK_EQ(status, 0x180);
    CHECK_EQ(index, 0);
    status = index = 0xABCD;
    CHECK_ERR(qmgr_group_get_status(g, NULL, &index), QMGR_E_POINTER, "status_out");
    CHECK_ERR(qmgr_group_get_status(g, &status, NULL), QMGR_E_POINTER, "job_index_out");
    CHECK(status == 0xABCD && index == 0xABCD);

    /* get_Size. */
    value = 0xABCD;
    CHECK_HR(qmgr_group_get_size(g, &value), QMGR_S_OK);
    CHECK_EQ(value, 0);
    CHECK_ERR(qmgr_group_get_size(g, NULL), QMGR_E_POINTER, "size_out");

    /* get_GroupID. */
    got = sentinel_guid;
    CHECK_HR(qmgr_group_get_group_id(g, &got), QMGR_S_OK);
    CHECK(qm_guid_eq(&got, &gid));
    CHECK_ERR(qmgr_group_get_group_id(g, NULL), QMGR_E_POINTER, "group_id_out");
    got = sentinel_guid;
    CHECK_ERR(qmgr_group_get_group_id(NULL, &got), QMGR_E_POINTER, "group");
    CHECK_ERR(qmgr_group_get_group_id((qmgr_group *)SENTINEL_PTR, &got), QMGR_E_HANDLE, "group");
    CHECK(qm_guid_eq(&got, &sentinel_guid));

    /* CreateJob. */
    qmgr_job *j = (qmgr_job *)SENTINEL_PTR;
    CHECK_ERR(qmgr_group_create_job(g, nil, &j), QMGR_E_INVALIDARG, "job_id");
    CHECK(j == NULL);
    CHECK_ERR(qmgr_group_create_job(g, jid, NULL), QMGR_E_POINTER, "job_out");
    j = (qmgr_job *)SENTINEL_PTR;
    CHECK_ERR(qmgr_group_create_job(NULL, jid, &j), QMGR_E_POINTER, "group");
    CHECK(j == NULL);
    j = qm_job_with_id(g, jid);
    qmgr_job *j2 = (qmgr_job *)SENTINEL_PTR;
    CHECK_ERR(qmgr_group_create_job(g, jid, &j2), QMGR_E_INVALIDARG, NULL); /* duplicate in the group */
    CHECK(j2 == NULL);
    qmgr_group *other = qm_group(m);
    j2 = (qmgr_job *)SENTINEL_PTR;
    CHECK_ERR(qmgr_group_create_job(other, jid, &j2), QMGR_E_INVALIDARG, NULL); /* unique in the queue */
    CHECK(j2 == NULL);
    CHECK_EQ(qm_status(g), 0x180);
    CHECK_EQ(qm_job_index(g), 0);
    CHECK_EQ(qm_job_status(j), QM_STATUS_JOB_INCOMPLETE);

    /* GetJob: a new reference; wrong group or unknown → QM_E_ITEM_NOT_FOUND. */
    j2 = (qmgr_job *)SENTINEL_PTR;
    CHECK_HR(qmgr_group_get_job(g, jid, &j2), QMGR_S_OK);
    CHECK(j2 != NULL && j2 != (qmgr_job *)SENTINEL_PTR);
    got = sentinel_guid;
    CHECK_HR(qmgr_job_get_job_id(j2, &got), QMGR_S_OK);
    CHECK(qm_guid_eq(&got, &jid));
    qmgr_job_release(j2);
    CHECK_EQ(qm_job_status(j), QM_STATUS_JOB_INCOMPLETE); /* j still valid */
    j2 = (qmgr_job *)SENTINEL_PTR;
    CHECK_ERR(qmgr_group_get_job(other, jid, &j2), QM_E_ITEM_NOT_FOUND, NULL);
    CHECK(j2 == NULL);
    j2 = (qmgr_job *)SENTINEL_PTR;
    CHECK_ERR(qmgr_group_get_job(g, qm_guid(), &j2), QM_E_ITEM_NOT_FOUND, NULL);
    CHECK(j2 == NULL);
    CHECK_ERR(qmgr_group_get_job(g, jid, NULL), QMGR_E_POINTER, "job_out");
    j2 = (qmgr_job *)SENTINEL_PTR;
    CHECK_ERR(qmgr_group_get_job((qmgr_group *)(void *)j, jid, &j2), QMGR_E_HANDLE, "group");
    CHECK(j2 == NULL);

    /* EnumJobs: flags must be 0. */
    qmgr_enum_jobs *e = (qmgr_enum_jobs *)SENTINEL_PTR;
    CHECK_ERR(qmgr_group_enum_jobs(g, 1, &e), QMGR_E_NOTIMPL, "flags");
    CHECK(e == NULL);
    CHECK_ERR(qmgr_group_enum_jobs(g, 0, NULL), QMGR_E_POINTER, "enum_out");
    e = NULL;
    CHECK_HR(qmgr_group_enum_jobs(g, 0, &e), QMGR_S_OK);
    uint32_t count = 0;
    CHECK_HR(qmgr_enum_jobs_get_count(e, &count), QMGR_S_OK);
    CHECK_EQ(count, 1);
    qmgr_enum_jobs_release(e);

    qmgr_job_release(j);
    CHECK_HR(qmgr_group_cancel_group(other), QMGR_S_OK);
    qmgr_group_release(other);
    CHECK_HR(qmgr_group_cancel_group(g), QMGR_S_OK);
    qmgr_group_release(g);
}

static void test_foreground(qmgr_manager *m) {
    check_section("SwitchToForeground: sticky, status bits (D1, D3, D12)");
    qmgr_group *g = qm_group(m);
    qmgr_job *j = qm_job(g);
    CHECK_HR(qmgr_group_switch_to_foreground(g), QMGR_S_OK);
    CHECK_EQ(qm_status(g), 0x580);
    CHECK_HR(qmgr_group_switch_to_foreground(g), QMGR_S_OK); /* sticky, idempotent */
    CHECK_EQ(qm_status(g), 0x580);
    /* A group's foreground does not set its jobs' bits (D12). */
    CHECK_EQ(qm_job_status(j), QM_STATUS_JOB_INCOMPLETE);
    CHECK_ERR(qmgr_group_switch_to_foreground(NULL), QMGR_E_POINTER, "group");
    CHECK_ERR(qmgr_group_switch_to_foreground((qmgr_group *)(void *)j), QMGR_E_HANDLE, "group");

    /* Job foreground: the job's bit and its group's foreground (D1). */
    qmgr_group *h = qm_group(m);
    qmgr_job *k = qm_job(h);
    qmgr_job *k2 = qm_job(h);
    CHECK_EQ(qm_status(h), 0x180);
    CHECK_HR(qmgr_job_switch_to_foreground(k), QMGR_S_OK);
    CHECK_EQ(qm_job_status(k), QM_STATUS_JOB_INCOMPLETE | QM_STATUS_JOB_FOREGROUND);
    CHECK_EQ(qm_job_status(k2), QM_STATUS_JOB_INCOMPLETE);
    CHECK_EQ(qm_status(h), 0x580);
    CHECK_HR(qmgr_job_switch_to_foreground(k), QMGR_S_OK);
    CHECK_EQ(qm_job_status(k), QM_STATUS_JOB_INCOMPLETE | QM_STATUS_JOB_FOREGROUND);

    qmgr_job_release(j);
    qmgr_job_release(k);
    qmgr_job_release(k2);
    CHECK_HR(qmgr_group_cancel_group(g), QMGR_S_OK);
    CHECK_HR(qmgr_group_cancel_group(h), QMGR_S_OK);
    qmgr_group_release(g);
    qmgr_group_release(h);
}

static void test_rate_limit(qmgr_manager *m) {
    check_section("rate limit extension: default 0, round trip, persisted, argument rules (C-API.md)");
    qmgr_group *g = qm_group(m);
    qmgr_guid id;
    CHECK_HR(qmgr_group_get_group_id(g, &id), QMGR_S_OK);
    uint64_t v = 77;
    CHECK_HR(qmgr_group_get_rate_limit(g, &v), QMGR_S_OK);
    CHECK_EQ(v, 0); /* none by default */
    const uint64_t values[] = {1, 512 * 1024, UINT64_MAX, 0, 300000};
    for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
        CHECK_HR(qmgr_group_set_rate_limit(g, values[i]), QMGR_S_OK);
        CHECK_HR(qmgr_group_get_rate_limit(g, &v), QMGR_S_OK);
        CHECK_EQ(v, values[i]);
    }
    /* Foreground groups take a limit too. */
    CHECK_HR(qmgr_group_switch_to_foreground(g), QMGR_S_OK);
    CHECK_HR(qmgr_group_set_rate_limit(g, 4096), QMGR_S_OK);
    CHECK_ERR(qmgr_group_get_rate_limit(g, NULL), QMGR_E_POINTER, "bytes_per_second_out");
    CHECK_ERR(qmgr_group_get_rate_limit(NULL, &v), QMGR_E_POINTER, "group");
    CHECK_ERR(qmgr_group_set_rate_limit(NULL, 1), QMGR_E_POINTER, "group");
    qmgr_job *j = qm_job(g);
    CHECK_ERR(qmgr_group_set_rate_limit((qmgr_group *)(void *)j, 1), QMGR_E_HANDLE, "group");
    v = 77;
    CHECK_ERR(qmgr_group_get_rate_limit((qmgr_group *)(void *)j, &v), QMGR_E_HANDLE, "group");
    CHECK_EQ(v, 77); /* outputs only on success */
    qmgr_job_release(j);
    /* A new handle of the group reads the same value. */
    CHECK_EQ(qmgr_group_release(g), 0);
    qmgr_group *again = NULL;
    CHECK_HR(qmgr_manager_get_group(m, id, &again), QMGR_S_OK);
    CHECK_HR(qmgr_group_get_rate_limit(again, &v), QMGR_S_OK);
    CHECK_EQ(v, 4096);
    CHECK_HR(qmgr_group_cancel_group(again), QMGR_S_OK);
    CHECK_ERR(qmgr_group_set_rate_limit(again, 1), QM_E_INVALID_STATE, NULL);
    CHECK_ERR(qmgr_group_get_rate_limit(again, &v), QM_E_INVALID_STATE, NULL);
    CHECK_EQ(v, 4096);
    qmgr_group_release(again);
}

static void test_query_new_job_interface(qmgr_manager *m) {
    check_section("QueryNewJobInterface: E_NOINTERFACE with NULL for every iid");
    qmgr_group *g = qm_group(m);
    const qmgr_guid *iids[] = {&IID_IBackgroundCopyJob1, &IID_IBackgroundCopyGroup, &IID_IBackgroundCopyQMgr,
                               &IID_IBackgroundCopyCallback1, &CLSID_BackgroundCopyQMgr};
    qmgr_guid random_iid = qm_guid();
    for (size_t i = 0; i < sizeof iids / sizeof iids[0] + 1; i++) {
        void *out = SENTINEL_PTR;
        CHECK_ERR(qmgr_group_query_new_job_interface(g, i < 5 ? iids[i] : &random_iid, &out),
                  QMGR_E_NOINTERFACE, NULL);
        CHECK(out == NULL);
    }
    void *out = SENTINEL_PTR;
    CHECK_ERR(qmgr_group_query_new_job_interface(g, NULL, &out), QMGR_E_POINTER, "iid");
    CHECK_ERR(qmgr_group_query_new_job_interface(g, &IID_IBackgroundCopyJob1, NULL), QMGR_E_POINTER, "unknown_out");
    out = SENTINEL_PTR;
    CHECK_ERR(qmgr_group_query_new_job_interface(NULL, &IID_IBackgroundCopyJob1, &out), QMGR_E_POINTER, "group");
    CHECK(out == NULL);
    out = SENTINEL_PTR;
    CHECK_ERR(qmgr_group_query_new_job_interface((qmgr_group *)SENTINEL_PTR, &IID_IBackgroundCopyJob1, &out),
              QMGR_E_HANDLE, "group");
    CHECK(out == NULL);
    CHECK_HR(qmgr_group_cancel_group(g), QMGR_S_OK);
    qmgr_group_release(g);
}

/* ---- SetNotificationPointer argument rules and release() accounting ---------------------- */

static int releases[4];

static void count_release(void *context) {
    releases[*(int *)context]++;
}

static void test_notification_pointer(qmgr_manager *m) {
    check_section("SetNotificationPointer: iid, NULL clears, release() exactly once (C-API.md; D12)");
    static int ctx[4] = {0, 1, 2, 3};
    qmgr_group *g = qm_group(m);
    qmgr_callback1 cb;
    memset(&cb, 0, sizeof cb);
    cb.release = count_release;

    /* Refused callbacks are never released. */
    cb.context = &ctx[0];
    CHECK_ERR(qmgr_group_set_notification_pointer(g, &IID_IBackgroundCopyGroup, &cb), QMGR_E_NOINTERFACE, "iid");
    CHECK_ERR(qmgr_group_set_notification_pointer(g, NULL, &cb), QMGR_E_POINTER, "iid");
    CHECK_ERR(qmgr_group_set_notification_pointer(NULL, &IID_IBackgroundCopyCallback1, &cb), QMGR_E_POINTER,
              "group");
    CHECK_ERR(qmgr_group_set_notification_pointer((qmgr_group *)SENTINEL_PTR, &IID_IBackgroundCopyCallback1, &cb),
              QMGR_E_HANDLE, "group");
    CHECK_ERR(qmgr_group_set_notification_pointer(g, &IID_IBackgroundCopyGroup, NULL), QMGR_E_NOINTERFACE, "iid");
    CHECK_EQ(releases[0], 0);

    /* Every function pointer may be NULL. */
    CHECK_HR(qmgr_group_set_notification_pointer(g, &IID_IBackgroundCopyCallback1, &cb), QMGR_S_OK);
    CHECK_EQ(releases[0], 0);
    /* The struct is copied: changing ours afterwards changes nothing. */
    cb.context = &ctx[3];
    /* Replacing releases the old one once. */
    qmgr_callback1 cb1;
    memset(&cb1, 0, sizeof cb1);
    cb1.context = &ctx[1];
    cb1.release = count_release;
    CHECK_HR(qmgr_group_set_notification_pointer(g, &IID_IBackgroundCopyCallback1, &cb1), QMGR_S_OK);
    CHECK_EQ(releases[0], 1);
    CHECK_EQ(releases[3], 0);
    CHECK_EQ(releases[1], 0);
    /* Clearing releases once; clearing again is a no-op. */
    CHECK_HR(qmgr_group_set_notification_pointer(g, &IID_IBackgroundCopyCallback1, NULL), QMGR_S_OK);
    CHECK_EQ(releases[1], 1);
    CHECK_HR(qmgr_group_set_notification_pointer(g, &IID_IBackgroundCopyCallback1, NULL), QMGR_S_OK);
    CHECK_EQ(releases[1], 1);
    /* A callback without release() is fine. */
    qmgr_callback1 none;
    memset(&none, 0, sizeof none);
    CHECK_HR(qmgr_group_set_notification_pointer(g, &IID_IBackgroundCopyCallback1, &none), QMGR_S_OK);
    /* Cancelling the group releases the registered callback. */
    cb1.context = &ctx[2];
    CHECK_HR(qmgr_group_set_notification_pointer(g, &IID_IBackgroundCopyCallback1, &cb1), QMGR_S_OK);
    CHECK_EQ(releases[2], 0);
    CHECK_HR(qmgr_group_cancel_group(g), QMGR_S_OK);
    CHECK_WAIT(releases[2] == 1, CHECK_DEADLINE_MS);
    /* Registering on a cancelled group is refused, and the refused callback is not released. */
    cb1.context = &ctx[3];
    CHECK_ERR(qmgr_group_set_notification_pointer(g, &IID_IBackgroundCopyCallback1, &cb1), QM_E_INVALID_STATE,
              NULL);
    CHECK_EQ(releases[3], 0);
    qmgr_group_release(g);
    CHECK_EQ(releases[0], 1);
    CHECK_EQ(releases[1], 1);
    CHECK_EQ(releases[2], 1);
    CHECK_EQ(releases[3], 0);
}

int main(void) {
    check_begin("group");
    check_mkdtemp(root, "group");
    char dir[CHECK_DIR_MAX];
    snprintf(dir, sizeof dir, "%s/queue", root);
    qmgr_manager *m = qm_open(dir);
    test_defaults(m);
    test_integer_props(m);
    test_string_props(m);
    test_group_methods(m);
    test_foreground(m);
    test_rate_limit(m);
    test_query_new_job_interface(m);
    test_notification_pointer(m);
    CHECK_EQ(qmgr_manager_release(m), 0);
    check_rmtree(root);
    return check_done();
}

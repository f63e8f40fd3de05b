/* utf8.c -- the one UTF-8 decoder, encoder and validator of the program (the char tokenizer,
 * the JSON reader, safetensors names and config strings all use these). */
#include "base/utf8.h"
#include "base/util.h"

int ng_utf8_decode(const unsigned char *s, size_t n, uint32_t *cp, const char **why) {
    const char *dummy;
    if (!why) why = &dummy;
    unsigned c = s[0];
    if (c < 0x80) { *cp = c; return 1; }
    int len;
    uint32_t v, min;
    if (c < 0xC0)      { *why = "unexpected continuation byte"; return 0; }
    else if (c < 0xE0) { len = 2; v = c & 0x1F; min = 0x80; }
    else if (c < 0xF0) { len = 3; v = c & 0x0F; min = 0x800; }
    else if (c < 0xF8) { len = 4; v = c & 0x07; min = 0x10000; }
    else               { *why = "invalid lead byte"; return 0; }
    for (int k = 1; k < len; k++) {
        /* the sequence ends early: at the end of the input or at a non-continuation byte */
        if ((size_t)k >= n || (s[k] & 0xC0) != 0x80) { *why = "truncated sequence"; return 0; }
        v = (v << 6) | (s[k] & 0x3F);
    }
    if (v < min)                     { *why = "overlong encoding"; return 0; }
    if (v >= 0xD800 && v <= 0xDFFF)  { *why = "surrogate code point"; return 0; }
    if (v > NG_MAX_CP)               { *why = "code point above U+10FFFF"; return 0; }
    *cp = v;
    return len;
}

int ng_utf8_encode(uint32_t cp, char *out) {
    unsigned char *o = (unsigned char *)out;
    int len;
    if (cp < 0x80)        { o[0] = (unsigned char)cp; len = 1; }
    else if (cp < 0x800)  { o[0] = 0xC0 | (cp >> 6); o[1] = 0x80 | (cp & 0x3F); len = 2; }
    else if (cp < 0x10000) {
        if (cp >= 0xD800 && cp <= 0xDFFF) return 0;
        o[0] = 0xE0 | (cp >> 12); o[1] = 0x80 | ((cp >> 6) & 0x3F); o[2] = 0x80 | (cp & 0x3F); len = 3;
    } else if (cp <= NG_MAX_CP) {
        o[0] = 0xF0 | (cp >> 18); o[1] = 0x80 | ((cp >> 12) & 0x3F);
        o[2] = 0x80 | ((cp >> 6) & 0x3F); o[3] = 0x80 | (cp & 0x3F); len = 4;
    } else return 0;
    o[len] = 0;
    return len;
}

int ng_utf8_error(const char *name, size_t pos, const char *why) {
    if (name) return ng_fail("%s: not valid UTF-8 at byte %zu (%s)", name, pos, why);
    return ng_fail("not valid UTF-8 at byte %zu (%s)", pos, why);
}

long long ng_utf8_count(const char *text, size_t n, const char *name) {
    const unsigned char *s = (const unsigned char *)text;
    long long count = 0;
    for (size_t i = 0; i < n; count++) {
        if (s[i] < 0x80) { i++; continue; }
        uint32_t cp; const char *why;
        int len = ng_utf8_decode(s + i, n - i, &cp, &why);
        if (!len) { ng_utf8_error(name, i, why); return -1; }
        i += (size_t)len;
    }
    return count;
}

int ng_utf8_valid(const char *text, size_t n) {
    const unsigned char *s = (const unsigned char *)text;
    for (size_t i = 0; i < n;) {
        if (s[i] < 0x80) { i++; continue; }
        uint32_t cp;
        int len = ng_utf8_decode(s + i, n - i, &cp, NULL);
        if (!len) return 0;
        i += (size_t)len;
    }
    return 1;
}

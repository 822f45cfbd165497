/*
 * json_min.c - see json_min.h.
 */
#include "json_min.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct parser {
    const unsigned char *s;
    size_t len;
    size_t pos;
    json_error *err;
    int failed;
} parser;

static void fail_at(parser *p, size_t offset, const char *fmt, ...) {
    if (p->failed) return;
    p->failed = 1;
    if (p->err == NULL) return;
    p->err->offset = offset;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->err->message, sizeof p->err->message, fmt, ap);
    va_end(ap);
}

static void *xrealloc(parser *p, void *ptr, size_t size) {
    void *q = realloc(ptr, size ? size : 1);
    if (q == NULL) fail_at(p, p->pos, "out of memory");
    return q;
}

static void skip_ws(parser *p) {
    while (p->pos < p->len) {
        unsigned char c = p->s[p->pos];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r') break;
        p->pos++;
    }
}

static json_value *new_value(parser *p, json_type t, size_t offset) {
    json_value *v = calloc(1, sizeof *v);
    if (v == NULL) {
        fail_at(p, offset, "out of memory");
        return NULL;
    }
    v->type = t;
    v->offset = offset;
    return v;
}

static json_value *parse_value(parser *p, int depth);

static int literal(parser *p, const char *word) {
    size_t n = strlen(word);
    if (p->len - p->pos < n || memcmp(p->s + p->pos, word, n) != 0) return 0;
    p->pos += n;
    return 1;
}

static json_value *parse_number(parser *p) {
    size_t start = p->pos;
    int negative = 0;
    if (p->s[p->pos] == '-') {
        negative = 1;
        p->pos++;
    }
    if (p->pos >= p->len || p->s[p->pos] < '0' || p->s[p->pos] > '9') {
        fail_at(p, p->pos, "expected a digit");
        return NULL;
    }
    if (p->s[p->pos] == '0' && p->pos + 1 < p->len && p->s[p->pos + 1] >= '0' &&
        p->s[p->pos + 1] <= '9') {
        fail_at(p, p->pos, "leading zero in a number");
        return NULL;
    }
    uint64_t mag = 0;
    while (p->pos < p->len && p->s[p->pos] >= '0' && p->s[p->pos] <= '9') {
        unsigned d = (unsigned)(p->s[p->pos] - '0');
        if (mag > (UINT64_MAX - d) / 10u) {
            fail_at(p, start, "integer out of the 64-bit range");
            return NULL;
        }
        mag = mag * 10u + d;
        p->pos++;
    }
    if (p->pos < p->len &&
        (p->s[p->pos] == '.' || p->s[p->pos] == 'e' || p->s[p->pos] == 'E')) {
        fail_at(p, p->pos, "only integers are supported (store doubles as strings)");
        return NULL;
    }
    if (negative && mag > (uint64_t)1 << 63) {
        fail_at(p, start, "integer below -2^63");
        return NULL;
    }
    json_value *v = new_value(p, JSON_INT, start);
    if (v == NULL) return NULL;
    v->u.integer.negative = negative && mag != 0;
    v->u.integer.magnitude = mag;
    return v;
}

static int hex4(parser *p, unsigned *out) {
    if (p->len - p->pos < 4) {
        fail_at(p, p->pos, "truncated \\u escape");
        return 0;
    }
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        unsigned char c = p->s[p->pos + (size_t)i];
        unsigned d;
        if (c >= '0' && c <= '9') d = (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f') d = (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F') d = (unsigned)(c - 'A' + 10);
        else {
            fail_at(p, p->pos + (size_t)i, "bad hex digit in \\u escape");
            return 0;
        }
        v = v * 16u + d;
    }
    p->pos += 4;
    *out = v;
    return 1;
}

/* Length of the valid UTF-8 sequence at s[0..n), 0 if malformed. */
static size_t utf8_seq(const unsigned char *s, size_t n) {
    unsigned char c = s[0];
    size_t len;
    uint32_t cp;
    if (c < 0x80) return 1;
    if (c >= 0xC2 && c <= 0xDF) {
        len = 2;
        cp = c & 0x1Fu;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        cp = c & 0x0Fu;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        cp = c & 0x07u;
    } else {
        return 0;
    }
    if (n < len) return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0u) != 0x80u) return 0;
        cp = (cp << 6) | (s[i] & 0x3Fu);
    }
    if ((len == 3 && cp < 0x800u) || (len == 4 && (cp < 0x10000u || cp > 0x10FFFFu))) return 0;
    if (cp >= 0xD800u && cp <= 0xDFFFu) return 0;
    return len;
}

static size_t put_utf8(char *out, uint32_t cp) {
    if (cp < 0x80u) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800u) {
        out[0] = (char)(0xC0u | (cp >> 6));
        out[1] = (char)(0x80u | (cp & 0x3Fu));
        return 2;
    }
    if (cp < 0x10000u) {
        out[0] = (char)(0xE0u | (cp >> 12));
        out[1] = (char)(0x80u | ((cp >> 6) & 0x3Fu));
        out[2] = (char)(0x80u | (cp & 0x3Fu));
        return 3;
    }
    out[0] = (char)(0xF0u | (cp >> 18));
    out[1] = (char)(0x80u | ((cp >> 12) & 0x3Fu));
    out[2] = (char)(0x80u | ((cp >> 6) & 0x3Fu));
    out[3] = (char)(0x80u | (cp & 0x3Fu));
    return 4;
}

/* Parses a string starting at the opening quote. The decoded text is never
 * longer than the source, so one allocation of the source span suffices. */
static char *parse_string_raw(parser *p, size_t *out_len) {
    size_t start = p->pos;
    p->pos++; /* opening quote */
    size_t end = p->pos;
    while (end < p->len && p->s[end] != '"') {
        if (p->s[end] == '\\') end++;
        end++;
    }
    if (end >= p->len) {
        fail_at(p, start, "unterminated string");
        return NULL;
    }
    char *buf = malloc(end - p->pos + 1);
    if (buf == NULL) {
        fail_at(p, start, "out of memory");
        return NULL;
    }
    size_t n = 0;
    while (p->s[p->pos] != '"') {
        unsigned char c = p->s[p->pos];
        if (c < 0x20) {
            fail_at(p, p->pos, "control character in a string");
            free(buf);
            return NULL;
        }
        if (c != '\\') {
            size_t k = utf8_seq(p->s + p->pos, p->len - p->pos);
            if (k == 0) {
                fail_at(p, p->pos, "malformed UTF-8 in a string");
                free(buf);
                return NULL;
            }
            memcpy(buf + n, p->s + p->pos, k);
            n += k;
            p->pos += k;
            continue;
        }
        size_t esc = p->pos;
        p->pos++;
        c = p->s[p->pos++];
        switch (c) {
        case '"': buf[n++] = '"'; break;
        case '\\': buf[n++] = '\\'; break;
        case '/': buf[n++] = '/'; break;
        case 'b': buf[n++] = '\b'; break;
        case 'f': buf[n++] = '\f'; break;
        case 'n': buf[n++] = '\n'; break;
        case 'r': buf[n++] = '\r'; break;
        case 't': buf[n++] = '\t'; break;
        case 'u': {
            unsigned hi;
            if (!hex4(p, &hi)) {
                free(buf);
                return NULL;
            }
            uint32_t cp = hi;
            if (hi >= 0xDC00u && hi <= 0xDFFFu) {
                fail_at(p, esc, "lone low surrogate");
                free(buf);
                return NULL;
            }
            if (hi >= 0xD800u && hi <= 0xDBFFu) {
                unsigned lo;
                if (p->len - p->pos < 2 || p->s[p->pos] != '\\' || p->s[p->pos + 1] != 'u') {
                    fail_at(p, esc, "high surrogate without a low surrogate");
                    free(buf);
                    return NULL;
                }
                p->pos += 2;
                if (!hex4(p, &lo)) {
                    free(buf);
                    return NULL;
                }
                if (lo < 0xDC00u || lo > 0xDFFFu) {
                    fail_at(p, esc, "high surrogate without a low surrogate");
                    free(buf);
                    return NULL;
                }
                cp = 0x10000u + (((uint32_t)hi - 0xD800u) << 10) + ((uint32_t)lo - 0xDC00u);
            }
            /* \uXXXX (6 source bytes) -> at most 3 bytes; a pair (12) -> 4 */
            n += put_utf8(buf + n, cp);
            break;
        }
        default:
            fail_at(p, esc, "bad escape \\%c", (c >= 0x20 && c < 0x7F) ? c : '?');
            free(buf);
            return NULL;
        }
    }
    p->pos++; /* closing quote */
    buf[n] = '\0';
    *out_len = n;
    return buf;
}

/* After an array item or an object member: 1 when a ',' follows (another one
 * comes), 0 when close ends the container (both consumed), -1 when neither
 * does (the error reported with the message that fits). */
static int comma_or_close(parser *p, char close, const char *unterminated,
                          const char *expected) {
    skip_ws(p);
    if (p->pos >= p->len) {
        fail_at(p, p->pos, "%s", unterminated);
        return -1;
    }
    if (p->s[p->pos] == ',') {
        p->pos++;
        return 1;
    }
    if (p->s[p->pos] == close) {
        p->pos++;
        return 0;
    }
    fail_at(p, p->pos, "%s", expected);
    return -1;
}

static json_value *parse_array(parser *p, int depth) {
    json_value *v = new_value(p, JSON_ARRAY, p->pos);
    if (v == NULL) return NULL;
    p->pos++; /* [ */
    size_t cap = 0;
    skip_ws(p);
    if (p->pos < p->len && p->s[p->pos] == ']') {
        p->pos++;
        return v;
    }
    for (;;) {
        skip_ws(p);
        json_value *item = parse_value(p, depth + 1);
        if (item == NULL) break;
        if (v->u.array.count == cap) {
            size_t ncap = cap ? cap * 2 : 8;
            json_value **items = xrealloc(p, v->u.array.items, ncap * sizeof *items);
            if (items == NULL) {
                json_free(item);
                break;
            }
            v->u.array.items = items;
            cap = ncap;
        }
        v->u.array.items[v->u.array.count++] = item;
        const int more = comma_or_close(p, ']', "unterminated array",
                                        "expected ',' or ']' in an array");
        if (more > 0) continue;
        if (more == 0) return v;
        break;
    }
    json_free(v);
    return NULL;
}

static json_value *parse_object(parser *p, int depth) {
    json_value *v = new_value(p, JSON_OBJECT, p->pos);
    if (v == NULL) return NULL;
    p->pos++; /* { */
    size_t cap = 0;
    skip_ws(p);
    if (p->pos < p->len && p->s[p->pos] == '}') {
        p->pos++;
        return v;
    }
    for (;;) {
        skip_ws(p);
        if (p->pos >= p->len || p->s[p->pos] != '"') {
            fail_at(p, p->pos, "expected a string key");
            break;
        }
        size_t key_at = p->pos;
        size_t klen = 0;
        char *key = parse_string_raw(p, &klen);
        if (key == NULL) break;
        for (size_t i = 0; i < v->u.object.count; i++) {
            if (v->u.object.members[i].key_len == klen &&
                memcmp(v->u.object.members[i].key, key, klen) == 0) {
                fail_at(p, key_at, "duplicate key \"%s\"", key);
                break;
            }
        }
        if (p->failed) {
            free(key);
            break;
        }
        skip_ws(p);
        if (p->pos >= p->len || p->s[p->pos] != ':') {
            fail_at(p, p->pos, "expected ':' after a key");
            free(key);
            break;
        }
        p->pos++;
        skip_ws(p);
        json_value *item = parse_value(p, depth + 1);
        if (item == NULL) {
            free(key);
            break;
        }
        if (v->u.object.count == cap) {
            size_t ncap = cap ? cap * 2 : 8;
            json_member *m = xrealloc(p, v->u.object.members, ncap * sizeof *m);
            if (m == NULL) {
                free(key);
                json_free(item);
                break;
            }
            v->u.object.members = m;
            cap = ncap;
        }
        json_member *m = &v->u.object.members[v->u.object.count++];
        m->key = key;
        m->key_len = klen;
        m->value = item;
        const int more = comma_or_close(p, '}', "unterminated object",
                                        "expected ',' or '}' in an object");
        if (more > 0) continue;
        if (more == 0) return v;
        break;
    }
    json_free(v);
    return NULL;
}

static json_value *parse_value(parser *p, int depth) {
    if (depth > JSON_MAX_DEPTH) {
        fail_at(p, p->pos, "nesting deeper than %d", JSON_MAX_DEPTH);
        return NULL;
    }
    if (p->pos >= p->len) {
        fail_at(p, p->pos, "unexpected end of input");
        return NULL;
    }
    size_t at = p->pos;
    unsigned char c = p->s[p->pos];
    json_value *v;
    switch (c) {
    case '{': return parse_object(p, depth);
    case '[': return parse_array(p, depth);
    case '"': {
        size_t n = 0;
        char *s = parse_string_raw(p, &n);
        if (s == NULL) return NULL;
        v = new_value(p, JSON_STRING, at);
        if (v == NULL) {
            free(s);
            return NULL;
        }
        v->u.string.data = s;
        v->u.string.len = n;
        return v;
    }
    case 't':
    case 'f':
    case 'n':
        if (literal(p, "true") || literal(p, "false")) {
            v = new_value(p, JSON_BOOL, at);
            if (v != NULL) v->u.boolean = (c == 't');
            return v;
        }
        if (literal(p, "null")) return new_value(p, JSON_NULL, at);
        fail_at(p, at, "unknown literal");
        return NULL;
    default:
        if (c == '-' || (c >= '0' && c <= '9')) return parse_number(p);
        fail_at(p, at, "unexpected character 0x%02x", (unsigned)c);
        return NULL;
    }
}

json_value *json_parse(const char *text, size_t len, json_error *err) {
    parser p = {(const unsigned char *)text, len, 0, err, 0};
    if (err != NULL) {
        err->offset = 0;
        err->message[0] = '\0';
    }
    skip_ws(&p);
    json_value *v = parse_value(&p, 0);
    if (v == NULL) {
        if (!p.failed) fail_at(&p, p.pos, "parse error");
        return NULL;
    }
    skip_ws(&p);
    if (p.pos != p.len) {
        fail_at(&p, p.pos, "trailing characters after the top-level value");
        json_free(v);
        return NULL;
    }
    return v;
}

json_value *json_parse_file(const char *path, json_error *err) {
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        if (err != NULL) {
            err->offset = 0;
            snprintf(err->message, sizeof err->message, "cannot open file");
        }
        return NULL;
    }
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    while (buf != NULL) {
        if (n == cap) {
            char *nb = realloc(buf, cap * 2);
            if (nb == NULL) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
            cap *= 2;
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0) break;
    }
    int io_error = ferror(f);
    fclose(f);
    if (buf == NULL || io_error) {
        free(buf);
        if (err != NULL) {
            err->offset = 0;
            snprintf(err->message, sizeof err->message, "cannot read file");
        }
        return NULL;
    }
    json_value *v = json_parse(buf, n, err);
    free(buf);
    return v;
}

void json_free(json_value *v) {
    if (v == NULL) return;
    switch (v->type) {
    case JSON_STRING: free(v->u.string.data); break;
    case JSON_ARRAY:
        for (size_t i = 0; i < v->u.array.count; i++) json_free(v->u.array.items[i]);
        free(v->u.array.items);
        break;
    case JSON_OBJECT:
        for (size_t i = 0; i < v->u.object.count; i++) {
            free(v->u.object.members[i].key);
            json_free(v->u.object.members[i].value);
        }
        free(v->u.object.members);
        break;
    default: break;
    }
    free(v);
}

const json_value *json_get(const json_value *v, const char *key) {
    if (v == NULL || v->type != JSON_OBJECT) return NULL;
    size_t klen = strlen(key);
    for (size_t i = 0; i < v->u.object.count; i++) {
        const json_member *m = &v->u.object.members[i];
        if (m->key_len == klen && memcmp(m->key, key, klen) == 0) return m->value;
    }
    return NULL;
}

const json_value *json_at(const json_value *v, size_t i) {
    if (v == NULL || v->type != JSON_ARRAY || i >= v->u.array.count) return NULL;
    return v->u.array.items[i];
}

size_t json_count(const json_value *v) {
    if (v == NULL) return 0;
    if (v->type == JSON_ARRAY) return v->u.array.count;
    if (v->type == JSON_OBJECT) return v->u.object.count;
    return 0;
}

int json_to_i64(const json_value *v, int64_t *out) {
    if (v == NULL || v->type != JSON_INT) return 0;
    uint64_t m = v->u.integer.magnitude;
    if (v->u.integer.negative) {
        if (m > (uint64_t)1 << 63) return 0;
        /* -m without overflow: -(m - 1) - 1 */
        *out = m == 0 ? 0 : -(int64_t)(m - 1u) - 1;
        return 1;
    }
    if (m > (uint64_t)INT64_MAX) return 0;
    *out = (int64_t)m;
    return 1;
}

int json_to_u64(const json_value *v, uint64_t *out) {
    if (v == NULL || v->type != JSON_INT || v->u.integer.negative) return 0;
    *out = v->u.integer.magnitude;
    return 1;
}

const char *json_type_name(json_type t) {
    switch (t) {
    case JSON_NULL: return "null";
    case JSON_BOOL: return "boolean";
    case JSON_INT: return "integer";
    case JSON_STRING: return "string";
    case JSON_ARRAY: return "array";
    case JSON_OBJECT: return "object";
    }
    return "?";
}

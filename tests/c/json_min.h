/*
 * json_min.h - a tiny, strict JSON reader for the test programs.
 *
 * Supports objects, arrays, strings (all escapes, \uXXXX with surrogate pairs,
 * stored as UTF-8), integers from -2^63 to 2^64 - 1, true, false and null.
 * Numbers with a fraction or exponent are rejected: the vector files store
 * doubles as strings (see shared/vectors/generate.py). Also rejected: leading
 * zeros, trailing commas, duplicate object keys, control characters and
 * malformed UTF-8 inside strings, nesting deeper than JSON_MAX_DEPTH, and
 * anything after the top-level value. Every error carries the byte offset
 * where it was found.
 *
 * Test code, not firmware: values live on the heap; json_free releases a tree.
 */
#ifndef PHYFF_TESTS_JSON_MIN_H
#define PHYFF_TESTS_JSON_MIN_H

#include <stddef.h>
#include <stdint.h>

#define JSON_MAX_DEPTH 64

typedef enum json_type {
    JSON_NULL,
    JSON_BOOL,
    JSON_INT,
    JSON_STRING,
    JSON_ARRAY,
    JSON_OBJECT
} json_type;

typedef struct json_value json_value;

typedef struct json_member {
    char *key; /* NUL-terminated UTF-8 */
    size_t key_len;
    json_value *value;
} json_member;

struct json_value {
    json_type type;
    size_t offset; /* byte offset of the value's first character */
    union {
        int boolean;
        struct {
            int negative;       /* 1 for values below zero */
            uint64_t magnitude; /* absolute value */
        } integer;
        struct {
            char *data; /* NUL-terminated; may also contain NULs from \u0000 */
            size_t len;
        } string;
        struct {
            json_value **items;
            size_t count;
        } array;
        struct {
            json_member *members; /* in document order */
            size_t count;
        } object;
    } u;
};

typedef struct json_error {
    size_t offset;     /* byte offset of the error in the text */
    char message[128]; /* what was wrong */
} json_error;

/* Parse text[0..len). Returns NULL on error and fills *err (err may be NULL). */
json_value *json_parse(const char *text, size_t len, json_error *err);

/* Read and parse a whole file. I/O errors are reported with offset 0. */
json_value *json_parse_file(const char *path, json_error *err);

void json_free(json_value *v);

/* Member of an object by key, NULL if v is not an object or has no such key. */
const json_value *json_get(const json_value *v, const char *key);

/* Item i of an array, NULL if v is not an array or i is out of range. */
const json_value *json_at(const json_value *v, size_t i);

/* Number of items of an array or members of an object; 0 for other types. */
size_t json_count(const json_value *v);

/* Integer accessors: return 1 and store the value when v is an integer that
 * fits the target type, else return 0. */
int json_to_i64(const json_value *v, int64_t *out);
int json_to_u64(const json_value *v, uint64_t *out);

const char *json_type_name(json_type t);

#endif /* PHYFF_TESTS_JSON_MIN_H */

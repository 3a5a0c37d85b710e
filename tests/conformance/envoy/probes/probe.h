/*
 * Shared helpers of the ACPW probe modules (proxy-wasm ABI v0.2.1, no libc).
 *
 * Written for this repository from the public proxy-wasm ABI v0.2.1
 * specification (function names, parameters and enum values only).
 * Build: clang --target=wasm32 -nostdlib -ffreestanding -O2 + wasm-ld --no-entry.
 */
#ifndef ACPW_PROBE_H
#define ACPW_PROBE_H

typedef __SIZE_TYPE__ size_t;
typedef unsigned int u32;

#define IMPORT(name) __attribute__((import_module("env"), import_name(#name)))
#define WASI(name) __attribute__((import_module("wasi_snapshot_preview1"), import_name(#name)))
#define EXPORT(name) __attribute__((export_name(#name)))

/* proxy_status_t */
#define ST_OK 0
#define ST_NOT_FOUND 1
#define ST_BAD_ARGUMENT 2
#define ST_EMPTY 7

/* proxy_log_level_t */
#define LOG_INFO 2
#define LOG_WARN 3
#define LOG_ERROR 4

/* proxy_buffer_type_t / proxy_map_type_t */
#define BUF_PLUGIN_CONFIGURATION 7
#define MAP_REQUEST_HEADERS 0
#define MAP_RESPONSE_HEADERS 2
#define MAP_HTTP_CALL_RESPONSE_HEADERS 6

#define QUEUE_NAME "aws_cloudwatch_metric"

IMPORT(proxy_log) u32 proxy_log(u32 level, const char *msg, size_t size);
IMPORT(proxy_get_buffer_bytes)
u32 proxy_get_buffer_bytes(u32 type, size_t start, size_t max, char **ptr, size_t *size);
IMPORT(proxy_get_header_map_value)
u32 proxy_get_header_map_value(u32 map, const char *key, size_t key_size, char **ptr, size_t *size);

/* ---- memory ---------------------------------------------------------- */

extern unsigned char __heap_base;
static size_t heap_top;

static void *alloc(size_t n) {
  if (heap_top == 0) heap_top = (size_t)&__heap_base;
  size_t p = (heap_top + 15) & ~(size_t)15;
  size_t end = p + n;
  size_t have = __builtin_wasm_memory_size(0) * 65536;
  if (end > have) {
    size_t pages = (end - have + 65535) / 65536;
    if (__builtin_wasm_memory_grow(0, pages) == (size_t)-1) return 0;
  }
  heap_top = end;
  return (void *)p;
}

/* The probes are short-lived test fixtures: memory is never given back. */
EXPORT(proxy_on_memory_allocate) void *proxy_on_memory_allocate(size_t n) { return alloc(n); }

EXPORT(proxy_abi_version_0_2_1) void proxy_abi_version_0_2_1(void) {}

void *memcpy(void *dst, const void *src, size_t n) {
  volatile unsigned char *d = dst;
  const unsigned char *s = src;
  while (n--) *d++ = *s++;
  return dst;
}

void *memset(void *dst, int c, size_t n) {
  volatile unsigned char *d = dst;
  while (n--) *d++ = (unsigned char)c;
  return dst;
}

static size_t str_len(const char *s) {
  size_t n = 0;
  while (s[n]) n++;
  return n;
}

static int bytes_eq(const char *a, size_t an, const char *b, size_t bn) {
  if (an != bn) return 0;
  for (size_t i = 0; i < an; i++)
    if (a[i] != b[i]) return 0;
  return 1;
}

/* ---- string builder -------------------------------------------------- */

typedef struct {
  char *buf;
  size_t len;
  size_t cap;
} sb_t;

static sb_t sb_new(size_t cap) {
  sb_t b;
  b.buf = alloc(cap);
  b.len = 0;
  b.cap = b.buf ? cap : 0;
  return b;
}

static void sb_add(sb_t *b, const char *s, size_t n) {
  for (size_t i = 0; i < n && b->len < b->cap; i++) b->buf[b->len++] = s[i];
}

static void sb_str(sb_t *b, const char *s) { sb_add(b, s, str_len(s)); }

static void sb_u32(sb_t *b, u32 v) {
  char tmp[12];
  int i = 0;
  do {
    tmp[i++] = (char)('0' + v % 10);
    v /= 10;
  } while (v);
  while (i) sb_add(b, &tmp[--i], 1);
}

/* Appends s as the body of a JSON string (quotes and backslashes escaped). */
static void sb_json(sb_t *b, const char *s, size_t n) {
  for (size_t i = 0; i < n; i++) {
    if (s[i] == '"' || s[i] == '\\') sb_add(b, "\\", 1);
    sb_add(b, &s[i], 1);
  }
}

static void log_sb(u32 level, sb_t *b) { proxy_log(level, b->buf, b->len); }

static void log_str(u32 level, const char *s) { proxy_log(level, s, str_len(s)); }

/* ---- minimal JSON reader (the sender's flat configuration) ---------- */

static size_t skip_ws(const char *j, size_t n, size_t i) {
  while (i < n && (j[i] == ' ' || j[i] == '\n' || j[i] == '\r' || j[i] == '\t')) i++;
  return i;
}

/* Index of the value of top-level-ish key `key`, or n when absent. */
static size_t json_find(const char *j, size_t n, const char *key) {
  size_t kn = str_len(key);
  for (size_t i = 0; i + kn + 2 <= n; i++) {
    if (j[i] != '"' || j[i + kn + 1] != '"' || !bytes_eq(j + i + 1, kn, key, kn)) continue;
    size_t k = skip_ws(j, n, i + kn + 2);
    if (k < n && j[k] == ':') return skip_ws(j, n, k + 1);
  }
  return n;
}

/* Reads a JSON string starting at j[i] == '"' into out; returns index after it or 0. */
static size_t json_string(const char *j, size_t n, size_t i, char *out, size_t cap, size_t *out_len) {
  size_t o = 0;
  if (i >= n || j[i] != '"') return 0;
  for (i++; i < n && j[i] != '"'; i++) {
    if (j[i] == '\\' && i + 1 < n) i++;
    if (o < cap) out[o++] = j[i];
  }
  if (i >= n) return 0;
  *out_len = o;
  return i + 1;
}

static int json_get_string(const char *j, size_t n, const char *key, char *out, size_t cap, size_t *out_len) {
  size_t i = json_find(j, n, key);
  return i < n && json_string(j, n, i, out, cap, out_len) != 0;
}

/* ---- strict JSON object reader (what the real receiver's easyjson parse accepts) ---- */

/* Index just after the JSON value starting at j[i], or 0 when there is none. Nested objects and
 * arrays are skipped by bracket depth (strings inside them are respected). */
static size_t json_skip_value(const char *j, size_t n, size_t i) {
  if (i >= n) return 0;
  char c = j[i];
  if (c == '"') {
    for (i++; i < n && j[i] != '"'; i++)
      if (j[i] == '\\') i++;
    return i < n ? i + 1 : 0;
  }
  if (c == '{' || c == '[') {
    size_t depth = 0;
    for (; i < n; i++) {
      if (j[i] == '"') {
        size_t end = json_skip_value(j, n, i);
        if (end == 0) return 0;
        i = end - 1;
      } else if (j[i] == '{' || j[i] == '[') {
        depth++;
      } else if (j[i] == '}' || j[i] == ']') {
        if (--depth == 0) return i + 1;
      }
    }
    return 0;
  }
  if (c == 't') return (i + 4 <= n && bytes_eq(j + i, 4, "true", 4)) ? i + 4 : 0;
  if (c == 'f') return (i + 5 <= n && bytes_eq(j + i, 5, "false", 5)) ? i + 5 : 0;
  if (c == 'n') return (i + 4 <= n && bytes_eq(j + i, 4, "null", 4)) ? i + 4 : 0;
  if (c == '-' || (c >= '0' && c <= '9')) {
    size_t start = i;
    while (i < n && (j[i] == '-' || j[i] == '+' || j[i] == '.' || j[i] == 'e' || j[i] == 'E' ||
                     (j[i] >= '0' && j[i] <= '9')))
      i++;
    return i > start ? i : 0;
  }
  return 0;
}

static int json_is_null(const char *j, size_t n, size_t v) {
  return v + 4 <= n && bytes_eq(j + v, 4, "null", 4);
}

typedef struct {
  const char *j;
  size_t n;
  size_t i;
  int state; /* 0 before '{', 1 inside, 2 after '}' */
} json_obj_t;

static json_obj_t json_obj(const char *j, size_t n) {
  json_obj_t o;
  o.j = j;
  o.n = n;
  o.i = 0;
  o.state = 0;
  return o;
}

/* Next member of a flat top-level object: 1 with the raw key (between its quotes) and the value's
 * start index, 0 at the end of a well-formed object (nothing but whitespace after it), -1 when
 * the text is not a JSON object. */
static int json_obj_next(json_obj_t *o, const char **key, size_t *key_len, size_t *value) {
  const char *j = o->j;
  size_t n = o->n;
  if (o->state == 0) {
    o->i = skip_ws(j, n, 0);
    if (o->i >= n || j[o->i] != '{') return -1;
    o->i = skip_ws(j, n, o->i + 1);
    o->state = 1;
    if (o->i < n && j[o->i] == '}') {
      o->i++;
      o->state = 2;
    }
  }
  if (o->state == 2) return skip_ws(j, n, o->i) == n ? 0 : -1;
  size_t k = o->i;
  size_t k_end = json_skip_value(j, n, k);
  if (k >= n || j[k] != '"' || k_end == 0) return -1;
  size_t i = skip_ws(j, n, k_end);
  if (i >= n || j[i] != ':') return -1;
  i = skip_ws(j, n, i + 1);
  size_t v_end = json_skip_value(j, n, i);
  if (v_end == 0) return -1;
  *key = j + k + 1;
  *key_len = k_end - k - 2;
  *value = i;
  i = skip_ws(j, n, v_end);
  if (i < n && j[i] == ',') {
    o->i = skip_ws(j, n, i + 1);
  } else if (i < n && j[i] == '}') {
    o->i = i + 1;
    o->state = 2;
  } else {
    return -1;
  }
  return 1;
}

static int key_is(const char *key, size_t key_len, const char *name) {
  return bytes_eq(key, key_len, name, str_len(name));
}

/* A JSON integer that fits u32 at j[v] (no sign, fraction, exponent or quotes), else 0. */
static int json_u32_at(const char *j, size_t n, size_t v, u32 *out) {
  size_t end = json_skip_value(j, n, v);
  if (end == 0 || j[v] < '0' || j[v] > '9') return 0;
  unsigned long long x = 0;
  for (size_t i = v; i < end; i++) {
    if (j[i] < '0' || j[i] > '9') return 0;
    x = x * 10 + (unsigned long long)(j[i] - '0');
    if (x > 0xffffffffULL) return 0;
  }
  *out = (u32)x;
  return 1;
}

/* Plugin configuration of the current proxy_on_configure call. */
static int read_plugin_config(size_t size, char **ptr, size_t *len) {
  *ptr = 0;
  *len = 0;
  if (size == 0) return 1;
  return proxy_get_buffer_bytes(BUF_PLUGIN_CONFIGURATION, 0, size, ptr, len) == ST_OK;
}

#endif

/*
 * proxy-wasm ABI v0.2.1 for this project's C modules (no libc): the host imports, the memory and
 * ABI-version exports, byte and string-builder helpers, the proxy-wasm map serialization, a
 * strict flat JSON object reader and the lifecycle exports every module here answers the same.
 *
 * One copy for the batching receiver (receiver/batching.c) and the test probes
 * (tests/conformance/envoy/probes/probe.h includes it, built with -I receiver). Written for this
 * repository from the public proxy-wasm ABI v0.2.1 specification (function names, parameters
 * and enum values only). Every module is one translation unit including this header once, built
 * by tools/receiver_wasm.py (clang --target=wasm32 -nostdlib -ffreestanding -O2, wasm-ld
 * --no-entry). An import declared here and never called is not imported by the module.
 */
#ifndef ACPW_PROXY_WASM_H
#define ACPW_PROXY_WASM_H

typedef __SIZE_TYPE__ size_t;
typedef unsigned int u32;
typedef unsigned long long u64;
typedef long long i64;

#define IMPORT(name) __attribute__((import_module("env"), import_name(#name)))
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
/* proxy_buffer_type_t, proxy_map_type_t, proxy_metric_type_t */
#define BUF_HTTP_CALL_RESPONSE_BODY 4
#define BUF_PLUGIN_CONFIGURATION 7
#define MAP_REQUEST_HEADERS 0
#define MAP_RESPONSE_HEADERS 2
#define MAP_HTTP_CALL_RESPONSE_HEADERS 6
#define METRIC_COUNTER 0
#define METRIC_GAUGE 1

/* The shared queue the sender enqueues to and the receiver registers (in the receiver's VM). */
#define QUEUE_NAME "aws_cloudwatch_metric"

IMPORT(proxy_log) u32 proxy_log(u32 level, const char *msg, size_t size);
IMPORT(proxy_get_buffer_bytes)
u32 proxy_get_buffer_bytes(u32 type, size_t start, size_t max, char **ptr, size_t *size);
IMPORT(proxy_get_header_map_value)
u32 proxy_get_header_map_value(u32 map, const char *key, size_t key_size, char **ptr, size_t *size);
IMPORT(proxy_register_shared_queue) u32 proxy_register_shared_queue(const char *name, size_t size, u32 *id);
IMPORT(proxy_resolve_shared_queue)
u32 proxy_resolve_shared_queue(const char *vm_id, size_t vm_id_size, const char *name, size_t name_size, u32 *id);
IMPORT(proxy_dequeue_shared_queue) u32 proxy_dequeue_shared_queue(u32 id, char **ptr, size_t *size);
IMPORT(proxy_enqueue_shared_queue) u32 proxy_enqueue_shared_queue(u32 id, const char *value, size_t value_size);
IMPORT(proxy_call_foreign_function)
u32 proxy_call_foreign_function(const char *name, size_t name_size, const char *arg, size_t arg_size, char **ret,
                                size_t *ret_size);
IMPORT(proxy_set_tick_period_milliseconds) u32 proxy_set_tick_period_milliseconds(u32 ms);
IMPORT(proxy_http_call)
u32 proxy_http_call(const char *upstream, size_t upstream_size, const char *headers, size_t headers_size,
                    const char *body, size_t body_size, const char *trailers, size_t trailers_size, u32 timeout,
                    u32 *token);
IMPORT(proxy_define_metric) u32 proxy_define_metric(u32 type, const char *name, size_t name_size, u32 *id);
IMPORT(proxy_increment_metric) u32 proxy_increment_metric(u32 id, i64 offset);
IMPORT(proxy_record_metric) u32 proxy_record_metric(u32 id, u64 value);

/* ---- memory: a bump allocator above __heap_base (a module may move heap_top back) ----------- */

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

static int contains(const char *hay, size_t n, const char *needle) {
  size_t m = str_len(needle);
  for (size_t i = 0; i + m <= n; i++)
    if (bytes_eq(hay + i, m, needle, m)) return 1;
  return 0;
}

/* ---- string builder: cut at its capacity, `full` says it was ------------------------------- */

typedef struct {
  char *buf;
  size_t len;
  size_t cap;
  int full;
} sb_t;

static sb_t sb_new(size_t cap) {
  sb_t b;
  b.buf = alloc(cap);
  b.len = 0;
  b.cap = b.buf ? cap : 0;
  b.full = b.buf == 0;
  return b;
}

static void sb_add(sb_t *b, const char *s, size_t n) {
  if (b->len + n > b->cap) {
    b->full = 1;
    n = b->cap - b->len;
  }
  memcpy(b->buf + b->len, s, n);
  b->len += n;
}

static void sb_str(sb_t *b, const char *s) { sb_add(b, s, str_len(s)); }

static void sb_u64(sb_t *b, u64 v) {
  char tmp[24];
  int i = 0;
  do {
    tmp[i++] = (char)('0' + v % 10);
    v /= 10;
  } while (v);
  while (i) sb_add(b, &tmp[--i], 1);
}

/* " name=value" style: name as it is, then v in decimal. */
static void sb_named_u64(sb_t *b, const char *name, u64 v) {
  sb_str(b, name);
  sb_u64(b, v);
}

static void log_sb(u32 level, sb_t *b) { proxy_log(level, b->buf, b->len); }
static void log_str(u32 level, const char *s) { proxy_log(level, s, str_len(s)); }

/* ---- proxy-wasm map serialization: count, (key len, value len)*, (key \0 value \0)* -------- */

typedef struct {
  const char *k;
  size_t kn;
  const char *v;
  size_t vn;
} pair_t;

/* A pair of a literal key. */
#define PAIR(key, val, len) \
  { key, sizeof(key) - 1, val, len }

static void put_u32(sb_t *b, u32 v) {
  char le[4] = {(char)(v & 0xff), (char)((v >> 8) & 0xff), (char)((v >> 16) & 0xff), (char)((v >> 24) & 0xff)};
  sb_add(b, le, 4);
}

static sb_t serialize_map(const pair_t *p, u32 count) {
  size_t total = 4;
  for (u32 i = 0; i < count; i++) total += 8 + p[i].kn + p[i].vn + 2;
  sb_t b = sb_new(total);
  put_u32(&b, count);
  for (u32 i = 0; i < count; i++) {
    put_u32(&b, (u32)p[i].kn);
    put_u32(&b, (u32)p[i].vn);
  }
  for (u32 i = 0; i < count; i++) {
    sb_add(&b, p[i].k, p[i].kn);
    sb_add(&b, "", 1);
    sb_add(&b, p[i].v, p[i].vn);
    sb_add(&b, "", 1);
  }
  return b;
}

/* ---- plugin configuration ------------------------------------------------------------------ */

/* The plugin configuration of the current proxy_on_configure call (size 0: none, *len 0). */
static int read_plugin_config(size_t size, char **ptr, size_t *len) {
  *ptr = 0;
  *len = 0;
  if (size == 0) return 1;
  return proxy_get_buffer_bytes(BUF_PLUGIN_CONFIGURATION, 0, size, ptr, len) == ST_OK;
}

/* ---- strict flat JSON object reader (what the v0.1.0 receiver's easyjson parse accepts) ---- */

static size_t skip_ws(const char *j, size_t n, size_t i) {
  while (i < n && (j[i] == ' ' || j[i] == '\n' || j[i] == '\r' || j[i] == '\t')) i++;
  return i;
}

/* Index just after the JSON value at j[i] (nested values skipped by depth), or 0. */
static size_t json_skip(const char *j, size_t n, size_t i) {
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
        size_t end = json_skip(j, n, i);
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

typedef struct {
  const char *j;
  size_t n;
  size_t i;
  int state; /* 0 before '{', 1 inside, 2 after '}' */
} json_obj_t;

static json_obj_t json_obj(const char *j, size_t n) {
  json_obj_t o = {j, n, 0, 0};
  return o;
}

/* Next member: 1 (key between its quotes, value start index), 0 at the end of a well-formed
 * object (nothing but whitespace after it), -1 when the text is not one JSON object. */
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
  size_t k_end = json_skip(j, n, k);
  if (k >= n || j[k] != '"' || k_end == 0) return -1;
  size_t i = skip_ws(j, n, k_end);
  if (i >= n || j[i] != ':') return -1;
  i = skip_ws(j, n, i + 1);
  size_t v_end = json_skip(j, n, i);
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

static int json_is_null(const char *j, size_t n, size_t v) { return v + 4 <= n && bytes_eq(j + v, 4, "null", 4); }

static int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* A JSON string at j[v], unescaped into out (cut at cap bytes; non-ASCII \u escapes become '?').
 * 0 when the value is not a string. */
static int json_str(const char *j, size_t n, size_t v, char *out, size_t cap, size_t *out_len) {
  size_t o = 0;
  if (v >= n || j[v] != '"') return 0;
  size_t i = v + 1;
  for (; i < n && j[i] != '"'; i++) {
    char c = j[i];
    if (c == '\\') {
      if (++i >= n) return 0;
      switch (j[i]) {
        case 'n': c = '\n'; break;
        case 't': c = '\t'; break;
        case 'r': c = '\r'; break;
        case 'b': c = '\b'; break;
        case 'f': c = '\f'; break;
        case 'u': {
          if (i + 4 >= n) return 0;
          int code = 0;
          for (int k = 1; k <= 4; k++) {
            int h = hexval(j[i + k]);
            if (h < 0) return 0;
            code = code * 16 + h;
          }
          i += 4;
          c = code < 0x80 ? (char)code : '?';
          break;
        }
        default: c = j[i]; /* \" \\ \/ */
      }
    }
    if (o < cap) out[o++] = c;
  }
  if (i >= n) return 0;
  *out_len = o;
  return 1;
}

/* A JSON integer (digits only: no sign, fraction, exponent or quotes) at j[v] within [lo, hi];
 * 0 otherwise. */
static int json_uint(const char *j, size_t n, size_t v, u32 lo, u32 hi, u32 *out) {
  size_t end = json_skip(j, n, v);
  if (end == 0 || j[v] < '0' || j[v] > '9') return 0;
  u64 x = 0;
  for (size_t i = v; i < end; i++) {
    if (j[i] < '0' || j[i] > '9') return 0;
    x = x * 10 + (u64)(j[i] - '0');
    if (x > 0xffffffffULL) return 0;
  }
  if (x < lo || x > hi) return 0;
  *out = (u32)x;
  return 1;
}

/* ---- a flat JSON configuration object, read into fields ------------------------------------ */

/* One key: a string (str, at most cap bytes, its length in *len; read by the module's string
 * reader) or a JSON integer within [lo, hi] (num). */
typedef struct {
  const char *key;
  char *str;
  size_t cap;
  size_t *len;
  u32 *num;
  u32 lo, hi;
} json_field_t;

#define JSON_STR(key, buf, len) \
  { key, buf, sizeof(buf), &len, 0, 0, 0 }
#define JSON_U32(key, var, lo, hi) \
  { key, 0, 0, 0, &var, lo, hi }

/* Reads the string value at j[v] (never null) into out; 0 refuses it. */
typedef int (*json_take_str_t)(const char *j, size_t n, size_t v, char *out, size_t cap, size_t *out_len);

/* Reads the JSON object j into fields: keys matched exactly, unknown keys skipped, null ignored
 * (the field keeps its value). 1 when read; 0 at the first value of a wrong type or out of
 * range (*bad, *bad_len: its key); -1 when the text is not one JSON object. */
static int json_read_fields(const char *j, size_t n, const json_field_t *fields, size_t count,
                            json_take_str_t take_str, const char **bad, size_t *bad_len) {
  json_obj_t o = json_obj(j, n);
  const char *key;
  size_t key_len, v;
  int rc;
  while ((rc = json_obj_next(&o, &key, &key_len, &v)) == 1) {
    for (size_t f = 0; f < count; f++) {
      if (!key_is(key, key_len, fields[f].key)) continue;
      const json_field_t *field = &fields[f];
      int ok = json_is_null(j, n, v) ||
               (field->str ? take_str(j, n, v, field->str, field->cap, field->len)
                           : json_uint(j, n, v, field->lo, field->hi, field->num));
      if (!ok) {
        *bad = key;
        *bad_len = key_len;
        return 0;
      }
      break;
    }
  }
  return rc == 0 ? 1 : -1;
}

/* Reads the plugin configuration cfg into fields (json_read_fields), logging a refusal as
 * `refused` followed by `wrong` and the key, or by "not a JSON object". 1 when read. */
static int read_config_fields(const char *cfg, size_t n, const json_field_t *fields, size_t count,
                              json_take_str_t take_str, const char *refused, const char *wrong) {
  const char *bad = 0;
  size_t bad_len = 0;
  int rc = json_read_fields(cfg, n, fields, count, take_str, &bad, &bad_len);
  if (rc == 1) return 1;
  sb_t m = sb_new(512);
  sb_str(&m, refused);
  if (rc == 0) {
    sb_str(&m, wrong);
    sb_add(&m, bad, bad_len);
  } else {
    sb_str(&m, "not a JSON object");
  }
  log_sb(LOG_ERROR, &m);
  return 0;
}

/* ---- lifecycle exports with nothing to do in these modules ---------------------------------- */

EXPORT(proxy_on_vm_start) u32 proxy_on_vm_start(u32 root, size_t size) {
  (void)root;
  (void)size;
  return 1;
}

EXPORT(proxy_on_context_create) void proxy_on_context_create(u32 id, u32 parent) {
  (void)id;
  (void)parent;
}

EXPORT(proxy_on_done) u32 proxy_on_done(u32 id) {
  (void)id;
  return 1;
}

EXPORT(proxy_on_delete) void proxy_on_delete(u32 id) { (void)id; }

#endif

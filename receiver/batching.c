/*
 * ACPW batching receiver: a drop-in for the published receiver.wasm (bootstrap WasmService,
 * singleton, main thread), written for this project in C against the proxy-wasm ABI v0.2.1
 * (function names, parameters and enum values only). No libc.
 *
 * Build (make receiver-wasm; the clang command line is tools/receiver_wasm.py's, the test probes'
 * too): clang --target=wasm32 -nostdlib -ffreestanding -O2 -fuse-ld=lld -Wl,--no-entry
 *   -Wl,--strip-all receiver/batching.c -o acpw/modules/batching-receiver.wasm
 * The ABI, memory, string-builder and JSON-reader pieces are receiver/proxy_wasm.h, shared with
 * the test probes (tests/conformance/envoy/probes/).
 *
 * What it does
 * - proxy_on_configure: parses its JSON configuration (see parse_configuration; a wrong type, an
 *   out-of-range number or a missing cloud_watch_region / cloud_watch_cluster_name returns
 *   false: the VM does not start, and neither does Envoy, exactly as with the published
 *   receiver), registers the shared queue "aws_cloudwatch_metric" in its own VM (the sender
 *   resolves it by the receiver's vm_id, as before), defines its stats and starts a 1 s tick.
 * - proxy_on_queue_ready: dequeues every message, uncompresses it with Envoy's "uncompress"
 *   foreign function (a message that already starts with '{' is read as it is), reads the JSON
 *   {host, method, path, status}, drops the query string from path and counts the request
 *   in a table of at most max_series dimension sets; anything beyond is counted in one
 *   overflow series whose four dimensions are "(overflow)".
 * - proxy_on_tick: every flush_seconds the table is sent as PutMetricData calls (query
 *   protocol, form-encoded, unit Count, value = requests) through proxy_http_call to
 *   cloud_watch_cluster_name, unsigned: Envoy's aws_request_signing filter on that cluster
 *   signs them (acpw:cloudwatch.signing: envoy). The module holds no credentials.
 *
 * PutMetricData limits (AWS CloudWatch API Reference, PutMetricData): each request is limited
 * to 1 MB for HTTP POST and to no more than 1000 different metrics; up to 30 dimensions per
 * metric, a dimension value is 1 to 1024 characters. A batch here holds at most
 * BATCH_MAX_DATA (1000) metric data and BATCH_MAX_BYTES (1,000,000 bytes, under 1 MiB) of body;
 * each datum has 4 dimensions and one value; a dimension value is at most 745 bytes and never
 * empty ("-" stands for an empty one).
 *
 * Failure: a call answered 5xx, 429 or 400 with a Throttling error, or with no response (timeout,
 * connection failure), is retried after 1, 2 then 4 seconds; after MAX_RETRIES retries the batch
 * is dropped and counted. While a flush's batches are still being sent or retried, the next
 * flush waits (counted in flushes_delayed) and the counting table goes on counting: its
 * requests are sent with the next flush, never lost; beyond max_series they go to the
 * overflow series. At most two tables exist, so memory stays bounded however long CloudWatch
 * is away, and nothing ever waits on a call: every call is asynchronous.
 *
 * Memory: two tables of max_series + 1 entries of about 1 KiB each, allocated at configure;
 * every callback's transient buffers (dequeued messages, bodies) live in an arena reset when the
 * callback, or the message, is done.
 *
 * Stats (Envoy prefixes them with "wasmcustom."): acpw_receiver.messages, .bad_messages,
 * .overflow, .flushes, .flushes_delayed, .calls, .calls_ok, .retries, .dropped_batches,
 * .dropped_requests, .rejected_batches, and the gauge .series.
 */

#include "proxy_wasm.h" /* the ABI imports, memory, builders and the JSON reader */

#define BATCH_MAX_DATA 1000
#define BATCH_MAX_BYTES 1000000
#define MAX_BATCHES 64 /* 10,001 series: 11 batches by count, at most 37 by size (3.6 KB per datum) */
#define MAX_RETRIES 3
#define HOST_CAP 255
#define METHOD_CAP 16
#define STATUS_CAP 8
#define PATH_CAP 745
#define KEY_CAP (HOST_CAP + METHOD_CAP + STATUS_CAP + PATH_CAP)
#define OVERFLOW "(overflow)"

/* ---- memory: persistent allocations at configure, then a resettable arena ---------------- */

static size_t arena_base;

/* Forget every transient buffer (called at the start of each callback and after each message). */
static void arena_reset(void) {
  if (arena_base) heap_top = arena_base;
}

/* application/x-www-form-urlencoded value: unreserved characters as they are, the rest %XX. */
static void sb_form(sb_t *b, const char *s, size_t n) {
  static const char hex[] = "0123456789ABCDEF";
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
        c == '.' || c == '~') {
      sb_add(b, (const char *)&s[i], 1);
    } else {
      char e[3] = {'%', hex[c >> 4], hex[c & 15]};
      sb_add(b, e, 3);
    }
  }
}

/* ---- configuration --------------------------------------------------------------------------- */

#include "receiver_config.h" /* region, cluster, metric_namespace, metric_name, timeout_ms */

static u32 flush_seconds = 60;
static u32 max_series = 1000;
static int configured;

/* ---- stats ------------------------------------------------------------------------------------- */

enum {
  M_MESSAGES,
  M_BAD_MESSAGES,
  M_OVERFLOW,
  M_FLUSHES,
  M_FLUSHES_DELAYED,
  M_CALLS,
  M_CALLS_OK,
  M_RETRIES,
  M_DROPPED_BATCHES,
  M_DROPPED_REQUESTS,
  M_REJECTED_BATCHES,
  M_SERIES,
  M_COUNT
};
static const char *const metric_names[M_COUNT] = {
    "acpw_receiver.messages",         "acpw_receiver.bad_messages",     "acpw_receiver.overflow",
    "acpw_receiver.flushes",          "acpw_receiver.flushes_delayed",  "acpw_receiver.calls",
    "acpw_receiver.calls_ok",
    "acpw_receiver.retries",          "acpw_receiver.dropped_batches",  "acpw_receiver.dropped_requests",
    "acpw_receiver.rejected_batches", "acpw_receiver.series",
};
static u32 metric_ids[M_COUNT];

static void stat_add(int m, u64 n) {
  if (n) proxy_increment_metric(metric_ids[m], (i64)n);
}

/* ---- the tables of dimension sets ------------------------------------------------------------ */

typedef struct {
  u64 count;
  unsigned short host_len, method_len, path_len, status_len;
  char key[KEY_CAP]; /* host, method, path, status, back to back */
} series_t;

typedef struct {
  series_t *series; /* max_series + 1 entries: the last one is the overflow series */
  u32 *slots;       /* open addressing: series index + 1, 0 = free */
  u32 slot_mask;
  u32 used;
  u64 overflow;
} table_t;

static table_t tables[2];
static int active; /* the table counting now; the other one holds the last flush */

static int table_init(table_t *t) {
  u32 cap = 1;
  while (cap < 2 * max_series) cap <<= 1;
  t->series = alloc(sizeof(series_t) * (max_series + 1));
  t->slots = alloc(sizeof(u32) * cap);
  if (!t->series || !t->slots) return 0;
  t->slot_mask = cap - 1;
  memset(t->slots, 0, sizeof(u32) * cap);
  t->used = 0;
  t->overflow = 0;
  return 1;
}

static void table_clear(table_t *t) {
  memset(t->slots, 0, sizeof(u32) * (t->slot_mask + 1));
  t->used = 0;
  t->overflow = 0;
}

static u32 hash(const char *s, size_t n) {
  u32 h = 2166136261u;
  for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 16777619u;
  return h;
}

typedef struct {
  const char *p[4];
  size_t n[4];
} dims_t; /* host, method, path, status */

static void table_count(table_t *t, const dims_t *d) {
  char key[KEY_CAP];
  size_t len = 0;
  for (int k = 0; k < 4; k++) {
    memcpy(key + len, d->p[k], d->n[k]);
    len += d->n[k];
  }
  /* The lengths are part of the identity: ("ab", "c") and ("a", "bc") differ. */
  u32 h = hash(key, len) ^ (u32)(d->n[0] * 31u + d->n[1] * 131u + d->n[2] * 1031u + d->n[3]);
  for (u32 probe = 0; probe <= t->slot_mask; probe++) {
    u32 slot = (h + probe) & t->slot_mask;
    u32 idx = t->slots[slot];
    if (idx == 0) {
      if (t->used >= max_series) {
        t->overflow++;
        stat_add(M_OVERFLOW, 1);
        return;
      }
      series_t *s = &t->series[t->used];
      s->count = 1;
      s->host_len = (unsigned short)d->n[0];
      s->method_len = (unsigned short)d->n[1];
      s->path_len = (unsigned short)d->n[2];
      s->status_len = (unsigned short)d->n[3];
      memcpy(s->key, key, len);
      t->slots[slot] = ++t->used;
      return;
    }
    series_t *s = &t->series[idx - 1];
    if (s->host_len == d->n[0] && s->method_len == d->n[1] && s->path_len == d->n[2] && s->status_len == d->n[3] &&
        bytes_eq(s->key, len, key, len)) {
      s->count++;
      return;
    }
  }
  t->overflow++; /* not reached: the table has twice the slots */
  stat_add(M_OVERFLOW, 1);
}

/* ---- messages ----------------------------------------------------------------------------------- */

static u32 queue_id;

/* Reads one sender message into dims (pointing into buf). 0 when it is not the sender's JSON. */
static int read_message(const char *j, size_t n, char *buf, dims_t *d) {
  static const char *const keys[4] = {"host", "method", "path", "status"};
  static const size_t caps[4] = {HOST_CAP, METHOD_CAP, PATH_CAP, STATUS_CAP};
  int seen[4] = {0, 0, 0, 0};
  size_t off = 0;
  json_obj_t o = json_obj(j, n);
  const char *key;
  size_t key_len, v;
  int rc;
  while ((rc = json_obj_next(&o, &key, &key_len, &v)) == 1) {
    for (int k = 0; k < 4; k++) {
      if (!key_is(key, key_len, keys[k])) continue;
      if (seen[k]) return 0; /* a key twice: refused (each key has its own slice of buf) */
      size_t got = 0;
      if (j[v] == '"') {
        if (!json_str(j, n, v, buf + off, caps[k], &got)) return 0;
      } else if (j[v] >= '0' && j[v] <= '9') { /* a status written as a number */
        size_t end = json_skip(j, n, v);
        got = end - v > caps[k] ? caps[k] : end - v;
        memcpy(buf + off, j + v, got);
      } else {
        return 0;
      }
      if (k == 2) /* path: no query string, no fragment */
        for (size_t i = 0; i < got; i++)
          if (buf[off + i] == '?' || buf[off + i] == '#') {
            got = i;
            break;
          }
      if (got == 0) { /* a dimension value is 1 to 1024 characters */
        buf[off] = '-';
        got = 1;
      }
      d->p[k] = buf + off;
      d->n[k] = got;
      off += caps[k];
      seen[k] = 1;
    }
  }
  return rc == 0 && seen[0] && seen[1] && seen[2] && seen[3];
}

EXPORT(proxy_on_queue_ready) void proxy_on_queue_ready(u32 root, u32 id) {
  (void)root;
  if (!configured) return;
  arena_reset();
  for (;;) {
    char *msg = 0;
    size_t len = 0;
    if (proxy_dequeue_shared_queue(id, &msg, &len) != ST_OK) break;
    stat_add(M_MESSAGES, 1);
    const char *json = msg;
    size_t json_len = len;
    if (len == 0 || msg[0] != '{') {
      char *out = 0;
      size_t out_len = 0;
      if (proxy_call_foreign_function("uncompress", 10, msg, len, &out, &out_len) != ST_OK) {
        stat_add(M_BAD_MESSAGES, 1);
        arena_reset();
        continue;
      }
      json = out;
      json_len = out_len;
    }
    char *buf = alloc(KEY_CAP);
    dims_t d;
    if (buf && read_message(json, json_len, buf, &d))
      table_count(&tables[active], &d);
    else
      stat_add(M_BAD_MESSAGES, 1);
    arena_reset();
  }
  proxy_record_metric(metric_ids[M_SERIES], tables[active].used);
}

/* ---- batches and calls --------------------------------------------------------------------------- */

enum { B_FREE, B_WAITING, B_IN_FLIGHT };

typedef struct {
  int state;
  u32 first, last; /* series [first, last) of the sending table; last may be max_series (overflow) */
  u64 requests;    /* what the batch counts, for dropped_requests */
  u32 attempts;
  u64 due;         /* tick at which a waiting batch is sent */
  u32 token;
} batch_t;

static batch_t batches[MAX_BATCHES];
static u64 now; /* ticks (seconds) since configure */
static u64 last_flush;
static int flush_delayed;

static const char *const dim_names[4] = {"host", "method", "path", "status"};

static void sb_datum(sb_t *b, u32 n, const char *const *val, const size_t *vlen, u64 count) {
  sb_str(b, "&MetricData.member.");
  sb_u64(b, n);
  sb_str(b, ".MetricName=");
  sb_form(b, metric_name, metric_name_len);
  sb_str(b, "&MetricData.member.");
  sb_u64(b, n);
  sb_str(b, ".Unit=Count&MetricData.member.");
  sb_u64(b, n);
  sb_str(b, ".Value=");
  sb_u64(b, count);
  for (u32 k = 0; k < 4; k++) {
    sb_str(b, "&MetricData.member.");
    sb_u64(b, n);
    sb_str(b, ".Dimensions.member.");
    sb_u64(b, k + 1);
    sb_str(b, ".Name=");
    sb_str(b, dim_names[k]);
    sb_str(b, "&MetricData.member.");
    sb_u64(b, n);
    sb_str(b, ".Dimensions.member.");
    sb_u64(b, k + 1);
    sb_str(b, ".Value=");
    sb_form(b, val[k], vlen[k]);
  }
}

static void series_values(const series_t *s, const char **val, size_t *vlen) {
  val[0] = s->key;
  vlen[0] = s->host_len;
  val[1] = val[0] + vlen[0];
  vlen[1] = s->method_len;
  val[2] = val[1] + vlen[1];
  vlen[2] = s->path_len;
  val[3] = val[2] + vlen[2];
  vlen[3] = s->status_len;
}

static const char *const overflow_vals[4] = {OVERFLOW, OVERFLOW, OVERFLOW, OVERFLOW};
static const size_t overflow_lens[4] = {10, 10, 10, 10};

/* Upper bound of one datum's encoded size (every value byte as %XX), for the 1 MB split. */
static size_t datum_bound(size_t value_bytes) { return 512 + metric_name_len * 3 + value_bytes * 3; }

static size_t series_bytes(const table_t *t, u32 i) {
  if (i >= t->used) return 4 * 10; /* the overflow series */
  const series_t *s = &t->series[i];
  return (size_t)s->host_len + s->method_len + s->path_len + s->status_len;
}

static sb_t build_body(const table_t *t, const batch_t *b) {
  size_t bound = 128 + metric_namespace_len * 3;
  for (u32 i = b->first; i < b->last; i++) bound += datum_bound(series_bytes(t, i));
  sb_t body = sb_new(bound);
  sb_str(&body, "Action=PutMetricData&Version=2010-08-01&Namespace=");
  sb_form(&body, metric_namespace, metric_namespace_len);
  u32 n = 1;
  for (u32 i = b->first; i < b->last; i++, n++) {
    if (i < t->used) {
      const char *val[4];
      size_t vlen[4];
      series_values(&t->series[i], val, vlen);
      sb_datum(&body, n, val, vlen, t->series[i].count);
    } else {
      sb_datum(&body, n, overflow_vals, overflow_lens, t->overflow);
    }
  }
  return body;
}

/* The PutMetricData call's headers, serialized as a proxy-wasm map. */
static sb_t headers_for(size_t body_len) {
  sb_t authority = sb_new(128);
  sb_str(&authority, "monitoring.");
  sb_add(&authority, region, region_len);
  sb_str(&authority, ".amazonaws.com");
  sb_t length = sb_new(24);
  sb_u64(&length, body_len);
  const pair_t h[5] = {
      PAIR(":method", "POST", 4),
      PAIR(":path", "/", 1),
      PAIR(":authority", authority.buf, authority.len),
      PAIR("content-type", "application/x-www-form-urlencoded; charset=utf-8", 48),
      PAIR("content-length", length.buf, length.len),
  };
  return serialize_map(h, 5);
}

static void drop(batch_t *b, int rejected) {
  stat_add(rejected ? M_REJECTED_BATCHES : M_DROPPED_BATCHES, 1);
  stat_add(M_DROPPED_REQUESTS, b->requests);
  b->state = B_FREE;
}

static void retry_or_drop(batch_t *b, const char *why) {
  sb_t m = sb_new(256);
  sb_str(&m, "acpw batching receiver: PutMetricData ");
  sb_str(&m, why);
  if (b->attempts > MAX_RETRIES) {
    sb_str(&m, ": dropped after retries, requests=");
    sb_u64(&m, b->requests);
    log_sb(LOG_WARN, &m);
    drop(b, 0);
    return;
  }
  u64 backoff = 1ull << (b->attempts - 1); /* 1, 2, 4 s */
  sb_str(&m, ": retry in ");
  sb_u64(&m, backoff);
  sb_str(&m, "s");
  log_sb(LOG_INFO, &m);
  stat_add(M_RETRIES, 1);
  b->state = B_WAITING;
  b->due = now + backoff;
}

static void send(batch_t *b) {
  const table_t *t = &tables[!active];
  sb_t body = build_body(t, b);
  sb_t headers = headers_for(body.len);
  b->attempts++;
  if (body.full || headers.full) {
    log_str(LOG_ERROR, "acpw batching receiver: out of memory building a batch");
    drop(b, 0);
    return;
  }
  u32 token = 0;
  u32 rc = proxy_http_call(cluster, cluster_len, headers.buf, headers.len, body.buf, body.len, 0, 0, timeout_ms,
                           &token);
  stat_add(M_CALLS, 1);
  if (rc != ST_OK) {
    retry_or_drop(b, "call not dispatched");
    return;
  }
  b->state = B_IN_FLIGHT;
  b->token = token;
}

static void flush(void) {
  table_t *t = &tables[active];
  active = !active; /* every batch of the previous flush is done (see proxy_on_tick) */
  table_clear(&tables[active]);
  proxy_record_metric(metric_ids[M_SERIES], 0);
  u32 total = t->used + (t->overflow ? 1 : 0);
  if (total == 0) return;
  stat_add(M_FLUSHES, 1);
  /* Split: at most BATCH_MAX_DATA data and BATCH_MAX_BYTES of body per call. Index `used` of
   * the table stands for the overflow series. */
  u32 nb = 0;
  u32 i = 0;
  while (i < total && nb < MAX_BATCHES) {
    batch_t *b = &batches[nb++];
    b->state = B_WAITING;
    b->first = i;
    b->requests = 0;
    b->attempts = 0;
    b->due = now;
    size_t bytes = 128 + metric_namespace_len * 3;
    while (i < total && i - b->first < BATCH_MAX_DATA) {
      size_t add = datum_bound(series_bytes(t, i));
      if (i > b->first && bytes + add > BATCH_MAX_BYTES) break;
      bytes += add;
      b->requests += i < t->used ? t->series[i].count : t->overflow;
      i++;
    }
    b->last = i;
  }
  u64 unsent = 0; /* not reached with max_series <= 10000: counted, never silent */
  for (; i < total; i++) unsent += i < t->used ? t->series[i].count : t->overflow;
  if (unsent) {
    stat_add(M_DROPPED_BATCHES, 1);
    stat_add(M_DROPPED_REQUESTS, unsent);
  }
  for (u32 k = 0; k < nb; k++) {
    send(&batches[k]);
    arena_reset();
  }
}

EXPORT(proxy_on_tick) void proxy_on_tick(u32 root) {
  (void)root;
  if (!configured) return;
  arena_reset();
  now++;
  for (u32 i = 0; i < MAX_BATCHES; i++) {
    if (batches[i].state == B_WAITING && batches[i].due <= now) send(&batches[i]);
    arena_reset();
  }
  if (now - last_flush >= flush_seconds) {
    int busy = 0;
    for (u32 i = 0; i < MAX_BATCHES; i++) busy |= batches[i].state != B_FREE;
    if (!busy) {
      last_flush = now;
      flush_delayed = 0;
      flush();
    } else if (!flush_delayed) {
      flush_delayed = 1; /* the previous flush is still being sent or retried */
      stat_add(M_FLUSHES_DELAYED, 1);
    }
  }
  arena_reset();
}

EXPORT(proxy_on_http_call_response)
void proxy_on_http_call_response(u32 root, u32 token, u32 num_headers, size_t body_size, u32 num_trailers) {
  (void)root;
  (void)num_trailers;
  arena_reset();
  batch_t *b = 0;
  for (u32 i = 0; i < MAX_BATCHES; i++)
    if (batches[i].state == B_IN_FLIGHT && batches[i].token == token) b = &batches[i];
  if (!b) return; /* a batch dropped by a later flush */
  char *status = 0;
  size_t status_len = 0;
  if (num_headers == 0 ||
      proxy_get_header_map_value(MAP_HTTP_CALL_RESPONSE_HEADERS, ":status", 7, &status, &status_len) != ST_OK ||
      status_len != 3) {
    retry_or_drop(b, "failed (no response)");
    arena_reset();
    return;
  }
  u32 code = (u32)(status[0] - '0') * 100 + (u32)(status[1] - '0') * 10 + (u32)(status[2] - '0');
  if (code >= 200 && code < 300) {
    stat_add(M_CALLS_OK, 1);
    b->state = B_FREE;
  } else {
    int throttled = code == 429 || code >= 500; /* 503: CloudWatch's ServiceUnavailable */
    if (code == 400 && body_size > 0) {
      char *body = 0;
      size_t got = 0;
      size_t max = body_size < 65536 ? body_size : 65536;
      if (proxy_get_buffer_bytes(BUF_HTTP_CALL_RESPONSE_BODY, 0, max, &body, &got) == ST_OK)
        throttled = contains(body, got, "Throttling");
    }
    sb_t why = sb_new(64);
    sb_str(&why, "answered ");
    sb_u64(&why, code);
    sb_add(&why, "", 1);
    if (throttled) {
      retry_or_drop(b, why.buf);
    } else {
      sb_t m = sb_new(128);
      sb_str(&m, "acpw batching receiver: PutMetricData refused (not retried): ");
      sb_u64(&m, code);
      log_sb(LOG_ERROR, &m);
      drop(b, 1);
    }
  }
  arena_reset();
}

/* ---- start ------------------------------------------------------------------------------------------ */

static void refuse(const char *what, const char *key, size_t key_len) {
  sb_t m = sb_new(512);
  sb_str(&m, "acpw batching receiver: configuration refused: ");
  sb_str(&m, what);
  sb_add(&m, key, key_len);
  log_sb(LOG_ERROR, &m);
}

/* A configuration string: unescaped, 1 to its buffer's size less one. */
static int take_str(const char *j, size_t n, size_t v, char *out, size_t cap, size_t *out_len) {
  size_t got = 0;
  if (!json_str(j, n, v, out, cap, &got) || got == 0 || got >= cap) return 0;
  *out_len = got;
  return 1;
}

/* The configuration: a JSON object; keys exact; unknown keys skipped; null ignored. Strings are
 * 1 to their buffer's size; numbers are JSON integers in range:
 *   cloud_watch_region (required), cloud_watch_cluster_name (required), metric_namespace,
 *   metric_name, http_request_timeout_millisecond 100..60000, flush_seconds 1..300,
 *   max_series 1..10000. */
static int parse_configuration(const char *cfg, size_t n) {
  const json_field_t fields[] = {
      RECEIVER_CONFIG_FIELDS,
      JSON_U32("http_request_timeout_millisecond", timeout_ms, 100, 60000),
      JSON_U32("flush_seconds", flush_seconds, 1, 300),
      JSON_U32("max_series", max_series, 1, 10000),
  };
  if (!read_config_fields(cfg, n, fields, sizeof(fields) / sizeof(fields[0]), take_str,
                          "acpw batching receiver: configuration refused: ", "wrong type or out of range: "))
    return 0;
  if (region_len == 0) {
    refuse("missing ", "cloud_watch_region", 18);
    return 0;
  }
  if (cluster_len == 0) {
    refuse("missing ", "cloud_watch_cluster_name", 24);
    return 0;
  }
  return 1;
}

EXPORT(proxy_on_configure) u32 proxy_on_configure(u32 root, size_t size) {
  (void)root;
  if (configured) {
    log_str(LOG_ERROR, "acpw batching receiver: configured twice (a singleton is configured once)");
    return 0;
  }
  char *cfg;
  size_t n;
  if (!read_plugin_config(size, &cfg, &n)) {
    log_str(LOG_ERROR, "acpw batching receiver: cannot read its configuration");
    return 0;
  }
  if (!parse_configuration(cfg, n)) return 0;
  heap_top = (size_t)cfg; /* the configuration was copied: give its buffer back */
  if (!table_init(&tables[0]) || !table_init(&tables[1])) {
    log_str(LOG_ERROR, "acpw batching receiver: out of memory for max_series");
    return 0;
  }
  for (int m = 0; m < M_COUNT; m++)
    if (proxy_define_metric(m == M_SERIES ? METRIC_GAUGE : METRIC_COUNTER, metric_names[m],
                            str_len(metric_names[m]), &metric_ids[m]) != ST_OK) {
      log_str(LOG_ERROR, "acpw batching receiver: cannot define its stats");
      return 0;
    }
  u32 rc = proxy_register_shared_queue(QUEUE_NAME, sizeof(QUEUE_NAME) - 1, &queue_id);
  if (rc != ST_OK) {
    log_str(LOG_ERROR, "acpw batching receiver: cannot register queue " QUEUE_NAME);
    return 0;
  }
  proxy_set_tick_period_milliseconds(1000);
  arena_base = heap_top;
  configured = 1;
  sb_t m = configured_message("acpw batching receiver");
  sb_named_u64(&m, " flush_seconds=", flush_seconds);
  sb_named_u64(&m, " max_series=", max_series);
  log_sb(LOG_INFO, &m);
  arena_reset();
  return 1;
}

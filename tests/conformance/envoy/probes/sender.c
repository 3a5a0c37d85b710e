/*
 * ACPW probe sender: stands in for the real sender (HTTP filter, worker threads)
 * at the boundaries the deployment configures.
 *
 * - proxy_on_configure: reads receiver_vm_id (required) and match_hosts (optional
 *   list of exact :authority values; empty or absent counts every host). It also
 *   tries the queue lookup once and logs the status (in Envoy 1.40 the main-thread
 *   instance starts before the receiver registers its queue: NOT_FOUND there is normal).
 * - proxy_on_log (stream finished): when :authority matches, resolves the queue
 *   "aws_cloudwatch_metric" in VM receiver_vm_id (per request) and enqueues one JSON
 *   message {"host","method","path","status"} (the real sender's keys; "host" is the
 *   :authority). Built as is, unlike the real sender, it does not compress the message; built
 *   with -DACPW_PROBE_COMPRESS (sender-compressing.wasm) it compresses it with Envoy's
 *   "compress" foreign function first, as the real sender does, and logs only failures.
 * Every step is logged with the prefix "acpw-probe sender:" for the tests.
 */
#include "probe.h"

#define MAX_HOSTS 64

static char receiver_vm_id[256];
static size_t receiver_vm_id_len;
static char host_buf[8192];
static size_t host_off[MAX_HOSTS];
static size_t host_len[MAX_HOSTS];
static u32 host_count;

static int parse_hosts(const char *j, size_t n) {
  size_t i = json_find(j, n, "match_hosts");
  host_count = 0;
  if (i >= n || (j[i] == 'n' && i + 4 <= n && bytes_eq(j + i, 4, "null", 4))) return 1;
  if (j[i] != '[') return 0;
  size_t used = 0;
  i = skip_ws(j, n, i + 1);
  while (i < n && j[i] != ']') {
    if (host_count >= MAX_HOSTS) return 0;
    size_t len = 0;
    size_t next = json_string(j, n, i, host_buf + used, sizeof(host_buf) - used, &len);
    if (next == 0) return 0;
    host_off[host_count] = used;
    host_len[host_count] = len;
    host_count++;
    used += len;
    i = skip_ws(j, n, next);
    if (i < n && j[i] == ',') i = skip_ws(j, n, i + 1);
  }
  return i < n;
}

static u32 resolve(u32 *id) {
  return proxy_resolve_shared_queue(receiver_vm_id, receiver_vm_id_len, QUEUE_NAME, sizeof(QUEUE_NAME) - 1, id);
}

EXPORT(proxy_on_configure) u32 proxy_on_configure(u32 root, size_t size) {
  (void)root;
  char *cfg;
  size_t n;
  if (!read_plugin_config(size, &cfg, &n)) {
    log_str(LOG_ERROR, "acpw-probe sender: cannot read plugin configuration");
    return 0;
  }
  if (!json_get_string(cfg, n, "receiver_vm_id", receiver_vm_id, sizeof(receiver_vm_id), &receiver_vm_id_len) ||
      receiver_vm_id_len == 0) {
    log_str(LOG_ERROR, "acpw-probe sender: configuration lacks receiver_vm_id");
    return 0;
  }
  if (!parse_hosts(cfg, n)) {
    log_str(LOG_ERROR, "acpw-probe sender: match_hosts is not a list of strings");
    return 0;
  }
  u32 id = 0;
  u32 rc = resolve(&id);
  sb_t m = sb_new(1024);
  sb_str(&m, "acpw-probe sender: configured receiver_vm_id=");
  sb_add(&m, receiver_vm_id, receiver_vm_id_len);
  sb_named_u64(&m, " match_hosts=", host_count);
  sb_named_u64(&m, " queue_lookup_at_start_status=", rc);
  log_sb(LOG_INFO, &m);
  return 1;
}

static int host_matches(const char *h, size_t hn) {
  if (host_count == 0) return 1;
  for (u32 i = 0; i < host_count; i++)
    if (bytes_eq(h, hn, host_buf + host_off[i], host_len[i])) return 1;
  return 0;
}

static void header(u32 map, const char *key, char **v, size_t *vn) {
  *v = "";
  *vn = 0;
  if (proxy_get_header_map_value(map, key, str_len(key), v, vn) != ST_OK) {
    *v = "";
    *vn = 0;
  }
}

static void log_request(void) {
  char *authority, *method, *path, *status;
  size_t authority_len, method_len, path_len, status_len;
  header(MAP_REQUEST_HEADERS, ":authority", &authority, &authority_len);
  sb_t m = sb_new(1024);
  sb_str(&m, "acpw-probe sender: ");
  if (!host_matches(authority, authority_len)) {
    sb_str(&m, "skipped authority=");
    sb_add(&m, authority, authority_len);
    log_sb(LOG_INFO, &m);
    return;
  }
  header(MAP_REQUEST_HEADERS, ":method", &method, &method_len);
  header(MAP_REQUEST_HEADERS, ":path", &path, &path_len);
  header(MAP_RESPONSE_HEADERS, ":status", &status, &status_len);
  u32 id = 0;
  u32 rc = resolve(&id);
  if (rc != ST_OK) {
    sb_str(&m, "queue not found status=");
    sb_u64(&m, rc);
    sb_str(&m, " vm_id=");
    sb_add(&m, receiver_vm_id, receiver_vm_id_len);
    log_sb(LOG_WARN, &m);
    return;
  }
  sb_t msg = sb_new(2048);
  sb_str(&msg, "{\"host\":\"");
  sb_json(&msg, authority, authority_len);
  sb_str(&msg, "\",\"method\":\"");
  sb_json(&msg, method, method_len);
  sb_str(&msg, "\",\"path\":\"");
  sb_json(&msg, path, path_len);
  sb_str(&msg, "\",\"status\":\"");
  sb_json(&msg, status, status_len);
  sb_str(&msg, "\"}");
#ifdef ACPW_PROBE_COMPRESS
  char *packed = 0;
  size_t packed_len = 0;
  rc = proxy_call_foreign_function("compress", 8, msg.buf, msg.len, &packed, &packed_len);
  if (rc != ST_OK) {
    sb_str(&m, "compress failed status=");
    sb_u64(&m, rc);
    log_sb(LOG_ERROR, &m);
    return;
  }
  rc = proxy_enqueue_shared_queue(id, packed, packed_len);
  if (rc == ST_OK) return; /* quiet per request, as the real sender: the benchmark measures it */
#else
  rc = proxy_enqueue_shared_queue(id, msg.buf, msg.len);
#endif
  sb_str(&m, "enqueue status=");
  sb_u64(&m, rc);
  sb_str(&m, " authority=");
  sb_add(&m, authority, authority_len);
  log_sb(rc == ST_OK ? LOG_INFO : LOG_ERROR, &m);
}

/* Per request, everything allocated (by the probe or by Envoy for its answers) is given back
 * when the request is done: a sender that leaked per request would hide whether the receiver's
 * memory stays flat. */
EXPORT(proxy_on_log) void proxy_on_log(u32 ctx) {
  (void)ctx;
  if (heap_top == 0) heap_top = (size_t)&__heap_base;
  size_t mark = heap_top;
  log_request();
  heap_top = mark;
}

EXPORT(proxy_on_request_headers) u32 proxy_on_request_headers(u32 ctx, u32 n, u32 eos) {
  (void)ctx;
  (void)n;
  (void)eos;
  return 0;
}

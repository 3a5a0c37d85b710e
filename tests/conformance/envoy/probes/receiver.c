/*
 * ACPW probe receiver: stands in for the real receiver.wasm (bootstrap WasmService,
 * singleton, main thread) at the boundaries the deployment configures.
 *
 * - proxy_on_configure: as strict as the v0.1.0 receiver (its config/receiver.go and
 *   cmd/receiver/main.go; see the README's Envoy-layer section): the configuration must be a JSON object; keys
 *   match exactly; unknown keys are skipped and null is ignored; a value of the wrong JSON
 *   type (e.g. the timeout written as a string, "5000") fails; cloud_watch_region and
 *   cloud_watch_cluster_name are required; the access key id and secret come from the
 *   configuration or else from ACPW_AWS_ACCESS_KEY_ID / ACPW_AWS_SECRET_ACCESS_KEY through
 *   WASI environ (what host_env_keys exposes), and either one empty fails the start. A
 *   failed start of this bootstrap service keeps Envoy from starting, as with the real one.
 *   Then it registers the shared queue "aws_cloudwatch_metric".
 * - proxy_on_queue_ready: each message must be a JSON object with the keys host, method,
 *   path and status (the real sender's keys); one proxy_http_call per message to the configured cluster,
 *   POST / with :authority monitoring.<region>.amazonaws.com, the message as body,
 *   the access key id in x-acpw-access-key-id and presence flags of both keys
 *   (the secret itself is never sent).
 * Every step is logged with the prefix "acpw-probe receiver:" for the tests.
 */
#include "probe.h"
#include "receiver_config.h" /* region, cluster, metric_namespace, metric_name, timeout_ms */

WASI(environ_sizes_get) u32 environ_sizes_get(size_t *count, size_t *buf_size);
WASI(environ_get) u32 environ_get(char **environ, char *buf);

static char key_id[256];
static size_t key_id_len;
static int key_id_set;
static int secret_set;
static u32 queue_id;

#define ENV_KEY_ID "ACPW_AWS_ACCESS_KEY_ID="
#define ENV_SECRET "ACPW_AWS_SECRET_ACCESS_KEY="

static int has_prefix(const char *s, const char *prefix) {
  size_t i = 0;
  for (; prefix[i]; i++)
    if (s[i] != prefix[i]) return 0;
  return 1;
}

static void read_environ(void) {
  size_t count = 0, buf_size = 0;
  u32 rc = environ_sizes_get(&count, &buf_size);
  sb_t m = sb_new(256);
  sb_str(&m, "acpw-probe receiver: environ_sizes_get errno=");
  sb_u64(&m, rc);
  sb_str(&m, " count=");
  sb_u64(&m, (u32)count);
  log_sb(LOG_INFO, &m);
  if (rc != 0 || count == 0) return;
  char **vars = alloc(sizeof(char *) * (count + 1));
  char *buf = alloc(buf_size + 1);
  if (!vars || !buf || environ_get(vars, buf) != 0) return;
  for (size_t i = 0; i < count; i++) {
    if (has_prefix(vars[i], ENV_KEY_ID)) {
      const char *v = vars[i] + sizeof(ENV_KEY_ID) - 1;
      key_id_len = 0;
      while (v[key_id_len] && key_id_len < sizeof(key_id)) {
        key_id[key_id_len] = v[key_id_len];
        key_id_len++;
      }
      key_id_set = key_id_len > 0;
    } else if (has_prefix(vars[i], ENV_SECRET)) {
      secret_set = vars[i][sizeof(ENV_SECRET) - 1] != 0;
    }
  }
}

/* A string value into out (cut at cap; an escaped character kept without its backslash); 0 when
 * the value is not a JSON string. */
static int take_string(const char *j, size_t n, size_t v, char *out, size_t cap, size_t *out_len) {
  return json_string(j, n, v, out, cap, out_len) != 0;
}

/* The configuration as the v0.1.0 receiver parses it (config/receiver.go, easyjson): a JSON
 * object; keys matched exactly; unknown keys skipped; null ignored; a value of the wrong JSON
 * type fails the parse. */
static int parse_configuration(const char *cfg, size_t n, char *cfg_key_id, size_t *cfg_key_id_len,
                               char *cfg_secret, size_t *cfg_secret_len) {
  const json_field_t fields[] = {
      RECEIVER_CONFIG_FIELDS,
      {"aws_access_key_id", cfg_key_id, 256, cfg_key_id_len, 0, 0, 0},
      {"aws_secret_access_key", cfg_secret, 256, cfg_secret_len, 0, 0, 0},
      JSON_U32("http_request_timeout_millisecond", timeout_ms, 0, 0xffffffffu),
  };
  return read_config_fields(cfg, n, fields, sizeof(fields) / sizeof(fields[0]), take_string,
                            "acpw-probe receiver: configuration refused: ", "wrong JSON type for ");
}

EXPORT(proxy_on_configure) u32 proxy_on_configure(u32 root, size_t size) {
  (void)root;
  char *cfg;
  size_t n;
  if (!read_plugin_config(size, &cfg, &n)) {
    log_str(LOG_ERROR, "acpw-probe receiver: cannot read plugin configuration");
    return 0;
  }
  char cfg_key_id[256];
  size_t cfg_key_id_len = 0;
  char cfg_secret[256];
  size_t cfg_secret_len = 0;
  if (!parse_configuration(cfg, n, cfg_key_id, &cfg_key_id_len, cfg_secret, &cfg_secret_len)) return 0;
  if (region_len == 0) {
    log_str(LOG_ERROR, "acpw-probe receiver: configuration refused: cloud_watch_region is missing");
    return 0;
  }
  if (cluster_len == 0) {
    log_str(LOG_ERROR, "acpw-probe receiver: configuration refused: cloud_watch_cluster_name is missing");
    return 0;
  }
  /* Keys in the configuration win; empty ones fall back to the env vars (host_env_keys). */
  read_environ();
  if (cfg_key_id_len > 0) {
    memcpy(key_id, cfg_key_id, cfg_key_id_len);
    key_id_len = cfg_key_id_len;
    key_id_set = 1;
  }
  if (cfg_secret_len > 0) secret_set = 1;
  if (!key_id_set) {
    log_str(LOG_ERROR,
            "acpw-probe receiver: plugin start failed: aws_access_key_id is empty "
            "(configuration and env ACPW_AWS_ACCESS_KEY_ID)");
    return 0;
  }
  if (!secret_set) {
    log_str(LOG_ERROR,
            "acpw-probe receiver: plugin start failed: aws_secret_access_key is empty "
            "(configuration and env ACPW_AWS_SECRET_ACCESS_KEY)");
    return 0;
  }
  u32 rc = proxy_register_shared_queue(QUEUE_NAME, sizeof(QUEUE_NAME) - 1, &queue_id);
  sb_t m = configured_message("acpw-probe receiver");
  sb_named_u64(&m, " timeout_ms=", timeout_ms);
  sb_named_u64(&m, " key_id=set secret=set register_queue_status=", rc);
  log_sb(rc == ST_OK ? LOG_INFO : LOG_ERROR, &m);
  return rc == ST_OK;
}

static void send_one(const char *msg, size_t msg_len) {
  sb_t authority = sb_new(256);
  sb_str(&authority, "monitoring.");
  sb_add(&authority, region, region_len);
  sb_str(&authority, ".amazonaws.com");
  /* Like v0.1.0's receiver: its own SigV4 Authorization and X-Amz-Date, made with its key. */
  sb_t auth = sb_new(512);
  sb_str(&auth, "AWS4-HMAC-SHA256 Credential=");
  sb_add(&auth, key_id, key_id_len);
  sb_str(&auth, "/20200101/");
  sb_add(&auth, region, region_len);
  sb_str(&auth, "/monitoring/aws4_request, SignedHeaders=host;x-amz-date, Signature=acpwprobemodulesignature");
  const char *kflag = key_id_set ? "true" : "false";
  const char *sflag = secret_set ? "true" : "false";
  pair_t pairs[] = {
      PAIR(":method", "POST", 4),
      PAIR(":path", "/", 1),
      PAIR(":authority", authority.buf, authority.len),
      PAIR("content-type", "application/json", 16),
      PAIR("x-acpw-region", region, region_len),
      PAIR("x-acpw-metric-namespace", metric_namespace, metric_namespace_len),
      PAIR("x-acpw-metric-name", metric_name, metric_name_len),
      PAIR("x-acpw-access-key-id-present", kflag, str_len(kflag)),
      PAIR("x-acpw-secret-access-key-present", sflag, str_len(sflag)),
      PAIR("authorization", auth.buf, auth.len),
      PAIR("x-amz-date", "20200101T000000Z", 16),
      PAIR("x-acpw-access-key-id", key_id, key_id_len),
  };
  u32 count = sizeof(pairs) / sizeof(pairs[0]);
  if (!key_id_set) count--; /* no key: no key header */
  sb_t headers = serialize_map(pairs, count);
  u32 token = 0;
  u32 rc = proxy_http_call(cluster, cluster_len, headers.buf, headers.len, msg, msg_len, 0, 0, timeout_ms, &token);
  sb_t m = sb_new(1024);
  if (rc == ST_OK) {
    sb_str(&m, "acpw-probe receiver: http call dispatched token=");
    sb_u64(&m, token);
    sb_str(&m, " cluster=");
    sb_add(&m, cluster, cluster_len);
    log_sb(LOG_INFO, &m);
  } else {
    sb_str(&m, "acpw-probe receiver: http call rejected status=");
    sb_u64(&m, rc);
    sb_str(&m, " cluster=");
    sb_add(&m, cluster, cluster_len);
    log_sb(LOG_ERROR, &m);
  }
}

/* The sender's message: a JSON object with the keys host, method, path and status. */
static int message_ok(const char *msg, size_t len) {
  static const char *const wanted[] = {"host", "method", "path", "status"};
  int seen[4] = {0, 0, 0, 0};
  json_obj_t o = json_obj(msg, len);
  const char *key;
  size_t key_len, v;
  int rc;
  while ((rc = json_obj_next(&o, &key, &key_len, &v)) == 1)
    for (int i = 0; i < 4; i++)
      if (key_is(key, key_len, wanted[i]) && !json_is_null(msg, len, v)) seen[i] = 1;
  return rc == 0 && seen[0] && seen[1] && seen[2] && seen[3];
}

EXPORT(proxy_on_queue_ready) void proxy_on_queue_ready(u32 root, u32 id) {
  (void)root;
  for (;;) {
    char *msg = 0;
    size_t len = 0;
    u32 rc = proxy_dequeue_shared_queue(id, &msg, &len);
    if (rc != ST_OK) {
      if (rc != ST_EMPTY) {
        sb_t m = sb_new(128);
        sb_str(&m, "acpw-probe receiver: dequeue failed status=");
        sb_u64(&m, rc);
        log_sb(LOG_ERROR, &m);
      }
      return;
    }
    if (!message_ok(msg, len)) {
      sb_t m = sb_new(2048);
      sb_str(&m, "acpw-probe receiver: message refused (needs keys host, method, path, status): ");
      sb_add(&m, msg, len);
      log_sb(LOG_ERROR, &m);
      continue;
    }
    send_one(msg, len);
  }
}

EXPORT(proxy_on_http_call_response)
void proxy_on_http_call_response(u32 root, u32 token, u32 num_headers, size_t body_size, u32 num_trailers) {
  (void)root;
  (void)body_size;
  (void)num_trailers;
  char *status = 0;
  size_t status_len = 0;
  sb_t m = sb_new(256);
  sb_str(&m, "acpw-probe receiver: http call response token=");
  sb_u64(&m, token);
  if (num_headers == 0 ||
      proxy_get_header_map_value(MAP_HTTP_CALL_RESPONSE_HEADERS, ":status", 7, &status, &status_len) != ST_OK) {
    sb_str(&m, " failed (no response)");
    log_sb(LOG_ERROR, &m);
    return;
  }
  sb_str(&m, " status=");
  sb_add(&m, status, status_len);
  log_sb(LOG_INFO, &m);
}

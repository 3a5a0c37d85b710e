/*
 * The configuration keys every receiver here reads as the v0.1.0 receiver does, with its
 * defaults: the batching receiver (receiver/batching.c) and the test probe standing in for the
 * v0.1.0 receiver (tests/conformance/envoy/probes/receiver.c).
 */
#ifndef ACPW_RECEIVER_CONFIG_H
#define ACPW_RECEIVER_CONFIG_H

#include "proxy_wasm.h"

static char region[64];
static size_t region_len;
static char cluster[512];
static size_t cluster_len;
static char metric_namespace[256] = "AWSCloudWatchProxyWasm";
static size_t metric_namespace_len = 22;
static char metric_name[256] = "RequestCount";
static size_t metric_name_len = 12;
static u32 timeout_ms = 5000;

/* Their json_field_t entries (http_request_timeout_millisecond is each receiver's: its range). */
#define RECEIVER_CONFIG_FIELDS                                          \
  JSON_STR("cloud_watch_region", region, region_len),                   \
  JSON_STR("cloud_watch_cluster_name", cluster, cluster_len),           \
  JSON_STR("metric_namespace", metric_namespace, metric_namespace_len), \
  JSON_STR("metric_name", metric_name, metric_name_len)

/* "<who>: configured region=<region> cluster=<cluster>", for the receiver to add to and log. */
static sb_t configured_message(const char *who) {
  sb_t m = sb_new(1024);
  sb_str(&m, who);
  sb_str(&m, ": configured region=");
  sb_add(&m, region, region_len);
  sb_str(&m, " cluster=");
  sb_add(&m, cluster, cluster_len);
  return m;
}

#endif

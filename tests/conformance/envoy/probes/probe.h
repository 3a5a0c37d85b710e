/*
 * Probe-only helpers of the ACPW probe modules. The proxy-wasm ABI v0.2.1 imports, memory,
 * string builder and strict JSON object reader are the product's receiver/proxy_wasm.h (one copy
 * with the batching receiver; the probes are built with -I receiver by
 * tests/conformance/envoy_harness/probes.py, through tools/receiver_wasm.py's clang command).
 */
#ifndef ACPW_PROBE_H
#define ACPW_PROBE_H

#include "proxy_wasm.h"

#define WASI(name) __attribute__((import_module("wasi_snapshot_preview1"), import_name(#name)))

/* Appends s as the body of a JSON string (quotes and backslashes escaped). */
static void sb_json(sb_t *b, const char *s, size_t n) {
  for (size_t i = 0; i < n; i++) {
    if (s[i] == '"' || s[i] == '\\') sb_add(b, "\\", 1);
    sb_add(b, &s[i], 1);
  }
}

/* ---- lax JSON lookup (the sender's flat configuration) ------------------------------------- */

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

/* Reads a JSON string starting at j[i] == '"' into out (an escaped character is kept as it is,
 * without its backslash); returns the index after it or 0. */
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

#endif

// Package spec turns Service annotations and a ShiftPolicy into a validated rollout spec.
//
// Annotation value formats (every present sluice.dev/* annotation is validated; an
// unknown sluice.dev/* key is a problem too, so typos do not go unnoticed):
//
//	sluice.dev/enabled          "true" or "false" (absent = off)
//	sluice.dev/paused           "true" or "false" (absent = false)
//	sluice.dev/canary           a subset name: a DNS-1123 label such as "v2"
//	sluice.dev/stable           a subset name
//	sluice.dev/promote          a subset name: the canary the command applies to
//	sluice.dev/abort            a subset name: the canary the command applies to
//	sluice.dev/retry            "<subset>" or "<subset>@<token>"; the token is any non-empty
//	                            printable text and lets the same subset be retried again later
//	sluice.dev/virtualservice   comma-separated DNS-1123 subdomain names; items are trimmed,
//	                            empty items and duplicates are errors (absent = discover)
//	sluice.dev/policy           a DNS-1123 subdomain (absent = "default")
//	sluice.dev/steps            comma-separated weights "5,25,50,100", each optionally
//	                            "weight:dwell" ("5:1m,25,100"); strictly increasing integers in
//	                            1..100 ending at 100; a dwell is a Go duration >= 0
//	sluice.dev/step-duration    a Go duration > 0: the dwell of every step that sets none
//	sluice.dev/max-error-rate   a decimal in [0,1] ("0.01") or a percentage in [0,100] ("1%", "0.5%")
//	sluice.dev/max-latency-p99  a Go duration > 0
//	sluice.dev/max-latency      "p<percentile>=<duration>" like "p95=300ms" or "p99.9=1s": a
//	                            latency limit at a percentile from p50 to p99.9, checked besides
//	                            max-latency-p99; its percentile is also the one the policy's
//	                            latencyFactor compares
//	sluice.dev/min-requests     an integer >= 1
//	sluice.dev/stats-from       a label selector, optionally ending in ",namespace=<ns>" (a DNS-1123
//	                            label); the selector must not be empty
//
// Values are taken as written: only list items (virtualservice, steps) are trimmed of
// surrounding whitespace.
//
// Merging: every unset field of the ShiftPolicy falls back to [DefaultPolicy]. A step's
// dwell is, in order: the step's own dwell (policy step or "weight:dwell"), then
// sluice.dev/step-duration, then the policy's defaultDwell. A step's minimum requests is the
// policy step's own minRequests, then sluice.dev/min-requests, then the policy's
// guard.minRequests. sluice.dev/steps replaces the policy's steps entirely.
package spec

package dataplane

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/sluicedev/sluice/pkg/envoy"
	"github.com/sluicedev/sluice/pkg/spec"
)

// Istiod confirms weights through istiod's debug HTTP endpoints, for meshes where the
// callers' Envoy admin cannot be reached (it listens on the pod's localhost):
//
//   - /debug/config_dump?proxyID=POD.NAMESPACE is the configuration istiod generates for
//     a proxy now, in Envoy's admin format; its route's version_info is istiod's push
//     version, e.g. "2026-11-23T00:01:13Z/33";
//   - /debug/syncz lists, per connected proxy, the nonce of the last route push istiod
//     sent and the nonce the proxy ACKed; a nonce is the push version followed by a
//     36-character UUID.
//
// A caller has applied the weight when istiod's configuration for it shows the weight at
// some push version V, and the proxy has ACKed the latest route push istiod sent it, of a
// version no older than V: that push was built from a configuration that already had the
// weight. V is the oldest version at which sluice saw the weight for that proxy, so a
// later unrelated push elsewhere in the mesh does not hold the confirmation back.
type Istiod struct {
	Reader  client.Reader
	Scraper *envoy.Scraper
	// URLs are the debug endpoints of every istiod replica, e.g.
	// http://istiod.istio-system:15014 (a proxy is connected to one replica).
	URLs []string

	mu   sync.Mutex
	seen map[seenKey]seenAt
}

// seenKey names one wanted weight of one proxy at one istiod.
type seenKey struct {
	istiod, proxy, host, canary string
	want                        int32
}

// seenAt is the oldest push version at which istiod showed the wanted weight.
type seenAt struct {
	version pushVersion
	at      time.Time
}

// forgetAfter bounds how long a seen version is kept.
const forgetAfter = 10 * time.Minute

// syncEntry is one proxy of /debug/syncz (only the fields used).
type syncEntry struct {
	Proxy      string `json:"proxy"`
	RouteSent  string `json:"route_sent"`
	RouteAcked string `json:"route_acked"`
}

// Check reads istiod's view of every caller selected by from (namespace defaulting to ns).
// Seen holds the canary weight istiod generates for each caller it knows.
func (d *Istiod) Check(ctx context.Context, ns string, from *spec.StatsFrom, host, canary string, want int32) (Result, error) {
	if len(d.URLs) == 0 {
		return Result{}, fmt.Errorf("confirming weights for %s: no istiod debug URL", host)
	}
	pods, err := callerPods(ctx, d.Reader, ns, from, host)
	if err != nil {
		return Result{}, err
	}
	where, syncErr := d.syncz(ctx)
	res := Result{Callers: len(pods), Seen: map[string]uint32{}}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i := range pods {
		p := &pods[i]
		id := p.Name + "." + p.Namespace
		e, ok := where[id]
		if !ok {
			res.Failed++
			continue
		}
		wg.Go(func() {
			applied, w, err := d.proxyApplied(ctx, e, id, host, canary, want)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				res.Failed++
				return
			}
			res.Seen[p.Name] = w
			if applied {
				res.Applied++
			}
		})
	}
	wg.Wait()
	if len(where) == 0 && syncErr != nil && len(pods) > 0 {
		return res, syncErr
	}
	return res, nil
}

// located is a proxy's sync state at the istiod replica it is connected to.
type located struct {
	istiod string
	syncEntry
}

// syncz reads /debug/syncz of every replica; the error is the first failure.
func (d *Istiod) syncz(ctx context.Context) (map[string]located, error) {
	out := map[string]located{}
	var firstErr error
	for _, base := range d.URLs {
		data, err := d.Scraper.Fetch(ctx, strings.TrimSuffix(base, "/")+"/debug/syncz")
		if err == nil {
			var entries []syncEntry
			if err = json.Unmarshal(data, &entries); err == nil {
				for _, e := range entries {
					out[e.Proxy] = located{istiod: base, syncEntry: e}
				}
				continue
			}
			err = fmt.Errorf("istiod %s: /debug/syncz: %w", base, err)
		}
		if firstErr == nil {
			firstErr = err
		}
	}
	return out, firstErr
}

// proxyApplied reads istiod's configuration for one proxy and decides as described on Istiod.
func (d *Istiod) proxyApplied(ctx context.Context, e located, id, host, canary string, want int32) (bool, uint32, error) {
	u := strings.TrimSuffix(e.istiod, "/") + "/debug/config_dump?proxyID=" + url.QueryEscape(id)
	data, err := d.Scraper.Fetch(ctx, u)
	if err != nil {
		return false, 0, err
	}
	rw, err := envoy.ParseConfigDump(data)
	if err != nil {
		return false, 0, fmt.Errorf("istiod's config dump for %s: %w", id, err)
	}
	ws, version := envoy.SubsetWeightsVersion(rw, host)
	if ws == nil {
		return false, 0, fmt.Errorf("istiod's config dump for %s has no route to a subset of %s", id, host)
	}
	w := ws[canary]
	if int32(w) != want {
		return false, w, nil
	}
	v, err := parsePushVersion(version)
	if err != nil {
		return false, w, fmt.Errorf("istiod's config dump for %s: route version: %w", id, err)
	}
	oldest := d.remember(seenKey{istiod: e.istiod, proxy: id, host: host, canary: canary, want: want}, v)
	if e.RouteAcked == "" || e.RouteAcked != e.RouteSent {
		return false, w, nil // a route push is in flight (or none was ever ACKed)
	}
	acked, err := nonceVersion(e.RouteAcked)
	if err != nil {
		return false, w, fmt.Errorf("istiod's sync status for %s: %w", id, err)
	}
	return !acked.before(oldest), w, nil
}

// remember records v for k unless an older version is known, and returns the oldest.
func (d *Istiod) remember(k seenKey, v pushVersion) pushVersion {
	d.mu.Lock()
	defer d.mu.Unlock()
	now := time.Now()
	if d.seen == nil {
		d.seen = map[seenKey]seenAt{}
	}
	for key, s := range d.seen {
		if now.Sub(s.at) > forgetAfter {
			delete(d.seen, key)
		}
	}
	if s, ok := d.seen[k]; ok && !v.before(s.version) {
		return s.version
	}
	d.seen[k] = seenAt{version: v, at: now}
	return v
}

// pushVersion is istiod's push version: the time the push context was created (RFC 3339,
// seconds) and a counter that grows with every push context of that istiod.
type pushVersion struct {
	at    time.Time
	count uint64
}

func (v pushVersion) before(o pushVersion) bool {
	if !v.at.Equal(o.at) {
		return v.at.Before(o.at)
	}
	return v.count < o.count
}

// parsePushVersion reads "2026-11-23T00:01:13Z/33".
func parsePushVersion(s string) (pushVersion, error) {
	ts, n, ok := strings.Cut(s, "/")
	if !ok {
		return pushVersion{}, fmt.Errorf("push version %q: want TIME/COUNTER", s)
	}
	at, err := time.Parse(time.RFC3339, ts)
	if err != nil {
		return pushVersion{}, fmt.Errorf("push version %q: %w", s, err)
	}
	count, err := strconv.ParseUint(n, 10, 64)
	if err != nil {
		return pushVersion{}, fmt.Errorf("push version %q: %w", s, err)
	}
	return pushVersion{at: at, count: count}, nil
}

// uuidSuffix is the UUID istiod appends to the push version to make a nonce.
var uuidSuffix = regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

// nonceVersion reads the push version of a nonce such as
// "2026-11-23T00:01:13Z/33beec3185-b3ef-4779-aae6-a2e9ba08740a".
func nonceVersion(nonce string) (pushVersion, error) {
	loc := uuidSuffix.FindStringIndex(nonce)
	if loc == nil {
		return pushVersion{}, fmt.Errorf("nonce %q does not end in a UUID", nonce)
	}
	return parsePushVersion(nonce[:loc[0]])
}

// Package controller reconciles opted-in Services: it gathers their routing objects,
// policy and traffic stats, asks the lifecycle and the decision engine what to do, and
// acts on the answer.
//
// A map of one tick, for newcomers.
//
// controller-runtime calls Reconcile (reconciler.go) with a Service's name: when the
// Service, its TrafficShift or its namespace's VirtualServices or DestinationRules
// change (setup.go maps those to the opted-in Services), and at every RequeueAfter an
// active rollout asked for, which Wake (wake.go) moves to now (or a recheck's interval
// after the last tick) when a caller's new page shows the rollout's canary failing. A
// decision that asks for a recheck has the callers' next pages requested at once
// (readAhead, tick.go).
//
//  1. Reconcile reads the Service (cache) and its TrafficShift (through Fresh: the cache,
//     or sluice's own last status write while the cache lags it; the status is the
//     rollout's durable state), creating the TrafficShift for a new opt-in.
//  2. Between full ticks, while a weight write awaits confirmation, confirmOnlyDue and
//     confirmOnly (tick.go) only read the callers' config dumps (dataplane.go) and
//     return.
//  3. gather (gather.go) reads the ShiftPolicy, parses the annotations (spec.Parse),
//     reads the VirtualServices (discovered from the cache, then read by name through Fresh)
//     and the DestinationRules. Bad input becomes a lifecycle.Problem, not an error.
//  4. drive (drive.go) loops over lifecycle.Decide(r.facts(w, ts)): facts resolves the
//     stable and canary subsets (lifecycle.Subsets), checks the DestinationRule subsets
//     and inspects the routes (istio.Inspect). The first transitions may continue the
//     same reconcile: Recover and Resume change the phase in place (carryOn); Observe
//     (tick.go observe) reads both subsets' stats through a source (pkg/source) into the
//     sliding windows (pkg/window, kept in memory.go), checks the data plane, and runs
//     the guard (analysis.Decide), whose verdict lifecycle.Decide then turns into the
//     transition.
//  5. apply (drive.go) does the rest: settle, start, supersede, recordPromoted and optOut
//     (rollout.go), markInvalid (status.go), confirmEnded (dataplane.go), or, for the
//     guard's verdicts, conclude (act.go): act writes the weights with setWeight or
//     promoteRoutes → patchAll → istio.SetWeight/Promote (the pure transform, a JSON
//     patch with test ops) → istio.ApplyPatch, one patch per VirtualService; then the
//     status (writeTickStatus: when something but the window and the messages changed,
//     or every StatusEvery within the shared refresh budget, refresh.go), Events,
//     metrics; nextTick returns the RequeueAfter of the next tick.
//
// With leader election, all of this runs on the leader only. On the other replicas the
// Standby (standby.go) reads the active rollouts' stats into the same windows (memory.go)
// and writes nothing, so that after a takeover the first tick judges with a full window;
// the leader's writes go through the manager's lease fence (manager/fence.go).
//
// Decisions live in two pure packages and nowhere else: pkg/lifecycle says which
// transition (start, advance, promote, roll back, pause, resume, supersede, opt out, mark
// invalid, settle), pkg/analysis what the traffic says. Every reason is declared once in
// pkg/reason.
package controller

package message_test

import (
	"context"
	"strings"
	"testing"

	"github.com/sluicedev/sluice/pkg/apis/sluice/v1alpha1"
	"github.com/sluicedev/sluice/pkg/notify/message"
	"github.com/sluicedev/sluice/pkg/notify/notifytest"
	"github.com/sluicedev/sluice/pkg/record"
)

var allTypes = append(append([]v1alpha1.SinkType(nil), chatTypes...), v1alpha1.SinkCloudEvents, v1alpha1.SinkWebhook)

// fuzzBuild is build for fuzzing: any failure to build or to pass the sink's own
// reading is a finding.
func fuzzBuild(t *testing.T, typ v1alpha1.SinkType, tmpl string, r record.Record) notifytest.Message {
	target := message.Target{Type: typ, URL: "http://127.0.0.1:9/hook/x?key=k", Secret: "sec", Token: "tok", Template: tmpl}
	req, err := message.Request(context.Background(), target, r, t0)
	if err != nil {
		t.Fatalf("%s: building the request: %v", typ, err)
	}
	m, err := notifytest.Check(typ, target.Secret, target.Token, req, t0)
	if err != nil {
		t.Fatalf("%s: the sink would refuse the request: %v", typ, err)
	}
	return m
}

func addHostileSeeds(f *testing.F, n int) {
	for _, v := range hostile {
		if len(v) > 4<<10 { // over every per-value bound, yet quick; the tests above run the 1 MB values
			v = v[:4<<10]
		}
		args := make([]any, n)
		for i := range args {
			args[i] = v
		}
		f.Add(args...)
	}
}

// FuzzChatValues puts arbitrary text in every free-text field of a record: every format
// must build a message its sink takes (valid JSON, within its limits, right shape) in
// which the values stay text: no link but the record's, no mention, no markup of theirs.
func FuzzChatValues(f *testing.F) {
	addHostileSeeds(f, 3)
	f.Fuzz(func(t *testing.T, text, release, alert string) {
		r := rollback()
		r.Message, r.Reason = text, release+alert
		r.Release.Commit, r.Release.Pipeline, r.Release.By = release, release, text
		r.From.Version, r.To.Version = alert, text
		r.From.Images, r.To.Images = []string{release, alert}, []string{text}
		r.Alert.Name, r.Alert.Summary = alert, text
		r.Namespace, r.Service, r.Cluster, r.ID = alert, release, text, release
		for _, typ := range allTypes {
			m := fuzzBuild(t, typ, "", r)
			if err := checkInert(typ, m, 0, 2); err != nil {
				t.Fatalf("%s: %v\n%s", typ, err, m.Text)
			}
		}
	})
}

// FuzzLinks puts arbitrary text in the record's URLs: a link is made only of a web URL,
// and nothing else becomes markup.
func FuzzLinks(f *testing.F) {
	for _, u := range []string{"https://ci.example.com/runs/42", "javascript:alert(1)", "https://a.example/)|<!channel>", "https://a.example/x](https://b)", "http://[::1]:80/", "https://a.example/%zz"} {
		f.Add(u, u)
	}
	f.Fuzz(func(t *testing.T, releaseURL, alertURL string) {
		r := rollback()
		r.Release.URL, r.Alert.GeneratorURL = releaseURL, alertURL
		for _, typ := range allTypes {
			m := fuzzBuild(t, typ, "", r)
			if err := checkInertTo(typ, m, 0, 2, []string{"http://", "https://"}); err != nil {
				t.Fatalf("%s: %v\n%s", typ, err, m.Text)
			}
		}
	})
}

// FuzzTemplate runs arbitrary templates: whatever a platform team writes, every format
// builds a message its sink takes (a template that fails falls back to the default).
func FuzzTemplate(f *testing.F) {
	for _, s := range []string{
		message.DefaultTemplate, `{{.Service}}`, `{{range .To.Images}}{{.}}{{end}}`, `{{.Window.Canary.Requests}}`,
		`{{define "a"}}x{{template "a"}}{{end}}{{template "a"}}`, `{{$x := .Message}}{{$x}}`, `{{if .Alert}}{{.Alert.Name}}{{else}}none{{end}}`,
		`{{with .Times.FaultAt}}{{time .}}{{end}}`, `{{printf "%v" .}}`, `{{link .Release.URL .Release.Pipeline | printf "%s"}}`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, tmpl string) {
		if strings.Count(tmpl, "{{") > 200 {
			t.Skip("templates this large are not what the fuzzer should spend its time on")
		}
		for _, typ := range chatTypes {
			fuzzBuild(t, typ, tmpl, rollback())
		}
	})
}

package message_test

import (
	"context"
	"testing"

	"github.com/sluicedev/sluice/pkg/notify/message"
)

// BenchmarkRequest builds a rollback's request for each sink type.
func BenchmarkRequest(b *testing.B) {
	r := rollback()
	for _, typ := range allTypes {
		b.Run(string(typ), func(b *testing.B) {
			target := message.Target{Type: typ, URL: "http://127.0.0.1:9/hook", Secret: "s", Token: "t"}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := message.Request(context.Background(), target, r, t0); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

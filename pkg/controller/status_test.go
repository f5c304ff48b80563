package controller

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestTruncate(t *testing.T) {
	tests := map[string]struct {
		in   string
		n    int
		want string
	}{
		"short stays":           {in: "abc", n: 10, want: "abc"},
		"exact stays":           {in: "abcde", n: 5, want: "abcde"},
		"cut marked":            {in: "abcdefghij", n: 6, want: "abc…"},
		"whole rune fits":       {in: "ab→→→→", n: 8, want: "ab→…"},
		"rune boundary kept":    {in: "ab→→→→", n: 7, want: "ab…"},
		"event limit respected": {in: strings.Repeat("x", 5000), n: maxEventNote, want: strings.Repeat("x", maxEventNote-3) + "…"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got := truncate(tc.in, tc.n)
			if got != tc.want {
				t.Fatalf("truncate(%q, %d) = %q, want %q", tc.in, tc.n, got, tc.want)
			}
			if len(got) > tc.n || !utf8.ValidString(got) {
				t.Fatalf("result %q is %d bytes (limit %d) or invalid UTF-8", got, len(got), tc.n)
			}
		})
	}
}

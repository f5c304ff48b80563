package message

import (
	"strings"

	"github.com/sluicedev/sluice/pkg/record"
)

var phrases = map[record.Event]string{
	record.Started:          "Rollout started",
	record.StepAdvanced:     "Step advanced",
	record.Paused:           "Paused",
	record.Resumed:          "Resumed",
	record.AwaitingApproval: "Awaiting approval",
	record.Promoted:         "Promoted",
	record.RolledBack:       "Rolled back",
	record.Invalid:          "Invalid",
}

// title is the one-line headline of a chat message, unescaped, from a chatView:
// "Rolled back: shop/reviews, canary v2 · prod-eu".
func title(v record.Record) string {
	p, ok := phrases[v.Event]
	if !ok {
		p = string(v.Event)
	}
	t := p + ": " + v.Namespace + "/" + v.Service
	if v.To.Subset != "" {
		t += ", canary " + v.To.Subset
	}
	if v.Cluster != "" {
		t += " · " + v.Cluster
	}
	return t
}

// plainTitle is title for fields that are plain text everywhere (Slack's header, Feishu's
// card header, DingTalk's notification title): no markup at all, mentions broken.
func plainTitle(v record.Record) string {
	return breakMentions(strings.Map(func(r rune) rune {
		if strings.ContainsRune("<>&[]*`#", r) {
			return ' '
		}
		return r
	}, title(v)))
}

// footer is the small print under a message, unescaped: where and which transition.
func footer(v record.Record) string {
	parts := []string{"sluice"}
	if v.Cluster != "" {
		parts = append(parts, "cluster "+v.Cluster)
	}
	if v.ID != "" {
		parts = append(parts, "record "+v.ID)
	}
	return strings.Join(parts, " · ")
}

// orText is s, or alt when s is empty: the formats refuse empty text fields.
func orText(s, alt string) string {
	if strings.TrimSpace(s) == "" {
		return alt
	}
	return s
}
